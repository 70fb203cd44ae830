"""SQL for the structural event log (`structure_events`): every status transition and registry
change, read by UIs newest first or by a since_id cursor (oldest first).

Cursor safety: rows are ordered by (xid, seq) and a cursor read only returns rows written by
transactions older than the oldest one still running (`pg_snapshot_xmin`). Every later row has a
larger xid than anything already returned, so a poller never misses a row that committed late and
never sees one twice. See migrations/004 for the columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from molecule_core.events.models import StructureEvent
from molecule_core.platform.db import Connection

_COLUMNS = "id, event_type, workspace_id, payload, created_at"


@dataclass(frozen=True)
class Cursor:
    xid: str
    seq: int


def record_event(
    conn: Connection, event_type: str, workspace_id: UUID | None, payload: dict[str, Any] | None = None
) -> None:
    conn.execute(
        """
        INSERT INTO structure_events (event_type, workspace_id, payload)
        VALUES (%(event_type)s, %(workspace_id)s, %(payload)s)
        """,
        {"event_type": event_type, "workspace_id": workspace_id, "payload": Jsonb(payload or {})},
    )


def record_events(
    conn: Connection, event_type: str, workspace_ids: list[UUID], payload: dict[str, Any] | None = None
) -> None:
    """One statement for a batch (cascade delete, sweeps): constant round trips at any size."""
    if not workspace_ids:
        return
    conn.execute(
        """
        INSERT INTO structure_events (event_type, workspace_id, payload)
        SELECT %(event_type)s, ids.id, %(payload)s FROM unnest(%(ids)s::uuid[]) AS ids(id)
        """,
        {"event_type": event_type, "ids": workspace_ids, "payload": Jsonb(payload or {})},
    )


def find_cursor(conn: Connection, event_id: UUID, workspace_id: UUID | None) -> Cursor | None:
    """The position of an event, scoped to a workspace when one is given. None when the event is
    unknown, pruned or belongs to another workspace (callers answer 410 for all three alike)."""
    row = conn.execute(
        """
        SELECT xid::text AS xid, seq FROM structure_events
        WHERE id = %(id)s AND (%(workspace_id)s::uuid IS NULL OR workspace_id = %(workspace_id)s)
        """,
        {"id": event_id, "workspace_id": workspace_id},
    ).fetchone()
    return Cursor(row["xid"], int(row["seq"])) if row else None


def list_events(
    conn: Connection, *, workspace_id: UUID | None, after: Cursor | None, limit: int
) -> list[StructureEvent]:
    """Newest first without a cursor; strictly after the cursor, oldest first, with one."""
    if after is None:
        rows = conn.execute(
            f"""
            SELECT {_COLUMNS} FROM structure_events
            WHERE (%(workspace_id)s::uuid IS NULL OR workspace_id = %(workspace_id)s)
            ORDER BY xid DESC, seq DESC LIMIT %(limit)s
            """,
            {"workspace_id": workspace_id, "limit": limit},
        ).fetchall()
    else:
        rows = conn.execute(
            f"""
            SELECT {_COLUMNS} FROM structure_events
            WHERE (%(workspace_id)s::uuid IS NULL OR workspace_id = %(workspace_id)s)
              AND (xid, seq) > (%(xid)s::xid8, %(seq)s)
              AND xid < pg_snapshot_xmin(pg_current_snapshot())
            ORDER BY xid, seq LIMIT %(limit)s
            """,
            {"workspace_id": workspace_id, "xid": after.xid, "seq": after.seq, "limit": limit},
        ).fetchall()
    return [StructureEvent.model_validate(row) for row in rows]


def workspace_exists(conn: Connection, workspace_id: UUID) -> bool:
    """Whether the workspace has a row (a removed one still has its history)."""
    return conn.execute("SELECT 1 FROM workspaces WHERE id = %(id)s", {"id": workspace_id}).fetchone() is not None
