"""The `controlplane` backend: agents run wherever a control plane puts them (the SaaS fleet); the
platform asks it over HTTP at CONTROLPLANE_URL, with `Authorization: Bearer CONTROLPLANE_TOKEN` when
a token is set.

    POST   /cp/workspaces               {workspace_id, name, runtime, tier, env} → {instance_id}
    DELETE /cp/workspaces/{id}          404 = already gone
    GET    /cp/workspaces/{id}/status   {running: bool} or {state: "running" | …}

`is_running` is what tells a dead agent from a busy one (the history's CP `IsRunning` fix): it
answers only from what the control plane says, and raises `ProvisionError` when it cannot ask, so
the caller never mistakes "could not ask" for "dead".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx
from pydantic import ConfigDict, ValidationError

from molecule_core.platform import aws
from molecule_core.platform.models import WireModel
from molecule_core.platform.settings import get_settings
from molecule_core.provisioning.backends.base import AgentSpec, ProvisionError

# SPEC §2: connect 10 s, never an unbounded read. Starting an agent is asynchronous on the control
# plane's side, so every call should answer well within the read limit.
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_EXCERPT_CHARS = 200


class ControlPlaneStartRequest(WireModel):
    workspace_id: UUID
    name: str
    runtime: str
    tier: int
    env: dict[str, str]


class ControlPlaneStartResponse(WireModel):
    model_config = ConfigDict(extra="ignore")

    instance_id: str | None = None


class ControlPlaneStatus(WireModel):
    model_config = ConfigDict(extra="ignore")

    running: bool | None = None
    state: str | None = None

    def is_running(self) -> bool:
        if self.running is not None:
            return self.running
        if self.state is not None:
            return self.state.strip().lower() == "running"
        raise ValueError("the status answer has neither `running` nor `state`")


class ControlPlaneProvisioner:
    name = "controlplane"

    def __init__(
        self,
        base_url: str,
        token: str | Callable[[], str | None] | None = None,
        *,
        timeout: httpx.Timeout = TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # A fixed token, or a function that reads the current one (a Secrets Manager secret, so a
        # rotation is picked up without a restart).
        self._token: Callable[[], str | None] = token if callable(token) else (lambda: token)
        self._timeout = timeout
        self._transport = transport
        self._http: httpx.Client | None = None
        self._http_lock = threading.Lock()

    @classmethod
    def from_settings(cls) -> ControlPlaneProvisioner:
        settings = get_settings()
        url = (settings.controlplane_url or "").strip()
        if not url:
            raise ProvisionError("CONTROLPLANE_URL is not set")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ProvisionError(f"CONTROLPLANE_URL {url!r} is not an http(s) URL")
        arn = settings.controlplane_token_secret_arn
        if arn:
            return cls(url, lambda: aws.secret_value(arn).strip() or None)
        return cls(url, (settings.controlplane_token or "").strip() or None)

    def _bearer(self, request: httpx.Request) -> httpx.Request:
        token = self._token()
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        return request

    @property
    def http(self) -> httpx.Client:
        # One client (and connection pool) per execution environment; httpx.Client is thread-safe.
        with self._http_lock:
            if self._http is None:
                self._http = httpx.Client(
                    base_url=self.base_url, auth=self._bearer, timeout=self._timeout, transport=self._transport
                )
            return self._http

    def close(self) -> None:
        with self._http_lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def start(self, spec: AgentSpec) -> str:
        request = ControlPlaneStartRequest(
            workspace_id=spec.workspace_id, name=spec.name, runtime=spec.runtime, tier=spec.tier, env=spec.env
        )
        response = self._send("POST", "/cp/workspaces", body=request.model_dump(mode="json"))
        self._raise_for_status("start", response)
        try:
            answer = ControlPlaneStartResponse.model_validate_json(response.content)
        except ValidationError:
            answer = ControlPlaneStartResponse()  # a 2xx without a JSON body: the start was accepted
        # A control plane that keys agents by workspace gives no separate handle.
        return answer.instance_id or str(spec.workspace_id)

    def stop(self, workspace_id: UUID, instance_id: str | None) -> None:
        response = self._send("DELETE", f"/cp/workspaces/{workspace_id}")
        if response.status_code == httpx.codes.NOT_FOUND:
            return  # already gone
        self._raise_for_status("stop", response)

    def is_running(self, workspace_id: UUID, instance_id: str | None) -> bool:
        response = self._send("GET", f"/cp/workspaces/{workspace_id}/status")
        if response.status_code == httpx.codes.NOT_FOUND:
            return False  # the control plane has no agent for this workspace
        self._raise_for_status("status", response)
        try:
            return ControlPlaneStatus.model_validate_json(response.content).is_running()
        except ValueError as exc:  # pydantic's ValidationError included
            raise ProvisionError(
                f"control plane status for {workspace_id}: unexpected answer {_excerpt(response)!r}"
            ) from exc

    def _send(self, method: str, path: str, *, body: Any = None) -> httpx.Response:
        try:
            return self.http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ProvisionError(
                f"control plane unreachable ({method} {self.base_url}{path}): {type(exc).__name__}: {exc}"
            ) from exc

    def _raise_for_status(self, action: str, response: httpx.Response) -> None:
        if response.is_success:
            return
        request = response.request
        raise ProvisionError(
            f"control plane {action} failed: {request.method} {request.url.path} → {response.status_code} "
            f"{_excerpt(response)}".rstrip()
        )


def _excerpt(response: httpx.Response) -> str:
    """A short, one-line piece of the body for an operator's error message."""
    try:
        text = json.dumps(response.json(), separators=(",", ":"))
    except ValueError:
        text = response.text
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "…"
