"""Workspaces: create, list, get, state, patch, delete (SPEC §5.1)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.auth.callers import AdminCaller, WorkspaceCaller, WorkspaceStateCaller
from molecule_core.platform.http import APIGatewayHttpResolver, serve
from molecule_core.platform.observability import logger, metrics
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


@app.post("/workspaces")
def create_workspace(body: CreateWorkspaceRequest, caller: AdminCaller) -> Response[CreatedWorkspace]:
    created = service.create_workspace(body)
    metrics.add_metric(name="WorkspacesCreated", unit=MetricUnit.Count, value=1)
    return Response(201, content_types.APPLICATION_JSON, created)


@app.get("/workspaces")
def list_workspaces(caller: AdminCaller) -> list[Workspace]:
    return service.list_workspaces()


@app.get("/workspaces/<workspace_id>")
def get_workspace(workspace_id: UUID, caller: WorkspaceCaller) -> Workspace:
    return service.get_workspace(workspace_id)


@app.get("/workspaces/<workspace_id>/state")
def get_workspace_state(workspace_id: UUID, caller: WorkspaceStateCaller) -> WorkspaceState:
    return service.get_workspace_state(workspace_id)


@app.patch("/workspaces/<workspace_id>")
def update_workspace(workspace_id: UUID, body: PatchWorkspaceRequest, caller: WorkspaceCaller) -> dict[str, str]:
    service.update_workspace(workspace_id, body)
    return {"status": "updated"}


@app.delete("/workspaces/<workspace_id>")
def delete_workspace(
    workspace_id: UUID,
    caller: AdminCaller,
    confirm: Annotated[bool, Query()] = False,
    purge: Annotated[bool, Query()] = False,
) -> DeleteResult:
    return service.delete_workspace(workspace_id, confirm=confirm, purge=purge)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
