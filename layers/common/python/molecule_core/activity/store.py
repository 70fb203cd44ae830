"""SQL for `activity_logs`: the per-workspace activity feed and the inbox of poll-mode agents.

Cursor safety (SPEC §5.6: a since_id poller never misses a row and never sees one twice, even with
concurrent writers): `seq` is taken at INSERT time, not at COMMIT, so ordering by `seq` alone
would let a slow transaction commit a row *behind* a cursor that already moved past it. Rows are
therefore ordered by (xid, seq), `xid` being the writing transaction's id, and a poller's read
only returns rows of transactions older than the oldest one still running
(`pg_snapshot_xmin(pg_current_snapshot())`). Such transactions are finished, so nothing can ever
appear before what was returned; a row of a transaction still in flight is simply delivered on a
later poll. Same design as structure_events (migrations/004)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NamedTuple
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb

from molecule_core.activity.models import NewActivity
from molecule_core.platform.db import Connection

_ROW_COLUMNS = """
    a.id, a.workspace_id, a.activity_type, a.source_id, a.target_id, a.method, a.summary,
    a.request_body, a.request_normalized, a.response_body, a.tool_trace, a.duration_ms, a.status,
    a.error_detail, a.protocol_version, a.created_at, peer.name AS peer_name, peer.role AS peer_role
"""


def _json(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value)


def insert_activity(conn: Connection, row: NewActivity, *, touch_workspace: bool = False, durable: bool = True) -> UUID:
    """Insert one row; with touch_workspace, the same statement also marks the workspace active
    (`last_active_at`: an A2A message is activity, so no hibernation) — one round trip for both.

    `durable=False` commits the statement without waiting for its WAL to reach disk
    (`synchronous_commit = off` for this transaction only): for rows that are a record of something
    already done (the receipt of a delivered A2A message), where a crash may lose the last few
    hundred milliseconds of them but never corrupts anything. Rows that *are* the message (a
    poll-mode inbox) stay fully durable."""
    touch = (
        "WITH touched AS (UPDATE workspaces SET last_active_at = now() WHERE id = %(workspace_id)s) "
        if touch_workspace
        else ""
    )
    # set_config(..., true) is SET LOCAL: it lasts until this statement's own commit, which reads it.
    relaxed = "" if durable else "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed"
    inserted = conn.execute(
        touch
        + f"""
        INSERT INTO activity_logs (
            workspace_id, activity_type, source_id, target_id, method, summary, request_body,
            request_normalized, response_body, tool_trace, duration_ms, status, error_detail, idempotency_key,
            protocol_version
        )
        SELECT
            %(workspace_id)s, %(activity_type)s, %(source_id)s, %(target_id)s, %(method)s, %(summary)s,
            %(request_body)s, %(request_normalized)s, %(response_body)s, %(tool_trace)s, %(duration_ms)s,
            %(status)s, %(error_detail)s, %(idempotency_key)s, %(protocol_version)s
        {relaxed}
        RETURNING id
        """,
        {
            **row._asdict(),
            "request_body": _json(row.request_body),
            "request_normalized": _json(row.request_normalized),
            "response_body": _json(row.response_body),
            "tool_trace": _json(row.tool_trace),
        },
    ).fetchone()
    assert inserted is not None
    return UUID(str(inserted["id"]))


# The columns of the statement's head (the same in every row), not of an activity row.
_HEAD_COLUMNS = ("workspace_status", "cursor_found", "bearer_kind", "bearer_token_id", "bearer_workspace_id")


class ActivityFilter(NamedTuple):
    activity_type: str | None = None
    source: Literal["canvas", "agent"] | None = None
    peer_id: UUID | None = None
    before: datetime | None = None
    since_seconds: int | None = None
    cursor_id: UUID | None = None  # rows strictly after this row of the workspace (since_id)


class ActivityPage(NamedTuple):
    """What one read of the feed found: the workspace's status (None: no such workspace), whether
    the cursor is one of its rows, and the rows."""

    workspace_status: str | None
    cursor_found: bool
    rows: list[dict[str, Any]]
    # The caller's live credential, looked up in the same statement (all None: none presented, or
    # not live): `live_bearer`'s columns, as every statement that accepts a token reads them.
    bearer_kind: str | None = None
    bearer_token_id: UUID | None = None
    bearer_workspace_id: UUID | None = None


def list_activity(
    conn: Connection,
    workspace_id: UUID,
    where: ActivityFilter,
    *,
    ascending: bool,
    limit: int,
    token_hash: bytes | None = None,
) -> ActivityPage:
    """One round trip for the whole read: the caller's credential (`token_hash`), the workspace
    (404/410 are decided from it), the cursor row and the page. The page is empty unless the
    workspace is live, the cursor (if any) is one of its rows, and a presented bearer is live."""
    clauses: list[sql.Composable] = [
        sql.SQL("a.workspace_id = %(workspace_id)s"),
        sql.SQL("target.live"),
        sql.SQL("(%(token_hash)s::bytea IS NULL OR b.kind IS NOT NULL)"),
    ]
    if where.activity_type is not None:
        clauses.append(sql.SQL("a.activity_type = %(activity_type)s"))
    if where.source == "canvas":
        clauses.append(sql.SQL("a.source_id IS NULL"))
    elif where.source == "agent":
        clauses.append(sql.SQL("a.source_id IS NOT NULL"))
    if where.peer_id is not None:
        clauses.append(sql.SQL("a.source_id = %(peer_id)s"))
    if where.before is not None:
        clauses.append(sql.SQL("a.created_at < %(before)s"))
    if where.since_seconds is not None:
        clauses.append(sql.SQL("a.created_at >= now() - make_interval(secs => %(since_seconds)s)"))
    if where.cursor_id is not None:
        clauses.append(sql.SQL("(a.xid, a.seq) > (SELECT xid, seq FROM cursor_row)"))
    if ascending:
        # Poller order: only rows of finished transactions (see the module docstring).
        clauses.append(sql.SQL("a.xid < pg_snapshot_xmin(pg_current_snapshot())"))
    order = sql.SQL("a.xid, a.seq") if ascending else sql.SQL("a.xid DESC, a.seq DESC")
    statement = sql.SQL(
        """
        WITH cursor_row AS (
            SELECT xid, seq FROM activity_logs WHERE id = %(cursor_id)s AND workspace_id = %(workspace_id)s
        )
        SELECT target.status AS workspace_status,
               (%(cursor_id)s::uuid IS NULL OR EXISTS (SELECT 1 FROM cursor_row)) AS cursor_found,
               b.kind AS bearer_kind, b.token_id AS bearer_token_id, b.workspace_id AS bearer_workspace_id,
               page.*
        FROM (SELECT 1) one
        LEFT JOIN LATERAL (
            SELECT kind, token_id, workspace_id FROM live_bearer(%(token_hash)s) WHERE %(token_hash)s::bytea IS NOT NULL
            LIMIT 1
        ) b ON true
        LEFT JOIN (
            SELECT status::text AS status, status <> 'removed' AS live FROM workspaces WHERE id = %(workspace_id)s
        ) target ON true
        LEFT JOIN LATERAL (
            SELECT {columns}
            FROM activity_logs a
            LEFT JOIN workspaces peer ON peer.id = a.source_id
            WHERE {where}
            ORDER BY {order}
            LIMIT %(limit)s
        ) page ON true
        """
    ).format(columns=sql.SQL(_ROW_COLUMNS), where=sql.SQL(" AND ").join(clauses), order=order)
    records = conn.execute(
        statement,
        {
            "workspace_id": workspace_id,
            "cursor_id": where.cursor_id,
            "activity_type": where.activity_type,
            "peer_id": where.peer_id,
            "before": where.before,
            "since_seconds": where.since_seconds,
            "limit": limit,
            "token_hash": token_hash,
        },
    ).fetchall()
    status, cursor_found, *bearer = (records[0][column] for column in _HEAD_COLUMNS)  # `one`: always a row
    rows = [record for record in records if record["id"] is not None]
    for record in rows:
        for column in _HEAD_COLUMNS:
            del record[column]
    return ActivityPage(status, bool(cursor_found), rows, *bearer)


def delete_older_than(conn: Connection, days: int) -> int:
    cursor = conn.execute(
        "DELETE FROM activity_logs WHERE created_at < now() - make_interval(days => %(days)s)", {"days": days}
    )
    return cursor.rowcount


def workspace_status(conn: Connection, workspace_id: UUID) -> str | None:
    """The workspace's status, or None when there is no such workspace."""
    row = conn.execute(
        "SELECT status::text AS status FROM workspaces WHERE id = %(id)s", {"id": workspace_id}
    ).fetchone()
    return str(row["status"]) if row else None
