"""SQL for the structural event log (`structure_events`): every status transition and registry
change, read by UIs newest first or by a since_id cursor (oldest first).

Cursor safety: rows are ordered by (xid, seq) and a cursor read only returns rows written by
transactions older than the oldest one still running (`pg_snapshot_xmin`). Every later row has a
larger xid than anything already returned, so a poller never misses a row that committed late and
never sees one twice. See migrations/004 for the columns.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from uuid import UUID

from psycopg.types.json import Jsonb

from molecule_core.events.models import StructureEvent
from molecule_core.platform.db import Connection


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


class EventPage(NamedTuple):
    workspace_found: bool
    cursor_found: bool
    events: list[StructureEvent]


def list_events(conn: Connection, *, workspace_id: UUID | None, cursor_id: UUID | None, limit: int) -> EventPage:
    """One round trip: whether the workspace exists (when one is given; a removed one still has its
    history), whether the cursor is one of its events (or the fleet's), and the page — newest first
    without a cursor, strictly after it, oldest first, with one."""
    if cursor_id is None:
        page = "ORDER BY e.xid DESC, e.seq DESC"
    else:
        page = """AND (e.xid, e.seq) > (SELECT xid, seq FROM cursor_row)
                  AND e.xid < pg_snapshot_xmin(pg_current_snapshot())
                ORDER BY e.xid, e.seq"""
    records = conn.execute(
        f"""
        WITH cursor_row AS (
            SELECT xid, seq FROM structure_events
            WHERE id = %(cursor_id)s AND (%(workspace_id)s::uuid IS NULL OR workspace_id = %(workspace_id)s)
        )
        SELECT target.found AS workspace_found,
               (%(cursor_id)s::uuid IS NULL OR EXISTS (SELECT 1 FROM cursor_row)) AS cursor_found,
               page.*
        FROM (
            SELECT %(workspace_id)s::uuid IS NULL
                   OR EXISTS (SELECT 1 FROM workspaces WHERE id = %(workspace_id)s) AS found
        ) target
        LEFT JOIN LATERAL (
            SELECT e.id, e.event_type, e.workspace_id, e.payload, e.created_at
            FROM structure_events e
            WHERE target.found AND (%(workspace_id)s::uuid IS NULL OR e.workspace_id = %(workspace_id)s)
            {page}
            LIMIT %(limit)s
        ) page ON true
        """,
        {"workspace_id": workspace_id, "cursor_id": cursor_id, "limit": limit},
    ).fetchall()
    first = records[0]
    events = [
        StructureEvent.model_validate(
            {key: record[key] for key in record if key not in ("workspace_found", "cursor_found")}
        )
        for record in records
        if record["id"] is not None
    ]
    return EventPage(bool(first["workspace_found"]), bool(first["cursor_found"]), events)
