"""What an agent's answer means (a2a/outcome.py), SSE as A2A uses it (a2a/sse.py), and the
submitted Task the platform answers for the inbox and the queue (a2a/submitted.py)."""

from __future__ import annotations

import pytest
from molecule_core.a2a.outcome import outcome_of, stream_outcome
from molecule_core.a2a.sse import SseReader, format_event
from molecule_core.a2a.submitted import submitted_answer


def test_a_json_rpc_error_inside_http_200_is_an_error() -> None:
    found = outcome_of(200, {"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "boom"}})
    assert (found.ok, found.permanent) == (False, False)
    assert found.error == "agent answered JSON-RPC error -32603: boom"


@pytest.mark.parametrize("code", [-32601, -32009, -32602, -32600, -32700, -32001])
def test_errors_no_redelivery_gets_past_are_permanent(code: int) -> None:
    assert outcome_of(200, {"error": {"code": code, "message": "no"}}).permanent is True


@pytest.mark.parametrize("body", [{"result": {"kind": "message"}}, None, {"error": "a string", "result": 1}])
def test_results_and_non_rpc_bodies_are_ok(body: object) -> None:
    assert outcome_of(200, body).ok is True


def test_an_http_error_status_is_an_error() -> None:
    assert outcome_of(404, {"result": {}}).error == "agent answered 404"


def test_a_stream_with_an_error_event_is_an_error() -> None:
    events = [{"result": {"task": {}}}, {"error": {"code": -32001, "message": "gone"}}]
    assert stream_outcome(200, events).error == "agent answered JSON-RPC error -32001: gone"
    assert stream_outcome(200, events[:1]).ok is True


def test_sse_events_are_read_whatever_the_chunking() -> None:
    wire = b'data: {"a":1}\r\n\r\nevent: error\ndata: {"b":\ndata: 2}\n\n: keep-alive\n\ndata: {"c":3}'
    reader, events = SseReader(), []
    for index in range(len(wire)):
        events += reader.feed(wire[index : index + 1])
    events += reader.close()
    assert [(e.event, e.json()) for e in events] == [(None, {"a": 1}), ("error", {"b": 2}), (None, {"c": 3})]
    assert events[0].raw == b'data: {"a":1}\n\n'


def test_format_event_writes_one_json_rpc_response_per_event() -> None:
    assert format_event({"id": 1}, "error") == b'event: error\ndata: {"id":1}\n\n'


def test_the_submitted_answer_is_a_task_in_the_callers_version_with_molecules_keys_on_top() -> None:
    molecule = {"status": "queued", "delivery_mode": "poll", "method": "SendMessage"}
    v10 = submitted_answer("r1", "q1", None, "1.0", molecule)
    assert list(v10)[:3] == ["status", "delivery_mode", "method"]
    assert v10["result"]["task"] == {"id": "q1", "contextId": "q1", "status": {"state": "TASK_STATE_SUBMITTED"},
                                     "metadata": {"molecule": molecule}}  # fmt: skip
    v03 = submitted_answer(5, "q1", "c1", "0.3", molecule)
    assert (v03["id"], v03["result"]["kind"], v03["result"]["contextId"]) == (5, "task", "c1")
    assert v03["result"]["status"] == {"state": "submitted"}
