"""Issue 21's acceptance with the official A2A SDK (a2a-sdk 1.3.0) through the local stack: its
servers as agents (A2A 1.0, and 0.3 only through the SDK's own 0.3 adapter), its clients as callers
(1.0, and 0.3 through its compat transport), every cell of caller version × agent version, Message
and Task answers, blocking, streaming and `Prefer: respond-async`; a poll-mode target; a duplicate
messageId; an agent that answers a JSON-RPC error; card discovery through the SDK's resolver.

One stack and one set of agents serve the whole module (the stack's start is most of its time)."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from a2a.client import A2ACardResolver, ClientCallContext, ClientConfig, create_client
from a2a.compat.v0_3 import types as types_03
from a2a.helpers import new_text_message
from a2a.types.a2a_pb2 import AgentCard, Role, SendMessageRequest
from a2a.utils.errors import MethodNotFoundError
from google.protobuf.json_format import MessageToDict
from psycopg.rows import dict_row

from tests.a2a_sdk_agents import SdkAgent, sdk_agent
from tests.e2e.conftest import LocalStackProcess, start_local_stack, wait_for

VERSIONS = ("1.0", "0.3")


@dataclass
class Workspace:
    id: str
    token: str


@dataclass
class Fleet:
    stack: LocalStackProcess
    database_url: str
    caller: Workspace
    agents: dict[tuple[str, str], tuple[SdkAgent, Workspace]]  # (agent version, answer) → agent, its workspace

    @property
    def base(self) -> str:
        return self.stack.base_url


def _create(base: str, name: str) -> Workspace:
    created = httpx.post(f"{base}/workspaces", json={"name": name, "external": True}).json()
    return Workspace(created["id"], created["connection"]["auth_token"])


def _register(base: str, workspace: Workspace, card: dict[str, Any], url: str, mode: str = "push") -> None:
    answer = httpx.post(
        f"{base}/registry/register",
        json={"id": workspace.id, "url": url, "agent_card": card, "delivery_mode": mode},
        headers={"Authorization": f"Bearer {workspace.token}"},
    )
    assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def fleet(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    stack = start_local_stack(database_url, tmp_path_factory.mktemp("sdk-stack"))
    try:
        with (
            sdk_agent(("1.0",), "message") as m10,
            sdk_agent(("1.0",), "task") as t10,
            sdk_agent(("0.3",), "message") as m03,
            sdk_agent(("0.3",), "task") as t03,
        ):
            agents = {}
            for key, agent in {("1.0", "message"): m10, ("1.0", "task"): t10, ("0.3", "message"): m03,
                               ("0.3", "task"): t03}.items():  # fmt: skip
                workspace = _create(stack.base_url, f"sdk {key[0]} {key[1]}")
                _register(stack.base_url, workspace, agent.card(), agent.url)
                agents[key] = (agent, workspace)
            yield Fleet(stack, database_url, _create(stack.base_url, "sdk caller"), agents)
    finally:
        stack.stop()


# --- the SDK as a caller -----------------------------------------------------------------------------


async def _client(fleet: Fleet, workspace_id: str, version: str, streaming: bool) -> Any:
    """An SDK client for a workspace, found through its card at the proxy; in 0.3 mode when asked
    (the SDK picks its 0.3 compat transport for a card whose only interface is 0.3)."""
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {fleet.caller.token}"}, timeout=30)
    card: AgentCard = await A2ACardResolver(http, f"{fleet.base}/workspaces/{workspace_id}").get_agent_card()
    if version == "0.3":
        legacy = [i for i in card.supported_interfaces if i.protocol_version.startswith("0.3")]
        del card.supported_interfaces[:]
        card.supported_interfaces.extend(legacy)
    return await create_client(card, ClientConfig(httpx_client=http, streaming=streaming))


def send(
    fleet: Fleet,
    workspace_id: str,
    version: str,
    text: str,
    *,
    streaming: bool = False,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    on_event: Any = None,
) -> list[dict[str, Any]]:
    """The events the SDK client yields for one message (blocking: exactly one), as 1.0 dicts."""

    async def run() -> list[dict[str, Any]]:
        client = await _client(fleet, workspace_id, version, streaming)
        message = new_text_message(text, role=Role.ROLE_USER)
        if message_id:
            message.message_id = message_id
        context = ClientCallContext(service_parameters=headers or {})
        events = []
        async for event in client.send_message(SendMessageRequest(message=message), context=context):
            events.append(MessageToDict(event))
            if on_event:
                on_event(events[-1])
        await client.close()
        return events

    return asyncio.run(run())


def texts(events: list[dict[str, Any]]) -> list[str]:
    """Every text part in the events: messages, task status messages, artifacts."""
    found = []
    for event in events:
        for payload in event.values():
            holders = [payload, payload.get("status", {}).get("message", {}), payload.get("artifact", {})]
            holders += payload.get("artifacts", [])
            for holder in holders:
                found += [part["text"] for part in holder.get("parts", []) if "text" in part]
    return found


def _queue_row(fleet: Fleet, queue_id: str) -> dict[str, Any]:
    with psycopg.connect(fleet.database_url, row_factory=dict_row) as conn:
        row = conn.execute("SELECT * FROM a2a_queue WHERE id = %s", (queue_id,)).fetchone()
    assert row is not None
    return row


def _receipts(fleet: Fleet, workspace_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(fleet.database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT * FROM activity_logs WHERE workspace_id = %s AND activity_type = 'a2a_receive' ORDER BY seq",
            (workspace_id,),
        ).fetchall()


def _receipt(fleet: Fleet, workspace_id: str, message_id: str) -> dict[str, Any]:
    """The proxy's receipt of `message_id`. It is written once the answer is out
    (platform/deferred.py), so a reader on another connection may wait a moment for it."""
    found: list[dict[str, Any]] = []

    def written() -> bool:
        found[:] = [row for row in _receipts(fleet, workspace_id) if row["idempotency_key"] == message_id]
        return bool(found)

    assert wait_for(written, timeout=10), f"no a2a_receive row for {message_id}"
    return found[-1]


def _expected_wire(agent_version: str, streaming: bool) -> tuple[str, str | None]:
    if agent_version == "1.0":
        return ("SendStreamingMessage" if streaming else "SendMessage"), "1.0"
    return ("message/stream" if streaming else "message/send"), "0.3"


# --- the matrix: caller version × agent version × answer × blocking/streaming ---------------------------


@pytest.mark.parametrize("streaming", [False, True], ids=["blocking", "streaming"])
@pytest.mark.parametrize("answer", ["message", "task"])
@pytest.mark.parametrize("agent_version", VERSIONS, ids=lambda v: f"agent{v}")
@pytest.mark.parametrize("caller_version", VERSIONS, ids=lambda v: f"caller{v}")
def test_every_cell_reaches_the_agent_in_its_version_and_the_answer_in_the_callers(
    fleet: Fleet, caller_version: str, agent_version: str, answer: str, streaming: bool
) -> None:
    agent, workspace = fleet.agents[(agent_version, answer)]
    message_id = f"m-{uuid.uuid4()}"

    events = send(fleet, workspace.id, caller_version, "ping", streaming=streaming, message_id=message_id)

    (seen,) = agent.received(message_id)
    assert (seen.method, seen.version) == _expected_wire(agent_version, streaming)
    assert seen.accept == ("text/event-stream" if streaming else "application/json")
    assert "echo: ping" in texts(events)
    if answer == "message":
        assert [next(iter(event)) for event in events] == ["message"]
    elif streaming:
        kinds = [next(iter(event)) for event in events]
        assert kinds[0] == "task" and "artifactUpdate" in kinds
        assert events[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    else:
        (event,) = events
        assert event["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    receipt = _receipt(fleet, workspace.id, message_id)
    assert (receipt["status"], receipt["protocol_version"]) == ("ok", caller_version)


@pytest.mark.parametrize(("caller_version", "agent_version"), [("1.0", "1.0"), ("1.0", "0.3"), ("0.3", "1.0")])
def test_a_stream_reaches_the_caller_while_the_agent_is_still_working(
    fleet: Fleet, caller_version: str, agent_version: str
) -> None:
    agent, workspace = fleet.agents[(agent_version, "task")]
    hold = agent.hold = threading.Event()
    agent.held.clear()
    try:
        # The agent sends its task and `working`, then waits until the caller has seen an event.
        events = send(fleet, workspace.id, caller_version, "slow", streaming=True, on_event=lambda _: hold.set())
    finally:
        hold.set()
        agent.hold = None
    # A buffered proxy would deliver nothing before the agent ended: the agent's wait would time out.
    assert agent.held == [True]
    assert events[0]["task"]["status"]["state"] == "TASK_STATE_SUBMITTED"
    assert events[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"


@pytest.mark.parametrize("agent_version", VERSIONS, ids=lambda v: f"agent{v}")
@pytest.mark.parametrize("caller_version", VERSIONS, ids=lambda v: f"caller{v}")
def test_respond_async_is_a_submitted_task_delivered_once_in_the_agents_version(
    fleet: Fleet, caller_version: str, agent_version: str
) -> None:
    agent, workspace = fleet.agents[(agent_version, "message")]
    message_id = f"q-{uuid.uuid4()}"

    (event,) = send(
        fleet, workspace.id, caller_version, "later", message_id=message_id, headers={"Prefer": "respond-async"}
    )

    task = event["task"]
    assert task["status"]["state"] == "TASK_STATE_SUBMITTED"
    assert task["metadata"]["molecule"]["queued"] is True
    queue_id = task["id"]
    assert task["metadata"]["molecule"]["queue_id"] == queue_id
    assert wait_for(lambda: _queue_row(fleet, queue_id)["status"] == "completed", timeout=30), _queue_row(
        fleet, queue_id
    )
    row = _queue_row(fleet, queue_id)
    assert row["protocol_version"] == caller_version
    assert row["forwarded_headers"].get("A2A-Version") == caller_version
    (seen,) = agent.received(message_id)  # delivered once
    assert (seen.method, seen.version) == _expected_wire(agent_version, streaming=False)
    # the answer is kept in the caller's version
    result = row["response_body"]["result"]
    parts = result["message"]["parts"] if caller_version == "1.0" else result["parts"]
    assert parts[0]["text"] == "echo: later"


def test_poll_mode_target_gets_the_text_in_its_inbox_and_both_clients_parse_the_answer(fleet: Fleet) -> None:
    laptop = _create(fleet.base, "sdk laptop")
    _register(fleet.base, laptop, fleet.agents[("1.0", "message")][0].card(), "remote://no-inbound", mode="poll")

    for version in VERSIONS:
        for streaming in (False, True):
            text = f"inbox {version} {'stream' if streaming else 'send'}"
            (event,) = send(fleet, laptop.id, version, text, streaming=streaming)
            task = event["task"]
            assert task["status"]["state"] == "TASK_STATE_SUBMITTED"
            assert task["metadata"]["molecule"]["delivery_mode"] == "poll"
            inbox = httpx.get(
                f"{fleet.base}/workspaces/{laptop.id}/activity",
                params={"type": "a2a_receive"},
                headers={"Authorization": f"Bearer {laptop.token}"},
            ).json()
            row = next(r for r in inbox if r["id"] == task["id"])
            assert (row["data"]["text"], row["summary"], row["protocol_version"]) == (text, text, version)


def test_the_same_1_0_message_id_twice_is_one_queue_row(fleet: Fleet) -> None:
    agent, workspace = fleet.agents[("1.0", "message")]
    message_id = f"dup-{uuid.uuid4()}"
    with psycopg.connect(fleet.database_url) as conn:  # the target waits: its queued rows stay active
        conn.execute("UPDATE workspaces SET status = 'paused' WHERE id = %s", (workspace.id,))
    try:
        first = send(fleet, workspace.id, "1.0", "twice", message_id=message_id, headers={"Prefer": "respond-async"})
        second = send(fleet, workspace.id, "1.0", "twice", message_id=message_id, headers={"Prefer": "respond-async"})
    finally:
        with psycopg.connect(fleet.database_url) as conn:
            conn.execute(
                "UPDATE a2a_queue SET status = 'dropped' WHERE workspace_id = %s AND idempotency_key = %s",
                (workspace.id, message_id),
            )
            conn.execute("UPDATE workspaces SET status = 'online' WHERE id = %s", (workspace.id,))
    assert first[0]["task"]["id"] == second[0]["task"]["id"]
    with psycopg.connect(fleet.database_url) as conn:
        count = conn.execute("SELECT count(*) FROM a2a_queue WHERE idempotency_key = %s", (message_id,)).fetchone()
    assert count == (1,)
    assert agent.received(message_id) == []


def test_an_agent_answering_a_json_rpc_error_is_an_error_and_fails_its_queue_row(fleet: Fleet) -> None:
    # A 1.0-only agent whose card claims 0.3: the proxy sends 0.3, the agent answers -32601 in HTTP 200.
    agent, _ = fleet.agents[("1.0", "message")]
    liar = _create(fleet.base, "sdk liar")
    card = {
        **agent.card(),
        "supportedInterfaces": [{"url": agent.url, "protocolBinding": "JSONRPC", "protocolVersion": "0.3"}],
    }
    _register(fleet.base, liar, card, agent.url)

    with pytest.raises(MethodNotFoundError):  # the agent's error, relayed as it answered it
        send(fleet, liar.id, "0.3", "refused")
    assert wait_for(lambda: bool(_receipts(fleet, liar.id)), timeout=10)  # written once the answer is out
    receipt = _receipts(fleet, liar.id)[-1]
    assert receipt["status"] == "error"
    assert "-32601" in receipt["error_detail"]

    (event,) = send(fleet, liar.id, "0.3", "refused later", headers={"Prefer": "respond-async"})
    queue_id = event["task"]["id"]
    assert wait_for(lambda: _queue_row(fleet, queue_id)["status"] == "failed", timeout=30), _queue_row(fleet, queue_id)
    row = _queue_row(fleet, queue_id)
    assert row["attempts"] == 1  # a permanent error is not retried
    assert row["response_body"]["error"]["code"] == -32601
    assert "-32601" in row["last_error"]
    # The drain writes the message's a2a_receive row after it fails the queue row: until then the
    # newest receipt is the proxy's `queued` one.
    assert wait_for(lambda: _receipts(fleet, liar.id)[-1]["status"] == "error", timeout=30), _receipts(fleet, liar.id)
    assert "-32601" in _receipts(fleet, liar.id)[-1]["error_detail"]


# --- the agent card -----------------------------------------------------------------------------------


def test_the_sdk_resolver_finds_the_workspace_card_pointing_at_the_proxy(fleet: Fleet) -> None:
    _, workspace = fleet.agents[("0.3", "task")]
    proxy = f"{fleet.base}/workspaces/{workspace.id}/a2a"

    async def resolve() -> AgentCard:
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {fleet.caller.token}"}) as http:
            return await A2ACardResolver(http, f"{fleet.base}/workspaces/{workspace.id}").get_agent_card()

    card = asyncio.run(resolve())
    assert {(i.url, i.protocol_version) for i in card.supported_interfaces} == {(proxy, "1.0"), (proxy, "0.3")}
    assert card.security_schemes["molecule"].http_auth_security_scheme.scheme == "Bearer"
    assert [skill.id for skill in card.skills] == ["echo"]
    # what an a2a-sdk 0.3 client reads from the same path
    for path in (".well-known/agent-card.json", ".well-known/agent.json"):
        served = httpx.get(
            f"{fleet.base}/workspaces/{workspace.id}/{path}", headers={"Authorization": f"Bearer {fleet.caller.token}"}
        ).json()
        legacy = types_03.AgentCard.model_validate(served)
        assert (legacy.url, legacy.protocol_version, legacy.preferred_transport) == (proxy, "0.3", "JSONRPC")


def test_a_workspace_without_a_registered_card_has_none(fleet: Fleet) -> None:
    fresh = _create(fleet.base, "sdk unregistered")
    answer = httpx.get(
        f"{fleet.base}/workspaces/{fresh.id}/.well-known/agent-card.json",
        headers={"Authorization": f"Bearer {fleet.caller.token}"},
    )
    assert answer.status_code == 404
    assert json.loads(answer.text)["error"]
