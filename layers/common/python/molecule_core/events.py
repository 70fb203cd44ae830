"""Reading the structural event log: GET /events (fleet) and /events/{workspace_id}."""

from __future__ import annotations

from uuid import UUID

from molecule_core import db
from molecule_core.errors import Gone, WorkspaceNotFound
from molecule_core.models import StructureEvent
from molecule_core.store import events as event_store
from molecule_core.store import workspaces as workspace_store

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def cursor_gone() -> Gone:
    # One message for unknown, pruned, malformed and foreign cursors: nothing to tell them apart.
    return Gone("cursor not found; restart without since_id", code="cursor_gone")


def list_events(*, workspace_id: UUID | None, scoped: bool, since_id: str | None, limit: int) -> list[StructureEvent]:
    """`scoped` is True for /events/{workspace_id} (workspace_id None there = malformed → 404)."""
    limit = max(1, min(limit, MAX_LIMIT))
    with db.transaction() as conn:
        if scoped and (workspace_id is None or workspace_store.get(conn, workspace_id) is None):
            raise WorkspaceNotFound()
        after = None
        if since_id is not None:
            try:
                cursor_id = UUID(since_id)
            except ValueError:
                raise cursor_gone() from None
            after = event_store.find_cursor(conn, cursor_id, workspace_id if scoped else None)
            if after is None:
                raise cursor_gone()
        return event_store.list_events(conn, workspace_id=workspace_id if scoped else None, after=after, limit=limit)
