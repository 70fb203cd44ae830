"""POST /workspaces/{id}/a2a — the A2A proxy (SPEC §5.4)."""

import base64
from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.a2a import service
from molecule_core.auth.callers import A2ACaller
from molecule_core.platform.http import compact_json, install_error_handlers
from molecule_core.platform.observability import logger
from molecule_core.platform.settings import get_settings

app = APIGatewayHttpResolver(enable_validation=True, serializer=compact_json)
install_error_handlers(app)

# Time kept back from the function's own timeout to record the outcome and answer.
MARGIN_SECONDS = 3.0


@app.post("/workspaces/<workspace_id>/a2a")
def a2a(
    workspace_id: UUID,
    caller: A2ACaller,
    a2a_version: Annotated[str | None, Header(alias="a2a-version", max_length=32)] = None,
    prefer: Annotated[str | None, Header(max_length=256)] = None,
) -> Response[bytes]:
    remaining = app.lambda_context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS
    event = app.current_event
    # The bytes as sent: the normaliser answers a body that is not UTF-8 with a JSON-RPC parse error.
    raw = (base64.b64decode(event.body) if event.is_base64_encoded else event.body.encode()) if event.body else b""
    answer = service.proxy_a2a(
        workspace_id,
        caller,
        raw,
        a2a_version=a2a_version,
        respond_async="respond-async" in (prefer or "").lower(),
        budget_seconds=max(0.1, min(get_settings().a2a_push_timeout_seconds, remaining)),
    )
    return Response(answer.status, answer.content_type, answer.body, headers=answer.headers or None)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
