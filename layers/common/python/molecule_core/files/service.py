"""Chat files (SPEC §5.7): uploads and downloads forwarded over HTTP to the agent's own endpoints
(`/internal/chat/uploads/ingest`, `/internal/file/read`) with the platform inbound secret as
bearer. The platform never touches an agent's disk. Both routes share one step to find where and
how to call (`resolve_forward_target`, with the lazy heal) and one step to relay the answer
(`relay_agent_response`) — the history's resolveWorkspaceForwardCreds / streamWorkspaceResponse
lesson: two copies of either drift apart. Paths are checked by `files.paths`.

Workspaces the platform cannot call — poll mode, or no inbound URL yet — get their files staged by
the platform instead (SPEC §5.13): chat uploads land in the S3 bucket (`files.bucket`) with a row in
`staged_files`, answer the same `{"files":[…]}` as the agent-side ingest with `platform:/files/…`
URIs, and are read back through chat download or `GET …/files/{file_id}`; files beyond the Lambda
payload go straight between the client and S3 through presigned URLs, never through a function."""

from __future__ import annotations

import hashlib
import uuid
from urllib.parse import quote
from uuid import UUID

from molecule_core.auth import service as auth
from molecule_core.auth.models import Caller, PresentedCaller, TokenMatch
from molecule_core.files import bucket
from molecule_core.files import store as files_store
from molecule_core.files.models import (
    FileEntry,
    ForwardTarget,
    RelayedAnswer,
    StagedFile,
    UploadedFiles,
    UploadUrl,
    UploadUrlRequest,
    content_disposition,
    guess_mime_type,
    is_staged_file_uri,
    sanitize_filename,
    staged_file_id,
    upload_mime_type,
)
from molecule_core.files.multipart import FormPart, parse_form_parts
from molecule_core.files.paths import check_chat_path
from molecule_core.platform import db
from molecule_core.platform.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    UpstreamError,
    WorkspaceNotFound,
)
from molecule_core.platform.observability import logger
from molecule_core.platform.settings import get_settings
from molecule_core.registry.service import can_communicate, read_or_heal_inbound_secret
from molecule_core.workspaces import service as workspaces
from molecule_core.workspaces.models import Workspace, is_http_url, resolve_delivery_mode

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


def resolve_forward_target(workspace_id: UUID, op: str, *, workspace: Workspace | None = None) -> ForwardTarget:
    """Where and how to call the workspace's agent for chat `op` ("upload" / "download").
    Unknown or removed workspace → WorkspaceNotFound (404); no http(s) URL → 503; secret just
    minted → 503 with retry_after_seconds (the agent has not learned it yet); mint or read
    failed → 503 with the reprovision hint. `workspace`: the row, when the caller has read it."""
    workspace = workspace or workspaces.find_workspace(workspace_id)
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
    # Imported here, not at the top: the activity function uses this domain (the notify check) and
    # must not pay for httpx at every cold start.
    from molecule_core.agents import service as agent_client

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
    """POST /workspaces/{id}/chat/uploads: the multipart body, byte for byte, to the agent — or,
    for a workspace the platform cannot call, into the stage."""
    if not is_multipart(content_type):
        raise InvalidInput("upload must be multipart/form-data with a 'files' field")
    workspace = workspaces.find_workspace(workspace_id)
    if workspace is not None and workspace.status != "removed" and is_staged_workspace(workspace):
        return stage_chat_files(workspace_id, body, content_type)
    if len(body) > MAX_RELAY_BYTES:
        raise TooLargeToRelay("upload fewer or smaller files at a time")
    target = resolve_forward_target(workspace_id, "upload", workspace=workspace)
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


def download_chat_file(workspace_id: UUID, path: str | None, caller: Caller, *, budget_seconds: float) -> RelayedAnswer:
    """GET /workspaces/{id}/chat/download?path=: the file's bytes from the agent, or a staged file
    (`platform:/files/<id>/<name>`) that workspace {id} may read."""
    if is_staged_file_uri(path):
        return read_staged_file_uri(workspace_id, str(path), caller)
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


# --- files staged by the platform (SPEC §5.13) -------------------------------------------------------

MIB = 1024 * 1024


class StagedFileNotFound(NotFound):
    """404 for an unknown, expired or foreign file alike: a reader learns nothing about the rest."""

    def __init__(self) -> None:
        super().__init__("file not found")


class FileNotUploaded(Conflict):
    """409: a presigned upload that has not arrived whole yet."""


class FileTooLarge(PayloadTooLarge):
    def __init__(self, name: str, limit_bytes: int, hint: str) -> None:
        super().__init__(
            f"file too large: {name} (limit {size_label(limit_bytes)}); {hint}", file=name, limit_bytes=limit_bytes
        )


def size_label(size: int) -> str:
    return f"{size / MIB:g} MiB" if size >= MIB else f"{size} bytes"


def is_staged_workspace(workspace: Workspace) -> bool:
    """Whether the platform stages this workspace's files itself: it has no inbound URL the platform
    may call — poll mode (the effective mode of SPEC §5.2: the agent pulls), or no http(s) URL yet
    (not registered)."""
    mode = resolve_delivery_mode(None, workspace.delivery_mode, workspace.runtime, workspace.url)
    return mode == "poll" or not is_http_url(workspace.url)


def _new_staged_file(
    workspace_id: UUID, name: str, size: int, mime_type: str, sha256: str | None, *, stored: bool
) -> files_store.NewStagedFile:
    file_id = uuid.uuid4()
    return files_store.NewStagedFile(
        id=file_id,
        workspace_id=workspace_id,
        name=name,
        size=size,
        mime_type=mime_type,
        sha256=sha256,
        object_key=bucket.object_key(workspace_id, file_id),
        stored=stored,
        retention_days=get_settings().files_retention_days,
    )


def _staged_upload(workspace_id: UUID, part: FormPart) -> files_store.NewStagedFile:
    name = sanitize_filename(part.filename)
    return _new_staged_file(
        workspace_id,
        name,
        len(part.content),
        upload_mime_type(name, part.content_type),
        hashlib.sha256(part.content).hexdigest(),
        stored=True,
    )


def stage_chat_files(workspace_id: UUID, body: bytes, content_type: str | None) -> RelayedAnswer:
    """A chat upload for a workspace the platform cannot call: every `files` part into the bucket,
    then one row each, answered as the agent-side ingest answers. The objects go first: a failure
    between the two leaves an object no row points at (the lifecycle rule removes it), never a row
    without its bytes."""
    uploads = [part for part in parse_form_parts(body, content_type) if part.field == "files" and part.filename]
    if not uploads:
        raise InvalidInput("no files: the multipart body needs a 'files' part with a file name", field="files")
    if len(body) > MAX_RELAY_BYTES:
        largest = max(uploads, key=lambda part: len(part.content))
        raise FileTooLarge(
            sanitize_filename(largest.filename),
            MAX_RELAY_BYTES,
            f"larger files go through POST /workspaces/{workspace_id}/files/upload-url",
        )
    staged = []
    for part in uploads:
        new = _staged_upload(workspace_id, part)
        bucket.put_object(new.object_key, part.content, new.mime_type)
        staged.append(new)
    entries: list[FileEntry] = []
    with db.transaction() as conn:
        for new in staged:
            row = files_store.insert_staged_file(conn, new)
            if row is None:
                raise WorkspaceNotFound()  # removed while the bytes went up
            entries.append(row.entry())
    answer = UploadedFiles(files=entries).model_dump_json().encode()
    return RelayedAnswer(200, {"content-type": "application/json"}, answer)


def create_upload_url(workspace_id: UUID, request: UploadUrlRequest) -> UploadUrl:
    """POST /workspaces/{id}/files/upload-url: a file record and a presigned PUT for exactly the
    declared size and type (and bytes, with sha256) — the bytes then go from the client to S3
    without passing through any function."""
    settings = get_settings()
    limit = settings.files_max_upload_bytes
    if request.size > limit:
        raise InvalidInput(
            f"size: {request.size} bytes is over the limit of {size_label(limit)} ({limit} bytes)",
            field="size",
            limit_bytes=limit,
        )
    name = sanitize_filename(request.name)
    mime_type = request.mimeType if request.mimeType else guess_mime_type(name)
    new = _new_staged_file(workspace_id, name, request.size, mime_type, request.sha256, stored=False)
    expires_in = settings.files_url_expiry_seconds
    # Signing is local (no call to S3); it comes first so that a missing bucket leaves no row.
    url = bucket.presigned_put(
        new.object_key, size=new.size, content_type=mime_type, sha256=new.sha256, expires_in=expires_in
    )
    row = db.single_statement(lambda conn: files_store.insert_staged_file(conn, new), idempotent=False)
    if row is None:
        raise WorkspaceNotFound()
    headers = {"Content-Type": mime_type, "Content-Length": str(new.size)}
    if new.sha256 is not None:
        headers["x-amz-checksum-sha256"] = bucket.sha256_checksum(new.sha256)
    return UploadUrl(
        file_id=row.id,
        upload_url=url,
        expires_in=expires_in,
        uri=row.uri,
        name=row.name,
        mimeType=row.mime_type,
        size=row.size,
        upload_headers=headers,
    )


def find_readable_file(reader_id: UUID, file_id: UUID, caller: Caller) -> StagedFile:
    """The live staged file `file_id`, if the caller may read it through workspace `reader_id`
    (`_readable`)."""
    file = db.single_statement(lambda conn: files_store.find_live_staged_file(conn, file_id))
    return _readable(file, reader_id, caller)


def _readable(file: StagedFile | None, reader_id: UUID, caller: Caller) -> StagedFile:
    """Users (admin, org) read every file; a workspace (`caller` is {reader_id}: WorkspaceAuth
    checked it) reads its own and those of the workspaces the access rule lets it talk to.
    Anything else — unknown, expired, foreign — is the same 404."""
    if file is None:
        raise StagedFileNotFound()
    if caller.is_user or file.workspace_id == reader_id or can_communicate(reader_id, file.workspace_id):
        return file
    raise StagedFileNotFound()


def read_staged_file(reader_id: UUID, file_id: UUID, presented: PresentedCaller) -> RelayedAnswer:
    """GET /workspaces/{id}/files/{file_id}. WorkspaceAuth and the file in one round trip: the
    caller's bearer is looked up in the statement that finds the file; a refused caller learns
    nothing of it (401 first)."""
    found = db.single_statement(
        lambda conn: files_store.find_live_staged_file_and_bearer(conn, file_id, presented.token_hash)
    )
    match = TokenMatch.found(found.bearer_kind, found.bearer_token_id, found.bearer_workspace_id)
    caller = auth.settle_workspace_caller(presented, match, reader_id)
    return _serve_staged_file(_readable(found.file, reader_id, caller))


def read_staged_file_uri(reader_id: UUID, uri: str, caller: Caller) -> RelayedAnswer:
    """Chat download of `platform:/files/<file_id>/<name>`: the URI must be the file's own."""
    file_id = staged_file_id(uri)
    if file_id is None:
        raise InvalidInput("path: a platform file is platform:/files/<file_id>/<name>", field="path")
    file = find_readable_file(reader_id, file_id, caller)
    if file.uri != uri:
        raise StagedFileNotFound()
    return _serve_staged_file(file)


def _check_stored(file: StagedFile) -> None:
    """A presigned upload counts once its object is in the bucket with the declared size. S3 itself
    refuses a PUT of another size (Content-Length is signed into the URL); this check, made once per
    file, also holds where the signature is not enforced (an S3 stand-in) and tells a reader that
    came too early what is going on."""
    if file.stored_at is not None:
        return
    size = bucket.stored_size(file.object_key)
    if size is None:
        raise FileNotUploaded("file not uploaded yet: PUT it to its upload_url first", file_id=str(file.id))
    if size != file.size:
        mismatch = {"file_id": str(file.id), "declared": file.size, "stored": size}
        logger.warning("staged files: upload of the wrong size", extra=mismatch)
        raise FileNotUploaded(
            f"the uploaded file has {size} bytes, not the {file.size} declared: upload it again", file_id=str(file.id)
        )
    db.single_statement(lambda conn: files_store.mark_stored(conn, file.id))


def _serve_staged_file(file: StagedFile) -> RelayedAnswer:
    """Small files: the bytes, as an attachment the browser must not sniff or render (this is the
    API's own origin). Larger ones — and always those beyond a Lambda response — a 302 to a
    presigned GET, so the bytes go from S3 to the client directly."""
    _check_stored(file)
    settings = get_settings()
    disposition = content_disposition(file.name)
    if file.size <= min(settings.files_inline_max_bytes, MAX_RELAY_BYTES):
        content = bucket.read_object(file.object_key)
        if content is None:
            logger.warning("staged files: object missing", extra={"file_id": str(file.id)})
            raise StagedFileNotFound()
        headers = {
            "content-type": file.mime_type,
            "content-length": str(len(content)),
            "content-disposition": disposition,
            "x-content-type-options": "nosniff",
            "content-security-policy": "sandbox",
            "cache-control": "private, no-store",
        }
        return RelayedAnswer(200, headers, content)
    url = bucket.presigned_get(
        file.object_key,
        content_type=file.mime_type,
        content_disposition=disposition,
        expires_in=settings.files_url_expiry_seconds,
    )
    return RelayedAnswer(302, {"location": url, "cache-control": "no-store"}, b"")


def check_notify_attachment(workspace_id: UUID, index: int, uri: str) -> None:
    """A notify attachment whose uri is a `platform:` URI must name a live file staged for this
    workspace (its own only; SPEC §5.13); any other uri passes untouched."""
    if not is_staged_file_uri(uri):
        return
    file_id = staged_file_id(uri)
    file = db.single_statement(lambda conn: files_store.find_live_staged_file(conn, file_id)) if file_id else None
    if file is None or file.workspace_id != workspace_id or file.uri != uri:
        raise InvalidInput(
            f"attachment[{index}]: uri is not a file staged for this workspace (unknown, expired or another's)",
            field=f"attachments[{index}]",
        )


def prune_expired_files() -> int:
    """The retention sweep's part for staged files: the rows of expired files go."""
    return db.single_statement(files_store.delete_expired)
