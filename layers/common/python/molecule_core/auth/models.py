"""Credentials as the API shows them (never a stored hash, and a plaintext only once, at mint) and
the caller every route is told about."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from molecule_core.platform.validation import StorableText, check_display_name

CallerKind = Literal["admin", "org", "workspace", "anonymous"]


@dataclass(frozen=True)
class Caller:
    """An authenticated (or, in fail-open modes, anonymous) caller."""

    kind: CallerKind
    workspace_id: UUID | None = None
    token_id: UUID | None = None

    @property
    def is_user(self) -> bool:
        """Admin, org and fail-open callers act for a user, not for a workspace."""
        return self.kind != "workspace"


@dataclass(frozen=True)
class AgentBearer:
    """The bearer an agent presented to a registry route (None: no Authorization header). Which
    workspace it must belong to is in the request body, so the registry checks it there."""

    token: str | None


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
    org_id: StorableText | None = Field(None, max_length=255)
    created_by: StorableText | None = Field(None, max_length=255)

    _name = field_validator("name")(check_display_name)


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
