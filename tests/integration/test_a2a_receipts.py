"""A message is delivered at most once per send, and its receipt never changes the caller's answer
(SPEC §5.4 step 7, §8): text PostgreSQL cannot store is refused *before* delivery (400, JSON-RPC
invalid params naming where it is); what an agent answers is relayed unchanged and recorded with
the unstorable characters replaced; a receipt that cannot be written after delivery is logged —
never a 500 the caller would retry, never a second delivery."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from molecule_core.a2a import queue
from psycopg.rows import dict_row

from tests.agents import ScriptedAgent
from tests.conftest import ApiClient, create_workspace, database_trigger


def send(text: str, message_id: str = "msg-1") -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": "req-1",
        "method": "message/send",
        "params": {"message": {"role": "user", "messageId": message_id, "parts": [{"kind": "text", "text": text}]}},
    }


def push_target(api: ApiClient, admin: str, url: str) -> str:
    created = create_workspace(api, admin, name="target", external=True, url=url)
    assert api.patch(f"/workspaces/{created['id']}", json_body={"delivery_mode": "push"}, token=admin).status == 200
    return str(created["id"])


def receipts(database: str, workspace_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(database, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT * FROM activity_logs WHERE workspace_id = %s AND activity_type = 'a2a_receive'", (workspace_id,)
        ).fetchall()


@pytest.fixture
def refuse_activity_writes(database: str) -> Iterator[None]:
    """A real PostgreSQL failure on every activity insert."""
    with database_trigger(
        database, "refuse_activity", "INSERT ON activity_logs", "RAISE EXCEPTION 'activity writes refused by test';"
    ):
        yield


@pytest.mark.parametrize(
    ("wire_text", "reason"),
    [("a\\u0000b", "NUL characters are not allowed"), ("a\\ud800b", "invalid Unicode (unpaired surrogate)")],
)
def test_text_that_cannot_be_stored_is_refused_before_delivery(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str, wire_text: str, reason: str
) -> None:
    target = push_target(api, dev, agent.url)
    body = (
        '{"jsonrpc":"2.0","id":"req-1","method":"message/send","params":{"message":{"role":"user",'
        f'"messageId":"m-1","parts":[{{"kind":"text","text":"ok"}},{{"kind":"text","text":"{wire_text}"}}]}}}}}}'
    )

    result = api.post(f"/workspaces/{target}/a2a", body=body, headers={"content-type": "application/json"}, token=dev)

    assert result.status == 400
    assert result.json() == {
        "jsonrpc": "2.0",
        "id": "req-1",
        "error": {"code": -32602, "message": f"params.message.parts[1].text: {reason}"},
    }
    assert agent.received == []


def test_an_agent_answer_with_a_nul_is_relayed_unchanged_and_recorded(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str
) -> None:
    target = push_target(api, dev, agent.url)
    agent.raw_body = b'{"jsonrpc":"2.0","id":"req-1","result":{"text":"a\\u0000b\\udc00"}}'

    result = api.post(f"/workspaces/{target}/a2a", json_body=send("hello"), token=dev)

    assert result.status == 200 and result.body == agent.raw_body
    (receipt,) = receipts(database, target)
    assert receipt["status"] == "ok" and receipt["response_body"]["result"] == {"text": "a\ufffdb\ufffd"}


def test_an_agent_answer_that_is_not_utf8_is_relayed_byte_for_byte_and_recorded(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str
) -> None:
    target = push_target(api, dev, agent.url)
    agent.raw_body = b'{"jsonrpc":"2.0","id":"req-1","result":{"text":"caf\xe9"}}'  # Latin-1, not UTF-8

    result = api.post(f"/workspaces/{target}/a2a", json_body=send("hello"), token=dev)

    assert result.status == 200 and result.body == agent.raw_body  # a 500 after delivery would be retried
    (receipt,) = receipts(database, target)
    assert receipt["status"] == "ok" and receipt["response_body"] == {"raw": agent.raw_body.decode(errors="replace")}


def test_a_streamed_event_with_a_nul_is_relayed_unchanged_and_recorded(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str
) -> None:
    target = push_target(api, dev, agent.url)
    agent.content_type = "text/event-stream"
    agent.raw_body = b'data: {"jsonrpc":"2.0","id":"req-1","result":{"kind":"status-update","text":"a\\u0000b"}}\n\n'

    result = api.post(f"/workspaces/{target}/a2a", json_body={**send("hello"), "method": "message/stream"}, token=dev)

    assert result.status == 200 and result.body == agent.raw_body
    (receipt,) = receipts(database, target)
    assert receipt["status"] == "ok"
    assert receipt["response_body"]["events"] == [
        {"jsonrpc": "2.0", "id": "req-1", "result": {"kind": "status-update", "text": "a\ufffdb"}}
    ]


def test_a_receipt_that_cannot_be_written_after_delivery_is_not_a_500_nor_a_redelivery(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str, refuse_activity_writes: None
) -> None:
    target = push_target(api, dev, agent.url)

    result = api.post(f"/workspaces/{target}/a2a", json_body=send("hello"), token=dev)

    assert result.status == 200
    assert result.json()["result"]["parts"][0]["text"] == "echo: hello"
    assert len(agent.received) == 1


def test_a_queued_message_whose_answer_has_a_nul_is_completed_once(
    api: ApiClient, dev: str, agent: ScriptedAgent, database: str
) -> None:
    target = push_target(api, dev, agent.url)
    agent.raw_body = b'{"jsonrpc":"2.0","id":"req-1","result":{"text":"\\u0000"}}'
    queued = queue.enqueue(uuid.UUID(target), None, send("later"), "message/send", "m-q", None)

    queue.drain_record(queued.queue_id)  # delivered and recorded: does not ask SQS for a retry
    queue.drain_record(queued.queue_id)  # a redelivered SQS record: acknowledged, not delivered

    with psycopg.connect(database, row_factory=dict_row) as conn:
        row = conn.execute("SELECT * FROM a2a_queue WHERE id = %s", (queued.queue_id,)).fetchone()
    assert row is not None and row["status"] == "completed"
    assert row["response_body"]["result"] == {"text": "\ufffd"}
    assert len(agent.received) == 1
    (receipt,) = receipts(database, target)
    assert receipt["response_body"]["result"] == {"text": "\ufffd"}
