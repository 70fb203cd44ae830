"""Bridging 0.3 ↔ 1.0 (a2a/bridge.py) with a2a-sdk's own conversions: requests, answers and stream
events carried across, with the same id; what cannot be carried is a BridgeError."""

from __future__ import annotations

import pytest
from molecule_core.a2a import bridge

MESSAGE_03 = {"kind": "message", "messageId": "m1", "role": "user", "contextId": "c1",
              "parts": [{"kind": "text", "text": "hello"}, {"kind": "data", "data": {"a": 1}}]}  # fmt: skip
MESSAGE_10 = {
    "messageId": "m1",
    "role": "ROLE_USER",
    "contextId": "c1",
    "parts": [{"text": "hello"}, {"data": {"a": 1}}],
}


def test_a_0_3_send_becomes_a_1_0_send() -> None:
    request = {"jsonrpc": "2.0", "id": "r1", "method": "message/send",
               "params": {"message": MESSAGE_03, "configuration": {"blocking": True}}}  # fmt: skip
    bridged = bridge.bridge_request(request, "1.0")
    assert (bridged["id"], bridged["method"]) == ("r1", "SendMessage")
    message = bridged["params"]["message"]
    assert (message["role"], message["messageId"]) == ("ROLE_USER", "m1")
    assert message["parts"] == [{"text": "hello"}, {"data": {"a": 1.0}}]  # a Struct holds doubles


def test_a_1_0_stream_becomes_a_0_3_stream() -> None:
    request = {"jsonrpc": "2.0", "id": 7, "method": "SendStreamingMessage", "params": {"message": MESSAGE_10}}
    bridged = bridge.bridge_request(request, "0.3")
    assert (bridged["id"], bridged["method"]) == (7, "message/stream")
    assert bridged["params"]["message"]["parts"][0] == {"kind": "text", "text": "hello"}
    assert bridged["params"]["message"]["role"] == "user"


def test_a_1_0_task_answer_reaches_a_0_3_caller_as_a_0_3_task() -> None:
    answer = {"jsonrpc": "2.0", "id": "r1", "result": {"task": {
        "id": "t1", "contextId": "c1", "status": {"state": "TASK_STATE_COMPLETED"},
        "artifacts": [{"artifactId": "a1", "parts": [{"text": "done"}]}]}}}  # fmt: skip
    bridged = bridge.bridge_response(answer, "message/send", "0.3")
    result = bridged["result"]
    assert (bridged["id"], result["kind"], result["status"]["state"]) == ("r1", "task", "completed")
    assert result["artifacts"][0]["parts"] == [{"kind": "text", "text": "done"}]


def test_a_0_3_message_answer_reaches_a_1_0_caller_wrapped() -> None:
    answer = {"jsonrpc": "2.0", "id": 3, "result": {**MESSAGE_03, "role": "agent"}}
    bridged = bridge.bridge_response(answer, "SendMessage", "1.0")
    assert bridged["id"] == 3
    assert bridged["result"]["message"]["role"] == "ROLE_AGENT"
    assert bridged["result"]["message"]["parts"][0] == {"text": "hello"}


def test_stream_events_cross_one_by_one() -> None:
    event_10 = {"jsonrpc": "2.0", "id": "s", "result": {"statusUpdate": {
        "taskId": "t1", "contextId": "c1", "status": {"state": "TASK_STATE_WORKING"}}}}  # fmt: skip
    event_03 = bridge.bridge_response(event_10, "message/stream", "0.3")
    assert event_03["result"]["kind"] == "status-update"
    assert event_03["result"]["status"]["state"] == "working"
    back = bridge.bridge_response(event_03, "SendStreamingMessage", "1.0")
    assert back["result"]["statusUpdate"]["status"]["state"] == "TASK_STATE_WORKING"


def test_errors_pass_unchanged() -> None:
    error = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32001, "message": "Task not found"}}
    assert bridge.bridge_response(error, "message/send", "0.3") is error


def test_an_answer_with_neither_task_nor_message_is_not_invented() -> None:
    with pytest.raises(bridge.BridgeError, match="neither a task nor a message"):
        bridge.bridge_response({"jsonrpc": "2.0", "id": 1, "result": {}}, "message/send", "0.3")


def test_a_request_the_sdk_cannot_read_is_a_bridge_error() -> None:
    with pytest.raises(bridge.BridgeError, match=r"could not be translated to A2A 1\.0"):
        bridge.bridge_request({"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": 5}}, "1.0")


def test_only_messages_and_their_tasks_are_bridged() -> None:
    assert bridge.can_bridge("message/send") and bridge.can_bridge("SubscribeToTask")
    assert not bridge.can_bridge("ListTasks")
    assert not bridge.can_bridge("tasks/pushNotificationConfig/set")
