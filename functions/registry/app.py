"""The registry agents talk to: register, heartbeat, update-card, discover, peers, check-access
(SPEC §5.2, §5.3)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.auth.callers import AdminCaller, AgentBearerDep, DiscoveryCaller, WorkspaceCaller
from molecule_core.platform.http import APIGatewayHttpResolver, serve
from molecule_core.platform.observability import logger
from molecule_core.registry import service
from molecule_core.registry.models import (
    CheckAccessRequest,
    DiscoveredWorkspace,
    HeartbeatRequest,
    Peer,
    RegisterRequest,
    UpdateCardRequest,
)

app = APIGatewayHttpResolver()


@app.post("/registry/register")
def register(body: RegisterRequest, agent: AgentBearerDep) -> dict:
    # exclude_none: auth_token appears only when minted, the secret only when known
    return service.register(body, agent.token).model_dump(mode="json", exclude_none=True)


@app.post("/registry/heartbeat")
def heartbeat(body: HeartbeatRequest, agent: AgentBearerDep) -> dict[str, str]:
    service.heartbeat(body, agent.token)
    return {"status": "ok"}


@app.post("/registry/update-card")
def update_card(body: UpdateCardRequest, agent: AgentBearerDep) -> dict[str, str]:
    service.update_card(body, agent.token)
    return {"status": "updated"}


@app.get("/registry/discover/<workspace_id>")
def discover(workspace_id: UUID, caller: DiscoveryCaller) -> DiscoveredWorkspace:
    return service.discover(workspace_id, caller)


@app.get("/registry/<workspace_id>/peers")
def peers(
    workspace_id: UUID, caller: WorkspaceCaller, q: Annotated[str | None, Query(max_length=255)] = None
) -> list[Peer]:
    return service.peers(workspace_id, q)


@app.post("/registry/check-access")
def check_access(body: CheckAccessRequest, caller: AdminCaller) -> dict[str, bool]:
    return {"allowed": service.check_access(body.caller_id, body.target_id)}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
