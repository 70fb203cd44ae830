"""Workspace lifecycle: restart, pause, resume, hibernate, team expand (SPEC §5.5)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core import workspace_lifecycle
from molecule_core.api import WorkspaceCaller, compact_json, install_error_handlers, parse_uuid
from molecule_core.models import ExpandRequest, ExpandResult
from molecule_core.observability import logger

app = APIGatewayHttpResolver(enable_validation=True, serializer=compact_json)
install_error_handlers(app)


@app.post("/workspaces/<workspace_id>/restart")
def restart(workspace_id: str, caller: WorkspaceCaller) -> Response[dict[str, Any]]:
    return Response(
        202, content_types.APPLICATION_JSON, workspace_lifecycle.restart_workspace(parse_uuid(workspace_id))
    )


@app.post("/workspaces/<workspace_id>/pause")
def pause(workspace_id: str, caller: WorkspaceCaller) -> dict[str, Any]:
    return workspace_lifecycle.pause_workspace(parse_uuid(workspace_id))


@app.post("/workspaces/<workspace_id>/resume")
def resume(workspace_id: str, caller: WorkspaceCaller) -> dict[str, Any]:
    return workspace_lifecycle.resume_workspace(parse_uuid(workspace_id))


@app.post("/workspaces/<workspace_id>/hibernate")
def hibernate(workspace_id: str, caller: WorkspaceCaller, force: Annotated[bool, Query()] = False) -> dict[str, Any]:
    return workspace_lifecycle.hibernate_workspace(parse_uuid(workspace_id), force=force)


@app.post("/workspaces/<workspace_id>/expand")
def expand(workspace_id: str, body: ExpandRequest, caller: WorkspaceCaller) -> Response[ExpandResult]:
    return Response(
        201, content_types.APPLICATION_JSON, workspace_lifecycle.expand_team(parse_uuid(workspace_id), body)
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
