"""Delegations as clients send and read them (SPEC §5.10): the delegate, record and update bodies,
the answers, and the rows of the list and of one delegation. The list's row is the shape the
channel plugin reads (it looks a row up by `delegation_id`); `response_preview` and `error` appear
only when there is one, as the original server wrote them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from molecule_core.platform.models import WireModel
from molecule_core.platform.validation import StorableText

DelegationStatus = Literal["pending", "dispatched", "queued", "completed", "failed"]
FINAL_STATUSES: tuple[DelegationStatus, ...] = ("completed", "failed")
OPEN_STATUSES: tuple[DelegationStatus, ...] = ("pending", "dispatched", "queued")

MAX_TASK_CHARS = 200_000
MAX_KEY_CHARS = 255
# What the list shows of a result (SPEC §5.10), and what a result may hold at most.
PREVIEW_CHARS = 300
MAX_RESULT_CHARS = 1_000_000
LIST_DEFAULT = 50
LIST_MAX = 200


# Text PostgreSQL can store (no NUL, no lone surrogate): a 400, never a 500 from the store.
TaskText = Annotated[StorableText, Field(max_length=MAX_TASK_CHARS)]
KeyText = Annotated[StorableText, Field(max_length=MAX_KEY_CHARS)]


class DelegateRequest(WireModel):
    """POST /workspaces/{id}/delegate. `target_id` is read by the service, which answers the one
    message clients expect for a missing or malformed one (and understands the SDK's form, which
    sends none: the path names the target there)."""

    model_config = ConfigDict(extra="ignore")

    target_id: Any = Field(None, json_schema_extra={"type": "string", "format": "uuid"})
    task: TaskText | None = None
    idempotency_key: KeyText | None = None


class RecordDelegationRequest(WireModel):
    """POST /workspaces/{id}/delegations/record: a delegation the agent dispatched itself."""

    model_config = ConfigDict(extra="ignore")

    target_id: Any = Field(None, json_schema_extra={"type": "string", "format": "uuid"})
    task: TaskText | None = None
    delegation_id: Annotated[StorableText, Field(min_length=1, max_length=MAX_KEY_CHARS)]


class UpdateDelegationRequest(WireModel):
    """POST /workspaces/{id}/delegations/{delegation_id}/update: the agent that ran it closes it."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["completed", "failed"]
    error: Annotated[StorableText, Field(max_length=8192)] | None = None
    response_preview: Annotated[StorableText, Field(max_length=MAX_RESULT_CHARS)] | None = None


class DelegateAnswer(WireModel):
    """202 `{delegation_id, status:"delegated", target_id}`; a repeated idempotency key answers the
    existing delegation with 200 and `idempotent_hit: true`."""

    delegation_id: str
    status: str
    target_id: UUID
    idempotent_hit: bool | None = None

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        if dumped.get("idempotent_hit") is None:
            dumped.pop("idempotent_hit", None)
        return dumped


class RecordedDelegation(WireModel):
    delegation_id: str
    status: Literal["recorded"] = "recorded"


class UpdatedDelegation(WireModel):
    status: Literal["completed", "failed"]
    delegation_id: str


class DelegationItem(WireModel):
    """One row of GET /workspaces/{id}/delegations."""

    id: UUID
    type: Literal["delegation"] = "delegation"
    delegation_id: str
    source_id: UUID
    target_id: UUID
    summary: str
    status: DelegationStatus
    created_at: datetime
    response_preview: str | None = None
    error: str | None = None

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        for optional in ("response_preview", "error"):
            if dumped.get(optional) is None:
                dumped.pop(optional, None)
        return dumped


class Delegation(DelegationItem):
    """GET /workspaces/{id}/delegations/{delegation_id}: the whole delegation, its result in full."""

    task: str
    result: str | None
    origin: Literal["platform", "agent"]
    queue_id: UUID | None
    dispatched_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
