"""Workspaces as the API shows them: create and patch requests, the workspace row clients read
(never its inbound secret), its state, and the effective delivery mode rule (SPEC §5.2) every
reader resolves the same way."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import ConfigDict, Field, field_validator, model_validator

from molecule_core.platform.models import WireModel
from molecule_core.platform.validation import (
    FiniteFloat,
    NonNegativeInt32,
    NonNegativeInt64,
    StorableText,
    check_display_name,
    check_role,
)

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

_RUNTIME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
EXTERNAL_RUNTIME = "external"
DEFAULT_RUNTIME = "langgraph"
DEFAULT_TIER = 3


def tier_or_default(value: int) -> int:
    # Tier 0 is what old clients send for "unset": it means the default tier.
    return DEFAULT_TIER if value == 0 else value


def is_http_url(url: str | None) -> bool:
    return bool(url) and str(url).lower().startswith(("http://", "https://"))


def resolve_delivery_mode(
    requested: DeliveryMode | None, stored: str | None, runtime: str, url: str | None
) -> DeliveryMode:
    """Effective delivery mode (SPEC §5.2): payload value → the row's stored value → `poll` when the
    runtime is external or there is no http(s) URL to push to → `push`."""
    if requested is not None:
        return requested
    if stored in ("push", "poll"):
        return "push" if stored == "push" else "poll"
    if runtime == EXTERNAL_RUNTIME or not is_http_url(url):
        return "poll"
    return "push"


class CreateWorkspaceRequest(WireModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=255)
    role: StorableText | None = Field(None, max_length=255)
    runtime: str | None = Field(None, max_length=64)
    external: bool = False
    url: StorableText | None = Field(None, max_length=2048)
    parent_id: UUID | None = None
    tier: int = Field(DEFAULT_TIER, ge=0, le=4)
    max_concurrent_tasks: int = Field(1, ge=1, le=1000)
    delivery_mode: DeliveryMode | None = None
    budget_limit: NonNegativeInt64 | None = None
    hibernation_idle_minutes: NonNegativeInt32 | None = Field(None, ge=1)
    x: FiniteFloat = 0.0
    y: FiniteFloat = 0.0
    collapsed: bool = False

    _name = field_validator("name")(check_display_name)
    _role = field_validator("role")(check_role)
    _tier = field_validator("tier")(tier_or_default)

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


class PatchWorkspaceRequest(WireModel):
    """Only the fields present in the body change; an unknown field is a 400, not silently lost."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=255)
    role: StorableText | None = Field(None, max_length=255)
    tier: int | None = Field(None, ge=0, le=4)
    x: FiniteFloat | None = None
    y: FiniteFloat | None = None
    collapsed: bool | None = None
    max_concurrent_tasks: int | None = Field(None, ge=1, le=1000)
    budget_limit: NonNegativeInt64 | None = None
    hibernation_idle_minutes: NonNegativeInt32 | None = Field(None, ge=1)
    delivery_mode: DeliveryMode | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else check_display_name(value)

    _role = field_validator("role")(check_role)

    @field_validator("tier")
    @classmethod
    def _tier(cls, value: int | None) -> int | None:
        return None if value is None else tier_or_default(value)

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


class Workspace(WireModel):
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


class ConnectionInfo(WireModel):
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


class WorkspaceState(WireModel):
    workspace_id: UUID
    status: WorkspaceStatus
    paused: bool
    deleted: bool


class DeleteResult(WireModel):
    status: Literal["removed"] = "removed"
    cascade_deleted: int
    purged: bool = False
