"""Chat files: uploads to and downloads from the workspace's agent, forwarded over HTTP (SPEC §5.7),
or staged by the platform in S3 when it cannot call the agent; large files by presigned URLs (§5.13)."""

import base64
from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.auth.callers import PresentedWorkspaceCaller, WorkspaceCaller
from molecule_core.files import service
from molecule_core.files.models import RelayedAnswer, UploadedFiles, UploadUrl, UploadUrlRequest
from molecule_core.platform.http import FORWARDABLE_HEADER, APIGatewayHttpResolver, serve
from molecule_core.platform.observability import logger
from molecule_core.platform.openapi import (
    BINARY,
    BODY_TOO_LARGE,
    FILES,
    WORKSPACE_AUTH,
    WORKSPACE_CALLER,
    WORKSPACE_REFUSALS,
    Refusal,
    answers,
    example,
    json_answer,
    raw_request_body,
    relays_agent_answer,
)

app = APIGatewayHttpResolver()

# --- what the reference says about these routes (platform.openapi) ---------------------------------

FILE_ID = "5e8f2c1a-9b3d-4a7e-8c6f-1d2e3f4a5b6c"
AGENT_UNREACHABLE = Refusal(
    502, "The agent could not be reached.", {"error": "agent unreachable", "detail": "connection refused"}
)
AGENT_UNAVAILABLE = Refusal(
    503,
    "The agent cannot be called yet: no URL (poll mode, or not registered), or its credentials were just "
    "issued (`Retry-After`), or file storage is not configured or did not answer.",
    {
        "error": "workspace credentials were just issued; the agent picks them up at its next register — retry shortly",
        "retry_after_seconds": 30,
    },
    retry_after="sometimes",
)
STORAGE_UNAVAILABLE = Refusal(
    503,
    "File storage is not configured on this platform, or did not answer (`Retry-After`).",
    {"error": "file storage unavailable — retry shortly"},
    retry_after="sometimes",
)
TOO_LARGE_TO_RELAY = Refusal(
    413,
    "Larger than the platform relays (4.5 MiB): larger files go through `POST …/files/upload-url`.",
    {
        "error": "file too large for the platform to relay (limit 4.5 MiB); upload fewer or smaller files at a time",
        "limit_bytes": 4718592,
    },
)
FILE_NOT_FOUND = Refusal(
    404, "No such file for this workspace: unknown, expired or another's alike.", {"error": "file not found"}
)
NOT_UPLOADED = Refusal(
    409,
    "The file's bytes have not arrived (whole) at its `upload_url` yet.",
    {"error": "file not uploaded yet: PUT it to its upload_url first", "file_id": FILE_ID},
)
FILE_BYTES = {
    "description": "The file's bytes, as an attachment (`Content-Disposition`)",
    "content": {"*/*": {"schema": BINARY}},
}
PRESIGNED_REDIRECT = {
    "description": "A large staged file: `Location` is a presigned URL to download it from",
    "headers": {"Location": {"description": "presigned GET URL", "schema": {"type": "string", "format": "uri"}}},
}
UPLOAD_BODY = raw_request_body(
    {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["files"],
                "properties": {"files": {"type": "array", "items": BINARY}},
            }
        }
    },
    description="One or more `files` parts, each with a file name",
)
UPLOAD_URL_EXAMPLES = {
    "pdf": example(
        "A 20 MB report, with its SHA-256",
        {
            "name": "q3-report.pdf",
            "size": 20971520,
            "mimeType": "application/pdf",
            "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        },
    )
}

# Time kept back from the function's own timeout to answer after the agent does.
MARGIN_SECONDS = 3.0


def _budget_seconds() -> float:
    return max(0.1, app.lambda_context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS)


def _relay(answer: RelayedAnswer) -> Response[bytes]:
    # bytes: Powertools base64-encodes the body and sets isBase64Encoded, so binary files survive
    # (response validation lets bytes through as they are: platform.http.bytes_pass_through).
    headers = {name: value for name, value in answer.headers.items() if name != "content-type"}
    return Response(answer.status, answer.content_type, answer.body, headers=headers or None)


@app.post(
    "/workspaces/<workspace_id>/chat/uploads",
    tags=[FILES],
    summary="Upload chat files to a workspace's agent",
    description="The multipart body goes to the agent byte for byte and its answer comes back; for a "
    "workspace the platform cannot call (poll mode, not registered) the platform keeps the files itself "
    "and answers their `platform:` URIs. At most 4.5 MiB. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    openapi_extensions={**UPLOAD_BODY, **relays_agent_answer("The agent's answer, relayed unchanged")},
    responses=answers(
        {200: json_answer("The files as stored", model=UploadedFiles)},
        *WORKSPACE_REFUSALS,
        Refusal(
            400,
            "Not multipart/form-data, or no `files` part with a file name.",
            {"error": "no files: the multipart body needs a 'files' part with a file name", "field": "files"},
        ),
        TOO_LARGE_TO_RELAY,
        AGENT_UNREACHABLE,
        AGENT_UNAVAILABLE,
        STORAGE_UNAVAILABLE,
    ),
)
def upload(
    workspace_id: UUID,
    caller: WorkspaceCaller,
    content_type: Annotated[str | None, Header(max_length=1024, pattern=FORWARDABLE_HEADER)] = None,
):  # no return type: see _relay
    event = app.current_event
    # not event.decoded_body: it decodes to str, which a binary multipart body is not
    raw = event.body or ""
    body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8")
    return _relay(service.upload_chat_files(workspace_id, body, content_type, budget_seconds=_budget_seconds()))


@app.get(
    "/workspaces/<workspace_id>/chat/download",
    tags=[FILES],
    summary="Download a file from a workspace's agent",
    description="`path` is an absolute path on the agent (its bytes are relayed, at most 4.5 MiB), or a "
    "`platform:/files/<file_id>/<name>` URI of a file the platform keeps. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    openapi_extensions=relays_agent_answer("The agent's answer, relayed unchanged"),
    responses=answers(
        {200: FILE_BYTES, 302: PRESIGNED_REDIRECT},
        *WORKSPACE_REFUSALS,
        Refusal(
            400,
            "`path` is missing, relative, or not a valid platform file URI.",
            {"error": "path must be absolute", "field": "path"},
        ),
        FILE_NOT_FOUND,
        NOT_UPLOADED,
        TOO_LARGE_TO_RELAY,
        AGENT_UNREACHABLE,
        AGENT_UNAVAILABLE,
    ),
)
def download(
    workspace_id: UUID,
    caller: WorkspaceCaller,
    path: Annotated[str | None, Query(description="a path on the agent, or a `platform:/files/…` URI")] = None,
):  # no return type: see _relay
    return _relay(service.download_chat_file(workspace_id, path, caller, budget_seconds=_budget_seconds()))


@app.post(
    "/workspaces/<workspace_id>/files/upload-url",
    tags=[FILES],
    summary="Get a presigned URL to upload a large file",
    description="Creates the file's record and a URL to PUT its bytes to, directly to storage, with "
    "exactly `upload_headers` (size, type and SHA-256 are signed into it). The file's `uri` then goes "
    "into messages and notes. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers(
        {201: "The upload URL and the file's URI"},
        *WORKSPACE_REFUSALS,
        Refusal(
            400,
            "`size` is over the platform's limit (`limit_bytes`).",
            {
                "error": "size: 209715200 bytes is over the limit of 100 MiB (104857600 bytes)",
                "field": "size",
                "limit_bytes": 104857600,
            },
        ),
        BODY_TOO_LARGE,
        STORAGE_UNAVAILABLE,
    ),
)
def upload_url(
    workspace_id: UUID,
    caller: WorkspaceCaller,
    body: Annotated[UploadUrlRequest, Body(openapi_examples=UPLOAD_URL_EXAMPLES)],
) -> Response[UploadUrl]:
    return Response(201, content_types.APPLICATION_JSON, service.create_upload_url(workspace_id, body))


@app.get(
    "/workspaces/<workspace_id>/files/<file_id>",
    tags=[FILES],
    summary="Download a file the platform keeps",
    description="Its bytes, or for a large one a redirect to a presigned URL. A workspace reads its own "
    "files and those of the workspaces it may talk to. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers(
        {200: FILE_BYTES, 302: PRESIGNED_REDIRECT},
        *WORKSPACE_REFUSALS,
        FILE_NOT_FOUND,
        NOT_UPLOADED,
        STORAGE_UNAVAILABLE,
    ),
)
def read_file(workspace_id: UUID, file_id: UUID, caller: PresentedWorkspaceCaller):  # no return type: see _relay
    return _relay(service.read_staged_file(workspace_id, file_id, caller))


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
