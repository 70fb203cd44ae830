"""SQL for workspace and org tokens. The liveness predicate of a presented bearer — hash matches,
not revoked, owning workspace not removed — exists once, in the `live_bearer` SQL function
(migrations/015), and every statement that accepts a token calls it (the history's
lookupTokenByHash lesson): this module's lookup, and the A2A proxy's statement before dispatch.

The one exception is REMOVED_WORKSPACE_OWN_TOKEN: deleting a workspace revokes its tokens, yet its
agent must still learn *that* it was deleted (SPEC §4.3), so one lookup sees those revoked tokens —
only for the removed workspace they belong to, and only to say "deleted"."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, NamedTuple
from uuid import UUID

from molecule_core.auth.credentials import MintedToken
from molecule_core.auth.models import TokenMatch
from molecule_core.platform.db import Connection

# A token of the removed workspace %(workspace_id)s, revoked or not (deletion revokes them all).
REMOVED_WORKSPACE_OWN_TOKEN = """
    t.token_hash = %(token_hash)s
    AND t.workspace_id = %(workspace_id)s
    AND w.status = 'removed'
"""  # noqa: S105 - SQL text, not a secret


def lookup_token_by_hash(conn: Connection, token_hash: bytes) -> TokenMatch | None:
    """The live workspace or org token with this hash, if any (one round trip)."""
    row = conn.execute(
        "SELECT kind, token_id, workspace_id FROM live_bearer(%(token_hash)s) LIMIT 1", {"token_hash": token_hash}
    ).fetchone()
    if row is None:
        return None
    return TokenMatch(row["kind"], row["token_id"], row["workspace_id"])


def is_token_of_removed_workspace(conn: Connection, token_hash: bytes, workspace_id: UUID) -> bool:
    """Whether the bearer was a token of this workspace, which is now removed (its deleted agent
    asking for its state)."""
    row = conn.execute(
        f"""
        SELECT EXISTS (
            SELECT 1 FROM workspace_auth_tokens t JOIN workspaces w ON w.id = t.workspace_id
            WHERE {REMOVED_WORKSPACE_OWN_TOKEN}
        ) AS removed_own
        """,
        {"token_hash": token_hash, "workspace_id": workspace_id},
    ).fetchone()
    return bool(row and row["removed_own"])


def any_live_token_exists(conn: Connection) -> bool:
    """True once any live workspace or org token exists (the end of a fresh install's bootstrap)."""
    row = conn.execute(
        """
        SELECT EXISTS (
            SELECT 1 FROM workspace_auth_tokens t JOIN workspaces w ON w.id = t.workspace_id
            WHERE t.revoked_at IS NULL AND w.status <> 'removed'
        ) OR EXISTS (SELECT 1 FROM org_api_tokens WHERE revoked_at IS NULL) AS live
        """
    ).fetchone()
    return bool(row and row["live"])


class TokenRecord(NamedTuple):
    id: UUID
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


TokenOrigin = Literal["create", "provision", "api", "test"]


def insert_workspace_token(
    conn: Connection, workspace_id: UUID, token: MintedToken, *, origin: TokenOrigin
) -> TokenRecord:
    row = conn.execute(
        """
        INSERT INTO workspace_auth_tokens (workspace_id, token_hash, prefix, origin)
        VALUES (%(workspace_id)s, %(token_hash)s, %(prefix)s, %(origin)s)
        RETURNING id, prefix, created_at, last_used_at
        """,
        {"workspace_id": workspace_id, "token_hash": token.token_hash, "prefix": token.prefix, "origin": origin},
    ).fetchone()
    assert row is not None
    return TokenRecord(**row)


def insert_live_workspace_token(
    conn: Connection, workspace_id: UUID, token: MintedToken, *, origin: TokenOrigin
) -> TokenRecord | None:
    """A new token of a live workspace; None when the workspace is unknown or removed (one
    statement checks and inserts)."""
    row = conn.execute(
        """
        INSERT INTO workspace_auth_tokens (workspace_id, token_hash, prefix, origin)
        SELECT w.id, %(token_hash)s, %(prefix)s, %(origin)s
        FROM workspaces w
        WHERE w.id = %(workspace_id)s AND w.status <> 'removed'
        RETURNING id, prefix, created_at, last_used_at
        """,
        {"workspace_id": workspace_id, "token_hash": token.token_hash, "prefix": token.prefix, "origin": origin},
    ).fetchone()
    return TokenRecord(**row) if row else None


def count_live_workspace_tokens(conn: Connection, workspace_id: UUID) -> int:
    row = conn.execute(
        """
        SELECT count(*) AS live FROM workspace_auth_tokens
        WHERE workspace_id = %(workspace_id)s AND revoked_at IS NULL
        """,
        {"workspace_id": workspace_id},
    ).fetchone()
    return int(row["live"]) if row else 0


def list_live_workspace_tokens(conn: Connection, workspace_id: UUID) -> list[TokenRecord] | None:
    """The live tokens of a live workspace, oldest first; None when the workspace is unknown or
    removed (one statement for both answers)."""
    rows = conn.execute(
        """
        SELECT t.id, t.prefix, t.created_at, t.last_used_at
        FROM workspaces w
        LEFT JOIN workspace_auth_tokens t ON t.workspace_id = w.id AND t.revoked_at IS NULL
        WHERE w.id = %(workspace_id)s AND w.status <> 'removed'
        ORDER BY t.created_at, t.id
        """,
        {"workspace_id": workspace_id},
    ).fetchall()
    if not rows:
        return None
    return [TokenRecord(**row) for row in rows if row["id"] is not None]


def revoke_workspace_token(conn: Connection, workspace_id: UUID, token_id: UUID) -> bool:
    row = conn.execute(
        """
        UPDATE workspace_auth_tokens SET revoked_at = now()
        WHERE id = %(token_id)s AND workspace_id = %(workspace_id)s AND revoked_at IS NULL
        RETURNING id
        """,
        {"token_id": token_id, "workspace_id": workspace_id},
    ).fetchone()
    return row is not None


def revoke_all_workspace_tokens(conn: Connection, workspace_ids: list[UUID]) -> int:
    cursor = conn.execute(
        """
        UPDATE workspace_auth_tokens SET revoked_at = now()
        WHERE workspace_id = ANY(%(workspace_ids)s) AND revoked_at IS NULL
        """,
        {"workspace_ids": workspace_ids},
    )
    return cursor.rowcount


class OrgTokenRecord(NamedTuple):
    id: UUID
    prefix: str
    name: str
    created_by: str | None
    org_id: str | None
    created_at: datetime
    last_used_at: datetime | None


_ORG_COLUMNS = "id, prefix, name, created_by, org_id, created_at, last_used_at"


def insert_org_token(
    conn: Connection, token: MintedToken, *, name: str, created_by: str | None, org_id: str | None
) -> OrgTokenRecord:
    row = conn.execute(
        f"""
        INSERT INTO org_api_tokens (token_hash, prefix, name, created_by, org_id)
        VALUES (%(token_hash)s, %(prefix)s, %(name)s, %(created_by)s, %(org_id)s)
        RETURNING {_ORG_COLUMNS}
        """,
        {
            "token_hash": token.token_hash,
            "prefix": token.prefix,
            "name": name,
            "created_by": created_by,
            "org_id": org_id,
        },
    ).fetchone()
    assert row is not None
    return OrgTokenRecord(**row)


def list_live_org_tokens(conn: Connection) -> list[OrgTokenRecord]:
    rows = conn.execute(
        f"SELECT {_ORG_COLUMNS} FROM org_api_tokens WHERE revoked_at IS NULL ORDER BY created_at, id"
    ).fetchall()
    return [OrgTokenRecord(**row) for row in rows]


def revoke_org_token(conn: Connection, token_id: UUID) -> bool:
    row = conn.execute(
        "UPDATE org_api_tokens SET revoked_at = now() WHERE id = %(id)s AND revoked_at IS NULL RETURNING id",
        {"id": token_id},
    ).fetchone()
    return row is not None


def live_workspace_exists(conn: Connection, workspace_id: UUID, *, lock: bool = False) -> bool:
    """Whether the workspace exists and is not removed; with `lock`, its row stays locked until
    the transaction ends (serialises token mints of one workspace)."""
    row = conn.execute(
        "SELECT id FROM workspaces WHERE id = %(id)s AND status <> 'removed'" + (" FOR UPDATE" if lock else ""),
        {"id": workspace_id},
    ).fetchone()
    return row is not None
