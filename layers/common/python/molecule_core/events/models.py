"""The structural event log as clients read it (GET /events, /events/{workspace_id})."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from molecule_core.platform.models import WireModel


class StructureEvent(WireModel):
    id: UUID
    event_type: str
    workspace_id: UUID | None
    payload: dict[str, Any]
    created_at: datetime
