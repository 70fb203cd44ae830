"""The provisioner interface (`start`, `stop`, `is_running`) and the choice of backend.

When no backend is configured, every call raises the typed `NoBackendError` — never a crash and
never a stand-in object that silently passes a truthiness check (the history's typed-nil lesson).
Callers decide what "no backend" means for them: create marks the workspace `failed` with a
readable message, delete simply has nothing to stop, the A2A proxy has nobody to ask.

Backends (`PROVISIONER_BACKEND`): `process` (the local stack: the reference agent as a child
process), `controlplane` (HTTP to a control plane), `ecs` (AWS Fargate). Each lives in its own
module and is imported only when chosen, so functions never pay for a backend they do not use.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable
from uuid import UUID

from molecule_core.platform.settings import get_settings


class ProvisionError(Exception):
    """A backend could not do what was asked; the message is shown to operators."""


class NoBackendError(ProvisionError):
    """No provisioner backend is configured for this deployment."""


@dataclass(frozen=True)
class AgentSpec:
    workspace_id: UUID
    name: str
    runtime: str
    tier: int
    env: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Provisioner(Protocol):
    name: str

    def start(self, spec: AgentSpec) -> str:
        """Start the agent; returns the backend's handle for it (stored as `instance_id`)."""

    def stop(self, workspace_id: UUID, instance_id: str | None) -> None:
        """Stop the agent; stopping one that is not running is not an error."""

    def is_running(self, workspace_id: UUID, instance_id: str | None) -> bool:
        """Whether the agent runs (used to tell a dead agent from a busy one)."""


class NoBackendProvisioner:
    name = "none"

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason or (
            "no provisioner backend is configured (PROVISIONER_BACKEND is unset): this deployment "
            "can run external workspaces only; set PROVISIONER_BACKEND to process, controlplane or ecs"
        )

    def start(self, spec: AgentSpec) -> str:
        raise NoBackendError(self.reason)

    def stop(self, workspace_id: UUID, instance_id: str | None) -> None:
        raise NoBackendError(self.reason)

    def is_running(self, workspace_id: UUID, instance_id: str | None) -> bool:
        raise NoBackendError(self.reason)


_override: Provisioner | None = None
_configured: tuple[str, Provisioner] | None = None
_lock = threading.Lock()


def _build(backend: str) -> Provisioner:
    """Construct the configured backend; a backend that cannot be built (missing settings) becomes
    a NoBackendProvisioner that says why, so every caller gets the same typed error."""
    try:
        if backend == "process":
            from molecule_core.provisioning.backends.process import ProcessProvisioner

            return ProcessProvisioner.from_settings()
        if backend == "controlplane":
            from molecule_core.provisioning.backends.controlplane import ControlPlaneProvisioner

            return ControlPlaneProvisioner.from_settings()
        if backend == "ecs":
            from molecule_core.provisioning.backends.ecs import EcsProvisioner

            return EcsProvisioner.from_settings()
    except ImportError:
        return NoBackendProvisioner(f"provisioner backend {backend!r} is not available in this build of the platform")
    except ProvisionError as exc:
        return NoBackendProvisioner(f"provisioner backend {backend!r} is misconfigured: {exc}")
    return NoBackendProvisioner()


def get_provisioner() -> Provisioner:
    """The backend chosen by PROVISIONER_BACKEND (or installed with `use_provisioner`), built once
    per execution environment."""
    global _configured
    if _override is not None:
        return _override
    backend = get_settings().provisioner_backend
    with _lock:
        if _configured is None or _configured[0] != backend:
            _configured = (backend, _build(backend))
        return _configured[1]


def use_provisioner(provisioner: Provisioner | None) -> None:
    """Install a backend for this process (the local stack, tests); None restores the default."""
    global _override
    _override = provisioner
