"""The structural event log (SPEC §3): every status transition and registry change is recorded
here (`record_event`, inside the caller's transaction), and read by GET /events (fleet) and
/events/{workspace_id} with a since_id cursor."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from molecule_core.events import store
from molecule_core.events.models import StructureEvent
from molecule_core.platform import db
from molecule_core.platform.errors import Gone, WorkspaceNotFound

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def cursor_gone() -> Gone:
    # One message for unknown, pruned, malformed and foreign cursors: nothing to tell them apart.
    return Gone("cursor not found; restart without since_id", code="cursor_gone")


def record_event(
    conn: db.Connection, event_type: str, workspace_id: UUID | None, payload: dict[str, Any] | None = None
) -> None:
    store.record_event(conn, event_type, workspace_id, payload)


def record_events(
    conn: db.Connection, event_type: str, workspace_ids: list[UUID], payload: dict[str, Any] | None = None
) -> None:
    store.record_events(conn, event_type, workspace_ids, payload)


def list_events(*, workspace_id: UUID | None, since_id: str | None, limit: int) -> list[StructureEvent]:
    """The fleet's events (workspace_id None) or one workspace's (404 when it does not exist)."""
    limit = max(1, min(limit, MAX_LIMIT))
    cursor_id = None
    if since_id is not None:
        try:
            cursor_id = UUID(since_id)
        except ValueError:
            cursor_id = UUID(int=0)  # malformed: no event has it (a 410, after the 404 check)
    page = db.single_statement(
        lambda conn: store.list_events(conn, workspace_id=workspace_id, cursor_id=cursor_id, limit=limit)
    )
    if not page.workspace_found:
        raise WorkspaceNotFound()
    if not page.cursor_found:
        raise cursor_gone()
    return page.events
