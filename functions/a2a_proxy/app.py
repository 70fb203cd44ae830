"""POST /workspaces/{id}/a2a — the A2A proxy (SPEC §5.4) — and each workspace's agent card.

Two entry points, one set of routes: `lambda_handler` for API Gateway (buffered: a streamed answer
arrives in one piece), `lambda_stream_handler` for the function URL in response-streaming mode and
the local stack (a streamed answer is relayed as it comes; README "Deploying")."""

import base64
from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.a2a import service
from molecule_core.auth.callers import A2ACaller
from molecule_core.platform.http import (
    APIGatewayHttpResolver,
    StreamedResponse,
    is_streaming_invocation,
    serve,
    serve_streaming,
    stream_response,
)
from molecule_core.platform.observability import logger
from molecule_core.platform.settings import get_settings

app = APIGatewayHttpResolver()

# Time kept back from the function's own timeout to record the outcome and answer.
MARGIN_SECONDS = 3.0


@app.post("/workspaces/<workspace_id>/a2a")
def a2a(
    workspace_id: UUID,
    caller: A2ACaller,
    a2a_version: Annotated[str | None, Header(alias="a2a-version", max_length=32)] = None,
    a2a_extensions: Annotated[str | None, Header(alias="a2a-extensions", max_length=1024)] = None,
    x_a2a_extensions: Annotated[str | None, Header(alias="x-a2a-extensions", max_length=1024)] = None,
    prefer: Annotated[str | None, Header(max_length=256)] = None,
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


@app.get("/workspaces/<workspace_id>/.well-known/agent-card.json")
@app.get("/workspaces/<workspace_id>/.well-known/agent.json")
def agent_card(workspace_id: UUID, caller: A2ACaller) -> dict[str, Any]:
    return service.workspace_agent_card(workspace_id, caller)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_stream_handler(event: dict, context: LambdaContext) -> StreamedResponse:
    return serve_streaming(app, event, context)
