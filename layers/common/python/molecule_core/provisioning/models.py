"""What the provision pipeline hands a backend and what it reports back."""

from __future__ import annotations

from dataclasses import dataclass

from molecule_core.provisioning.backends.base import AgentSpec

__all__ = ["AgentSpec", "ProvisionOutcome", "WorkspaceSecrets"]


@dataclass(frozen=True)
class WorkspaceSecrets:
    auth_token: str
    inbound_secret: str


@dataclass(frozen=True)
class ProvisionOutcome:
    started: bool
    instance_id: str | None = None
    error: str | None = None
