"""The reference agent's behaviour switches over real HTTP: its ASGI app under uvicorn with the
agent's own protocol class, on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from reference_agent.app import create_app
from reference_agent.credentials import CredentialStore
from reference_agent.state import AgentState

from tests.agents import serve_agent_app

SECRET = "inbound-secret-for-tests"


@pytest.fixture
def state(tmp_path: Path) -> AgentState:
    store = CredentialStore(tmp_path / "config")
    store.save_inbound_secret(SECRET)
    return AgentState(name="echo-agent", credentials=store)


@pytest.fixture
def agent_url(state: AgentState) -> Iterator[str]:
    with serve_agent_app(create_app(state)) as url:
        yield url


def send_message(value: str, request_id: Any = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "message/send",
        "params": {
            "message": {"role": "user", "messageId": f"m-{request_id}", "parts": [{"kind": "text", "text": value}]}
        },
    }


def switch(agent_url: str, **behaviour: Any) -> None:
    response = httpx.post(f"{agent_url}/control", json=behaviour, headers={"Authorization": f"Bearer {SECRET}"})
    assert response.status_code == 200, response.text


def test_normal_echo_over_http(agent_url: str) -> None:
    response = httpx.post(agent_url, json=send_message("hello"))
    assert response.json()["result"]["parts"][0]["text"] == "echo: hello"


def test_slow_answers_only_after_its_delay(agent_url: str) -> None:
    # Given a slow agent
    switch(agent_url, behaviour="slow", delay=2)
    finished: list[str] = []

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=agent_url, timeout=30) as client:

            async def call(name: str) -> None:
                response = await client.post("/", json=send_message(name))
                assert response.json()["result"]["parts"][0]["text"] == f"echo: {name}"
                finished.append(name)

            # When a message is sent, and the agent is switched back to normal while it waits
            slow = asyncio.create_task(call("slow"))
            deadline = asyncio.get_running_loop().time() + 10
            while (await client.get("/health")).json()["active_tasks"] == 0:
                assert asyncio.get_running_loop().time() < deadline, "the slow request never arrived"
            switch_back = await client.post(
                "/control", json={"behaviour": "normal"}, headers={"Authorization": f"Bearer {SECRET}"}
            )
            assert switch_back.status_code == 200
            await call("fast")
            await asyncio.wait_for(slow, timeout=20)

    asyncio.run(scenario())
    # Then a message sent later, to the now normal agent, was answered first
    assert finished == ["fast", "slow"]


def test_fail_answers_a_json_rpc_error(agent_url: str) -> None:
    switch(agent_url, behaviour="fail")
    response = httpx.post(agent_url, json=send_message("hi", request_id="x"))
    assert response.status_code == 200
    assert response.json()["error"]["code"] == -32603
    assert response.json()["id"] == "x"


def test_status_answers_http_503(agent_url: str) -> None:
    switch(agent_url, behaviour="status", status_code=503)
    response = httpx.post(agent_url, json=send_message("hi"))
    assert response.status_code == 503


def test_close_drops_the_connection_without_a_response(agent_url: str) -> None:
    # Given an agent told to hang up
    switch(agent_url, behaviour="close")
    # When a message is sent, then the client gets no response at all
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        httpx.post(agent_url, json=send_message("hi"))
    # And the agent still serves the next connection
    assert httpx.get(f"{agent_url}/health").json()["behaviour"] == "close"


def test_control_over_http_needs_the_inbound_secret(agent_url: str) -> None:
    response = httpx.post(f"{agent_url}/control", json={"behaviour": "fail"}, headers={"Authorization": "Bearer no"})
    assert response.status_code == 401
    assert httpx.get(f"{agent_url}/health").json()["behaviour"] == "normal"
