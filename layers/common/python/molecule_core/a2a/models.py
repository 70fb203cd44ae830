"""The A2A proxy's answers and the queue's wire shapes (SPEC §5.4, §5.5)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple
from uuid import UUID

from molecule_core.platform.models import WireModel


@dataclass(frozen=True)
class A2AAnswer:
    """What the proxy answers when it does not refuse: the agent's bytes unchanged, or the
    platform's own JSON (poll inbox, queued). A streamed answer (SSE) has `stream`: its bytes as the
    agent sends them, to be relayed as they come (`body` is then empty)."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterator[bytes] | None = None

    @classmethod
    def json(cls, status: int, body: dict[str, Any]) -> A2AAnswer:
        return cls(status, json.dumps(body, separators=(",", ":")).encode())

    @classmethod
    def sse(cls, status: int, events: Iterator[bytes]) -> A2AAnswer:
        return cls(status, b"", "text/event-stream", {"Cache-Control": "no-cache"}, events)


class HandedMessage(NamedTuple):
    """Where `service.enqueue_message` put a message for its target: the target's inbox (poll
    mode: the activity row that holds it) or the A2A queue (push: the queue row the drain delivers)."""

    route: Literal["inbox", "queue"]
    id: UUID


class A2aQueueStatus(WireModel):
    """GET /workspaces/{id}/a2a/queue/{queue_id}: where a queued message is; its answer once completed."""

    queue_id: UUID
    status: Literal["queued", "dispatched", "completed", "failed", "expired", "dropped"]
    attempts: int
    last_error: str | None = None
    enqueued_at: datetime
    published_at: datetime | None = None
    dispatched_at: datetime | None = None
    completed_at: datetime | None = None
    expires_at: datetime | None = None
    response_status: int | None = None
    response_body: Any = None


QueueStatus = Literal["queued", "dispatched", "completed", "failed", "expired", "dropped"]


class A2aQueueItem(WireModel):
    """One row of GET /workspaces/{id}/a2a/queue and GET /admin/a2a-queue: where a message is,
    never its body."""

    queue_id: UUID
    workspace_id: UUID
    caller_id: UUID | None
    method: str | None
    status: QueueStatus
    attempts: int
    last_error: str | None
    response_status: int | None
    enqueued_at: datetime
    published_at: datetime | None
    dispatched_at: datetime | None
    completed_at: datetime | None
    expires_at: datetime | None


class DropStaleResult(WireModel):
    dropped: int
