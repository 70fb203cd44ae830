"""Provisioner backends: the one interface every way of running an agent implements."""

from molecule_core.provisioning.backends.base import (
    AgentSpec,
    NoBackendError,
    NoBackendProvisioner,
    Provisioner,
    ProvisionError,
    get_provisioner,
)

__all__ = [
    "AgentSpec",
    "NoBackendError",
    "NoBackendProvisioner",
    "ProvisionError",
    "Provisioner",
    "get_provisioner",
]
