"""The registry agents talk to: register, heartbeat, update-card, discover, peers, check-access
(SPEC §5.2, §5.3)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core import registry
from molecule_core.api import AdminCaller, WorkspaceCaller, compact_json, install_error_handlers, parse_uuid
from molecule_core.models import (
    CheckAccessRequest,
    DiscoveredWorkspace,
    HeartbeatRequest,
    Peer,
    RegisterRequest,
    UpdateCardRequest,
)
from molecule_core.observability import logger

app = APIGatewayHttpResolver(enable_validation=True, serializer=compact_json)
install_error_handlers(app)


@app.post("/registry/register")
def register(body: RegisterRequest) -> dict:
    # exclude_none: auth_token appears only when minted, the secret only when known
    return registry.register(body, app.current_event.headers).model_dump(mode="json", exclude_none=True)


@app.post("/registry/heartbeat")
def heartbeat(body: HeartbeatRequest) -> dict[str, str]:
    registry.heartbeat(body, app.current_event.headers)
    return {"status": "ok"}


@app.post("/registry/update-card")
def update_card(body: UpdateCardRequest) -> dict[str, str]:
    registry.update_card(body, app.current_event.headers)
    return {"status": "updated"}


@app.get("/registry/discover/<workspace_id>")
def discover(workspace_id: str) -> DiscoveredWorkspace:
    return registry.discover(parse_uuid(workspace_id), app.current_event.headers)


@app.get("/registry/<workspace_id>/peers")
def peers(
    workspace_id: str, caller: WorkspaceCaller, q: Annotated[str | None, Query(max_length=255)] = None
) -> list[Peer]:
    return registry.peers(parse_uuid(workspace_id), q)


@app.post("/registry/check-access")
def check_access(body: CheckAccessRequest, caller: AdminCaller) -> dict[str, bool]:
    return {"allowed": registry.check_access(body.caller_id, body.target_id)}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
