"""A2A 1.0 requests in the normaliser (a2a/normalize.py): checked the way a2a-sdk's server
validates them, never rewritten; the messageId, text and context read out; a header that
contradicts the method refused before anything is forwarded."""

from __future__ import annotations

import json
from typing import Any

import pytest
from molecule_core.a2a.normalize import A2AError, normalize_a2a_payload


def _send(message: dict[str, Any], method: str = "SendMessage") -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": "r1", "method": method, "params": {"message": message, "configuration": {}}}


GOOD = {"messageId": "m-1", "role": "ROLE_USER", "contextId": "c-1", "parts": [{"text": "hello"}, {"data": {"a": 1}}]}


def test_a_1_0_message_passes_unchanged_with_its_id_text_and_context() -> None:
    body = _send(GOOD)
    result = normalize_a2a_payload(json.dumps(body).encode(), "1.0")
    assert result.payload == body and result.changed is False
    assert (result.protocol_version, result.method, result.message_id) == ("1.0", "SendMessage", "m-1")
    assert (result.text, result.context_id) == ("hello", "c-1")


def test_a_1_0_method_without_a_header_is_1_0() -> None:
    result = normalize_a2a_payload(json.dumps(_send(GOOD, "SendStreamingMessage")).encode())
    assert result.protocol_version == "1.0"


def test_other_1_0_methods_pass_as_they_are() -> None:
    body = {"jsonrpc": "2.0", "id": 3, "method": "GetTask", "params": {"id": "t-1"}}
    result = normalize_a2a_payload(json.dumps(body).encode(), "1.0")
    assert result.payload == body and result.message_id is None


@pytest.mark.parametrize(
    ("message", "said"),
    [
        ({"role": "ROLE_USER", "content": "old"}, "A2A 1.0 has no `content`"),
        ({"role": "ROLE_USER", "parts": [{"text": "x"}]}, "messageId is required"),
        ({"messageId": "m", "role": "user", "parts": [{"text": "x"}]}, "ROLE_USER or ROLE_AGENT"),
        ({"messageId": "m", "role": "ROLE_USER", "parts": []}, "non-empty list"),
        ({"messageId": "m", "role": "ROLE_USER", "parts": [{"kind": "text"}]}, "exactly one of text, raw, url, data"),
        ({"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "x", "data": {}}]}, "exactly one"),
        ({"messageId": "m", "role": "ROLE_USER", "parts": [{"text": 7}]}, r"parts\[0\].text must be a string"),
        ({"messageId": "m", "role": "ROLE_USER", "parts": ["x"]}, "must be an object"),
    ],
)
def test_a_1_0_message_the_agent_would_refuse_is_refused_here(message: dict[str, Any], said: str) -> None:
    with pytest.raises(A2AError, match=said) as refused:
        normalize_a2a_payload(json.dumps(_send(message)).encode(), "1.0")
    assert refused.value.code == -32602
    assert refused.value.body()["id"] == "r1"


def test_a_header_that_contradicts_the_method_is_a_json_rpc_error() -> None:
    v03 = {"jsonrpc": "2.0", "id": 9, "method": "message/send",
           "params": {"message": {"role": "user", "parts": [{"kind": "text", "text": "x"}]}}}  # fmt: skip
    with pytest.raises(A2AError) as refused:
        normalize_a2a_payload(json.dumps(v03).encode(), "1.0")
    assert refused.value.status == 400
    assert refused.value.body()["error"]["code"] == -32009
    assert refused.value.body()["id"] == 9


def test_a_0_3_request_still_normalises_to_0_3_and_says_so() -> None:
    legacy = {"method": "tasks/send", "params": {"message": {"content": "old", "contextId": "c"}}}
    result = normalize_a2a_payload(json.dumps(legacy).encode(), "0.3")
    assert (result.protocol_version, result.method, result.context_id) == ("0.3", "message/send", "c")
