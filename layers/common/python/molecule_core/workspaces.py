"""Workspace lifecycle as the admin API sees it (SPEC §5.1, §4.2): create, list, get, state,
patch, delete. Handlers call exactly one function here."""

from __future__ import annotations

from uuid import UUID

from molecule_core import db
from molecule_core.auth.tokens import mint_token
from molecule_core.connection_snippets import build_connection_info
from molecule_core.errors import Conflict, Gone, InvalidInput, WorkspaceNotFound
from molecule_core.lifecycle_jobs import stop_agent
from molecule_core.models import (
    CreatedWorkspace,
    CreateWorkspaceRequest,
    DeleteResult,
    PatchWorkspaceRequest,
    Workspace,
    WorkspaceState,
)
from molecule_core.provisioning import provision_workspace
from molecule_core.settings import get_settings
from molecule_core.store import events as event_store
from molecule_core.store import tokens as token_store
from molecule_core.store import workspaces as workspace_store
from molecule_core.url_safety import check_agent_url


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
        event_store.record_event(
            conn,
            "WORKSPACE_PROVISIONING",
            workspace.id,
            {"name": workspace.name, "runtime": workspace.runtime},
        )
        if request.external and request.url:
            workspace = workspace_store.mark_online(conn, workspace.id)
            event_store.record_event(conn, "WORKSPACE_ONLINE", workspace.id, {"url": workspace.url})
        elif request.external:
            workspace = workspace_store.mark_awaiting_agent(conn, workspace.id)
            token = mint_token()
            token_store.insert_workspace_token(conn, workspace.id, token, origin="create")
            event_store.record_event(conn, "WORKSPACE_AWAITING_AGENT", workspace.id, {})
            connection = build_connection_info(
                workspace.id, workspace.name, get_settings().platform_url, token.plaintext
            )
    if not request.external:
        # Outside the create transaction: a backend start may take seconds and must not hold locks.
        provision_workspace(workspace.id)
        with db.transaction() as conn:
            refreshed = workspace_store.get(conn, workspace.id)
        workspace = refreshed or workspace
    return CreatedWorkspace(**workspace.model_dump(), connection=connection)


def list_workspaces() -> list[Workspace]:
    with db.transaction() as conn:
        return workspace_store.list_live(conn)


def _removed_gone(workspace: Workspace) -> Gone:
    return Gone(
        "workspace removed",
        id=str(workspace.id),
        removed_at=workspace.removed_at,
        hint="this workspace was deleted; create a new one",
    )


def get_workspace(workspace_id: UUID | None) -> Workspace:
    workspace = _load(workspace_id)
    if workspace.status == "removed":
        raise _removed_gone(workspace)
    return workspace


def get_workspace_state(workspace_id: UUID | None) -> WorkspaceState:
    workspace = _load(workspace_id)
    if workspace.status == "removed":
        raise WorkspaceNotFound(deleted=True)
    return WorkspaceState(
        workspace_id=workspace.id,
        status=workspace.status,
        paused=workspace.status == "paused",
        deleted=False,
    )


def update_workspace(workspace_id: UUID | None, request: PatchWorkspaceRequest) -> None:
    if workspace_id is None:
        raise WorkspaceNotFound()
    with db.transaction() as conn:
        previous_status = workspace_store.update_fields(conn, workspace_id, request.changes())
        if previous_status is None:
            raise WorkspaceNotFound()
        if previous_status == "removed":
            # raising rolls the update back: a removed workspace does not change
            raise Gone("workspace removed", id=str(workspace_id))


def delete_workspace(workspace_id: UUID | None, *, confirm: bool, purge: bool) -> DeleteResult:
    if workspace_id is None:
        raise WorkspaceNotFound()
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
            token_store.revoke_all_workspace_tokens(conn, [m.id for m in live])
            event_store.record_events(
                conn, "WORKSPACE_REMOVED", [m.id for m in live], {"root_id": str(root.id), "purged": purge}
            )
        if purge:
            workspace_store.purge(conn, ids)
    _stop_agents([m for m in live if not m.external])
    return DeleteResult(cascade_deleted=len(descendants), purged=purge)


def _stop_agents(members: list[workspace_store.SubtreeMember]) -> None:
    """Best effort after the rows are removed: a failed stop is logged, never undoes the delete."""
    for member in members:
        stop_agent(member.id, member.instance_id)


def _load(workspace_id: UUID | None) -> Workspace:
    if workspace_id is None:
        raise WorkspaceNotFound()
    with db.transaction() as conn:
        workspace = workspace_store.get(conn, workspace_id)
    if workspace is None:
        raise WorkspaceNotFound()
    return workspace
