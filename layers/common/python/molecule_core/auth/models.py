"""Credentials as the API shows them (never a stored hash, and a plaintext only once, at mint) and
the caller every route is told about."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, NamedTuple
from uuid import UUID

from pydantic import ConfigDict, Field, field_validator

from molecule_core.platform.models import WireModel
from molecule_core.platform.validation import StorableText, check_display_name

CallerKind = Literal["admin", "org", "workspace", "anonymous"]


class Caller(NamedTuple):
    """An authenticated (or, in fail-open modes, anonymous) caller."""

    kind: CallerKind
    workspace_id: UUID | None = None
    token_id: UUID | None = None

    @property
    def is_user(self) -> bool:
        """Admin, org and fail-open callers act for a user, not for a workspace."""
        return self.kind != "workspace"


class TokenMatch(NamedTuple):
    """A live credential a bearer's hash resolved to (the `live_bearer` SQL function)."""

    kind: Literal["workspace", "org"]
    token_id: UUID
    workspace_id: UUID | None

    @classmethod
    def found(cls, kind: str | None, token_id: UUID | None, workspace_id: UUID | None) -> TokenMatch | None:
        """From the bearer columns of a statement that looked the bearer up beside its own read
        (all None: none was presented, or it is not live)."""
        if token_id is None:
            return None
        return cls("workspace" if kind == "workspace" else "org", token_id, workspace_id)


class PresentedCaller(NamedTuple):
    """A caller as it presented itself, before its bearer is looked up: `decided` when no lookup
    is needed (the admin token; development without a bearer), else the bearer's hash and the
    workspace a caller header named. The route looks the hash up in the statement of its own read
    (the A2A proxy: the one that loads its target; a staged-file read: the one that finds the
    file), then `auth.service` applies the rules (`settle_a2a_caller`, `settle_workspace_caller`)."""

    decided: Caller | None
    token_hash: bytes | None = None
    claimed_id: UUID | None = None


class AgentBearer(NamedTuple):
    """The bearer an agent presented to a registry route (None: no Authorization header). Which
    workspace it must belong to is in the request body, so the registry checks it there."""

    token: str | None


# What the original server says beside a plaintext it shows once (clients display it verbatim).
SAVE_TOKEN_MESSAGE = "Save this token now — it cannot be retrieved again."  # noqa: S105 - not a secret
ORG_TOKEN_WARNING = (
    "This token grants admin access to every workspace of the organisation. "  # noqa: S105 - not a secret
    "Save it now — it cannot be retrieved again."
)
MAX_ORG_TOKEN_NAME = 100


class WorkspaceToken(WireModel):
    id: UUID
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


class WorkspaceTokenList(WireModel):
    """GET /workspaces/{id}/tokens (SPEC §4.3)."""

    tokens: list[WorkspaceToken]
    count: int


class MintedWorkspaceToken(WireModel):
    id: UUID
    prefix: str
    auth_token: str
    workspace_id: UUID
    message: str = SAVE_TOKEN_MESSAGE


class CreateOrgTokenRequest(WireModel):
    model_config = ConfigDict(extra="ignore")

    # The 100-character limit is checked by the service, with the original's message (SPEC §4.3);
    # this cap only bounds what is parsed.
    name: str = Field(min_length=1, max_length=4096)
    org_id: StorableText | None = Field(None, max_length=255)
    created_by: StorableText | None = Field(None, max_length=255)

    _name = field_validator("name")(check_display_name)


class OrgToken(WireModel):
    id: UUID
    prefix: str
    name: str
    created_by: str | None
    org_id: str | None
    created_at: datetime
    last_used_at: datetime | None


class OrgTokenList(WireModel):
    """GET /org/tokens (SPEC §4.3)."""

    tokens: list[OrgToken]
    count: int


class MintedOrgToken(WireModel):
    """POST /org/tokens: the plaintext under `auth_token`, shown once, with a `warning`."""

    id: UUID
    prefix: str
    name: str
    auth_token: str
    warning: str = ORG_TOKEN_WARNING


class RevokedOrgToken(WireModel):
    revoked: UUID


class TestToken(WireModel):
    __test__ = False  # not a pytest class

    auth_token: str
    workspace_id: UUID
