"""Chat files: uploads to and downloads from the workspace's agent, forwarded over HTTP (SPEC §5.7),
or staged by the platform in S3 when it cannot call the agent; large files by presigned URLs (§5.13)."""

import base64
from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.auth.callers import WorkspaceCaller
from molecule_core.files import service
from molecule_core.files.models import RelayedAnswer, UploadUrl, UploadUrlRequest
from molecule_core.platform.http import APIGatewayHttpResolver, serve
from molecule_core.platform.observability import logger

app = APIGatewayHttpResolver()

# Time kept back from the function's own timeout to answer after the agent does.
MARGIN_SECONDS = 3.0


def _budget_seconds() -> float:
    return max(0.1, app.lambda_context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS)


def _relay(answer: RelayedAnswer) -> Response[bytes]:
    # bytes: Powertools base64-encodes the body and sets isBase64Encoded, so binary files survive.
    # The routes declare no return type on purpose: with one, response validation would run the
    # bytes through pydantic's JSON mode and fail on anything that is not UTF-8.
    headers = {name: value for name, value in answer.headers.items() if name != "content-type"}
    return Response(answer.status, answer.content_type, answer.body, headers=headers or None)


@app.post("/workspaces/<workspace_id>/chat/uploads")
def upload(
    workspace_id: UUID,
    caller: WorkspaceCaller,
    content_type: Annotated[str | None, Header(max_length=1024)] = None,
):  # no return type: see _relay
    event = app.current_event
    # not event.decoded_body: it decodes to str, which a binary multipart body is not
    raw = event.body or ""
    body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8")
    return _relay(service.upload_chat_files(workspace_id, body, content_type, budget_seconds=_budget_seconds()))


@app.get("/workspaces/<workspace_id>/chat/download")
def download(
    workspace_id: UUID, caller: WorkspaceCaller, path: Annotated[str | None, Query()] = None
):  # no return type: see _relay
    return _relay(service.download_chat_file(workspace_id, path, caller, budget_seconds=_budget_seconds()))


@app.post("/workspaces/<workspace_id>/files/upload-url")
def upload_url(workspace_id: UUID, caller: WorkspaceCaller, body: UploadUrlRequest) -> Response[UploadUrl]:
    return Response(201, content_types.APPLICATION_JSON, service.create_upload_url(workspace_id, body))


@app.get("/workspaces/<workspace_id>/files/<file_id>")
def read_file(workspace_id: UUID, file_id: UUID, caller: WorkspaceCaller):  # no return type: see _relay
    return _relay(service.read_staged_file(workspace_id, file_id, caller))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
