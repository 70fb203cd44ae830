"""The A2A payload normaliser (SPEC §5.4 step 3) and its replay gate: every shape in
tests/a2a_corpus (see its README) replayed against normalize_a2a_payload, plus the bodies that cannot
be corpus files and the properties the proxy relies on (idempotence, the input left untouched)."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from molecule_core.a2a.normalize import A2AError, normalize_a2a_payload, normalize_a2a_request

CORPUS = Path(__file__).resolve().parents[1] / "a2a_corpus"
GENERATIONS = {"v0.2", "v0.3", "legacy"}
LEGACY_METHODS = {"tasks/send": "message/send", "tasks/sendSubscribe": "message/stream"}


def _load(kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.stem, json.loads(path.read_text(encoding="utf-8"))) for path in sorted((CORPUS / kind).glob("*.json"))
    ]


VALID = _load("valid")
INVALID = _load("invalid")
CANONICAL = [case for case in VALID if case[1]["_generation"] == "v0.3"]
OLDER = [case for case in VALID if case[1]["_generation"] != "v0.3"]


def _raw(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def _is_sender_id(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def _message(body: dict[str, Any]) -> dict[str, Any]:
    result = normalize_a2a_payload(_raw(body))
    message: dict[str, Any] = result.payload["params"]["message"]
    return message


def _request(message: dict[str, Any], method: str = "message/send") -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": "req-1", "method": method, "params": {"message": message}}


# --- the corpus replay ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "entry"), VALID, ids=[name for name, _ in VALID])
def test_valid_entry_normalises_to_canonical_v03(name: str, entry: dict[str, Any]) -> None:
    # Given a shape a supported client sends
    body = entry["body"]

    # When the proxy normalises it
    result = normalize_a2a_payload(_raw(body))

    # Then the agent gets canonical A2A v0.3
    payload = result.payload
    assert payload["jsonrpc"] == "2.0"
    assert payload["method"] == result.method == LEGACY_METHODS.get(body["method"], body["method"])
    assert payload["id"] == result.request_id
    if result.method not in ("message/send", "message/stream"):
        assert payload.get("params") == body.get("params")  # passthrough methods: params untouched
        assert result.message_id is None
        return
    message = payload["params"]["message"]
    assert isinstance(message["parts"], list) and message["parts"]
    assert all(isinstance(part, dict) and isinstance(part.get("kind"), str) for part in message["parts"])
    assert all("type" not in part for part in message["parts"] if part["kind"] == "text")
    assert "content" not in message
    assert isinstance(message["messageId"], str) and message["messageId"]
    assert result.message_id == message["messageId"]
    assert message["role"] in ("user", "agent")
    assert message["kind"] == "message"


@pytest.mark.parametrize(("name", "entry"), VALID, ids=[name for name, _ in VALID])
def test_valid_entry_keeps_what_the_sender_chose(name: str, entry: dict[str, Any]) -> None:
    body = entry["body"]
    result = normalize_a2a_payload(_raw(body))

    if "id" in body:
        assert result.request_id == body["id"]
        assert type(result.request_id) is type(body["id"])  # 42 stays a number, "42" a string
    else:
        assert uuid.UUID(str(result.request_id)).version == 4
    sent_message = (body.get("params") or {}).get("message")
    if isinstance(sent_message, dict) and sent_message.get("messageId"):
        assert result.message_id == sent_message["messageId"]
    if "_expect_text" in entry:
        assert result.text == entry["_expect_text"]


@pytest.mark.parametrize(("name", "entry"), CANONICAL, ids=[name for name, _ in CANONICAL])
def test_canonical_v03_entry_is_forwarded_unchanged(name: str, entry: dict[str, Any]) -> None:
    result = normalize_a2a_payload(_raw(entry["body"]))

    assert result.changed is False
    assert result.payload == entry["body"]


@pytest.mark.parametrize(("name", "entry"), OLDER, ids=[name for name, _ in OLDER])
def test_older_generation_entry_is_reported_as_changed(name: str, entry: dict[str, Any]) -> None:
    # The proxy stores the verbatim body next to the normalised one only when they differ.
    assert normalize_a2a_payload(_raw(entry["body"])).changed is True


@pytest.mark.parametrize(("name", "entry"), INVALID, ids=[name for name, _ in INVALID])
def test_invalid_entry_is_rejected_as_recorded(name: str, entry: dict[str, Any]) -> None:
    body = entry["body"]

    with pytest.raises(A2AError) as caught:
        normalize_a2a_payload(_raw(body))

    error = caught.value
    assert (error.status, error.code, error.message) == (
        entry["_expect_status"],
        entry["_expect_code"],
        entry["_expect_error"],
    )
    expected_id = body.get("id") if _is_sender_id(body.get("id")) else None
    assert error.body() == {
        "jsonrpc": "2.0",
        "id": expected_id,
        "error": {"code": entry["_expect_code"], "message": entry["_expect_error"]},
    }


MALFORMED = [
    ("truncated", b'{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":', -32700, "not valid JSON"),
    ("not_json", b"hello agent", -32700, "not valid JSON"),
    ("empty", b"", -32700, "empty request body"),
    ("whitespace_only", b" \n\t\r ", -32700, "empty request body"),
    ("json_array", b'[{"jsonrpc":"2.0","method":"message/send"}]', -32600, "must be a JSON object"),
    ("json_string", b'"message/send"', -32600, "must be a JSON object"),
    ("json_null", b"null", -32600, "must be a JSON object"),
    ("nan_constant", b'{"jsonrpc":"2.0","id":NaN,"method":"tasks/get"}', -32700, "not valid JSON"),
    ("not_utf8", b'{"method":"message/send","text":"\xff\xfe\xfa"}', -32700, "not valid JSON"),
    ("nested_too_deeply", b"[" * 100_000 + b"]" * 100_000, -32700, "nested too deeply"),
]
MALFORMED_MESSAGES = {
    "not valid JSON": "request body is not valid JSON",
    "empty request body": "empty request body",
    "must be a JSON object": "request must be a JSON object",
    "nested too deeply": "request body is nested too deeply",
}


@pytest.mark.parametrize(("name", "raw", "code", "kind"), MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_body_is_rejected(name: str, raw: bytes, code: int, kind: str) -> None:
    with pytest.raises(A2AError) as caught:
        normalize_a2a_payload(raw)

    assert caught.value.status == 400
    assert caught.value.body() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": code, "message": MALFORMED_MESSAGES[kind]},
    }


# --- the gate guards itself ----------------------------------------------------------------------


def test_corpus_covers_every_generation_and_minimum_size() -> None:
    # Losing either side of the v0.2 → v0.3 bridge (or the legacy senders) must be a red build.
    assert {entry["_generation"] for _, entry in VALID} == GENERATIONS
    assert len(VALID) >= 18
    assert len(INVALID) >= 8


@pytest.mark.parametrize(("name", "entry"), VALID + INVALID, ids=[name for name, _ in VALID + INVALID])
def test_every_entry_has_metadata(name: str, entry: dict[str, Any]) -> None:
    assert isinstance(entry.get("_comment"), str) and entry["_comment"]
    assert isinstance(entry.get("_source"), str) and entry["_source"]
    assert entry.get("_generation") in GENERATIONS
    assert "body" in entry
    if (name, entry) in INVALID:
        assert isinstance(entry.get("_expect_status"), int)
        assert isinstance(entry.get("_expect_code"), int)
        assert isinstance(entry.get("_expect_error"), str) and entry["_expect_error"]


# --- properties the proxy relies on -------------------------------------------------------------


@pytest.mark.parametrize(("name", "entry"), VALID, ids=[name for name, _ in VALID])
def test_normalising_a_normalised_payload_changes_nothing(name: str, entry: dict[str, Any]) -> None:
    first = normalize_a2a_payload(_raw(entry["body"]))

    again = normalize_a2a_payload(_raw(first.payload))

    assert again.changed is False
    assert again.payload == first.payload
    assert (again.request_id, again.message_id, again.text) == (first.request_id, first.message_id, first.text)


@pytest.mark.parametrize(("name", "entry"), VALID, ids=[name for name, _ in VALID])
def test_parsed_request_is_left_untouched(name: str, entry: dict[str, Any]) -> None:
    request = copy.deepcopy(entry["body"])

    normalize_a2a_request(request)

    assert request == entry["body"]


# --- rules, one behaviour each -------------------------------------------------------------------


def test_content_string_becomes_one_text_part_and_content_is_dropped() -> None:
    message = _message(_request({"role": "user", "messageId": "m-1", "content": "hello"}))

    assert message == {
        "role": "user",
        "messageId": "m-1",
        "parts": [{"kind": "text", "text": "hello"}],
        "kind": "message",
    }


def test_empty_content_string_is_an_empty_text_part() -> None:
    assert _message(_request({"content": ""}))["parts"] == [{"kind": "text", "text": ""}]


def test_parts_win_over_content_when_both_are_sent() -> None:
    message = _message(_request({"parts": [{"kind": "text", "text": "new"}], "content": "old"}))

    assert message["parts"] == [{"kind": "text", "text": "new"}]
    assert "content" not in message


def test_part_written_with_type_keeps_its_value_and_its_other_fields() -> None:
    part = {"type": "file", "file": {"uri": "https://x.example/a.png"}, "metadata": {"a": 1}}

    assert _message(_request({"parts": [part]}))["parts"] == [
        {"kind": "file", "file": {"uri": "https://x.example/a.png"}, "metadata": {"a": 1}}
    ]


def test_unknown_part_kind_passes_through_untouched() -> None:
    part = {"kind": "x-audio-clip", "clip": {"seconds": 3}}

    assert _message(_request({"parts": [part]}))["parts"] == [part]


@pytest.mark.parametrize(
    ("role", "expected"), [("assistant", "agent"), ("agent", "agent"), ("user", "user"), ("system", "system")]
)
def test_role_aliases(role: str, expected: str) -> None:
    assert _message(_request({"role": role, "parts": [{"kind": "text", "text": "x"}]}))["role"] == expected


def test_non_string_role_is_rejected() -> None:
    with pytest.raises(A2AError) as caught:
        normalize_a2a_payload(_raw(_request({"role": ["user"], "parts": [{"kind": "text", "text": "x"}]})))

    assert (caught.value.code, caught.value.message) == (-32602, "params.message.role must be a string")


def test_non_string_message_id_is_rejected() -> None:
    with pytest.raises(A2AError) as caught:
        normalize_a2a_payload(_raw(_request({"messageId": 7, "parts": [{"kind": "text", "text": "x"}]})))

    assert (caught.value.code, caught.value.message) == (-32602, "params.message.messageId must be a string")


def test_generated_message_id_is_a_uuid4() -> None:
    message_id = _message(_request({"parts": [{"kind": "text", "text": "x"}]}))["messageId"]

    assert uuid.UUID(message_id).version == 4


def test_data_part_without_an_object_is_rejected() -> None:
    with pytest.raises(A2AError) as caught:
        normalize_a2a_payload(_raw(_request({"parts": [{"kind": "data", "data": [1, 2]}]})))

    assert caught.value.message == "params.message.parts[0].data must be an object"


def test_null_id_gets_a_new_id() -> None:
    body = {**_request({"parts": [{"kind": "text", "text": "x"}]}), "id": None}

    result = normalize_a2a_payload(_raw(body))

    assert uuid.UUID(str(result.request_id)).version == 4
    assert result.changed is True


@pytest.mark.parametrize("request_id", [True, 1.5, [1]])
def test_id_that_is_not_a_string_or_integer_is_rejected(request_id: Any) -> None:
    body = {**_request({"parts": [{"kind": "text", "text": "x"}]}), "id": request_id}

    with pytest.raises(A2AError) as caught:
        normalize_a2a_payload(_raw(body))

    assert caught.value.body()["error"] == {"code": -32600, "message": "id must be a string or an integer"}
    assert caught.value.request_id is None


def test_other_jsonrpc_version_is_rewritten_to_2_0() -> None:
    body = {**_request({"parts": [{"kind": "text", "text": "x"}]}), "jsonrpc": "1.0"}

    result = normalize_a2a_payload(_raw(body))

    assert result.payload["jsonrpc"] == "2.0" and result.changed is True


def test_passthrough_method_without_params_stays_without_params() -> None:
    result = normalize_a2a_payload(b'{"method":"tasks/list"}')

    assert set(result.payload) == {"jsonrpc", "id", "method"}
    assert (result.method, result.message_id, result.text) == ("tasks/list", None, "")


def test_envelope_keys_come_first_and_unknown_top_level_keys_are_kept() -> None:
    result = normalize_a2a_payload(b'{"params":{"id":"t-1"},"method":"tasks/get","x-trace":"abc"}')

    assert list(result.payload)[:3] == ["jsonrpc", "id", "method"]
    assert result.payload["x-trace"] == "abc"


def test_error_after_the_id_is_known_echoes_the_senders_id() -> None:
    with pytest.raises(A2AError) as caught:
        normalize_a2a_payload(b'{"jsonrpc":"2.0","id":99,"method":"message/send","params":{}}')

    assert caught.value.body() == {
        "jsonrpc": "2.0",
        "id": 99,
        "error": {"code": -32602, "message": "params.message is required"},
    }


def test_error_of_a_request_without_id_does_not_invent_one() -> None:
    with pytest.raises(A2AError) as caught:
        normalize_a2a_payload(b'{"method":"message/send","params":{"message":{"content":1}}}')

    assert caught.value.request_id is None
