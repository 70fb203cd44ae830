"""The agent's HTTP client to the platform: register, heartbeat, read the inbox, reply to a peer,
notify the user. Every call carries the workspace bearer once the agent has one. Failures come
back as three kinds the caller can act on: unauthorized (re-register or stop), unavailable
(retry later) and refused (anything else)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
from molecule_core.activity.models import ActivityRow, NotifyRequest
from molecule_core.registry.models import HeartbeatRequest, RegisterRequest, RegisterResponse
from pydantic import TypeAdapter, ValidationError

# SPEC §2: connect 10 s, never an unbounded read.
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_ACTIVITY_ROWS = TypeAdapter(list[ActivityRow])


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

    async def notify(self, request: NotifyRequest) -> None:
        body = request.model_dump(mode="json", exclude_none=True)
        await self._send("POST", f"/workspaces/{self.workspace_id}/notify", json=body)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str | int] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if self.auth_token:
            all_headers["Authorization"] = f"Bearer {self.auth_token}"
        try:
            response = await self._http.request(method, path, json=json, params=params, headers=all_headers)
        except httpx.TransportError as exc:
            raise PlatformUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status < 400:
            return response
        detail = f"{method} {path} → {status} {response.text[:200]}"
        if status == 401:
            raise PlatformUnauthorized(detail, status)
        if status == 410:
            raise CursorGone(detail, status)
        if status >= 500 or status == 429:
            raise PlatformUnavailable(detail, status)
        raise PlatformError(detail, status)
