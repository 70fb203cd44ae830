"""The reference agent as a real process (`python -m reference_agent run`) against a fake platform:
a small HTTP server on 127.0.0.1 that implements the agent-facing contract of SPEC §5.2, §5.3 and
§5.6 (register, heartbeat, activity with since_id/410 answering the shared `ActivityRow` shape, A2A
proxy, notify) and records every request. It stands in until the real registry functions exist;
the e2e suite runs the agent against the real platform."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import stat
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from molecule_core.activity.models import ActivityData, ActivityRow

T = TypeVar("T")
_AGENT_ENV = (
    "WORKSPACE_ID",
    "PLATFORM_URL",
    "MOLECULE_AUTH_TOKEN",
    "PLATFORM_INBOUND_SECRET",
    "PARENT_ID",
    "AGENT_PORT",
    "AGENT_CONFIG_DIR",
    "AGENT_BEHAVIOUR",
    "AGENT_DELAY_SECONDS",
    "AGENT_STATUS_CODE",
    "AGENT_HOST",
    "AGENT_PUBLIC_URL",
    "AGENT_DELIVERY_MODE",
)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any

    @property
    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value.split(" ", 1)[1] if value.lower().startswith("bearer ") else None


@dataclass
class FakePlatform:
    workspace_id: str
    live_tokens: set[str] = field(default_factory=set)
    inbound_secret: str | None = "inbound-secret-1"
    register_failures: int = 0  # answer 503 to this many registers first
    inbox: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    minted: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    # --- what tests call -------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], T], what: str, timeout: float = 15) -> T:
        with self.changed:
            result = self.changed.wait_for(predicate, timeout=timeout)
        assert result, f"timed out waiting for {what}; requests: {[(r.method, r.path, r.query) for r in self.requests]}"
        return result

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def add_row(self, text: str, *, source_id: str | None, method: str = "message/send", **message: Any) -> str:
        row_id = str(uuid.uuid4())
        request = {
            "jsonrpc": "2.0",
            "id": "1",
            "method": method,
            "params": {
                "message": {"role": "user", "messageId": row_id, "parts": [{"kind": "text", "text": text}], **message}
            },
        }
        now = datetime.now(UTC)
        row = ActivityRow(
            id=row_id,
            workspace_id=self.workspace_id,
            activity_type="a2a_receive",
            type="a2a_receive",
            source_id=source_id,
            target_id=self.workspace_id,
            method=method,
            summary=None,
            request_body=request,
            response_body=None,
            tool_trace=None,
            duration_ms=None,
            status="queued",
            error_detail=None,
            created_at=now,
            ts=now,
            data=ActivityData(
                source="peer_agent" if source_id else "canvas_user",
                kind=method,
                text=text,
                peer_id=source_id,
                activity_id=row_id,
                peer_name=None,
                peer_role=None,
                agent_card_url=None,
            ),
        ).model_dump(mode="json")
        with self.changed:
            self.inbox.append(row)
        return row_id

    def prune_inbox_and_add(self, text: str, *, source_id: str) -> str:
        """Forget every row (a cursor on them becomes 410) and hold one new row, in one step."""
        with self.changed:
            self.inbox.clear()
            return self.add_row(text, source_id=source_id)

    def revoke_all_tokens(self) -> None:
        with self.changed:
            self.live_tokens.clear()

    # --- the fake routes -------------------------------------------------------------------------

    def handle(self, call: Recorded) -> tuple[int, Any]:
        workspace_path = f"/workspaces/{self.workspace_id}"
        if call.path == "/registry/register":
            return self._register(call)
        if not self._authorised(call):
            return 401, {"error": "invalid workspace auth token"}
        if call.path == "/registry/heartbeat":
            return 200, {"status": "ok"}
        if call.method == "GET" and call.path == f"{workspace_path}/activity":
            return self._activity(call.query)
        if call.method == "POST" and call.path == f"{workspace_path}/notify":
            return 200, {"status": "sent"}
        if call.method == "POST" and call.path.endswith("/a2a"):
            return 200, {"jsonrpc": "2.0", "id": call.body.get("id"), "result": {"kind": "message", "parts": []}}
        return 404, {"error": "not found"}

    def _authorised(self, call: Recorded) -> bool:
        return call.bearer in self.live_tokens

    def _register(self, call: Recorded) -> tuple[int, Any]:
        if self.register_failures > 0:
            self.register_failures -= 1
            return 503, {"error": "platform datastore unavailable — retry shortly"}
        if call.body.get("id") != self.workspace_id:
            return 404, {"error": "workspace not found"}
        response: dict[str, Any] = {"status": "registered", "workspace_id": self.workspace_id}
        if self.live_tokens:
            if not self._authorised(call):
                return 401, {"error": "invalid workspace auth token"}
        else:  # first boot, or every token revoked: mint one
            token = f"token-{len(self.minted) + 1}-{secrets.token_hex(4)}"
            self.minted.append(token)
            self.live_tokens.add(token)
            response["auth_token"] = token
        url = call.body.get("url") or ""
        response["delivery_mode"] = call.body.get("delivery_mode") or ("push" if url.startswith("http") else "poll")
        if self.inbound_secret:
            response["platform_inbound_secret"] = self.inbound_secret
        return 200, response

    def _activity(self, query: dict[str, str]) -> tuple[int, Any]:
        rows = [r for r in self.inbox if query.get("type") in (None, r["type"])]
        if "since_id" in query:
            ids = [r["id"] for r in rows]
            if query["since_id"] not in ids:
                return 410, {"error": "cursor not found"}
            return 200, rows[ids.index(query["since_id"]) + 1 :]
        if "since_secs" in query:
            return 200, rows  # oldest first; every fake row is recent
        return 200, list(reversed(rows))[: int(query.get("limit", 100))]  # the recent feed: newest first


@contextmanager
def serving(platform: FakePlatform) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            call = Recorded(
                method=self.command,
                path=parts.path,
                query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                headers={k.lower(): v for k, v in self.headers.items()},
                body=json.loads(raw) if raw else None,
            )
            with platform.changed:
                status, body = platform.handle(call)
                platform.requests.append(call)
                platform.changed.notify_all()
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dataclass
class Agent:
    process: subprocess.Popen[bytes]
    log_path: Path
    config_dir: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=20)


@pytest.fixture
def workspace_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def platform(workspace_id: str) -> FakePlatform:
    return FakePlatform(workspace_id=workspace_id)


@pytest.fixture
def platform_url(platform: FakePlatform) -> Iterator[str]:
    with serving(platform) as url:
        yield url


@pytest.fixture
def start_agent(tmp_path: Path, workspace_id: str) -> Iterator[Callable[..., Agent]]:
    started: list[Agent] = []

    def start(platform_url: str, *args: str, **env: str) -> Agent:
        config_dir = tmp_path / "config"
        log_path = tmp_path / f"agent-{len(started)}.log"
        environ = {k: v for k, v in os.environ.items() if k not in _AGENT_ENV} | env
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable, "-m", "reference_agent", "run",
                    "--platform-url", platform_url, "--workspace-id", workspace_id,
                    "--config-dir", str(config_dir), "--heartbeat-interval", "0.2", "--poll-interval", "0.1",
                    "--register-backoff", "0.05", *args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environ,
                cwd=tmp_path,  # the agent must not depend on being started from the repo
            )  # fmt: skip
        agent = Agent(process, log_path, config_dir)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        if agent.process.poll() is None:
            agent.process.kill()
            agent.process.wait(timeout=10)


def private_file(path: Path) -> str:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path.name} is not 0600"
    return path.read_text()


# --- push mode -----------------------------------------------------------------------------------


def test_push_agent_registers_its_url_keeps_its_credentials_heartbeats_and_stops_on_sigterm(
    platform: FakePlatform, platform_url: str, start_agent: Callable[..., Agent], workspace_id: str
) -> None:
    # When the agent starts on first boot (no token yet)
    agent = start_agent(platform_url, "--name", "echo-one")

    # Then it registers its own URL in push mode, without a bearer
    register = platform.wait_for(lambda: platform.calls("POST", "/registry/register"), "register")[0]
    assert register.bearer is None
    assert register.body["id"] == workspace_id
    assert register.body["delivery_mode"] == "push"
    assert register.body["url"].startswith("http://127.0.0.1:")
    assert register.body["agent_card"]["name"] == "echo-one"
    assert register.body["agent_card"]["url"] == register.body["url"]

    # And it heartbeats with the minted token
    heartbeats = platform.wait_for(lambda: platform.calls("POST", "/registry/heartbeat")[1:], "two heartbeats")
    token = platform.minted[0]
    assert all(h.bearer == token for h in heartbeats)
    assert heartbeats[0].body["workspace_id"] == workspace_id
    assert heartbeats[0].body.keys() >= {
        "error_rate",
        "active_tasks",
        "uptime_seconds",
        "current_task",
        "runtime_state",
    }
    assert heartbeats[0].body["active_tasks"] == 0

    # And it keeps both credentials in private files
    assert private_file(agent.config_dir / ".auth_token") == token
    assert private_file(agent.config_dir / ".platform_inbound_secret") == platform.inbound_secret

    # And it answers A2A on the URL it registered, and obeys control with the stored secret
    url = register.body["url"]
    echo = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "message/send",
                                 "params": {"message": {"parts": [{"kind": "text", "text": "ping"}]}}})  # fmt: skip
    assert echo.json()["result"]["parts"][0]["text"] == "echo: ping"
    control = httpx.post(f"{url}/control", json={"behaviour": "fail"},
                         headers={"Authorization": f"Bearer {platform.inbound_secret}"})  # fmt: skip
    assert control.status_code == 200

    # When it gets SIGTERM, then it exits 0
    assert agent.stop() == 0, agent.log()


def test_injected_credentials_are_used_and_kept(
    platform: FakePlatform, platform_url: str, start_agent: Callable[..., Agent]
) -> None:
    # Given a workspace provisioned with a token and an inbound secret, and a register answer
    # without a secret (the platform's lazy heal failed)
    platform.live_tokens.add("provisioned-token")
    platform.inbound_secret = None

    agent = start_agent(
        platform_url, MOLECULE_AUTH_TOKEN="provisioned-token", PLATFORM_INBOUND_SECRET="provisioned-secret"
    )

    register = platform.wait_for(lambda: platform.calls("POST", "/registry/register"), "register")[0]
    assert register.bearer == "provisioned-token"
    platform.wait_for(lambda: platform.calls("POST", "/registry/heartbeat"), "a heartbeat")
    assert private_file(agent.config_dir / ".auth_token") == "provisioned-token"
    assert private_file(agent.config_dir / ".platform_inbound_secret") == "provisioned-secret"
    assert platform.minted == []
    assert agent.stop() == 0, agent.log()


def test_register_retries_while_the_platform_is_unavailable(
    platform: FakePlatform, platform_url: str, start_agent: Callable[..., Agent]
) -> None:
    platform.register_failures = 2

    agent = start_agent(platform_url)

    platform.wait_for(lambda: platform.calls("POST", "/registry/heartbeat"), "a heartbeat after registering")
    assert len(platform.calls("POST", "/registry/register")) == 3
    assert agent.stop() == 0, agent.log()


def test_register_gives_up_after_its_attempts_when_the_platform_is_unreachable(
    start_agent: Callable[..., Agent],
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    agent = start_agent(f"http://127.0.0.1:{port}", "--register-attempts", "3")

    assert agent.process.wait(timeout=30) == 1
    assert "register failed 3 times" in agent.log()


def test_a_wrong_token_at_register_stops_the_agent_with_an_error(
    platform: FakePlatform, platform_url: str, start_agent: Callable[..., Agent]
) -> None:
    platform.live_tokens.add("the-real-token")

    agent = start_agent(platform_url, "--token", "a-wrong-token")

    assert agent.process.wait(timeout=30) == 1
    assert "register refused" in agent.log()
    assert platform.calls("POST", "/registry/heartbeat") == []


def test_a_401_on_heartbeat_registers_again_and_continues_with_the_new_token(
    platform: FakePlatform, platform_url: str, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(platform_url)
    platform.wait_for(lambda: platform.calls("POST", "/registry/heartbeat"), "a heartbeat")

    # When every token of the workspace is revoked
    platform.revoke_all_tokens()

    # Then the agent registers again, gets a new token, and heartbeats with it
    platform.wait_for(lambda: len(platform.minted) == 2, "a second register")
    new_token = platform.minted[1]
    platform.wait_for(
        lambda: [h for h in platform.calls("POST", "/registry/heartbeat") if h.bearer == new_token],
        "a heartbeat with the new token",
    )
    assert private_file(agent.config_dir / ".auth_token") == new_token
    assert len(platform.calls("POST", "/registry/register")) == 2
    assert agent.stop() == 0, agent.log()


# --- poll mode -----------------------------------------------------------------------------------


def test_poll_agent_registers_without_an_inbound_url(
    platform: FakePlatform, platform_url: str, start_agent: Callable[..., Agent]
) -> None:
    agent = start_agent(platform_url, "--mode", "poll")

    register = platform.wait_for(lambda: platform.calls("POST", "/registry/register"), "register")[0]
    assert register.body["url"] == "remote://no-inbound"
    assert register.body["delivery_mode"] == "poll"
    platform.wait_for(lambda: platform.calls("POST", "/registry/heartbeat")[1:], "two heartbeats")
    assert private_file(agent.config_dir / ".auth_token") == platform.minted[0]
    assert agent.stop() == 0, agent.log()


def test_poll_agent_follows_its_inbox_with_since_id_and_answers_each_sender(
    platform: FakePlatform, platform_url: str, start_agent: Callable[..., Agent], workspace_id: str
) -> None:
    peer = str(uuid.uuid4())
    activity = f"/workspaces/{workspace_id}/activity"
    replies = lambda: platform.calls("POST", f"/workspaces/{peer}/a2a")  # noqa: E731
    notes = lambda: platform.calls("POST", f"/workspaces/{workspace_id}/notify")  # noqa: E731
    agent = start_agent(platform_url, "--mode", "poll")
    platform.wait_for(lambda: platform.calls("GET", activity), "a first inbox read")

    # When a peer sends a message
    first = platform.add_row("hello", source_id=peer, contextId="ctx-1")

    # Then the agent answers the peer through the A2A proxy, as itself
    reply = platform.wait_for(replies, "the reply to the peer")[0]
    assert reply.headers["x-source-workspace-id"] == workspace_id
    assert reply.bearer == platform.minted[0]
    assert reply.body["method"] == "message/send"
    assert reply.body["params"]["message"]["parts"] == [{"kind": "text", "text": "echo: hello"}]
    assert reply.body["params"]["message"]["contextId"] == "ctx-1"

    # When the user sends one, then the agent answers through notify
    second = platform.add_row("from the canvas", source_id=None)
    assert platform.wait_for(notes, "a notify")[0].body == {"message": "echo: from the canvas"}

    # And it reads on from its cursor, skipping its own notify rows and echoes (no ping-pong)
    platform.add_row("echo: from the canvas", source_id=None, method="notify")
    platform.add_row("echo: a peer's echo", source_id=peer)
    last = platform.add_row("again", source_id=peer)
    platform.wait_for(lambda: replies()[1:], "the reply to the third message")
    cursors = [c.query.get("since_id") for c in platform.calls("GET", activity)]
    assert first in cursors and second in cursors
    assert [r.body["params"]["message"]["parts"][0]["text"] for r in replies()] == ["echo: hello", "echo: again"]
    assert len(notes()) == 1

    # When the platform no longer knows the cursor (410), the agent continues from the newest row
    platform.wait_for(lambda: any(c.query.get("since_id") == last for c in platform.calls("GET", activity)), "cursor")
    newest = platform.prune_inbox_and_add("sent before the reset", source_id=peer)
    platform.wait_for(lambda: any(c.query.get("since_id") == newest for c in platform.calls("GET", activity)),
                      "the cursor restarting at the newest row")  # fmt: skip
    platform.add_row("after the reset", source_id=peer)
    platform.wait_for(lambda: replies()[2:], "the reply after the reset")
    texts = [r.body["params"]["message"]["parts"][0]["text"] for r in replies()]
    assert texts == ["echo: hello", "echo: again", "echo: after the reset"]

    assert agent.stop() == 0, agent.log()
