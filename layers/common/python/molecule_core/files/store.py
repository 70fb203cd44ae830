"""SQL for `staged_files`: the record of every file the platform stages in S3 (SPEC §5.13). A row
past its `expires_at` is never returned: the bucket's lifecycle rule deletes the object some time
later, the row hides it at once."""

from __future__ import annotations

from typing import NamedTuple
from uuid import UUID

from molecule_core.files.models import StagedFile
from molecule_core.platform.db import Connection


class NewStagedFile(NamedTuple):
    id: UUID
    workspace_id: UUID
    name: str
    size: int
    mime_type: str
    sha256: str | None
    object_key: str
    stored: bool  # the bytes are in the bucket already (the platform put them there itself)
    retention_days: int


def insert_staged_file(conn: Connection, file: NewStagedFile) -> StagedFile | None:
    """The new row, or None when the workspace is unknown or removed (one statement checks both)."""
    row = conn.execute(
        """
        INSERT INTO staged_files (id, workspace_id, name, size, mime_type, sha256, object_key, stored_at, expires_at)
        SELECT %(id)s, w.id, %(name)s, %(size)s, %(mime_type)s, %(sha256)s, %(object_key)s,
               CASE WHEN %(stored)s THEN now() END,
               now() + make_interval(days => %(retention_days)s)
        FROM workspaces w
        WHERE w.id = %(workspace_id)s AND w.status <> 'removed'
        RETURNING *
        """,
        file._asdict(),
    ).fetchone()
    return StagedFile.model_validate(row) if row else None


def find_live_staged_file(conn: Connection, file_id: UUID) -> StagedFile | None:
    row = conn.execute(
        "SELECT * FROM staged_files WHERE id = %(id)s AND expires_at > now()",
        {"id": file_id},
    ).fetchone()
    return StagedFile.model_validate(row) if row else None


class FileAndBearer(NamedTuple):
    """A staged-file read's one statement: the live file (None when unknown or expired) and what
    the presented bearer resolved to (all None when none was presented or it is not live)."""

    file: StagedFile | None
    bearer_kind: str | None
    bearer_token_id: UUID | None
    bearer_workspace_id: UUID | None


def find_live_staged_file_and_bearer(conn: Connection, file_id: UUID, token_hash: bytes | None) -> FileAndBearer:
    """The file and the caller's credential in one round trip (the bearer's liveness is
    `live_bearer`'s, migrations/015, as for every statement that accepts a token)."""
    row = conn.execute(
        """
        SELECT b.kind AS bearer_kind, b.token_id AS bearer_token_id, b.workspace_id AS bearer_workspace_id, f.*
        FROM (SELECT 1) one
        LEFT JOIN LATERAL (
            SELECT kind, token_id, workspace_id FROM live_bearer(%(token_hash)s) WHERE %(token_hash)s::bytea IS NOT NULL
            LIMIT 1
        ) b ON true
        LEFT JOIN staged_files f ON f.id = %(id)s AND f.expires_at > now()
        """,
        {"id": file_id, "token_hash": token_hash},
    ).fetchone()
    assert row is not None
    bearer = (row.pop("bearer_kind"), row.pop("bearer_token_id"), row.pop("bearer_workspace_id"))
    return FileAndBearer(StagedFile.model_validate(row) if row["id"] is not None else None, *bearer)


def mark_stored(conn: Connection, file_id: UUID) -> None:
    """The bytes of a presigned upload were found in the bucket with the declared size."""
    conn.execute(
        "UPDATE staged_files SET stored_at = now() WHERE id = %(id)s AND stored_at IS NULL",
        {"id": file_id},
    )


def delete_expired(conn: Connection) -> int:
    """Delete the rows of files past `expires_at`: no route returns them any more, and the bucket's
    lifecycle rule deletes their objects."""
    return conn.execute("DELETE FROM staged_files WHERE expires_at < now()").rowcount
