"""POST /workspaces/{id}/a2a — the A2A proxy (SPEC §5.4)."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.a2a.proxy import proxy_a2a
from molecule_core.api import compact_json, install_error_handlers, parse_uuid
from molecule_core.observability import logger
from molecule_core.settings import get_settings

app = APIGatewayHttpResolver(enable_validation=True, serializer=compact_json)
install_error_handlers(app)

# Time kept back from the function's own timeout to record the outcome and answer.
MARGIN_SECONDS = 3.0


@app.post("/workspaces/<workspace_id>/a2a")
def a2a(workspace_id: str) -> Response[bytes]:
    remaining = app.lambda_context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS
    event = app.current_event
    raw = event.decoded_body.encode("utf-8") if event.body else b""
    budget = max(0.1, min(get_settings().a2a_push_timeout_seconds, remaining))
    result = proxy_a2a(parse_uuid(workspace_id), event.headers, raw, budget_seconds=budget)
    return Response(result.status, result.content_type, result.body, headers=result.headers or None)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
