"""Workspaces: create, list, get, state, patch, delete (SPEC §5.1)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.auth.callers import AdminCaller, WorkspaceCaller, WorkspaceStateCaller
from molecule_core.platform.http import APIGatewayHttpResolver, serve
from molecule_core.platform.observability import logger, metrics
from molecule_core.platform.openapi import (
    ADMIN_AUTH,
    ADMIN_CALLER,
    ADMIN_REFUSALS,
    BODY_TOO_LARGE,
    CALLER_REFUSALS,
    WORKSPACE_AUTH,
    WORKSPACE_CALLER,
    WORKSPACE_GONE,
    WORKSPACE_NOT_FOUND,
    WORKSPACE_REFUSALS,
    WORKSPACES,
    Refusal,
    answers,
    example,
    json_answer,
)
from molecule_core.workspaces import service
from molecule_core.workspaces.models import (
    CreatedWorkspace,
    CreateWorkspaceRequest,
    DeleteResult,
    PatchWorkspaceRequest,
    Workspace,
    WorkspaceState,
)

app = APIGatewayHttpResolver()

# --- what the reference says about these routes (platform.openapi) ---------------------------------

CREATE_EXAMPLES = {
    "managed": example(
        "A managed workspace: the platform starts its agent",
        {"name": "Research lead", "role": "Plans the research and hands out tasks", "runtime": "langgraph"},
    ),
    "external": example(
        "An external agent you run: the answer's `connection` block carries its token",
        {"name": "My laptop agent", "external": True},
    ),
    "external_with_url": example(
        "An external agent already listening: online at once",
        {"name": "Support bot", "external": True, "url": "https://agents.example.com/support"},
    ),
    "child": example(
        "A child of an existing workspace",
        {"name": "Analyst", "role": "Reads the sources", "parent_id": "3f0c1c9e-8a53-4a55-9d1b-6f2a9a3b7c10"},
    ),
}
PATCH_EXAMPLES = {
    "rename": example("Rename and move on the canvas", {"name": "Research lead (EU)", "x": 120.0, "y": 80.0}),
    "budget": example("A monthly budget, in cents", {"budget_limit": 5000}),
}
CREATE_REFUSED = Refusal(
    400,
    "`parent_id` names no live workspace, or `url` is given for a managed workspace or is one the "
    "platform does not call.",
    {"error": "parent_id does not name an existing workspace", "field": "parent_id"},
)
REMOVED = Refusal(
    410,
    "The workspace was deleted: `removed_at` says when; create a new one.",
    {
        "error": "workspace removed",
        "id": "3f0c1c9e-8a53-4a55-9d1b-6f2a9a3b7c10",
        "removed_at": "2026-05-01T09:30:00Z",
        "hint": "this workspace was deleted; create a new one",
    },
)
DELETED_STATE = Refusal(
    404,
    "The workspace was deleted: `deleted: true` — also to its own revoked token, so its agent stops its loops.",
    {"error": "workspace not found", "deleted": True},
)
HAS_CHILDREN = Refusal(
    409,
    "The workspace has child workspaces and `confirm` is not true: `children` lists them.",
    {
        "error": "workspace has child workspaces; pass ?confirm=true to delete them too",
        "children": [{"id": "0d6c1f0a-1a9e-4f8e-8f7e-2b8f0f4f7f11", "name": "Analyst", "status": "online"}],
    },
)


@app.post(
    "/workspaces",
    tags=[WORKSPACES],
    summary="Create a workspace",
    description="A managed workspace is provisioned at once (its agent started by the platform); an "
    "`external` one waits for the agent you run, which connects with the token in the answer's "
    "`connection` block (or is online at once when `url` is given). `parent_id` makes it a child. " + ADMIN_CALLER,
    security=ADMIN_AUTH,
    responses=answers(
        {201: "The new workspace; `connection` (token, snippets) only for an external one without `url`"},
        *ADMIN_REFUSALS,
        CREATE_REFUSED,
        BODY_TOO_LARGE,
    ),
)
def create_workspace(
    body: Annotated[CreateWorkspaceRequest, Body(openapi_examples=CREATE_EXAMPLES)], caller: AdminCaller
) -> Response[CreatedWorkspace]:
    created = service.create_workspace(body)
    metrics.add_metric(name="WorkspacesCreated", unit=MetricUnit.Count, value=1)
    return Response(201, content_types.APPLICATION_JSON, created)


@app.get(
    "/workspaces",
    tags=[WORKSPACES],
    summary="List workspaces",
    description="Every workspace that is not removed, oldest first (`[]` when none). " + ADMIN_CALLER,
    security=ADMIN_AUTH,
    responses=answers({200: "The workspaces"}, *ADMIN_REFUSALS),
)
def list_workspaces(caller: AdminCaller) -> list[Workspace]:
    return service.list_workspaces()


@app.get(
    "/workspaces/<workspace_id>",
    tags=[WORKSPACES],
    summary="Get a workspace",
    description="Its configuration and status, never its secrets; `agent_card` is null until its agent "
    "registers one. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({200: "The workspace"}, *WORKSPACE_REFUSALS, REMOVED),
)
def get_workspace(workspace_id: UUID, caller: WorkspaceCaller) -> Workspace:
    return service.get_workspace(workspace_id)


@app.get(
    "/workspaces/<workspace_id>/state",
    tags=[WORKSPACES],
    summary="Get a workspace's status, paused and deleted flags",
    description="What an agent polls to know whether to keep running. A deleted workspace answers 404 "
    "`deleted: true` even to its own (now revoked) token. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({200: "Its state"}, *CALLER_REFUSALS, WORKSPACE_NOT_FOUND, DELETED_STATE),
)
def get_workspace_state(workspace_id: UUID, caller: WorkspaceStateCaller) -> WorkspaceState:
    return service.get_workspace_state(workspace_id)


@app.patch(
    "/workspaces/<workspace_id>",
    tags=[WORKSPACES],
    summary="Change a workspace's settings",
    description="Only the fields in the body change (name, role, tier, canvas position, concurrency, "
    "budget, hibernation, delivery mode); an unknown field is a 400. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers(
        {200: json_answer("Updated", example={"status": "updated"})},
        *WORKSPACE_REFUSALS,
        WORKSPACE_GONE,
        BODY_TOO_LARGE,
    ),
)
def update_workspace(
    workspace_id: UUID,
    body: Annotated[PatchWorkspaceRequest, Body(openapi_examples=PATCH_EXAMPLES)],
    caller: WorkspaceCaller,
) -> dict[str, str]:
    service.update_workspace(workspace_id, body)
    return {"status": "updated"}


@app.delete(
    "/workspaces/<workspace_id>",
    tags=[WORKSPACES],
    summary="Delete a workspace",
    description="Marks it removed, revokes its tokens and stops its agent. With child workspaces it "
    "needs `confirm=true` and deletes them too; `purge=true` also deletes its rows. " + ADMIN_CALLER,
    security=ADMIN_AUTH,
    responses=answers({200: "Deleted"}, *ADMIN_REFUSALS, WORKSPACE_NOT_FOUND, HAS_CHILDREN),
)
def delete_workspace(
    workspace_id: UUID,
    caller: AdminCaller,
    confirm: Annotated[bool, Query()] = False,
    purge: Annotated[bool, Query()] = False,
) -> DeleteResult:
    return service.delete_workspace(workspace_id, confirm=confirm, purge=purge)


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
