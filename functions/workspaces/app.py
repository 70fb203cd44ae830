"""Workspaces: create, list, get, state, patch, delete (SPEC §5.1)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core import workspaces
from molecule_core.api import AdminCaller, WorkspaceCaller, compact_json, install_error_handlers, parse_uuid
from molecule_core.models import (
    CreatedWorkspace,
    CreateWorkspaceRequest,
    DeleteResult,
    PatchWorkspaceRequest,
    Workspace,
    WorkspaceState,
)
from molecule_core.observability import logger, metrics

app = APIGatewayHttpResolver(enable_validation=True, serializer=compact_json)
install_error_handlers(app)


@app.post("/workspaces")
def create_workspace(body: CreateWorkspaceRequest, caller: AdminCaller) -> Response[CreatedWorkspace]:
    created = workspaces.create_workspace(body)
    metrics.add_metric(name="WorkspacesCreated", unit=MetricUnit.Count, value=1)
    return Response(201, content_types.APPLICATION_JSON, created)


@app.get("/workspaces")
def list_workspaces(caller: AdminCaller) -> list[Workspace]:
    return workspaces.list_workspaces()


@app.get("/workspaces/<workspace_id>")
def get_workspace(workspace_id: str, caller: WorkspaceCaller) -> Workspace:
    return workspaces.get_workspace(parse_uuid(workspace_id))


@app.get("/workspaces/<workspace_id>/state")
def get_workspace_state(workspace_id: str, caller: WorkspaceCaller) -> WorkspaceState:
    return workspaces.get_workspace_state(parse_uuid(workspace_id))


@app.patch("/workspaces/<workspace_id>")
def update_workspace(workspace_id: str, body: PatchWorkspaceRequest, caller: WorkspaceCaller) -> dict[str, str]:
    workspaces.update_workspace(parse_uuid(workspace_id), body)
    return {"status": "updated"}


@app.delete("/workspaces/<workspace_id>")
def delete_workspace(
    workspace_id: str,
    caller: AdminCaller,
    confirm: Annotated[bool, Query()] = False,
    purge: Annotated[bool, Query()] = False,
) -> DeleteResult:
    return workspaces.delete_workspace(parse_uuid(workspace_id), confirm=confirm, purge=purge)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
