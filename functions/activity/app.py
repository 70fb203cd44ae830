"""Activity: the feed and inbox (GET), agent self-reports (POST) and agent → user notes (notify)
(SPEC §5.6)."""

from datetime import datetime
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core import activity
from molecule_core.api import WorkspaceCaller, compact_json, install_error_handlers, parse_uuid
from molecule_core.errors import InvalidInput
from molecule_core.models import ActivityRow, LogActivityRequest, NotifyRequest
from molecule_core.observability import logger

app = APIGatewayHttpResolver(enable_validation=True, serializer=compact_json)
install_error_handlers(app)


@app.get("/workspaces/<workspace_id>/activity")
def list_activity(
    workspace_id: str,
    caller: WorkspaceCaller,
    type: Annotated[str | None, Query(max_length=64)] = None,
    source: Annotated[Literal["canvas", "agent"] | None, Query()] = None,
    peer_id: Annotated[str | None, Query()] = None,
    before_ts: Annotated[datetime | None, Query()] = None,
    since_secs: Annotated[str | None, Query(max_length=32)] = None,
    since_id: Annotated[str | None, Query(max_length=64)] = None,
    order: Annotated[Literal["asc", "desc"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1)] = activity.DEFAULT_LIMIT,
) -> list[ActivityRow]:
    peer = parse_uuid(peer_id) if peer_id else None
    if peer_id and peer is None:
        raise InvalidInput("peer_id must be a workspace id", field="peer_id")
    return activity.list_activity(
        parse_uuid(workspace_id),
        activity_type=type,
        source=source,
        peer_id=peer,
        before=before_ts,
        since_secs=since_secs,
        since_id=since_id,
        order=order,
        limit=limit,
    )


@app.post("/workspaces/<workspace_id>/activity")
def log_activity(workspace_id: str, body: LogActivityRequest, caller: WorkspaceCaller) -> dict[str, str]:
    activity.log_activity(parse_uuid(workspace_id), body, caller)
    return {"status": "logged"}


@app.post("/workspaces/<workspace_id>/notify")
def notify(workspace_id: str, body: NotifyRequest, caller: WorkspaceCaller) -> dict[str, str]:
    activity.notify(parse_uuid(workspace_id), body)
    return {"status": "sent"}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
