"""Wire models: one pydantic model per request/response shape, imported by handlers, logic and
tests alike."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DeliveryMode = Literal["push", "poll"]
WorkspaceStatus = Literal[
    "provisioning",
    "online",
    "offline",
    "degraded",
    "failed",
    "removed",
    "paused",
    "hibernating",
    "hibernated",
    "awaiting_agent",
]

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_RUNTIME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
EXTERNAL_RUNTIME = "external"
DEFAULT_RUNTIME = "langgraph"
DEFAULT_TIER = 3


def _check_name(value: str) -> str:
    if not value.strip():
        raise ValueError("name must not be blank")
    if _CONTROL_CHARS.search(value):
        raise ValueError("name must not contain control characters")
    return value


def _tier_or_default(value: int) -> int:
    # Tier 0 is what old clients send for "unset": it means the default tier.
    return DEFAULT_TIER if value == 0 else value


class CreateWorkspaceRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=255)
    role: str | None = Field(None, max_length=255)
    runtime: str | None = Field(None, max_length=64)
    external: bool = False
    url: str | None = Field(None, max_length=2048)
    parent_id: UUID | None = None
    tier: int = Field(DEFAULT_TIER, ge=0, le=4)
    max_concurrent_tasks: int = Field(1, ge=1, le=1000)
    delivery_mode: DeliveryMode | None = None
    budget_limit: int | None = Field(None, ge=0)
    hibernation_idle_minutes: int | None = Field(None, ge=1)
    x: float = 0.0
    y: float = 0.0
    collapsed: bool = False

    _name = field_validator("name")(_check_name)
    _tier = field_validator("tier")(_tier_or_default)

    @field_validator("runtime")
    @classmethod
    def _runtime_shape(cls, value: str | None) -> str | None:
        if value is not None and not _RUNTIME.match(value):
            raise ValueError("runtime must be lower-case letters, digits, '.', '_' or '-'")
        return value

    @field_validator("url")
    @classmethod
    def _blank_url_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @model_validator(mode="after")
    def _external_runtime(self) -> CreateWorkspaceRequest:
        if self.runtime == EXTERNAL_RUNTIME:
            self.external = True
        if self.runtime is None:
            self.runtime = EXTERNAL_RUNTIME if self.external else DEFAULT_RUNTIME
        return self


class PatchWorkspaceRequest(BaseModel):
    """Only the fields present in the body change; an unknown field is a 400, not silently lost."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=255)
    role: str | None = Field(None, max_length=255)
    tier: int | None = Field(None, ge=0, le=4)
    x: float | None = None
    y: float | None = None
    collapsed: bool | None = None
    max_concurrent_tasks: int | None = Field(None, ge=1, le=1000)
    budget_limit: int | None = Field(None, ge=0)
    hibernation_idle_minutes: int | None = Field(None, ge=1)
    delivery_mode: DeliveryMode | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _check_name(value)

    @field_validator("tier")
    @classmethod
    def _tier(cls, value: int | None) -> int | None:
        return None if value is None else _tier_or_default(value)

    # Columns that cannot be NULL: sending null for them is a 400, not a silent no-op.
    _NOT_NULLABLE: ClassVar[tuple[str, ...]] = ("name", "tier", "x", "y", "collapsed", "max_concurrent_tasks")

    @model_validator(mode="after")
    def _present_fields(self) -> PatchWorkspaceRequest:
        if not self.model_fields_set:
            raise ValueError("no updatable field given")
        for field in self._NOT_NULLABLE:
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} must not be null")
        return self

    def changes(self) -> dict[str, Any]:
        return {field: getattr(self, field) for field in sorted(self.model_fields_set)}


class Workspace(BaseModel):
    """A workspace as clients see it: never the inbound secret."""

    id: UUID
    name: str
    role: str | None
    tier: int
    status: WorkspaceStatus
    runtime: str
    external: bool
    url: str | None
    agent_card: dict[str, Any] | None
    delivery_mode: DeliveryMode | None
    parent_id: UUID | None
    last_heartbeat_at: datetime | None
    last_error_rate: float
    last_sample_error: str | None
    active_tasks: int
    max_concurrent_tasks: int
    uptime_seconds: int
    current_task: str | None
    monthly_spend: int
    budget_limit: int | None
    hibernation_idle_minutes: int | None
    instance_id: str | None
    x: float
    y: float
    collapsed: bool
    created_at: datetime
    updated_at: datetime
    removed_at: datetime | None = None


class ConnectionInfo(BaseModel):
    """What an operator pastes to connect an external agent that has no URL yet."""

    workspace_id: UUID
    platform_url: str
    auth_token: str
    registry_endpoint: str
    heartbeat_endpoint: str
    curl_register_template: str
    python_snippet: str
    claude_code_channel_snippet: str


class CreatedWorkspace(Workspace):
    connection: ConnectionInfo | None = None


class WorkspaceState(BaseModel):
    workspace_id: UUID
    status: WorkspaceStatus
    paused: bool
    deleted: bool


class DeleteResult(BaseModel):
    status: Literal["removed"] = "removed"
    cascade_deleted: int
    purged: bool = False


class StructureEvent(BaseModel):
    id: UUID
    event_type: str
    workspace_id: UUID | None
    payload: dict[str, Any]
    created_at: datetime


class WorkspaceToken(BaseModel):
    id: UUID
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


class MintedWorkspaceToken(BaseModel):
    id: UUID
    workspace_id: UUID
    prefix: str
    auth_token: str


class CreateOrgTokenRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=255)
    org_id: str | None = Field(None, max_length=255)
    created_by: str | None = Field(None, max_length=255)

    _name = field_validator("name")(_check_name)


class OrgToken(BaseModel):
    id: UUID
    prefix: str
    name: str
    created_by: str | None
    org_id: str | None
    created_at: datetime
    last_used_at: datetime | None


class MintedOrgToken(OrgToken):
    token: str


class TestToken(BaseModel):
    __test__ = False  # not a pytest class

    auth_token: str
    workspace_id: UUID


# --- registry (SPEC §5.2, §5.3) -------------------------------------------------------------------


class RegisterRequest(BaseModel):
    """POST /registry/register. Unknown fields are ignored (three independent clients send it)."""

    model_config = ConfigDict(extra="ignore")

    id: UUID
    url: str | None = Field(None, max_length=2048)
    agent_card: dict[str, Any] | None = None
    delivery_mode: DeliveryMode | None = None

    @field_validator("url")
    @classmethod
    def _blank_url_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class RegisterResponse(BaseModel):
    status: Literal["registered"] = "registered"
    workspace_id: UUID
    delivery_mode: DeliveryMode
    # present only on the register that minted it (first boot, or after every token was revoked)
    auth_token: str | None = None
    # omitted when the lazy heal failed; the agent retries on its next register
    platform_inbound_secret: str | None = None


class HeartbeatRequest(BaseModel):
    """POST /registry/heartbeat. Only workspace_id is required; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    workspace_id: UUID
    error_rate: float | None = Field(None, ge=0, le=1)
    sample_error: str | None = Field(None, max_length=4096)
    active_tasks: int | None = Field(None, ge=0)
    uptime_seconds: int | None = Field(None, ge=0)
    current_task: str | None = Field(None, max_length=4096)
    monthly_spend: int | None = Field(None, ge=0)
    runtime_state: str | None = Field(None, max_length=64)


class UpdateCardRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    workspace_id: UUID
    agent_card: dict[str, Any]


class CheckAccessRequest(BaseModel):
    caller_id: UUID
    target_id: UUID


class Peer(BaseModel):
    id: UUID
    name: str
    role: str | None
    status: WorkspaceStatus
    relation: Literal["parent", "sibling", "child"]
    url: str | None
    agent_card: dict[str, Any] | None


class DiscoveredWorkspace(BaseModel):
    id: UUID
    url: str | None
    name: str


# --- activity (SPEC §5.6) -------------------------------------------------------------------------

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


class ActivityData(BaseModel):
    """What inbox readers (SDK, channel plugin, reference agent) need without parsing bodies."""

    source: Literal["canvas_user", "peer_agent"]
    kind: str
    text: str
    peer_id: UUID | None
    activity_id: UUID
    peer_name: str | None
    peer_role: str | None
    agent_card_url: str | None


class ActivityRow(BaseModel):
    id: UUID
    workspace_id: UUID
    activity_type: str
    type: str
    source_id: UUID | None
    target_id: UUID | None
    method: str | None
    summary: str | None
    request_body: Any
    request_raw: str | None = None
    response_body: Any
    tool_trace: Any
    duration_ms: int | None
    status: str | None
    error_detail: str | None
    created_at: datetime
    ts: datetime
    data: ActivityData


class LogActivityRequest(BaseModel):
    """POST /workspaces/{id}/activity: an agent's self-report."""

    model_config = ConfigDict(extra="ignore")

    activity_type: str = Field(max_length=64)
    source_id: UUID | None = None
    target_id: UUID | None = None
    method: str | None = Field(None, max_length=255)
    summary: str | None = Field(None, max_length=4096)
    request_body: Any = None
    response_body: Any = None
    tool_trace: Any = None
    duration_ms: int | None = Field(None, ge=0)
    status: str | None = Field(None, max_length=64)
    error_detail: str | None = Field(None, max_length=8192)
    idempotency_key: str | None = Field(None, max_length=255)


class NotifyRequest(BaseModel):
    """POST /workspaces/{id}/notify: agent → user message, optionally with file attachments."""

    model_config = ConfigDict(extra="ignore")

    message: str = Field(max_length=100_000)
    attachments: list[dict[str, Any]] | None = None


# --- lifecycle (SPEC §5.5) ------------------------------------------------------------------------


class TeamMember(BaseModel):
    """One child of a team expand: a managed workspace unless it says otherwise."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=255)
    role: str | None = Field(None, max_length=255)
    runtime: str | None = Field(None, max_length=64)
    tier: int = Field(DEFAULT_TIER, ge=0, le=4)
    max_concurrent_tasks: int = Field(1, ge=1, le=1000)
    hibernation_idle_minutes: int | None = Field(None, ge=1)

    _name = field_validator("name")(_check_name)


class ExpandRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    children: list[TeamMember] = Field(min_length=1, max_length=20)


class ExpandResult(BaseModel):
    status: Literal["expanded"] = "expanded"
    children: list[CreatedWorkspace]


# --- A2A queue (SPEC §5.5) ----------------------------------------------------------------------


class A2aQueueStatus(BaseModel):
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


class DropStaleResult(BaseModel):
    dropped: int
