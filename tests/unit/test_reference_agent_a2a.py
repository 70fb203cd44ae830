"""The reference agent's A2A answers, agent card, control endpoint and heartbeat contents, through
its ASGI app in process (no socket)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from reference_agent import a2a
from reference_agent.app import create_app
from reference_agent.config import Behaviour
from reference_agent.credentials import CredentialStore
from reference_agent.state import AgentState

SECRET = "inbound-secret-for-tests"


@pytest.fixture
def state(tmp_path: Path) -> AgentState:
    return AgentState(name="echo-agent", credentials=CredentialStore(tmp_path / "config"))


@pytest.fixture
def client(state: AgentState) -> Iterator[httpx.Client]:
    yield from _client(state)


def _client(state: AgentState) -> Iterator[httpx.Client]:
    # httpx's sync client cannot drive an ASGI app; a tiny bridge runs each request in asyncio.
    transport = httpx.ASGITransport(app=create_app(state))

    class Bridge(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            async def send() -> httpx.Response:
                response = await transport.handle_async_request(request)
                content = await response.aread()
                return httpx.Response(response.status_code, headers=response.headers, content=content)

            return asyncio.run(send())

    with httpx.Client(transport=Bridge(), base_url="http://agent.test") as client:
        yield client


def send_message(*parts: dict[str, Any], request_id: Any = 1, **message: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "message/send",
        "params": {"message": {"role": "user", "messageId": "m-1", "parts": list(parts), **message}},
    }


def text(value: str) -> dict[str, str]:
    return {"kind": "text", "text": value}


# --- A2A -----------------------------------------------------------------------------------------


def test_message_send_is_answered_with_an_echo_message(client: httpx.Client) -> None:
    response = client.post("/", json=send_message(text("hello"), request_id="req-7"))

    assert response.status_code == 200
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] == "req-7"
    result = body["result"]
    assert result["kind"] == "message" and result["role"] == "agent"
    assert result["parts"] == [{"kind": "text", "text": "echo: hello"}]
    assert uuid.UUID(result["messageId"])
    assert "contextId" not in result


def test_all_text_parts_are_echoed_joined_with_a_space(client: httpx.Client) -> None:
    message = send_message(
        text("one"), {"kind": "file", "file": {"uri": "https://x.test/f"}}, {"type": "text", "text": "two"}
    )
    result = client.post("/", json=message).json()["result"]
    assert result["parts"] == [{"kind": "text", "text": "echo: one two"}]


def test_the_context_id_is_echoed(client: httpx.Client) -> None:
    result = client.post("/", json=send_message(text("hi"), contextId="ctx-42")).json()["result"]
    assert result["contextId"] == "ctx-42"


def test_the_a2a_path_answers_like_the_root(client: httpx.Client) -> None:
    result = client.post("/a2a", json=send_message(text("hi"))).json()["result"]
    assert result["parts"][0]["text"] == "echo: hi"


def test_an_unknown_method_is_a_json_rpc_method_not_found_error(client: httpx.Client) -> None:
    body = client.post("/", json={"jsonrpc": "2.0", "id": 9, "method": "tasks/cancel", "params": {}}).json()
    assert body["id"] == 9
    assert body["error"]["code"] == -32601


def test_malformed_json_is_a_json_rpc_parse_error(client: httpx.Client) -> None:
    body = client.post(
        "/", content=b'{"jsonrpc": "2.0", "id": 1, "method":', headers={"content-type": "application/json"}
    ).json()
    assert body == {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": body["error"]["message"]}}


def test_a_message_send_without_a_message_is_invalid_params(client: httpx.Client) -> None:
    body = client.post("/", json={"jsonrpc": "2.0", "id": 3, "method": "message/send", "params": {}}).json()
    assert body["error"]["code"] == -32602


def test_the_agent_card_names_the_agent_and_its_url(client: httpx.Client, state: AgentState) -> None:
    card = client.get("/.well-known/agent.json").json()
    assert card["name"] == "echo-agent"
    assert card["url"] == "http://agent.test"
    assert card["capabilities"]["streaming"] is False
    assert card["skills"][0]["id"] == "echo"

    state.card_url = "http://127.0.0.1:9999"
    assert client.get("/.well-known/agent.json").json()["url"] == "http://127.0.0.1:9999"


# --- behaviour switches (the HTTP-level ones are in tests/integration) -----------------------------


def test_fail_answers_a_json_rpc_error_with_the_request_id(client: httpx.Client, state: AgentState) -> None:
    state.behaviour = Behaviour(behaviour="fail")
    response = client.post("/", json=send_message(text("hi"), request_id="r-1"))
    assert response.status_code == 200
    assert response.json()["id"] == "r-1"
    assert response.json()["error"]["code"] == -32603


def test_status_answers_the_configured_http_status(client: httpx.Client, state: AgentState) -> None:
    state.behaviour = Behaviour(behaviour="status", status_code=503)
    response = client.post("/", json=send_message(text("hi")))
    assert response.status_code == 503
    assert "error" in response.json()


def test_a_request_in_flight_counts_as_an_active_task(state: AgentState) -> None:
    # Given a slow agent
    state.behaviour = Behaviour(behaviour="slow", delay=30)
    app = create_app(state)

    async def scenario() -> tuple[int, str, int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://agent.test") as c:
            # When a message is in flight
            request = asyncio.create_task(c.post("/", json=send_message(text("long job"))))
            for _ in range(1000):  # bounded: yield to the app until it has started the request
                if state.active_tasks:
                    break
                await asyncio.sleep(0)
            during = (state.active_tasks, state.current_task)
            request.cancel()
            await asyncio.gather(request, return_exceptions=True)
            return during[0], during[1], state.active_tasks

    active, current, after = asyncio.run(scenario())
    # Then the heartbeat would report it, and not after it ended
    assert (active, current) == (1, "long job")
    assert after == 0


def test_the_heartbeat_reports_failures_in_the_error_rate(state: AgentState) -> None:
    workspace_id = uuid.uuid4()
    assert state.heartbeat(workspace_id).error_rate == 0.0
    state.record_outcome(True)
    state.record_outcome(False)

    heartbeat = state.heartbeat(workspace_id)

    assert heartbeat.workspace_id == workspace_id
    assert heartbeat.error_rate == 0.5
    assert heartbeat.active_tasks == 0
    assert heartbeat.runtime_state == "ok"
    assert json.loads(heartbeat.model_dump_json(exclude_none=True)).keys() >= {
        "workspace_id",
        "error_rate",
        "active_tasks",
        "uptime_seconds",
        "current_task",
        "runtime_state",
    }


# --- control endpoint ----------------------------------------------------------------------------


def test_control_fails_closed_while_no_inbound_secret_is_stored(client: httpx.Client, state: AgentState) -> None:
    response = client.post("/control", json={"behaviour": "fail"}, headers={"Authorization": "Bearer anything"})
    assert response.status_code == 401
    assert state.behaviour.behaviour == "normal"


def test_control_with_a_wrong_bearer_is_401(client: httpx.Client, state: AgentState) -> None:
    state.credentials.save_inbound_secret(SECRET)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {SECRET}"}):
        assert client.post("/control", json={"behaviour": "fail"}, headers=headers).status_code == 401
    assert state.behaviour.behaviour == "normal"


def test_control_with_the_inbound_secret_switches_the_behaviour(client: httpx.Client, state: AgentState) -> None:
    state.credentials.save_inbound_secret(SECRET)
    response = client.post(
        "/control",
        json={"behaviour": "status", "status_code": 502},
        headers={"Authorization": f"bearer {SECRET}"},
    )
    assert response.status_code == 200
    assert response.json() == {"behaviour": "status", "delay": 5.0, "status_code": 502}
    assert client.post("/", json=send_message(text("hi"))).status_code == 502


def test_control_rejects_an_unknown_behaviour_with_400(client: httpx.Client, state: AgentState) -> None:
    state.credentials.save_inbound_secret(SECRET)
    response = client.post("/control", json={"behaviour": "explode"}, headers={"Authorization": f"Bearer {SECRET}"})
    assert response.status_code == 400
    assert "behaviour" in response.json()["error"]


# --- pure helpers used by the poll-mode inbox ------------------------------------------------------


def test_an_echo_request_carries_the_echo_and_the_context() -> None:
    request = a2a.echo_request("hi", "ctx-1")
    assert request["method"] == "message/send"
    message = request["params"]["message"]
    assert message["parts"] == [{"kind": "text", "text": "echo: hi"}]
    assert message["contextId"] == "ctx-1"


def test_an_echo_is_recognised_so_two_agents_never_ping_pong() -> None:
    assert a2a.is_echo("echo: hi")
    assert not a2a.is_echo("hi")
