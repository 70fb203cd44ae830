"""What a lifecycle job does (the `lifecycle` function runs these for messages of the lifecycle
queue). Every job is safe to deliver twice: state lives in the
database and each step is a conditional claim.

- restart: claim the pending restart (at most one in flight per workspace; a claim that fails
  while another restart runs raises, so the queue redelivers the message after it), stop the old
  agent, then the one provision pipeline.
- wake: a hibernated workspace is restarted the same way.
- hibernate: finish a claimed hibernation (stop, then `hibernated`).
- stop: stop the agent, nothing else.
"""

from __future__ import annotations

from uuid import UUID

from molecule_core.lifecycle import store as lifecycle_store
from molecule_core.lifecycle.models import LifecycleRequest, RestartInFlight
from molecule_core.platform import db
from molecule_core.platform.settings import get_settings
from molecule_core.provisioning.service import provision_workspace, stop_agent


def restart(request: LifecycleRequest) -> None:
    lease = get_settings().restart_lease_seconds
    with db.transaction() as conn:
        if request.action == "wake":
            state = lifecycle_store.lifecycle_state(conn, request.workspace_id)
            if state is None or state.status != "hibernated":
                return  # already awake (or gone): nothing to do
            lifecycle_store.request_restart(conn, request.workspace_id)
        claimed = lifecycle_store.claim_restart(conn, request.workspace_id, lease)
        if claimed is None:
            if lifecycle_store.restart_in_flight(conn, request.workspace_id, lease):
                raise RestartInFlight(str(request.workspace_id))
            return  # coalesced into a restart that already ran, or nothing pending
        if claimed.external:
            lifecycle_store.release_restart(conn, claimed.id)
            return  # an external agent is restarted by its operator, never by us
    try:
        stop_agent(claimed.id, claimed.instance_id)
        with db.transaction() as conn:
            lifecycle_store.mark_provisioning(conn, claimed.id, request.reason)
        provision_workspace(claimed.id)
    finally:
        with db.transaction() as conn:
            lifecycle_store.release_restart(conn, claimed.id)


def hibernate_claimed(workspace_id: UUID, instance_id: str | None) -> bool:
    """Stop the agent of a workspace claimed `hibernating`, then mark it `hibernated`. When the
    backend cannot stop it, the workspace goes back online (its agent still runs) and False says so."""
    if not stop_agent(workspace_id, instance_id):
        with db.transaction() as conn:
            lifecycle_store.abandon_hibernation(conn, workspace_id)
        return False
    with db.transaction() as conn:
        return lifecycle_store.finish_hibernation(conn, workspace_id)


def finish_hibernation(request: LifecycleRequest) -> None:
    with db.transaction() as conn:
        state = lifecycle_store.lifecycle_state(conn, request.workspace_id)
    if state is not None and state.status == "hibernating":
        hibernate_claimed(state.id, state.instance_id)


def handle_lifecycle_job(request: LifecycleRequest) -> None:
    if request.action in ("restart", "wake"):
        restart(request)
    elif request.action == "hibernate":
        finish_hibernation(request)
    elif request.action == "stop":
        with db.transaction() as conn:
            state = lifecycle_store.lifecycle_state(conn, request.workspace_id)
        stop_agent(request.workspace_id, state.instance_id if state else None)
