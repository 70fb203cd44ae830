"""Chat files (SPEC §5.7): uploads and downloads forwarded over HTTP to the agent's own endpoints
(`/internal/chat/uploads/ingest`, `/internal/file/read`) with the platform inbound secret as
bearer. The platform never touches an agent's disk. Both routes share one step to find where and
how to call (`resolve_forward_target`, with the lazy heal) and one step to relay the answer
(`relay_agent_response`) — the history's resolveWorkspaceForwardCreds / streamWorkspaceResponse
lesson: two copies of either drift apart. Paths are checked by `files.paths`."""

from __future__ import annotations

from urllib.parse import quote
from uuid import UUID

from molecule_core.agents import service as agent_client
from molecule_core.files.models import ForwardTarget, RelayedAnswer
from molecule_core.files.paths import check_chat_path
from molecule_core.platform.errors import (
    InvalidInput,
    PayloadTooLarge,
    ServiceUnavailable,
    UpstreamError,
    WorkspaceNotFound,
)
from molecule_core.platform.observability import logger
from molecule_core.registry.service import read_or_heal_inbound_secret
from molecule_core.workspaces import service as workspaces
from molecule_core.workspaces.models import is_http_url

# A Lambda response is at most 6 MB and a binary body travels base64-encoded (4/3 larger), so
# 4.5 MiB of raw bytes is what fits with room for headers. The same cap applies to requests: the
# invocation payload has the same 6 MB limit.
MAX_RELAY_BYTES = 4_718_592
MAX_RELAY_LABEL = "4.5 MiB"
# The agent learns a freshly minted secret from its next register (heartbeat cadence).
HEAL_RETRY_AFTER_SECONDS = 30
REPROVISION_HINT = "restart the workspace so it gets a platform inbound secret"

UPLOAD_RELAY_HEADERS = ("content-type",)
DOWNLOAD_RELAY_HEADERS = ("content-type", "content-length", "content-disposition")


class ChatFilesUnavailable(ServiceUnavailable):
    """503: the agent cannot be called yet."""


class TooLargeToRelay(PayloadTooLarge):
    def __init__(self, what: str) -> None:
        super().__init__(
            f"file too large for the platform to relay (limit {MAX_RELAY_LABEL}); {what}",
            limit_bytes=MAX_RELAY_BYTES,
        )


class AgentUnreachableError(UpstreamError):
    pass


def resolve_forward_target(workspace_id: UUID, op: str) -> ForwardTarget:
    """Where and how to call the workspace's agent for chat `op` ("upload" / "download").
    Unknown or removed workspace → WorkspaceNotFound (404); no http(s) URL → 503; secret just
    minted → 503 with retry_after_seconds (the agent has not learned it yet); mint or read
    failed → 503 with the reprovision hint."""
    workspace = workspaces.find_workspace(workspace_id)
    if workspace is None or workspace.status == "removed":
        raise WorkspaceNotFound()
    if not is_http_url(workspace.url):
        raise ChatFilesUnavailable("workspace has no URL to forward to (poll mode, or the agent has not registered)")
    secret, healed, error = read_or_heal_inbound_secret(workspace_id)
    log = {"workspace_id": str(workspace_id), "op": op}
    if isinstance(error, WorkspaceNotFound):
        raise error
    if error is not None or not secret:
        logger.warning(f"chat_files {op}: no inbound secret and the heal failed", extra=log)
        raise ChatFilesUnavailable(
            "workspace has no platform inbound secret and one could not be created", hint=REPROVISION_HINT
        )
    if healed:
        logger.info(f"chat_files {op}: inbound secret healed; caller told to retry", extra=log)
        raise ChatFilesUnavailable(
            "workspace credentials were just issued; the agent picks them up at its next register — retry shortly",
            retry_after=HEAL_RETRY_AFTER_SECONDS,
            retry_after_seconds=HEAL_RETRY_AFTER_SECONDS,
        )
    return ForwardTarget(url=str(workspace.url).rstrip("/"), secret=secret)


def relay_agent_response(
    op: str,
    method: str,
    url: str,
    *,
    secret: str,
    relay_headers: tuple[str, ...],
    budget_seconds: float,
    body: bytes | None = None,
    content_type: str | None = None,
) -> RelayedAnswer:
    """Call the agent and answer what it answered (status, `relay_headers`, bytes) — its 4xx
    included, unchanged. Unreachable → 502; an answer too big for a Lambda response → 413."""
    outgoing = {"Authorization": f"Bearer {secret}", "Accept-Encoding": "identity"}
    if content_type is not None:
        outgoing["Content-Type"] = content_type
    try:
        answer = agent_client.forward(
            method,
            url,
            headers=outgoing,
            body=body,
            relay_headers=relay_headers,
            max_body_bytes=MAX_RELAY_BYTES,
            budget_seconds=budget_seconds,
        )
    except agent_client.AgentAnswerTooLarge as exc:
        logger.warning(f"chat_files {op}: agent answer too large to relay", extra={"detail": str(exc)})
        raise TooLargeToRelay("download it from the agent directly or split it") from exc
    except agent_client.AgentCallError as exc:
        logger.warning(f"chat_files {op}: agent unreachable", extra={"detail": str(exc)[:300]})
        raise AgentUnreachableError("agent unreachable", detail=str(exc)[:300]) from exc
    headers = dict(answer.headers)
    if "content-length" in headers:
        headers["content-length"] = str(len(answer.body))
    return RelayedAnswer(answer.status, headers, answer.body)


def is_multipart(content_type: str | None) -> bool:
    return bool(content_type) and str(content_type).split(";", 1)[0].strip().lower() == "multipart/form-data"


def upload_chat_files(
    workspace_id: UUID, body: bytes, content_type: str | None, *, budget_seconds: float
) -> RelayedAnswer:
    """POST /workspaces/{id}/chat/uploads: the multipart body, byte for byte, to the agent."""
    if not is_multipart(content_type):
        raise InvalidInput("upload must be multipart/form-data with a 'files' field")
    if len(body) > MAX_RELAY_BYTES:
        raise TooLargeToRelay("upload fewer or smaller files at a time")
    target = resolve_forward_target(workspace_id, "upload")
    return relay_agent_response(
        "upload",
        "POST",
        f"{target.url}/internal/chat/uploads/ingest",
        secret=target.secret,
        relay_headers=UPLOAD_RELAY_HEADERS,
        budget_seconds=budget_seconds,
        body=body,
        content_type=content_type,
    )


def download_chat_file(workspace_id: UUID, path: str | None, *, budget_seconds: float) -> RelayedAnswer:
    """GET /workspaces/{id}/chat/download?path=: the file's bytes from the agent."""
    checked = check_chat_path(path)
    target = resolve_forward_target(workspace_id, "download")
    return relay_agent_response(
        "download",
        "GET",
        f"{target.url}/internal/file/read?path={quote(checked, safe='/')}",
        secret=target.secret,
        relay_headers=DOWNLOAD_RELAY_HEADERS,
        budget_seconds=budget_seconds,
    )
