"""Lifecycle endpoints (SPEC §5.5, §4.2): restart, pause (self + descendants), resume, hibernate,
and team expand. The slow parts (stopping and starting agents) run as lifecycle jobs."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from molecule_core import db
from molecule_core.errors import Conflict, DomainError, Gone, WorkspaceNotFound
from molecule_core.lifecycle import LifecycleRequest, request_lifecycle
from molecule_core.lifecycle_jobs import hibernate_claimed, stop_agent
from molecule_core.models import CreateWorkspaceRequest, ExpandRequest, ExpandResult
from molecule_core.store import lifecycle as lifecycle_store
from molecule_core.store.lifecycle import LifecycleState
from molecule_core.workspaces import create_workspace


class AgentNotStopped(DomainError):
    status_code = 502


def _state(conn: db.Connection, workspace_id: UUID | None) -> LifecycleState:
    if workspace_id is None:
        raise WorkspaceNotFound()
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


def restart_workspace(workspace_id: UUID | None) -> dict[str, Any]:
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


def pause_workspace(workspace_id: UUID | None) -> dict[str, Any]:
    with db.transaction() as conn:
        state = _state(conn, workspace_id)
        paused = lifecycle_store.pause_subtree(conn, state.id)
    for member in paused:
        if not member.external:
            stop_agent(member.id, member.instance_id)
    return {"status": "paused", "paused": len(paused)}


def resume_workspace(workspace_id: UUID | None) -> dict[str, Any]:
    with db.transaction() as conn:
        state = _state(conn, workspace_id)
        _refuse_under_paused_ancestor(conn, state.id, "resume")
        if state.status != "paused":
            raise Conflict(f"workspace is not paused (status {state.status})", status=state.status)
        resumed = lifecycle_store.resume_subtree(conn, state.id)
    request_lifecycle([LifecycleRequest("restart", m.id, "resume") for m in resumed if not m.external])
    return {"status": "resumed", "resumed": len(resumed)}


def hibernate_workspace(workspace_id: UUID | None, *, force: bool) -> dict[str, Any]:
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
    if not hibernate_claimed(claimed.id, claimed.instance_id):
        raise AgentNotStopped("the agent could not be stopped; the workspace stays online")
    return {"status": "hibernated", "workspace_id": str(claimed.id)}


def expand_team(workspace_id: UUID | None, request: ExpandRequest) -> ExpandResult:
    """Team expand: each child is created under this workspace and provisioned through the same
    pipeline as any workspace (secrets minted first, PARENT_ID in its environment)."""
    with db.transaction() as conn:
        parent = _state(conn, workspace_id)
    children = [
        create_workspace(CreateWorkspaceRequest(**member.model_dump(), parent_id=parent.id))
        for member in request.children
    ]
    return ExpandResult(children=children)


def run_hibernation_sweep() -> dict[str, int]:
    """Claim every idle workspace in one statement, then finish each through a lifecycle job."""
    with db.transaction() as conn:
        claimed = lifecycle_store.claim_idle_for_hibernation(conn)
    request_lifecycle([LifecycleRequest("hibernate", m.id, "idle") for m in claimed])
    return {"hibernating": len(claimed)}
