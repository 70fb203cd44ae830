"""SQL of secrets: workspace and global secrets (ciphertext, nonce and key id — never a plaintext),
the wrapped data keys, and which workspaces a change affects. The ciphertexts are read only by the
paths that decrypt them; listings select names and timestamps only."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from molecule_core.platform.db import Connection
from molecule_core.secrets.crypto import SealedValue
from molecule_core.secrets.models import DataKeyRecord, SealedSet, SecretEntry, SecretScope, StoredSecret

_STORED = "key, ciphertext, nonce, key_id, created_at, updated_at"


def _stored(scope: SecretScope, workspace_id: UUID | None, row: dict[str, Any]) -> StoredSecret:
    return StoredSecret(
        scope=scope,
        workspace_id=workspace_id,
        key=str(row["key"]),
        ciphertext=bytes(row["ciphertext"]),
        nonce=bytes(row["nonce"]),
        key_id=str(row["key_id"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _of_workspace(rows: list[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """A statement anchored on one workspace row, LEFT JOINed to what it lists: (its status, or
    None when there is no such workspace; the rows that list something)."""
    if not rows:
        return None, []
    return str(rows[0]["status"]), [row for row in rows if row["key"] is not None]


# --- workspaces ---------------------------------------------------------------------------------


def workspace_status(conn: Connection, workspace_id: UUID) -> str | None:
    """The workspace's status (None: no such workspace), for a write: FOR SHARE keeps it from being
    purged while a secret is written for it. Reads fold the status into their one statement
    (`workspace_names`, `workspace_sealed`): a snapshot is all a read needs."""
    row = conn.execute(
        "SELECT status::text AS status FROM workspaces WHERE id = %(id)s FOR SHARE", {"id": workspace_id}
    ).fetchone()
    return str(row["status"]) if row else None


def workspaces_inheriting(conn: Connection, key: str) -> list[UUID]:
    """Workspaces that receive the global secret `key`: every workspace without its own value of it
    (lifecycle decides which of them it restarts)."""
    rows = conn.execute(
        """
        SELECT w.id FROM workspaces w
        WHERE w.status <> 'removed' AND NOT w.external
          AND NOT EXISTS (SELECT 1 FROM workspace_secrets s WHERE s.workspace_id = w.id AND s.key = %(key)s)
        """,
        {"key": key},
    ).fetchall()
    return [row["id"] for row in rows]


# --- names --------------------------------------------------------------------------------------


def workspace_names(conn: Connection, workspace_id: UUID) -> tuple[str | None, list[SecretEntry]]:
    """The workspace's status (None: no such workspace) and, unless it is removed, its own names,
    then the globals it inherits (those it does not override), each group by name — one statement."""
    rows = conn.execute(
        """
        SELECT w.status::text AS status, n.key, n.scope, n.created_at, n.updated_at
        FROM workspaces w
        LEFT JOIN (
            SELECT key, 'workspace' AS scope, created_at, updated_at, 0 AS rank
            FROM workspace_secrets WHERE workspace_id = %(id)s
            UNION ALL
            SELECT g.key, 'global', g.created_at, g.updated_at, 1
            FROM global_secrets g
            WHERE NOT EXISTS (SELECT 1 FROM workspace_secrets s WHERE s.workspace_id = %(id)s AND s.key = g.key)
        ) n ON w.status <> 'removed'
        WHERE w.id = %(id)s
        ORDER BY n.rank, n.key
        """,
        {"id": workspace_id},
    ).fetchall()
    status, found = _of_workspace(rows)
    return status, [
        SecretEntry(key=r["key"], scope=r["scope"], created_at=r["created_at"], updated_at=r["updated_at"])
        for r in found
    ]


def list_global_names(conn: Connection) -> list[SecretEntry]:
    rows = conn.execute("SELECT key, created_at, updated_at FROM global_secrets ORDER BY key").fetchall()
    return [
        SecretEntry(key=r["key"], scope="global", created_at=r["created_at"], updated_at=r["updated_at"]) for r in rows
    ]


# --- ciphertexts --------------------------------------------------------------------------------


def _merged(key: str | None) -> str:
    """The sealed values a workspace receives — globals and its own (`scope` tells them apart) —
    with the wrapped data key of each (NULL columns when its key is not stored), all keys or only
    `key`. A subquery over %(id)s (and %(key)s)."""
    only_key = " AND key = %(key)s" if key is not None else ""
    return f"""
        SELECT m.*, k.wrapped_key, k.wrapped_by, k.created_at AS wrapped_at
        FROM (
            SELECT 'global' AS scope, {_STORED} FROM global_secrets WHERE TRUE{only_key}
            UNION ALL
            SELECT 'workspace', {_STORED} FROM workspace_secrets WHERE workspace_id = %(id)s{only_key}
        ) m
        LEFT JOIN secret_data_keys k ON k.key_id = m.key_id
    """


def _sealed_set(workspace_id: UUID, rows: list[dict[str, Any]]) -> SealedSet:
    secrets = [_stored(row["scope"], workspace_id if row["scope"] == "workspace" else None, row) for row in rows]
    data_keys = {row["key_id"]: _data_key(row, created="wrapped_at") for row in rows if row["wrapped_key"] is not None}
    return SealedSet(secrets, data_keys)


def merged_sealed(conn: Connection, workspace_id: UUID) -> SealedSet:
    """Every sealed value the workspace receives (globals first, then its own, which override) and
    the data keys that open them, in one statement (the provision pipeline: no status check)."""
    rows = conn.execute(f"{_merged(None)} ORDER BY m.scope, m.key", {"id": workspace_id}).fetchall()
    return _sealed_set(workspace_id, rows)


def workspace_sealed(conn: Connection, workspace_id: UUID, key: str | None = None) -> tuple[str | None, SealedSet]:
    """The workspace's status (None: no such workspace) and, unless it is removed, the sealed values
    it receives (all, or only `key`: its own and the global one) with their data keys — the status
    check, the values and the keys in one statement."""
    rows = conn.execute(
        f"""
        SELECT w.status::text AS status, s.*
        FROM workspaces w
        LEFT JOIN ({_merged(key)}) s ON w.status <> 'removed'
        WHERE w.id = %(id)s
        ORDER BY s.scope, s.key
        """,
        {"id": workspace_id, "key": key},
    ).fetchall()
    status, found = _of_workspace(rows)
    return status, _sealed_set(workspace_id, found)


def upsert_workspace_secret(conn: Connection, workspace_id: UUID, key: str, sealed: SealedValue) -> None:
    conn.execute(
        """
        INSERT INTO workspace_secrets (workspace_id, key, ciphertext, nonce, key_id)
        VALUES (%(id)s, %(key)s, %(ciphertext)s, %(nonce)s, %(key_id)s)
        ON CONFLICT (workspace_id, key) DO UPDATE
        SET ciphertext = excluded.ciphertext, nonce = excluded.nonce, key_id = excluded.key_id, updated_at = now()
        """,
        {
            "id": workspace_id,
            "key": key,
            "ciphertext": sealed.ciphertext,
            "nonce": sealed.nonce,
            "key_id": sealed.key_id,
        },
    )


def upsert_global_secret(conn: Connection, key: str, sealed: SealedValue) -> None:
    conn.execute(
        """
        INSERT INTO global_secrets (key, ciphertext, nonce, key_id)
        VALUES (%(key)s, %(ciphertext)s, %(nonce)s, %(key_id)s)
        ON CONFLICT (key) DO UPDATE
        SET ciphertext = excluded.ciphertext, nonce = excluded.nonce, key_id = excluded.key_id, updated_at = now()
        """,
        {"key": key, "ciphertext": sealed.ciphertext, "nonce": sealed.nonce, "key_id": sealed.key_id},
    )


def delete_workspace_secret(conn: Connection, workspace_id: UUID, key: str) -> bool:
    row = conn.execute(
        "DELETE FROM workspace_secrets WHERE workspace_id = %(id)s AND key = %(key)s RETURNING key",
        {"id": workspace_id, "key": key},
    ).fetchone()
    return row is not None


def delete_global_secret(conn: Connection, key: str) -> bool:
    row = conn.execute("DELETE FROM global_secrets WHERE key = %(key)s RETURNING key", {"key": key}).fetchone()
    return row is not None


def sealed_not_under(conn: Connection, key_id: str, limit: int) -> list[StoredSecret]:
    """Up to `limit` values sealed with another data key than `key_id`, locked for re-encryption
    (rows another transaction holds are left for the next batch)."""
    params = {"key_id": key_id, "limit": limit}
    global_rows = conn.execute(
        f"""
        SELECT {_STORED} FROM global_secrets WHERE key_id <> %(key_id)s
        ORDER BY key LIMIT %(limit)s FOR UPDATE SKIP LOCKED
        """,
        params,
    ).fetchall()
    workspace_rows = conn.execute(
        f"""
        SELECT workspace_id, {_STORED} FROM workspace_secrets WHERE key_id <> %(key_id)s
        ORDER BY workspace_id, key LIMIT %(limit)s FOR UPDATE SKIP LOCKED
        """,
        params,
    ).fetchall()
    found = [_stored("global", None, row) for row in global_rows]
    found += [_stored("workspace", row["workspace_id"], row) for row in workspace_rows]
    return found[:limit]


def replace_sealed(conn: Connection, secret: StoredSecret, sealed: SealedValue) -> None:
    """Re-encryption: the same value under another data key; `updated_at` stays (the value did not change)."""
    params = {"key": secret.key, "ciphertext": sealed.ciphertext, "nonce": sealed.nonce, "key_id": sealed.key_id}
    if secret.workspace_id is None:
        conn.execute(
            """
            UPDATE global_secrets SET ciphertext = %(ciphertext)s, nonce = %(nonce)s, key_id = %(key_id)s
            WHERE key = %(key)s
            """,
            params,
        )
    else:
        conn.execute(
            """
            UPDATE workspace_secrets SET ciphertext = %(ciphertext)s, nonce = %(nonce)s, key_id = %(key_id)s
            WHERE workspace_id = %(id)s AND key = %(key)s
            """,
            {**params, "id": secret.workspace_id},
        )


# --- data keys ----------------------------------------------------------------------------------


def newest_data_key(conn: Connection, wrapped_by: str) -> DataKeyRecord | None:
    """The active data key of a key source: the newest one it wrapped."""
    row = conn.execute(
        """
        SELECT key_id, wrapped_key, wrapped_by, created_at FROM secret_data_keys
        WHERE wrapped_by = %(source)s ORDER BY created_at DESC, key_id DESC LIMIT 1
        """,
        {"source": wrapped_by},
    ).fetchone()
    return _data_key(row) if row else None


def data_keys(conn: Connection, key_ids: list[str]) -> dict[str, DataKeyRecord]:
    rows = conn.execute(
        "SELECT key_id, wrapped_key, wrapped_by, created_at FROM secret_data_keys WHERE key_id = ANY(%(ids)s)",
        {"ids": key_ids},
    ).fetchall()
    return {row["key_id"]: _data_key(row) for row in rows}


def insert_data_key(conn: Connection, key_id: str, wrapped_key: bytes, wrapped_by: str) -> DataKeyRecord:
    row = conn.execute(
        """
        INSERT INTO secret_data_keys (key_id, wrapped_key, wrapped_by) VALUES (%(id)s, %(wrapped)s, %(by)s)
        RETURNING key_id, wrapped_key, wrapped_by, created_at
        """,
        {"id": key_id, "wrapped": wrapped_key, "by": wrapped_by},
    ).fetchone()
    assert row is not None
    return _data_key(row)


def _data_key(row: dict[str, Any], created: str = "created_at") -> DataKeyRecord:
    return DataKeyRecord(
        key_id=str(row["key_id"]),
        wrapped_key=bytes(row["wrapped_key"]),
        wrapped_by=str(row["wrapped_by"]),
        created_at=row[created],
    )
