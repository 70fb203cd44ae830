"""A2A versions as data (a2a/versions.py): which version a request speaks, which an agent's card
offers, what the agent receives."""

from __future__ import annotations

import pytest
from molecule_core.a2a.versions import (
    VersionRefused,
    agent_versions,
    delivery_version,
    outgoing_version_header,
    parse_version,
    request_version,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1.0", "1.0"), ("1", "1.0"), ("1.0.0", "1.0"), ("1.2", "1.0"), ("0.3", "0.3"), ("0.3.0", "0.3"),
     ("0.2.5", "0.3"), (" 1.0 ", "1.0"), ("2.0", None), ("0.1", None), ("v1", None), ("", None), ("1.x", None)],
)  # fmt: skip
def test_parse_version_reads_majors_from_1_and_the_0_3_family(value: str, expected: str | None) -> None:
    assert parse_version(value) == expected


@pytest.mark.parametrize(
    ("header", "method", "expected"),
    [
        (None, "SendMessage", "1.0"),
        (None, "ListTasks", "1.0"),
        (None, "message/send", "0.3"),
        (None, "tasks/send", "0.3"),  # v0.2 belongs to the 0.3 family
        (None, "custom/method", "0.3"),  # no header, unknown method: A2A 1.0 says 0.3
        ("1.0", "SendMessage", "1.0"),
        ("1.0.0", "GetTask", "1.0"),
        ("0.3", "message/stream", "0.3"),
        ("1.0", "custom/method", "1.0"),
        ("", "SendMessage", "1.0"),
    ],
)
def test_request_version_is_the_header_else_the_method_family(header: str | None, method: str, expected: str) -> None:
    assert request_version(header, method) == expected


@pytest.mark.parametrize(
    ("header", "method", "said"),
    [
        ("1.0", "message/send", "does not match message/send, an A2A 0.3 method"),
        ("0.3", "SendMessage", "does not match SendMessage, an A2A 1.0 method"),
        ("2.0", "SendMessage", "A2A version '2.0' is not supported"),
        ("banana", "message/send", "not supported"),
    ],
)
def test_a_header_that_contradicts_the_method_or_is_unknown_is_refused(header: str, method: str, said: str) -> None:
    with pytest.raises(VersionRefused, match=said):
        request_version(header, method)


def test_agent_versions_come_from_the_1_0_interfaces() -> None:
    card = {
        "supportedInterfaces": [
            {"url": "http://a/", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
            {"url": "http://a/", "protocolBinding": "GRPC", "protocolVersion": "0.3"},
        ]
    }
    assert agent_versions(card) == {"1.0"}


def test_agent_versions_of_a_merged_card_are_both() -> None:
    card = {
        "supportedInterfaces": [{"url": "u", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
        "url": "u",
        "protocolVersion": "0.3",
    }
    assert agent_versions(card) == {"1.0", "0.3"}


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        ({"url": "http://a/", "protocolVersion": "0.3.0", "preferredTransport": "JSONRPC"}, {"0.3"}),
        ({"url": "http://a/"}, {"0.3"}),  # protocolVersion defaults to 0.3 in a 0.3 card
        ({"url": "http://a/", "preferredTransport": "GRPC"}, set()),
        ({"name": "reference"}, set()),
        (None, set()),
        ("not a card", set()),
    ],
)
def test_agent_versions_of_0_3_and_silent_cards(card: object, expected: set[str]) -> None:
    assert agent_versions(card) == expected


@pytest.mark.parametrize(
    ("caller", "agent", "expected"),
    [("1.0", frozenset(), "1.0"), ("0.3", frozenset({"0.3", "1.0"}), "0.3"), ("1.0", frozenset({"0.3"}), "0.3"),
     ("0.3", frozenset({"1.0"}), "1.0")],
)  # fmt: skip
def test_delivery_version_is_the_callers_unless_the_agent_does_not_speak_it(
    caller: str, agent: frozenset[str], expected: str
) -> None:
    assert delivery_version(caller, agent) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("header", "caller", "delivered", "expected"),
    [
        ("1.0.0", "1.0", "1.0", "1.0.0"),  # forwarded unchanged
        (None, "1.0", "1.0", "1.0"),  # a 1.x agent reads no header as 0.3
        (None, "0.3", "0.3", None),
        ("0.3", "0.3", "0.3", "0.3"),
        ("1.0", "1.0", "0.3", "0.3"),  # bridged: the agent's version
        (None, "0.3", "1.0", "1.0"),
    ],
)
def test_outgoing_version_header(header: str | None, caller: str, delivered: str, expected: str | None) -> None:
    assert outgoing_version_header(header, caller, delivered) == expected  # type: ignore[arg-type]
