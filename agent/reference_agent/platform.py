"""The agent's HTTP client to the platform: register, heartbeat, read the inbox, reply to a peer,
notify the user, delegate a task to a peer and follow it (SPEC §5.10), and move files
(SPEC §5.13): small ones as a chat upload, larger ones straight to S3 with a presigned PUT, and
downloads that follow the platform's redirect to S3. Every platform
call carries the workspace bearer once the agent has one — never a presigned URL call, which
carries its own signature. Failures come back as three kinds the caller can act on: unauthorized
(re-register or stop), unavailable (retry later) and refused (anything else)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import quote
from uuid import UUID

import anyio.to_thread
import httpx
from molecule_core.activity.models import ActivityRow, NotifyRequest
from molecule_core.delegations.models import DelegateAnswer, DelegateRequest, Delegation
from molecule_core.files.models import FileEntry, UploadedFiles, UploadUrl, guess_mime_type
from molecule_core.registry.models import HeartbeatRequest, RegisterRequest, RegisterResponse
from pydantic import BaseModel, TypeAdapter, ValidationError

# SPEC §2: connect 10 s, never an unbounded read.
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_ACTIVITY_ROWS = TypeAdapter(list[ActivityRow])
ModelT = TypeVar("ModelT", bound=BaseModel)
# Files up to this size go as a chat upload (one request, within the platform's 4.5 MiB relay
# limit with room for the multipart framing); larger ones by presigned PUT.
CHAT_UPLOAD_MAX_BYTES = 4 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
# A presigned transfer may take longer than a platform call; the read timeout is per chunk.
TRANSFER_TIMEOUT = httpx.Timeout(300.0, connect=10.0)


class PlatformError(Exception):
    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class PlatformUnauthorized(PlatformError):
    """401: the bearer is not a live token of this workspace."""


class PlatformUnavailable(PlatformError):
    """The platform could not be reached, or answered 5xx/429: worth retrying later."""


class CursorGone(PlatformError):
    """410 on `since_id`: the platform does not know the cursor (pruned, or never existed)."""


class PlatformClient:
    def __init__(
        self,
        platform_url: str,
        workspace_id: UUID,
        *,
        auth_token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.workspace_id = workspace_id
        self.auth_token = auth_token
        self._http = httpx.AsyncClient(base_url=platform_url, timeout=TIMEOUT, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def register(self, request: RegisterRequest) -> RegisterResponse:
        response = await self._send("POST", "/registry/register", json=request.model_dump(mode="json"))
        try:
            return RegisterResponse.model_validate_json(response.content)
        except ValidationError as exc:
            raise PlatformError(f"unexpected register response: {response.text[:200]}") from exc

    async def heartbeat(self, request: HeartbeatRequest) -> None:
        await self._send("POST", "/registry/heartbeat", json=request.model_dump(mode="json", exclude_none=True))

    async def read_inbox(
        self, *, since_id: str | None = None, since_secs: int | None = None, limit: int | None = None
    ) -> list[ActivityRow]:
        """`a2a_receive` activity rows: oldest first with a cursor or window, else newest first."""
        params: dict[str, str | int] = {"type": "a2a_receive"}
        if since_id is not None:
            params["since_id"] = since_id
        if since_secs is not None:
            params["since_secs"] = since_secs
        if limit is not None:
            params["limit"] = limit
        response = await self._send("GET", f"/workspaces/{self.workspace_id}/activity", params=params)
        try:
            return _ACTIVITY_ROWS.validate_json(response.content)
        except ValidationError as exc:
            raise PlatformError(f"unexpected activity response: {exc.errors()[0]['msg']}") from exc

    async def send_a2a(self, target_id: UUID, body: dict[str, Any]) -> httpx.Response:
        """A2A to a peer through the platform's proxy, identified as this workspace."""
        return await self._send(
            "POST",
            f"/workspaces/{target_id}/a2a",
            json=body,
            headers={"X-Source-Workspace-Id": str(self.workspace_id)},
        )

    async def delegate(self, request: DelegateRequest) -> DelegateAnswer:
        """Hand a task to a peer (this workspace delegates); the platform answers at once."""
        body = request.model_dump(mode="json", exclude_none=True)
        return _parse(DelegateAnswer, await self._send("POST", f"/workspaces/{self.workspace_id}/delegate", json=body))

    async def delegation(self, delegation_id: str) -> Delegation:
        path = f"/workspaces/{self.workspace_id}/delegations/{quote(delegation_id, safe='')}"
        return _parse(Delegation, await self._send("GET", path))

    async def notify(self, request: NotifyRequest) -> None:
        body = request.model_dump(mode="json", exclude_none=True)
        await self._send("POST", f"/workspaces/{self.workspace_id}/notify", json=body)

    # --- files (SPEC §5.13) --------------------------------------------------------------------

    async def upload_file(self, path: Path, *, mime_type: str | None = None) -> FileEntry:
        """Stage a file for this workspace: a chat upload when small, else a presigned PUT. The
        answer's `uri` (`platform:/files/<id>/<name>`) is what a notify attachment carries."""
        size = path.stat().st_size
        mime_type = mime_type or guess_mime_type(path.name)
        if size <= CHAT_UPLOAD_MAX_BYTES:
            content = await anyio.to_thread.run_sync(path.read_bytes)
            response = await self._send(
                "POST",
                f"/workspaces/{self.workspace_id}/chat/uploads",
                files={"files": (path.name, content, mime_type)},
            )
            (entry,) = _parse(UploadedFiles, response).files
            return entry
        response = await self._send(
            "POST",
            f"/workspaces/{self.workspace_id}/files/upload-url",
            json={"name": path.name, "size": size, "mimeType": mime_type},
        )
        grant = _parse(UploadUrl, response)
        with path.open("rb") as source:
            put = await self._transfer("PUT", grant.upload_url, headers=grant.upload_headers, content=_chunks(source))
        if put.status_code >= 300:
            raise PlatformError(f"presigned PUT → {put.status_code} {put.text[:200]}", put.status_code)
        return grant.entry()

    async def download_file(self, uri: str, sink: BinaryIO) -> int:
        """Write the file at `uri` (a `platform:` URI) to `sink`, chunk by chunk; its size. The
        platform answers small files itself and redirects to a presigned GET otherwise; the bearer
        goes only to the platform (httpx drops it on a redirect to another origin)."""
        params = {"path": uri}
        path = f"/workspaces/{self.workspace_id}/chat/download"
        headers = {"Authorization": f"Bearer {self.auth_token}"} if self.auth_token else {}
        try:
            async with self._http.stream(
                "GET", path, params=params, headers=headers, follow_redirects=True, timeout=TRANSFER_TIMEOUT
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    _raise_for(response, "GET", path)
                size = 0
                async for chunk in response.aiter_bytes(CHUNK_BYTES):
                    await anyio.to_thread.run_sync(sink.write, chunk)
                    size += len(chunk)
                return size
        except httpx.TransportError as exc:
            raise PlatformUnavailable(f"GET {path}: {type(exc).__name__}: {exc}") from exc

    async def _transfer(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """A call to a presigned URL: no platform bearer, a transfer-sized timeout."""
        try:
            return await self._http.request(method, url, timeout=TRANSFER_TIMEOUT, **kwargs)
        except httpx.TransportError as exc:
            raise PlatformUnavailable(f"{method} presigned URL: {type(exc).__name__}: {exc}") from exc

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str | int] | None = None,
        headers: dict[str, str] | None = None,
        files: Any = None,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if self.auth_token:
            all_headers["Authorization"] = f"Bearer {self.auth_token}"
        try:
            response = await self._http.request(
                method, path, json=json, params=params, headers=all_headers, files=files
            )
        except httpx.TransportError as exc:
            raise PlatformUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        _raise_for(response, method, path)
        return response


async def _chunks(source: BinaryIO) -> AsyncIterator[bytes]:
    while chunk := await anyio.to_thread.run_sync(source.read, CHUNK_BYTES):
        yield chunk


def _parse(model: type[ModelT], response: httpx.Response) -> ModelT:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise PlatformError(f"unexpected answer: {response.text[:200]}") from exc


def _raise_for(response: httpx.Response, method: str, path: str) -> None:
    status = response.status_code
    if status < 400:
        return
    detail = f"{method} {path} → {status} {response.text[:200]}"
    if status == 401:
        raise PlatformUnauthorized(detail, status)
    if status == 410:
        raise CursorGone(detail, status)
    if status >= 500 or status == 429:
        raise PlatformUnavailable(detail, status)
    raise PlatformError(detail, status)
