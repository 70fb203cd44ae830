"""A2A versions in the proxy and the queue's drain, in process (SPEC §5.4 step 8, §5.5): refusals
before anything is forwarded, the header a 1.0 agent needs, outcomes read from the body, transient
and permanent JSON-RPC errors in the drain, the stream budget, the agent card route. Real
PostgreSQL, scripted agents and a2a-sdk agents on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import psycopg
import pytest
from molecule_core.a2a import bridge, queue
from molecule_core.a2a.service import DrainRetry
from psycopg.rows import dict_row

from tests.a2a_sdk_agents import sdk_agent
from tests.agents import ScriptedAgent
from tests.conftest import ApiClient, create_workspace, set_env

V10_SEND = {"jsonrpc": "2.0", "id": "r1", "method": "SendMessage",
            "params": {"message": {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}}}  # fmt: skip


def _push(api: ApiClient, admin: str, url: str, card: dict[str, Any] | None = None) -> dict[str, Any]:
    created = create_workspace(api, admin, name="target", external=True)
    registered = api.post(
        "/registry/register",
        json_body={"id": created["id"], "url": url, "agent_card": card or {"name": "t"}, "delivery_mode": "push"},
        token=created["connection"]["auth_token"],
    )
    assert registered.status == 200, registered.text
    return created


def _rows(database: str, statement: str, *args: Any) -> list[dict[str, Any]]:
    with psycopg.connect(database, row_factory=dict_row) as conn:
        return conn.execute(statement, args).fetchall()


def _receipt(database: str, workspace_id: str) -> dict[str, Any]:
    return _rows(
        database,
        "SELECT * FROM activity_logs WHERE workspace_id = %s AND activity_type = 'a2a_receive' ORDER BY seq DESC",
        workspace_id,
    )[0]


def test_a_header_that_contradicts_the_method_is_a_json_rpc_error_and_reaches_no_agent(
    api: ApiClient, dev: str, agent: ScriptedAgent
) -> None:
    target = _push(api, dev, agent.url)
    v03 = {"jsonrpc": "2.0", "id": 4, "method": "message/send",
           "params": {"message": {"role": "user", "parts": [{"kind": "text", "text": "x"}]}}}  # fmt: skip
    result = api.post(f"/workspaces/{target['id']}/a2a", json_body=v03, token=dev, headers={"A2A-Version": "1.0"})
    assert result.status == 400
    assert result.json()["error"]["code"] == -32009 and result.json()["id"] == 4
    assert agent.received == []


@pytest.mark.parametrize("header", ["A2A-Version", "A2A-Extensions", "X-A2A-Extensions"])
def test_a_forwarded_header_that_is_not_visible_ascii_is_400_naming_it_and_reaches_no_agent(
    api: ApiClient, dev: str, agent: ScriptedAgent, header: str
) -> None:
    # A value no HTTP client could put on the wire to the agent (UnicodeEncodeError: a 500 before).
    target = _push(api, dev, agent.url)
    message = {"role": "user", "messageId": "m", "parts": [{"kind": "text", "text": "x"}]}
    v03 = {"jsonrpc": "2.0", "id": 5, "method": "message/send", "params": {"message": message}}

    results = [
        api.post(f"/workspaces/{target['id']}/a2a", json_body=v03, token=dev, headers={header: value})
        for value in ("urn:\u20ac", "urn:\u00fc", "urn:a\tb")
    ]

    assert [r.status for r in results] == [400, 400, 400], [r.text for r in results]
    assert {r.json().get("field") for r in results} == {header.lower()}
    assert agent.received == []


def test_a_1_0_send_in_the_0_3_content_shape_is_refused_before_the_agent(
    api: ApiClient, dev: str, agent: ScriptedAgent
) -> None:
    target = _push(api, dev, agent.url)
    old = {**V10_SEND, "params": {"message": {"messageId": "m", "role": "ROLE_USER", "content": "old"}}}
    result = api.post(f"/workspaces/{target['id']}/a2a", json_body=old, token=dev)
    assert result.status == 400
    assert result.json()["error"]["code"] == -32602
    assert agent.received == []


def test_a_1_0_send_to_an_agent_of_unknown_version_is_forwarded_as_is_with_its_version_header(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str
) -> None:
    target = _push(api, dev, agent.url)  # its card says nothing about versions
    agent.raw_body = (
        b'{"jsonrpc":"2.0","id":"r1","result":{"message":{"messageId":"a","role":"ROLE_AGENT","parts":[]}}}'
    )
    result = api.post(f"/workspaces/{target['id']}/a2a", json_body=V10_SEND, token=dev)  # no header sent
    assert result.status == 200 and result.body == agent.raw_body
    (forwarded,) = agent.received
    assert forwarded.json() == V10_SEND
    assert forwarded.headers["a2a-version"] == "1.0"  # a 1.x agent reads a missing header as 0.3
    receipt = _receipt(database, target["id"])
    assert (receipt["protocol_version"], receipt["idempotency_key"], receipt["summary"]) == ("1.0", "m-1", "hi")


def test_a_json_rpc_error_inside_http_200_is_recorded_as_an_error(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str
) -> None:
    target = _push(api, dev, agent.url)
    agent.raw_body = b'{"jsonrpc":"2.0","id":"r1","error":{"code":-32009,"message":"A2A version not supported"}}'
    result = api.post(f"/workspaces/{target['id']}/a2a", json_body=V10_SEND, token=dev)
    assert result.status == 200 and result.body == agent.raw_body  # relayed as the agent answered
    receipt = _receipt(database, target["id"])
    assert receipt["status"] == "error"
    assert receipt["error_detail"] == "agent answered JSON-RPC error -32009: A2A version not supported"


def test_without_the_sdk_a_call_that_needs_bridging_is_refused_clearly(
    api: ApiClient, dev: str, agent: ScriptedAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bridge, "is_sdk_installed", lambda: False)  # a platform deployed without a2a-sdk
    target = _push(api, dev, agent.url, card={"name": "old", "url": agent.url, "protocolVersion": "0.3.0"})
    result = api.post(f"/workspaces/{target['id']}/a2a", json_body=V10_SEND, token=dev)
    assert result.status == 400
    error = result.json()["error"]
    assert error["code"] == -32009
    assert "the agent speaks A2A 0.3" in error["message"] and "no A2A bridge installed" in error["message"]
    assert agent.received == []


# --- the drain -------------------------------------------------------------------------------------------


def _enqueue_v10(target: dict[str, Any]) -> uuid.UUID:
    return queue.enqueue(
        uuid.UUID(target["id"]),
        None,
        V10_SEND,
        "SendMessage",
        "m-1",
        None,
        protocol_version="1.0",
        forwarded_headers={"A2A-Version": "1.0", "A2A-Extensions": "urn:x"},
    ).queue_id


def test_the_drain_sends_a_queued_1_0_message_with_its_version_and_headers(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str
) -> None:
    target = _push(api, dev, agent.url)
    agent.raw_body = (
        b'{"jsonrpc":"2.0","id":"r1","result":{"message":{"messageId":"a","role":"ROLE_AGENT","parts":[]}}}'
    )
    queue_id = _enqueue_v10(target)

    queue.drain_record(queue_id)

    (delivered,) = agent.received
    assert (delivered.headers["a2a-version"], delivered.headers["a2a-extensions"]) == ("1.0", "urn:x")
    assert delivered.json() == V10_SEND
    (row,) = _rows(database, "SELECT status, protocol_version FROM a2a_queue WHERE id = %s", queue_id)
    assert row == {"status": "completed", "protocol_version": "1.0"}
    assert _receipt(database, target["id"])["protocol_version"] == "1.0"


def test_a_transient_json_rpc_error_puts_the_row_back_for_another_delivery(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str
) -> None:
    target = _push(api, dev, agent.url)
    agent.raw_body = b'{"jsonrpc":"2.0","id":"r1","error":{"code":-32603,"message":"try later"}}'
    queue_id = _enqueue_v10(target)

    with pytest.raises(DrainRetry):
        queue.drain_record(queue_id)

    (row,) = _rows(database, "SELECT status, last_error FROM a2a_queue WHERE id = %s", queue_id)
    assert row == {"status": "queued", "last_error": "agent answered JSON-RPC error -32603: try later"}


def test_a_permanent_json_rpc_error_fails_the_row_at_once_with_the_answer(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str
) -> None:
    target = _push(api, dev, agent.url)
    agent.raw_body = b'{"jsonrpc":"2.0","id":"r1","error":{"code":-32602,"message":"Validation failed"}}'
    queue_id = _enqueue_v10(target)

    queue.drain_record(queue_id)  # no retry asked

    (row,) = _rows(database, "SELECT status, attempts, response_body FROM a2a_queue WHERE id = %s", queue_id)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["response_body"]["error"]["code"] == -32602
    assert _receipt(database, target["id"])["status"] == "error"
    status = api.get(f"/workspaces/{target['id']}/a2a/queue/{queue_id}", token=dev).json()
    assert status["status"] == "failed" and status["response_body"]["error"]["code"] == -32602


# --- streams ---------------------------------------------------------------------------------------------


def test_a_stream_that_outlives_its_budget_ends_with_a_json_rpc_error_event(
    api: ApiClient, dev: str, database: str, platform_env: pytest.MonkeyPatch
) -> None:
    set_env(platform_env, A2A_STREAM_TIMEOUT_SECONDS="1")
    with sdk_agent(("1.0",), "task") as agent:
        agent.hold = threading.Event()  # the agent stops after `working` and never resumes in time
        target = _push(api, dev, agent.url, card=agent.card())
        stream = {**V10_SEND, "method": "SendStreamingMessage"}
        result = api.post(f"/workspaces/{target['id']}/a2a", json_body=stream, token=dev)
        agent.hold.set()
    assert result.status == 200 and result.headers["content-type"].startswith("text/event-stream")
    blocks = [block for block in result.text.split("\n\n") if block]
    assert json.loads(blocks[0].removeprefix("data: "))["result"]["task"]["status"]["state"] == "TASK_STATE_SUBMITTED"
    name, data = blocks[-1].split("\n")
    assert name == "event: error"
    ended = json.loads(data.removeprefix("data: "))
    assert (ended["id"], ended["error"]["code"], ended["error"]["data"]) == ("r1", -32603, {"timeout": True})
    receipt = _receipt(database, target["id"])
    assert receipt["status"] == "error" and "outlived its budget" in receipt["error_detail"]
    assert len(receipt["response_body"]["events"]) >= 2  # what was relayed before the end


def test_over_http_a_whole_answer_has_a_length_and_only_a_stream_is_relayed_in_chunks(api: ApiClient, dev: str) -> None:
    """The proxy runs in response-streaming mode; an answer it had whole before the head (a JSON
    reply) still goes out in one write with its Content-Length, as a buffered answer would."""
    with sdk_agent(("1.0",), "task") as agent:
        target = _push(api, dev, agent.url, card=agent.card())
        headers = {"host": "127.0.0.1:8080", "authorization": f"Bearer {dev}", "content-type": "application/json"}
        path = f"/workspaces/{target['id']}/a2a"

        whole = api.gateway.handle("POST", path, headers, json.dumps(V10_SEND), stream=True)
        streamed = api.gateway.handle(
            "POST", path, headers, json.dumps({**V10_SEND, "method": "SendStreamingMessage"}), stream=True
        )
        assert streamed.chunks is not None
        events = [chunk for chunk in streamed.chunks if chunk]

    assert whole.status == 200 and whole.chunks is None
    assert json.loads(whole.body)["result"]["task"]["status"]["state"]
    assert streamed.status == 200 and streamed.headers["content-type"].startswith("text/event-stream")
    assert len(events) >= 2  # relayed event by event


# --- the agent card ---------------------------------------------------------------------------------------


def test_the_card_route_follows_the_access_rule_and_the_endpoint_setting(
    api: ApiClient, dev: str, agent: ScriptedAgent, platform_env: pytest.MonkeyPatch
) -> None:
    set_env(platform_env, A2A_ENDPOINT_URL="https://stream.example/")
    root = create_workspace(api, dev, name="root", external=True)
    a = create_workspace(api, dev, name="a", external=True, parent_id=root["id"])
    b = create_workspace(api, dev, name="b", external=True, parent_id=root["id"])
    cousin = create_workspace(api, dev, name="a1", external=True, parent_id=a["id"])
    registered = api.post(
        "/registry/register",
        json_body={"id": b["id"], "url": agent.url, "agent_card": {"name": "b agent"}, "delivery_mode": "push"},
        token=b["connection"]["auth_token"],
    )
    assert registered.status == 200

    card = api.get(f"/workspaces/{b['id']}/.well-known/agent-card.json", token=a["connection"]["auth_token"])
    denied = api.get(f"/workspaces/{b['id']}/.well-known/agent-card.json", token=cousin["connection"]["auth_token"])
    anonymous = api.get(f"/workspaces/{b['id']}/.well-known/agent.json")

    assert card.status == 200
    assert card.json()["url"] == f"https://stream.example/workspaces/{b['id']}/a2a"
    assert card.json()["name"] == "b agent"
    assert (denied.status, anonymous.status) == (403, 401)
