"""The registry agents talk to: register, heartbeat, update-card, discover, peers, check-access
(SPEC §5.2, §5.3)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.auth.callers import AdminCaller, AgentBearerDep, DiscoveryCaller, WorkspaceCaller
from molecule_core.platform.http import APIGatewayHttpResolver, serve
from molecule_core.platform.observability import logger
from molecule_core.platform.openapi import (
    ADMIN_AUTH,
    ADMIN_CALLER,
    ADMIN_REFUSALS,
    AGENT_AUTH,
    BODY_TOO_LARGE,
    CALLER_REFUSALS,
    CALLER_WORKSPACE_HEADER,
    OWN_WORKSPACE_AUTH,
    REGISTRY,
    WORKSPACE_AUTH,
    WORKSPACE_CALLER,
    WORKSPACE_REFUSALS,
    Refusal,
    answers,
    example,
    header_parameters,
    json_answer,
)
from molecule_core.registry import service
from molecule_core.registry.models import (
    CheckAccessRequest,
    DiscoveredWorkspace,
    HeartbeatRequest,
    Peer,
    RegisterRequest,
    RegisterResponse,
    UpdateCardRequest,
)

app = APIGatewayHttpResolver()

# --- what the reference says about these routes (platform.openapi) ---------------------------------

WORKSPACE_ID = "3f0c1c9e-8a53-4a55-9d1b-6f2a9a3b7c10"
AGENT_CARD = {
    "name": "Research lead",
    "description": "Plans the research and hands out tasks",
    "url": "https://agents.example.com/research",
    "version": "1.0.0",
    "protocolVersion": "0.3.0",
    "capabilities": {"streaming": True},
    "defaultInputModes": ["text/plain"],
    "defaultOutputModes": ["text/plain"],
    "skills": [{"id": "plan", "name": "Plan research", "description": "Breaks a question into tasks", "tags": []}],
}
REGISTER_EXAMPLES = {
    "push": example(
        "An agent that listens for A2A messages at `url`",
        {"id": WORKSPACE_ID, "url": "https://agents.example.com/research", "agent_card": AGENT_CARD},
    ),
    "poll": example(
        "An agent behind NAT: it polls its inbox instead",
        {"id": WORKSPACE_ID, "delivery_mode": "poll", "agent_card": AGENT_CARD},
    ),
}
HEARTBEAT_EXAMPLES = {
    "busy": example(
        "Working on one task",
        {
            "workspace_id": WORKSPACE_ID,
            "active_tasks": 1,
            "current_task": "Summarising the Q3 incident report",
            "uptime_seconds": 3600,
            "error_rate": 0.0,
        },
    ),
    "minimal": example("Alive, nothing else to say", {"workspace_id": WORKSPACE_ID}),
}
UPDATE_CARD_EXAMPLES = {"card": example("A new agent card", {"workspace_id": WORKSPACE_ID, "agent_card": AGENT_CARD})}

AGENT_UNAUTHORIZED = Refusal(
    401,
    "The workspace has a token and the request does not carry it (`hint` says what to do), or carries another one.",
    {
        "error": "missing workspace auth token",
        "hint": "this workspace already has a token: send it as Authorization: Bearer <token>",
    },
)
NO_SUCH_WORKSPACE = Refusal(404, "The body's workspace id names no workspace.", {"error": "workspace not found"})
REMOVED = Refusal(
    410,
    "The workspace was deleted: its agent should stop; a new workspace needs a new agent.",
    {"error": "workspace removed; it cannot register again — create a new workspace"},
)
PUSH_NEEDS_URL = Refusal(
    400,
    "Push delivery without an http(s) `url`, or a `url` the platform does not call (a private or loopback address).",
    {"error": "url: an http(s) URL is required for push delivery", "field": "url"},
)
# What every agent-facing registry call may answer: the bearer rule, its rate limit (only with a
# bearer), the database, the workspace in the body.
AGENT_REFUSALS = (AGENT_UNAUTHORIZED, *CALLER_REFUSALS[1:], NO_SUCH_WORKSPACE, REMOVED, BODY_TOO_LARGE)
NOT_ALLOWED = Refusal(
    403,
    "The caller may not talk to this workspace (only self, siblings, ancestors and descendants may), or "
    "`X-Workspace-ID` is a reserved identity.",
    {"error": "caller may not talk to this workspace"},
)
NO_CALLER = Refusal(
    400,
    "`X-Workspace-ID` is missing or not a workspace id.",
    {"error": "X-Workspace-ID header is required", "field": "X-Workspace-ID"},
)
AGENT_CALLER = (
    "**Caller:** the agent, with its workspace's token once the workspace has one (none before its first register)."
)


@app.post(
    "/registry/register",
    tags=[REGISTRY],
    summary="Register an agent: its URL, delivery mode and agent card",
    description="What an agent calls at start-up. The first register of a workspace without a token "
    "answers one in `auth_token` — keep it: it is never shown again. `platform_inbound_secret` is what "
    "the platform presents when it calls the agent. " + AGENT_CALLER,
    security=AGENT_AUTH,
    responses=answers(
        {
            200: json_answer(
                "Registered",
                model=RegisterResponse,
                example={
                    "status": "registered",
                    "workspace_id": WORKSPACE_ID,
                    "delivery_mode": "push",
                    "auth_token": "q3X0c1VbN5m2Zr8tYw4LkPj6HsD9aEf7GiU1oR2nTcB",
                    "platform_inbound_secret": "Vd8f2KqL0wYc3RtN6mZb1XsH9pJ4aEu7GoT5iQ2lFnC",
                },
            )
        },
        *AGENT_REFUSALS,
        PUSH_NEEDS_URL,
    ),
)
def register(body: Annotated[RegisterRequest, Body(openapi_examples=REGISTER_EXAMPLES)], agent: AgentBearerDep) -> dict:
    # exclude_none: auth_token appears only when minted, the secret only when known
    return service.register(body, agent.token).model_dump(mode="json", exclude_none=True)


@app.post(
    "/registry/heartbeat",
    tags=[REGISTRY],
    summary="Report an agent alive, with its load and error rate",
    description="Every 30 s or so. Keeps the workspace online; an error rate of 0.5 or more (or "
    "`runtime_state: wedged`) marks it degraded. " + AGENT_CALLER,
    security=AGENT_AUTH,
    responses=answers({200: json_answer("Recorded", example={"status": "ok"})}, *AGENT_REFUSALS),
)
def heartbeat(
    body: Annotated[HeartbeatRequest, Body(openapi_examples=HEARTBEAT_EXAMPLES)], agent: AgentBearerDep
) -> dict[str, str]:
    service.heartbeat(body, agent.token)
    return {"status": "ok"}


@app.post(
    "/registry/update-card",
    tags=[REGISTRY],
    summary="Replace an agent's card",
    description="The card callers fetch from `/workspaces/{workspace_id}/.well-known/agent-card.json`. " + AGENT_CALLER,
    security=AGENT_AUTH,
    responses=answers({200: json_answer("Replaced", example={"status": "updated"})}, *AGENT_REFUSALS),
)
def update_card(
    body: Annotated[UpdateCardRequest, Body(openapi_examples=UPDATE_CARD_EXAMPLES)], agent: AgentBearerDep
) -> dict[str, str]:
    service.update_card(body, agent.token)
    return {"status": "updated"}


@app.get(
    "/registry/discover/<workspace_id>",
    tags=[REGISTRY],
    summary="Find another workspace's name and URL",
    description="For a workspace that may talk to it (self, sibling, ancestor or descendant). "
    "**Caller:** a workspace, naming itself in `X-Workspace-ID`, with its own token.",
    security=OWN_WORKSPACE_AUTH,
    openapi_extensions=header_parameters({**CALLER_WORKSPACE_HEADER, "required": True}),
    responses=answers({200: "Its id, URL and name"}, *WORKSPACE_REFUSALS, NO_CALLER, NOT_ALLOWED),
)
def discover(workspace_id: UUID, caller: DiscoveryCaller) -> DiscoveredWorkspace:
    return service.discover(workspace_id, caller)


@app.get(
    "/registry/<workspace_id>/peers",
    tags=[REGISTRY],
    summary="List a workspace's parent, siblings and children",
    description="The workspaces it may talk to besides its ancestors further up; `q` filters by name "
    "or role. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({200: "Its peers, each with its `relation`"}, *WORKSPACE_REFUSALS),
)
def peers(
    workspace_id: UUID, caller: WorkspaceCaller, q: Annotated[str | None, Query(max_length=255)] = None
) -> list[Peer]:
    return service.peers(workspace_id, q)


@app.post(
    "/registry/check-access",
    tags=[REGISTRY],
    summary="Whether one workspace may talk to another",
    description="The access rule the A2A proxy and discovery apply: self, siblings, ancestors and "
    "descendants may; cousins may not. " + ADMIN_CALLER,
    security=ADMIN_AUTH,
    responses=answers({200: json_answer("The verdict", example={"allowed": True})}, *ADMIN_REFUSALS, BODY_TOO_LARGE),
)
def check_access(body: CheckAccessRequest, caller: AdminCaller) -> dict[str, bool]:
    return {"allowed": service.check_access(body.caller_id, body.target_id)}


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
