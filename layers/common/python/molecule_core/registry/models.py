"""What agents send to the registry and what it answers (SPEC §5.2, §5.3, §4.3), and the
lineage the access rule decides from."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple
from uuid import UUID

from pydantic import ConfigDict, Field, field_validator

from molecule_core.platform.models import WireModel
from molecule_core.platform.validation import (
    FiniteFloat,
    NonNegativeInt32,
    NonNegativeInt64,
    StorableObject,
    StorableText,
)
from molecule_core.workspaces.models import DeliveryMode, WorkspaceStatus


class RegisterRequest(WireModel):
    """POST /registry/register. Unknown fields are ignored (three independent clients send it)."""

    model_config = ConfigDict(extra="ignore")

    id: UUID
    url: StorableText | None = Field(None, max_length=2048)
    agent_card: StorableObject | None = None
    delivery_mode: DeliveryMode | None = None

    @field_validator("url")
    @classmethod
    def _blank_url_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class RegisterResponse(WireModel):
    status: Literal["registered"] = "registered"
    workspace_id: UUID
    delivery_mode: DeliveryMode
    # present only on the register that minted it (first boot, or after every token was revoked)
    auth_token: str | None = None
    # omitted when the lazy heal failed; the agent retries on its next register
    platform_inbound_secret: str | None = None


class HeartbeatRequest(WireModel):
    """POST /registry/heartbeat. Only workspace_id is required; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    workspace_id: UUID
    error_rate: FiniteFloat | None = Field(None, ge=0, le=1)
    sample_error: StorableText | None = Field(None, max_length=4096)
    active_tasks: NonNegativeInt32 | None = None
    uptime_seconds: NonNegativeInt64 | None = None
    current_task: StorableText | None = Field(None, max_length=4096)
    monthly_spend: NonNegativeInt64 | None = None
    runtime_state: StorableText | None = Field(None, max_length=64)


class UpdateCardRequest(WireModel):
    model_config = ConfigDict(extra="ignore")

    workspace_id: UUID
    agent_card: StorableObject


class CheckAccessRequest(WireModel):
    caller_id: UUID
    target_id: UUID


class Peer(WireModel):
    id: UUID
    name: str
    role: str | None
    tier: int
    status: WorkspaceStatus
    relation: Literal["parent", "sibling", "child"]
    url: str | None
    agent_card: dict[str, Any] | None


class DiscoveredWorkspace(WireModel):
    id: UUID
    url: str | None
    name: str


class Lineage(NamedTuple):
    """A workspace and its ancestors, nearest first (what the access rule needs)."""

    id: UUID
    parent_id: UUID | None
    ancestors: tuple[UUID, ...]
    removed: bool


def lineages_from_json(raw: dict[str, list[dict[str, Any]]] | None) -> dict[UUID, Lineage]:
    """Parse what the `workspace_lineages(ids)` SQL function answers (migrations/006)."""
    chains: dict[UUID, Lineage] = {}
    for origin, members in (raw or {}).items():
        chains[UUID(origin)] = Lineage(
            id=UUID(origin),
            parent_id=UUID(members[0]["parent_id"]) if members[0]["parent_id"] else None,
            ancestors=tuple(UUID(m["id"]) for m in members[1:]),
            removed=members[0]["status"] == "removed",
        )
    return chains
