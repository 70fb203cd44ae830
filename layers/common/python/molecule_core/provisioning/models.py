"""What the provision pipeline hands a backend and what it reports back."""

from __future__ import annotations

from typing import NamedTuple

from molecule_core.provisioning.backends.base import AgentSpec
from molecule_core.secrets.models import SECRET_NAMES_ENV

__all__ = ["PLATFORM_AGENT_ENV", "AgentSpec", "ProvisionOutcome", "WorkspaceSecrets"]

# What the provision pipeline sets in every agent's environment. Operator secrets are injected
# under these (the platform's values win), and none may be stored under these names.
PLATFORM_AGENT_ENV = frozenset(
    {"WORKSPACE_ID", "PLATFORM_URL", "MOLECULE_AUTH_TOKEN", "PLATFORM_INBOUND_SECRET", "PARENT_ID", SECRET_NAMES_ENV}
)


class WorkspaceSecrets(NamedTuple):
    auth_token: str
    inbound_secret: str


class ProvisionOutcome(NamedTuple):
    started: bool
    instance_id: str | None = None
    error: str | None = None
