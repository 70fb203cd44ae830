"""The activity log as clients read and write it (SPEC §5.6): feed/inbox rows (with the `data`
object inbox readers use), agents' self-reports and notes to their users, and `NewActivity`, the
row other domains record through `activity.service.record_activity`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NamedTuple
from uuid import UUID

from pydantic import ConfigDict, Field, field_validator

from molecule_core.platform.models import WireModel
from molecule_core.platform.validation import NonNegativeInt32, StorableJson, StorableObject, StorableText

ACTIVITY_TYPES = (
    "a2a_send",
    "a2a_receive",
    "task_update",
    "agent_log",
    "skill_promotion",
    "memory_write",
    "error",
    "delegation",
)


class ActivityData(WireModel):
    """What inbox readers (SDK, channel plugin, reference agent) need without parsing bodies."""

    source: Literal["canvas_user", "peer_agent"]
    kind: str
    text: str
    peer_id: UUID | None
    activity_id: UUID
    peer_name: str | None
    peer_role: str | None
    agent_card_url: str | None


class ActivityRow(WireModel):
    id: UUID
    workspace_id: UUID
    activity_type: str
    type: str
    source_id: UUID | None
    target_id: UUID | None
    method: str | None
    summary: str | None
    # A poll-mode message: the body exactly as the sender wrote it, and the platform's normalised
    # form beside it (SPEC §5.6). Other rows have no normalised form.
    request_body: Any
    request_normalized: Any = None
    response_body: Any
    tool_trace: Any
    duration_ms: int | None
    status: str | None
    error_detail: str | None
    protocol_version: str | None = None  # the A2A version of an a2a_receive message ("0.3" | "1.0")
    created_at: datetime
    ts: datetime
    data: ActivityData


class LogActivityRequest(WireModel):
    """POST /workspaces/{id}/activity: an agent's self-report. An empty or missing `source_id` means
    the caller itself, an empty `status` means `ok` (SPEC §4.3; the service fills both in)."""

    model_config = ConfigDict(extra="ignore")

    activity_type: StorableText = Field(max_length=64)
    source_id: UUID | None = None
    target_id: UUID | None = None
    method: StorableText | None = Field(None, max_length=255)
    summary: StorableText | None = Field(None, max_length=4096)
    request_body: StorableJson = None
    response_body: StorableJson = None
    tool_trace: StorableJson = None
    duration_ms: NonNegativeInt32 | None = None
    status: StorableText | None = Field(None, max_length=64)
    error_detail: StorableText | None = Field(None, max_length=8192)
    idempotency_key: StorableText | None = Field(None, max_length=255)

    @field_validator("source_id", mode="before")
    @classmethod
    def _empty_source_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


class NotifyRequest(WireModel):
    """POST /workspaces/{id}/notify: agent → user message, optionally with file attachments."""

    model_config = ConfigDict(extra="ignore")

    message: StorableText = Field(max_length=100_000)
    attachments: list[StorableObject] | None = None


class NewActivity(NamedTuple):
    workspace_id: UUID
    activity_type: str
    source_id: UUID | None = None
    target_id: UUID | None = None
    method: str | None = None
    summary: str | None = None
    request_body: Any = None
    request_normalized: Any = None
    response_body: Any = None
    tool_trace: Any = None
    duration_ms: int | None = None
    status: str | None = None
    error_detail: str | None = None
    idempotency_key: str | None = None
    protocol_version: str | None = None


DEFAULT_LIMIT = 100


class ActivityQuery(NamedTuple):
    """A feed or inbox read as the caller asked for it: the route's query parameters, the ones
    that can still be wrong (`activity_type`, `since_secs`, `since_id`) unparsed."""

    activity_type: str | None = None
    source: Literal["canvas", "agent"] | None = None
    peer_id: UUID | None = None
    before: datetime | None = None
    since_secs: str | None = None
    since_id: str | None = None
    order: Literal["asc", "desc"] | None = None
    limit: int = DEFAULT_LIMIT
