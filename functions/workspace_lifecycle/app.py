"""Workspace lifecycle: restart, pause, resume, hibernate, team expand (SPEC §5.5)."""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.auth.callers import WorkspaceCaller
from molecule_core.lifecycle import service
from molecule_core.lifecycle.models import ExpandRequest, ExpandResult
from molecule_core.platform.http import APIGatewayHttpResolver, serve
from molecule_core.platform.observability import logger

app = APIGatewayHttpResolver()


@app.post("/workspaces/<workspace_id>/restart")
def restart(workspace_id: UUID, caller: WorkspaceCaller) -> Response[dict[str, Any]]:
    return Response(202, content_types.APPLICATION_JSON, service.restart_workspace(workspace_id))


@app.post("/workspaces/<workspace_id>/pause")
def pause(workspace_id: UUID, caller: WorkspaceCaller) -> dict[str, Any]:
    return service.pause_workspace(workspace_id)


@app.post("/workspaces/<workspace_id>/resume")
def resume(workspace_id: UUID, caller: WorkspaceCaller) -> dict[str, Any]:
    return service.resume_workspace(workspace_id)


@app.post("/workspaces/<workspace_id>/hibernate")
def hibernate(workspace_id: UUID, caller: WorkspaceCaller, force: Annotated[bool, Query()] = False) -> dict[str, Any]:
    return service.hibernate_workspace(workspace_id, force=force)


@app.post("/workspaces/<workspace_id>/expand")
def expand(workspace_id: UUID, body: ExpandRequest, caller: WorkspaceCaller) -> Response[ExpandResult]:
    return Response(201, content_types.APPLICATION_JSON, service.expand_team(workspace_id, body))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
