"""Workspace lifecycle as the admin API sees it (SPEC §5.1, §4.2): create, list, get, state,
patch, delete. Handlers call exactly one function here."""

from __future__ import annotations

from uuid import UUID

from molecule_core.auth import service as auth
from molecule_core.events import service as events
from molecule_core.platform import db
from molecule_core.platform.errors import Conflict, Gone, InvalidInput, WorkspaceNotFound
from molecule_core.platform.settings import get_settings
from molecule_core.provisioning import service as provisioning
from molecule_core.registry.service import check_agent_url
from molecule_core.workspaces import store as workspace_store
from molecule_core.workspaces.models import (
    CreatedWorkspace,
    CreateWorkspaceRequest,
    DeleteResult,
    PatchWorkspaceRequest,
    Workspace,
    WorkspaceState,
)
from molecule_core.workspaces.snippets import build_connection_info


def create_workspace(request: CreateWorkspaceRequest) -> CreatedWorkspace:
    if request.external and request.url:
        check_agent_url(request.url)
    elif not request.external and request.url:
        raise InvalidInput("url is only accepted for external workspaces; managed agents register their own")
    connection = None
    with db.transaction() as conn:
        if request.parent_id is not None and not workspace_store.is_live_parent(conn, request.parent_id):
            raise InvalidInput("parent_id does not name an existing workspace", field="parent_id")
        workspace = workspace_store.insert_provisioning(conn, request)
        events.record_event(
            conn,
            "WORKSPACE_PROVISIONING",
            workspace.id,
            {"name": workspace.name, "runtime": workspace.runtime},
        )
        if request.external and request.url:
            workspace = workspace_store.mark_online(conn, workspace.id, inbound_secret=auth.mint_inbound_secret())
            events.record_event(conn, "WORKSPACE_ONLINE", workspace.id, {"url": workspace.url})
        elif request.external:
            workspace = workspace_store.mark_awaiting_agent(conn, workspace.id)
            token = auth.issue_workspace_token(conn, workspace.id, origin="create")
            events.record_event(conn, "WORKSPACE_AWAITING_AGENT", workspace.id, {})
            connection = build_connection_info(
                workspace.id, workspace.name, get_settings().platform_url, token.plaintext
            )
    if not request.external:
        # Outside the create transaction: a backend start may take seconds and must not hold locks.
        provisioning.provision_workspace(workspace.id)
        with db.transaction() as conn:
            refreshed = workspace_store.get(conn, workspace.id)
        workspace = refreshed or workspace
    return CreatedWorkspace(**workspace.model_dump(), connection=connection)


def list_workspaces() -> list[Workspace]:
    return db.single_statement(workspace_store.list_live)


def _removed_gone(workspace: Workspace) -> Gone:
    return Gone(
        "workspace removed",
        id=str(workspace.id),
        removed_at=workspace.removed_at,
        hint="this workspace was deleted; create a new one",
    )


def get_workspace(workspace_id: UUID) -> Workspace:
    workspace = _load(workspace_id)
    if workspace.status == "removed":
        raise _removed_gone(workspace)
    return workspace


def get_workspace_state(workspace_id: UUID) -> WorkspaceState:
    workspace = _load(workspace_id)
    if workspace.status == "removed":
        raise WorkspaceNotFound(deleted=True)
    return WorkspaceState(
        workspace_id=workspace.id,
        status=workspace.status,
        paused=workspace.status == "paused",
        deleted=False,
    )


def update_workspace(workspace_id: UUID, request: PatchWorkspaceRequest) -> None:
    with db.transaction() as conn:
        previous_status = workspace_store.update_fields(conn, workspace_id, request.changes())
        if previous_status is None:
            raise WorkspaceNotFound()
        if previous_status == "removed":
            # raising rolls the update back: a removed workspace does not change
            raise Gone("workspace removed", id=str(workspace_id))


def delete_workspace(workspace_id: UUID, *, confirm: bool, purge: bool) -> DeleteResult:
    with db.transaction() as conn:
        members = workspace_store.subtree(conn, workspace_id)
        if not members:
            raise WorkspaceNotFound()
        root, descendants = members[0], members[1:]
        if descendants and not confirm:
            raise Conflict(
                "workspace has child workspaces; pass ?confirm=true to delete them too",
                children=[{"id": str(m.id), "name": m.name, "status": m.status} for m in descendants],
            )
        live = [m for m in members if m.status != "removed"]
        ids = [m.id for m in members]
        if live:
            workspace_store.mark_removed(conn, [m.id for m in live])
            auth.revoke_workspace_tokens(conn, [m.id for m in live])
            events.record_events(
                conn, "WORKSPACE_REMOVED", [m.id for m in live], {"root_id": str(root.id), "purged": purge}
            )
        if purge:
            workspace_store.purge(conn, ids)
    _stop_agents([m for m in live if not m.external])
    return DeleteResult(cascade_deleted=len(descendants), purged=purge)


def _stop_agents(members: list[workspace_store.SubtreeMember]) -> None:
    """Best effort after the rows are removed: a failed stop is logged, never undoes the delete."""
    for member in members:
        provisioning.stop_agent(member.id, member.instance_id)


def _load(workspace_id: UUID) -> Workspace:
    workspace = db.single_statement(lambda conn: workspace_store.get(conn, workspace_id))
    if workspace is None:
        raise WorkspaceNotFound()
    return workspace


def find_workspace(workspace_id: UUID) -> Workspace | None:
    """The workspace row (removed ones included), for other domains."""
    return db.single_statement(lambda conn: workspace_store.get(conn, workspace_id))
