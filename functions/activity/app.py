"""Activity: the feed and inbox (GET), agent self-reports (POST) and agent → user notes (notify)
(SPEC §5.6)."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.activity import service
from molecule_core.activity.models import ActivityRow, LogActivityRequest, NotifyRequest
from molecule_core.auth.callers import WorkspaceCaller
from molecule_core.platform.http import APIGatewayHttpResolver, compact_json, serve
from molecule_core.platform.observability import logger

app = APIGatewayHttpResolver()


@app.get(
    "/workspaces/<workspace_id>/activity",
    responses={200: {"description": "Activity rows", "content": {"application/json": {"model": list[ActivityRow]}}}},
)
def list_activity(
    workspace_id: UUID,
    caller: WorkspaceCaller,
    type: Annotated[str | None, Query(max_length=64)] = None,
    source: Annotated[Literal["canvas", "agent"] | None, Query()] = None,
    peer_id: Annotated[UUID | None, Query()] = None,
    before_ts: Annotated[datetime | None, Query()] = None,
    since_secs: Annotated[str | None, Query(max_length=32)] = None,
    since_id: Annotated[str | None, Query(max_length=64)] = None,
    order: Annotated[Literal["asc", "desc"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1)] = service.DEFAULT_LIMIT,
):  # no return type: the rows are serialised once, here, not validated into models again
    # Rows come as plain data in the ActivityRow shape (documented above): validating a hundred of
    # them into models and dumping them again was most of a poll's cost.
    rows = service.list_activity(
        workspace_id,
        activity_type=type,
        source=source,
        peer_id=peer_id,
        before=before_ts,
        since_secs=since_secs,
        since_id=since_id,
        order=order,
        limit=limit,
    )
    return Response(200, content_types.APPLICATION_JSON, compact_json(rows))


@app.post("/workspaces/<workspace_id>/activity")
def log_activity(workspace_id: UUID, body: LogActivityRequest, caller: WorkspaceCaller) -> dict[str, str]:
    service.log_activity(workspace_id, body, caller)
    return {"status": "logged"}


@app.post("/workspaces/<workspace_id>/notify")
def notify(workspace_id: UUID, body: NotifyRequest, caller: WorkspaceCaller) -> dict[str, str]:
    service.notify(workspace_id, body)
    return {"status": "sent"}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
