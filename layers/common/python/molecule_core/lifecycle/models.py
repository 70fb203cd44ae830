"""Lifecycle as it travels: a request to restart, wake, hibernate or stop a workspace, the message
that carries it on the lifecycle queue, and team expand's wire shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, NamedTuple
from uuid import UUID

from pydantic import ConfigDict, Field, field_validator

from molecule_core.platform.models import WireModel
from molecule_core.platform.validation import NonNegativeInt32, StorableText, check_display_name, check_role
from molecule_core.workspaces.models import DEFAULT_TIER, CreatedWorkspace

LifecycleAction = Literal["restart", "wake", "hibernate", "stop"]


class LifecycleRequest(NamedTuple):
    action: LifecycleAction
    workspace_id: UUID
    reason: str


class LifecycleMessage(WireModel):
    """The body of one lifecycle-queue message (the wire shape between requesters and the lifecycle
    function)."""

    model_config = ConfigDict(frozen=True)

    action: LifecycleAction
    workspace_id: UUID
    reason: str
    requested_at: datetime

    @classmethod
    def from_request(cls, request: LifecycleRequest, requested_at: datetime | None = None) -> LifecycleMessage:
        return cls(
            action=request.action,
            workspace_id=request.workspace_id,
            reason=request.reason,
            requested_at=requested_at or datetime.now(UTC),
        )

    @classmethod
    def from_json(cls, body: str | bytes) -> LifecycleMessage:
        return cls.model_validate_json(body)

    def to_json(self) -> str:
        return self.model_dump_json()

    def to_request(self) -> LifecycleRequest:
        return LifecycleRequest(self.action, self.workspace_id, self.reason)


class TeamMember(WireModel):
    """One child of a team expand: a managed workspace unless it says otherwise."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=255)
    role: StorableText | None = Field(None, max_length=255)
    runtime: str | None = Field(None, max_length=64)
    tier: int = Field(DEFAULT_TIER, ge=0, le=4)
    max_concurrent_tasks: int = Field(1, ge=1, le=1000)
    hibernation_idle_minutes: NonNegativeInt32 | None = Field(None, ge=1)

    _name = field_validator("name")(check_display_name)
    _role = field_validator("role")(check_role)


class ExpandRequest(WireModel):
    model_config = ConfigDict(extra="ignore")

    children: list[TeamMember] = Field(min_length=1, max_length=20)


class ExpandResult(WireModel):
    status: Literal["expanded"] = "expanded"
    children: list[CreatedWorkspace]


class RestartInFlight(Exception):
    """Another restart of this workspace holds the lease; retry the message later. (Here, not in
    `jobs`, so that `lifecycle.service` names it without loading the jobs and provisioning.)"""
