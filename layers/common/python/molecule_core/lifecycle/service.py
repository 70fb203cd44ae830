"""Lifecycle (SPEC §5.3, §5.5, §4.2): the endpoints — restart, pause (self + descendants), resume,
hibernate, team expand — the scheduled liveness and hibernation sweeps, and how other domains ask
for a restart, wake, hibernate or stop (`request_lifecycle`). The slow parts (stopping and starting
agents) run as lifecycle jobs (`handle_lifecycle_job`, from the lifecycle queue).

The jobs and provisioning are imported by the functions that use them: the domains that only ask
for a restart or a wake (the A2A proxy and drain, registry, delegations) do not load them at init
(~15 ms of each cold start)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from molecule_core.lifecycle import store as lifecycle_store
from molecule_core.lifecycle.dispatch import delay_redelivery, request_lifecycle
from molecule_core.lifecycle.models import ExpandRequest, ExpandResult, LifecycleRequest, RestartInFlight
from molecule_core.lifecycle.store import LifecycleState
from molecule_core.platform import db
from molecule_core.platform.errors import Conflict, Gone, UpstreamError, WorkspaceNotFound
from molecule_core.platform.settings import get_settings
from molecule_core.workspaces.models import CreateWorkspaceRequest

# What the lifecycle function and other domains call.
__all__ = ["RestartInFlight", "delay_redelivery", "handle_lifecycle_job", "request_lifecycle"]

# A restart request younger than this may still be on its way through the queue.
PENDING_RESTART_GRACE_SECONDS = 120


class AgentNotStopped(UpstreamError):
    pass


def handle_lifecycle_job(request: LifecycleRequest) -> None:
    """Run one lifecycle job (restart, wake, hibernate, stop) from the lifecycle queue."""
    from molecule_core.lifecycle import jobs

    jobs.handle_lifecycle_job(request)


def _state(conn: db.Connection, workspace_id: UUID) -> LifecycleState:
    state = lifecycle_store.lifecycle_state(conn, workspace_id)
    if state is None:
        raise WorkspaceNotFound()
    if state.status == "removed":
        raise Gone("workspace removed", id=str(workspace_id))
    return state


def _refuse_under_paused_ancestor(conn: db.Connection, workspace_id: UUID, action: str) -> None:
    ancestor = lifecycle_store.paused_ancestor(conn, workspace_id)
    if ancestor is not None:
        raise Conflict(
            f"cannot {action}: an ancestor workspace is paused; resume it first", paused_ancestor=str(ancestor)
        )


def restart_workspace(workspace_id: UUID) -> dict[str, Any]:
    with db.transaction() as conn:
        state = _state(conn, workspace_id)
        if state.status == "paused":
            raise Conflict("workspace is paused; resume it instead")
        _refuse_under_paused_ancestor(conn, state.id, "restart")
        if state.external:
            raise Conflict("an external workspace is restarted by its operator: restart the agent and it re-registers")
        lifecycle_store.request_restart(conn, state.id)
    request_lifecycle([LifecycleRequest("restart", state.id, "api")])
    return {"status": "restart_requested", "workspace_id": str(state.id)}


def record_restart_requests(conn: db.Connection, workspace_ids: list[UUID]) -> list[UUID]:
    """Restart bookkeeping for a configuration change (e.g. secrets), in the caller's transaction:
    the managed, running-or-starting workspaces among `workspace_ids` get a pending restart (the
    same record the restart endpoint writes) and are returned; external, paused and hibernated
    ones are left alone. After commit the caller sends them with `request_lifecycle`."""
    return lifecycle_store.request_restarts_of_running(conn, workspace_ids) if workspace_ids else []


def pause_workspace(workspace_id: UUID) -> dict[str, Any]:
    with db.transaction() as conn:
        state = _state(conn, workspace_id)
        paused = lifecycle_store.pause_subtree(conn, state.id)
    from molecule_core.provisioning.service import stop_agent

    for member in paused:
        if not member.external:
            stop_agent(member.id, member.instance_id)
    return {"status": "paused", "paused": len(paused)}


def resume_workspace(workspace_id: UUID) -> dict[str, Any]:
    with db.transaction() as conn:
        state = _state(conn, workspace_id)
        _refuse_under_paused_ancestor(conn, state.id, "resume")
        if state.status != "paused":
            raise Conflict(f"workspace is not paused (status {state.status})", status=state.status)
        resumed = lifecycle_store.resume_subtree(conn, state.id)
    request_lifecycle([LifecycleRequest("restart", m.id, "resume") for m in resumed if not m.external])
    return {"status": "resumed", "resumed": len(resumed)}


def hibernate_workspace(workspace_id: UUID, *, force: bool) -> dict[str, Any]:
    with db.transaction() as conn:
        state = _state(conn, workspace_id)
        if state.external:
            raise Conflict("an external workspace cannot be hibernated by the platform")
        claimed = lifecycle_store.claim_hibernation(conn, state.id, force=force)
    if claimed is None:
        # Report the lost claim for what it is; never answer it as success.
        if state.status in ("online", "degraded") and state.active_tasks > 0 and not force:
            raise Conflict(
                f"workspace has {state.active_tasks} active task(s); pass ?force=true to hibernate anyway",
                active_tasks=state.active_tasks,
            )
        raise Conflict(f"workspace cannot be hibernated from status {state.status}", status=state.status)
    from molecule_core.lifecycle.jobs import hibernate_claimed

    if not hibernate_claimed(claimed.id, claimed.instance_id):
        raise AgentNotStopped("the agent could not be stopped; the workspace stays online")
    return {"status": "hibernated", "workspace_id": str(claimed.id)}


def expand_team(workspace_id: UUID, request: ExpandRequest) -> ExpandResult:
    """Team expand: each child is created under this workspace and provisioned through the same
    pipeline as any workspace (secrets minted first, PARENT_ID in its environment)."""
    # Imported here: the rest of lifecycle (which the A2A proxy and the sweeps load) never needs it.
    from molecule_core.workspaces import service as workspaces

    with db.transaction() as conn:
        parent = _state(conn, workspace_id)
    children = [
        workspaces.create_workspace(CreateWorkspaceRequest(**member.model_dump(), parent_id=parent.id))
        for member in request.children
    ]
    return ExpandResult(children=children)


def run_hibernation_sweep() -> dict[str, int]:
    """Claim every idle workspace in one statement, then finish each through a lifecycle job."""
    with db.transaction() as conn:
        claimed = lifecycle_store.claim_idle_for_hibernation(conn)
    request_lifecycle([LifecycleRequest("hibernate", m.id, "idle") for m in claimed])
    return {"hibernating": len(claimed)}


def run_liveness_sweep() -> dict[str, int]:
    settings = get_settings()
    with db.transaction() as conn:
        stale = lifecycle_store.mark_stale_heartbeats(conn, settings.heartbeat_stale_seconds)
    with db.transaction() as conn:
        timed_out = lifecycle_store.fail_provisioning_timeouts(conn, settings.provision_timeout_seconds)
    with db.transaction() as conn:
        # requested before this run and still unclaimed: the request never reached a lifecycle job
        unclaimed = lifecycle_store.pending_restarts(
            conn, PENDING_RESTART_GRACE_SECONDS, settings.restart_lease_seconds
        )
    restarts = [LifecycleRequest("restart", w.id, "heartbeat_stale") for w in stale if not w.external]
    request_lifecycle(
        restarts + [LifecycleRequest("restart", workspace_id, "pending_restart") for workspace_id in unclaimed]
    )
    return {
        "awaiting_agent": sum(1 for w in stale if w.external),
        "offline": len(restarts),
        "restart_requested": len(restarts),
        "provision_timed_out": len(timed_out),
        "restart_re_requested": len(unclaimed),
    }
