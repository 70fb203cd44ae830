"""Chat files: uploads to and downloads from the workspace's agent, forwarded over HTTP (SPEC §5.7)."""

import base64
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.api import WorkspaceCaller, compact_json, install_error_handlers, json_response, parse_uuid
from molecule_core.chat_files import ChatFilesUnavailable, RelayedAnswer, download_chat_file, upload_chat_files
from molecule_core.observability import logger

app = APIGatewayHttpResolver(enable_validation=True, serializer=compact_json)
install_error_handlers(app)

# Time kept back from the function's own timeout to answer after the agent does.
MARGIN_SECONDS = 3.0


@app.exception_handler(ChatFilesUnavailable)
def _unavailable(exc: ChatFilesUnavailable) -> Response[str]:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return json_response(exc.status_code, exc.body(), headers)


def _budget_seconds() -> float:
    return max(0.1, app.lambda_context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS)


def _relay(answer: RelayedAnswer) -> Response[bytes]:
    # bytes: Powertools base64-encodes the body and sets isBase64Encoded, so binary files survive.
    # The routes declare no return type on purpose: with one, response validation would run the
    # bytes through pydantic's JSON mode and fail on anything that is not UTF-8.
    headers = {name: value for name, value in answer.headers.items() if name != "content-type"}
    return Response(answer.status, answer.content_type, answer.body, headers=headers or None)


@app.post("/workspaces/<workspace_id>/chat/uploads")
def upload(workspace_id: str, caller: WorkspaceCaller):  # no return type: see _relay
    event = app.current_event
    # not event.decoded_body: it decodes to str, which a binary multipart body is not
    raw = event.body or ""
    body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8")
    answer = upload_chat_files(
        parse_uuid(workspace_id), body, event.headers.get("content-type"), budget_seconds=_budget_seconds()
    )
    return _relay(answer)


@app.get("/workspaces/<workspace_id>/chat/download")
def download(
    workspace_id: str, caller: WorkspaceCaller, path: Annotated[str | None, Query()] = None
):  # no return type: see _relay
    return _relay(download_chat_file(parse_uuid(workspace_id), path, budget_seconds=_budget_seconds()))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
