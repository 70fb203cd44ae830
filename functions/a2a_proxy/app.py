"""POST /workspaces/{id}/a2a — the A2A proxy (SPEC §5.4) — and each workspace's agent card.

Two entry points, one set of routes: `lambda_handler` for API Gateway (buffered: a streamed answer
arrives in one piece), `lambda_stream_handler` for the function URL in response-streaming mode and
the local stack (a streamed answer is relayed as it comes; README "Deploying")."""

import base64
from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.a2a import service
from molecule_core.agents import service as agents
from molecule_core.auth.callers import A2ACaller
from molecule_core.platform.http import (
    FORWARDABLE_HEADER,
    APIGatewayHttpResolver,
    StreamedResponse,
    is_streaming_invocation,
    serve,
    serve_streaming,
    stream_response,
)
from molecule_core.platform.observability import logger
from molecule_core.platform.openapi import (
    A2A,
    ANY_TOKEN_AUTH,
    CALLER_REFUSALS,
    CALLER_WORKSPACE_HEADER,
    DATASTORE_DOWN,
    EVENT_STREAM,
    WORKSPACE_NOT_FOUND,
    Refusal,
    answers,
    event_stream,
    header_parameters,
    json_answer,
    raw_request_body,
    relays_agent_answer,
)
from molecule_core.platform.settings import get_settings

app = APIGatewayHttpResolver()
# Nearly every call is delivered to an agent: its HTTP client loads with the function (and in its
# SnapStart snapshot), not on the first message.
agents.load_client()

# Time kept back from the function's own timeout to record the outcome and answer.
MARGIN_SECONDS = 3.0


# --- what the reference says about these routes (platform.openapi) ---------------------------------
# The shapes are the answers of a2a/service.py and a2a/submitted.py; tests/integration/
# test_schemathesis.py (test_real_answers_match_the_documented_responses) checks real answers
# against them.

JSONRPC_ID = {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}
JSONRPC_REQUEST = {
    "title": "A2A request",
    "description": "A JSON-RPC 2.0 request of A2A 0.3 (`message/send`, `message/stream`, `tasks/get`, …; the older "
    "shapes of that family are converted) or A2A 1.0 (`SendMessage`, `SendStreamingMessage`, …; checked, "
    "never rewritten).",
    "type": "object",
    "required": ["method"],
    "properties": {
        "jsonrpc": {"const": "2.0"},
        "id": JSONRPC_ID,
        "method": {"type": "string"},
        "params": {"type": "object"},
    },
}
JSONRPC_ERROR = {
    "title": "JSON-RPC error",
    "type": "object",
    "required": ["jsonrpc", "id", "error"],
    "properties": {
        "jsonrpc": {"const": "2.0"},
        "id": JSONRPC_ID,
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {}},
        },
    },
}
AGENT_RESPONSE = {
    "title": "A2A response",
    "description": "The agent's JSON-RPC 2.0 response, as it sent it (or translated into the caller's A2A version).",
    "type": "object",
    "properties": {"jsonrpc": {"const": "2.0"}, "id": JSONRPC_ID, "result": {}, "error": {}},
}


def submitted_task(state: str, **kind: dict) -> dict:
    return {
        "type": "object",
        "required": ["id", "contextId", "status", *kind],
        "properties": {
            **kind,
            "id": {"type": "string", "description": "the inbox row or queue id"},
            "contextId": {"type": "string"},
            "status": {"type": "object", "required": ["state"], "properties": {"state": {"const": state}}},
            "metadata": {"type": "object", "description": "`molecule`: the platform's keys again"},
        },
    }


SUBMITTED_TASK = {
    "title": "Submitted task",
    "description": "A Task in `submitted` state, in the caller's A2A version: the task itself in 0.3, `{task}` in 1.0.",
    "anyOf": [
        submitted_task("submitted", kind={"const": "task"}),
        {"type": "object", "required": ["task"], "properties": {"task": submitted_task("TASK_STATE_SUBMITTED")}},
    ],
}


def submitted_answer(title: str, molecule: dict) -> dict:
    """The JSON-RPC envelope of a message the platform took in: the platform's keys at the top."""
    return {
        "title": title,
        "type": "object",
        "required": ["jsonrpc", "id", "result", *molecule],
        "properties": {"jsonrpc": {"const": "2.0"}, "id": JSONRPC_ID, "result": SUBMITTED_TASK, **molecule},
    }


QUEUED = submitted_answer(
    "Queued",
    {
        "queued": {"const": True},
        "queue_id": {"type": "string", "format": "uuid"},
        "queue_depth": {"type": "integer"},
        "message": {"type": "string"},
    },
)
IN_INBOX = submitted_answer(
    "In the inbox",
    {"status": {"const": "queued"}, "delivery_mode": {"const": "poll"}, "method": {"type": "string"}},
)
QUEUE_ID = "9b2e7d4a-51c3-4f0e-a8d6-3c1b0e9f7a21"
QUEUED_EXAMPLE = {
    "queued": True,
    "queue_id": QUEUE_ID,
    "queue_depth": 1,
    "message": "target at capacity: the message is queued and will be delivered in order",
    "jsonrpc": "2.0",
    "id": "b8a3e0f2-5c1d-4e7a-9f60-2d8c41e7a9b5",
    "result": {
        "kind": "task",
        "id": QUEUE_ID,
        "contextId": QUEUE_ID,
        "status": {"state": "submitted"},
        "metadata": {"molecule": {"queued": True, "queue_id": QUEUE_ID, "queue_depth": 1}},
    },
}

MESSAGE_03 = {"kind": "message", "messageId": "6f1c2a9e-3b7d-4c58-9a1e-0d2b7c4e8f31", "role": "user"}
REQUEST_EXAMPLES = {
    "v0_3_send": {
        "summary": "A2A 0.3 message/send",
        "value": {
            "jsonrpc": "2.0",
            "id": "b8a3e0f2-5c1d-4e7a-9f60-2d8c41e7a9b5",
            "method": "message/send",
            "params": {
                "message": {**MESSAGE_03, "parts": [{"kind": "text", "text": "Summarise the Q3 incident report."}]}
            },
        },
    },
    "v0_3_stream": {
        "summary": "A2A 0.3 message/stream: the answer is text/event-stream",
        "value": {
            "jsonrpc": "2.0",
            "id": "b8a3e0f2-5c1d-4e7a-9f60-2d8c41e7a9b5",
            "method": "message/stream",
            "params": {"message": {**MESSAGE_03, "parts": [{"kind": "text", "text": "Stream the build log summary."}]}},
        },
    },
    "v1_0_send": {
        "summary": "A2A 1.0 SendMessage (send `A2A-Version: 1.0`)",
        "value": {
            "jsonrpc": "2.0",
            "id": "r1",
            "method": "SendMessage",
            "params": {
                "message": {
                    "messageId": "m-1",
                    "role": "ROLE_USER",
                    "parts": [{"text": "Summarise the Q3 incident report."}],
                }
            },
        },
    },
    "legacy_tasks_send": {
        "summary": "Legacy tasks/send (converted to message/send)",
        "value": {
            "jsonrpc": "2.0",
            "id": "b8a3e0f2-5c1d-4e7a-9f60-2d8c41e7a9b5",
            "method": "tasks/send",
            "params": {
                "id": "task-legacy-1",
                "message": {**MESSAGE_03, "parts": [{"kind": "text", "text": "Old method name."}]},
            },
        },
    },
    "v0_2_content": {
        "summary": "v0.2 `content` string (converted to parts)",
        "value": {
            "jsonrpc": "2.0",
            "id": "b8a3e0f2-5c1d-4e7a-9f60-2d8c41e7a9b5",
            "method": "message/send",
            "params": {
                "message": {
                    "role": "user",
                    "messageId": "0b9e6c1d-7a24-4f3e-8d51-c2a9f7e03b64",
                    "content": "Kick off the UX research for the onboarding flow.",
                }
            },
        },
    },
    "legacy_no_envelope": {
        "summary": "No JSON-RPC envelope (one is added)",
        "value": {
            "method": "message/send",
            "params": {"message": {**MESSAGE_03, "parts": [{"kind": "text", "text": "No envelope here."}]}},
        },
    },
}

PAYLOAD_REFUSED = Refusal(
    400,
    "The payload is not an A2A request the proxy can carry (not JSON, no method, invalid params, a "
    "version the agent does not speak): a JSON-RPC error, `id` the request's.",
    {
        "jsonrpc": "2.0",
        "id": "b8a3e0f2-5c1d-4e7a-9f60-2d8c41e7a9b5",
        "error": {"code": -32602, "message": "params.message.parts must be a non-empty list"},
    },
    schema=JSONRPC_ERROR,
)
BUDGET_EXHAUSTED = Refusal(
    402,
    "The workspace's monthly budget is spent (cents).",
    {"error": "workspace budget exhausted", "monthly_spend": 5000, "budget_limit": 5000},
)
NOT_ALLOWED = Refusal(
    403,
    "The calling workspace may not talk to this one (only self, siblings, ancestors and descendants "
    "may), or the caller header names a reserved identity (`system:`, `webhook:`, …).",
    {"error": "caller may not talk to this workspace"},
)
UNREACHABLE = Refusal(
    502,
    "The agent could not be reached, or broke its answer off; `detail` says how.",
    {"error": "agent unreachable", "detail": "connection refused"},
)
WAKING = Refusal(
    503,
    "The workspace is hibernated and is being woken (`waking: true`), or its agent is dead and being "
    "restarted (`restarting: true`): retry after `Retry-After` seconds. Or it has no URL to deliver to yet.",
    {"error": "workspace is hibernated; waking it", "waking": True},
    retry_after="sometimes",
)
TIMED_OUT = Refusal(
    504,
    "The agent did not answer within the proxy's time budget. The message was delivered and is not re-sent; "
    "send `Prefer: respond-async` for long work.",
    {
        "error": "agent did not answer within 27s; the message was delivered and is not re-sent "
        "(send Prefer: respond-async for long work)",
        "timeout": True,
    },
)
BAD_CALLER_HEADER = Refusal(
    400,
    "`X-Workspace-ID` is not a workspace id.",
    {"error": "X-Workspace-ID must be a workspace id", "field": "X-Workspace-ID"},
)
NO_CARD = Refusal(
    404,
    "No such workspace, or its agent has not registered an agent card yet.",
    {"error": "this workspace's agent has not registered an agent card yet"},
)
CALLER_HEADERS = header_parameters(
    CALLER_WORKSPACE_HEADER,
    {**CALLER_WORKSPACE_HEADER, "name": "X-Source-Workspace-Id", "description": "Same as `X-Workspace-ID`."},
)
PROXY_CALLER = (
    "**Caller:** a workspace, with its own token (naming itself in `X-Workspace-ID`, or by its token "
    "alone), or a user with an org or the admin token."
)


@app.post(
    "/workspaces/<workspace_id>/a2a",
    tags=[A2A],
    summary="Send an A2A message to a workspace's agent",
    description="The A2A proxy: the request is checked and normalised within its A2A version, then "
    "delivered to the agent and its answer relayed — streamed methods as server-sent events. A poll-mode "
    "workspace gets it in its inbox; a busy agent (or `Prefer: respond-async`) gets it through the queue "
    "(202, poll `GET …/a2a/queue/{queue_id}`). " + PROXY_CALLER,
    security=ANY_TOKEN_AUTH,
    openapi_extensions={
        **CALLER_HEADERS,
        **raw_request_body(
            {"application/json": {"schema": JSONRPC_REQUEST, "examples": REQUEST_EXAMPLES}},
            description="A JSON-RPC request of A2A 0.3 (or an older shape of its family) or A2A 1.0",
        ),
        **relays_agent_answer("The agent answered with this status: relayed unchanged"),
    },
    responses=answers(
        {
            200: {
                "description": "The agent's answer; for a streaming method, its events as they come. For a "
                "poll-mode workspace, a submitted Task: the message is in the workspace's inbox.",
                "content": {
                    "application/json": {"schema": {"anyOf": [IN_INBOX, AGENT_RESPONSE]}},
                    EVENT_STREAM: event_stream(AGENT_RESPONSE, "One event of the agent's stream, relayed as it came"),
                },
            },
            202: {
                "description": "Queued (the agent is busy, at capacity, or `Prefer: respond-async`): a submitted "
                "Task whose id is the queue id (one event of a stream, for a streaming method).",
                "content": {
                    "application/json": {"schema": QUEUED, "example": QUEUED_EXAMPLE},
                    EVENT_STREAM: event_stream(QUEUED, "The one event: the submitted task"),
                },
            },
        },
        PAYLOAD_REFUSED,
        BAD_CALLER_HEADER,
        *CALLER_REFUSALS,
        BUDGET_EXHAUSTED,
        NOT_ALLOWED,
        WORKSPACE_NOT_FOUND,
        UNREACHABLE,
        WAKING,
        DATASTORE_DOWN,
        TIMED_OUT,
    ),
)
def a2a(
    workspace_id: UUID,
    caller: A2ACaller,
    a2a_version: Annotated[
        str | None,
        Header(
            alias="a2a-version",
            max_length=32,
            pattern=FORWARDABLE_HEADER,
            description="`0.3` or `1.0` (default: from the method)",
        ),
    ] = None,
    a2a_extensions: Annotated[
        str | None, Header(alias="a2a-extensions", max_length=1024, pattern=FORWARDABLE_HEADER)
    ] = None,
    x_a2a_extensions: Annotated[
        str | None, Header(alias="x-a2a-extensions", max_length=1024, pattern=FORWARDABLE_HEADER)
    ] = None,
    prefer: Annotated[
        str | None, Header(max_length=256, description="`respond-async`: queue it and answer 202 at once")
    ] = None,
) -> Response[bytes]:
    remaining = app.lambda_context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS
    event = app.current_event
    # The bytes as sent: the normaliser answers a body that is not UTF-8 with a JSON-RPC parse error.
    raw = (base64.b64decode(event.body) if event.is_base64_encoded else event.body.encode()) if event.body else b""
    settings = get_settings()
    budget = max(0.1, min(settings.a2a_push_timeout_seconds, remaining))
    # A streamed answer may last longer only where it is relayed as it comes (else it is buffered).
    stream_budget = max(0.1, min(settings.a2a_stream_timeout_seconds, remaining))
    answer = service.proxy_a2a(
        workspace_id,
        caller,
        raw,
        headers={"A2A-Version": a2a_version, "A2A-Extensions": a2a_extensions, "X-A2A-Extensions": x_a2a_extensions},
        respond_async="respond-async" in (prefer or "").lower(),
        budget_seconds=budget,
        stream_budget_seconds=stream_budget if is_streaming_invocation() else budget,
    )
    if answer.stream is not None:
        return stream_response(answer.status, answer.content_type, answer.stream, answer.headers)
    return Response(answer.status, answer.content_type, answer.body, headers=answer.headers or None)


CARD_ROUTE = {
    "tags": [A2A],
    "description": "The card its agent registered, pointing at this proxy (`url`) and offering the A2A "
    "versions the proxy carries to it: what an A2A client reads first. " + PROXY_CALLER,
    "security": ANY_TOKEN_AUTH,
    "openapi_extensions": CALLER_HEADERS,
    "responses": answers(
        {
            200: json_answer(
                "The agent card",
                schema={"type": "object", "required": ["url"]},
                example={
                    "name": "Research lead",
                    "url": "https://api.example.com/workspaces/3f0c1c9e-8a53-4a55-9d1b-6f2a9a3b7c10/a2a",
                    "protocolVersion": "0.3.0",
                    "capabilities": {"streaming": True},
                },
            )
        },
        BAD_CALLER_HEADER,
        *CALLER_REFUSALS,
        NOT_ALLOWED,
        WORKSPACE_NOT_FOUND,
        NO_CARD,
    ),
}


@app.get("/workspaces/<workspace_id>/.well-known/agent-card.json", summary="Get a workspace's agent card", **CARD_ROUTE)
@app.get(
    "/workspaces/<workspace_id>/.well-known/agent.json",
    summary="Get a workspace's agent card (the pre-0.3 path)",
    **CARD_ROUTE,
)
def agent_card(workspace_id: UUID, caller: A2ACaller) -> dict[str, Any]:
    return service.workspace_agent_card(workspace_id, caller)


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)


@logger.inject_lambda_context
def lambda_stream_handler(event: dict, context: LambdaContext) -> StreamedResponse:
    return serve_streaming(app, event, context)
