"""URL safety (SPEC §5.2): the corpus in url_corpus.py, the development and SaaS relaxations, and
resolution failures. Every resolution is faked; no test touches DNS."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping

import pytest
from molecule_core.platform.errors import InvalidInput
from molecule_core.registry.url_safety import blocked_reason, check_agent_url, parse_ip_literal

from tests.conftest import set_env
from tests.unit.url_corpus import HOSTILE, LEGITIMATE, UrlCase


class FakeResolver:
    """Answers from a fixed table and records every name it is asked for; an unknown name fails
    the way getaddrinfo does."""

    def __init__(self, table: Mapping[str, list[str]] | None = None) -> None:
        self.table = dict(table or {})
        self.asked: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.table[host])


def _rejection(url: str, resolver: FakeResolver) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        check_agent_url(url, resolver=resolver)
    return caught.value


# --- the corpus ------------------------------------------------------------------------------


def test_corpus_keeps_enough_cases() -> None:
    assert len(HOSTILE) >= 40
    assert len(LEGITIMATE) >= 10


def test_corpus_cases_are_named_and_explained() -> None:
    ids = [case.id for case in (*HOSTILE, *LEGITIMATE)]
    assert len(ids) == len(set(ids)), "corpus ids must be unique"
    assert all(case.probes.strip() for case in (*HOSTILE, *LEGITIMATE))
    assert all(case.reason.strip() for case in HOSTILE), "every hostile case names the expected reason"


@pytest.mark.parametrize("case", HOSTILE, ids=[case.id for case in HOSTILE])
def test_hostile_url_is_rejected_with_400_and_reason(case: UrlCase) -> None:
    # Given: the default mode (no development loopback, no SaaS private ranges)
    resolver = FakeResolver(case.resolves)
    # When: the URL is checked
    error = _rejection(case.url, resolver)
    # Then: 400 with a message that says why
    assert error.status_code == 400
    assert error.message.startswith("invalid agent url")
    assert case.reason in error.message, f"{case.probes}: {error.message}"


@pytest.mark.parametrize("case", LEGITIMATE, ids=[case.id for case in LEGITIMATE])
def test_legitimate_url_passes(case: UrlCase) -> None:
    resolver = FakeResolver(case.resolves)
    check_agent_url(case.url, resolver=resolver)  # raises InvalidInput when rejected
    # Literals never reach the resolver; names are asked for in their normalised form only.
    assert resolver.asked == list(case.resolves)


@pytest.mark.parametrize(
    "case",
    [case for case in HOSTILE if not case.resolves and case.id != "name-unresolvable"],
    ids=lambda case: case.id,
)
def test_hostile_literal_or_malformed_url_never_reaches_the_resolver(case: UrlCase) -> None:
    resolver = FakeResolver({"*": ["8.8.8.8"]})
    _rejection(case.url, resolver)
    assert resolver.asked == []


def test_every_resolved_address_is_checked_not_only_the_first() -> None:
    # Given: a name whose first answer is public and second is the metadata address
    resolver = FakeResolver({"rebind.example": ["8.8.8.8", "1.1.1.1", "169.254.169.254"]})
    # When / Then
    error = _rejection("https://rebind.example/a2a", resolver)
    assert "169.254.169.254" in error.message
    assert "cloud metadata" in error.message


# --- development allows loopback, nothing else -----------------------------------------------

DEV_ALLOWED = [
    pytest.param("http://127.0.0.1:8000/", {}, id="127.0.0.1"),
    pytest.param("http://127.0.0.1/", {}, id="127.0.0.1-no-port"),
    pytest.param("http://[::1]:8000/", {}, id="v6-loopback"),
    pytest.param("http://localhost:8000/", {"localhost": ["127.0.0.1"]}, id="localhost"),
    pytest.param("http://localhost/", {"localhost": ["127.0.0.1", "::1"]}, id="localhost-dual-stack"),
    pytest.param("http://127.1/", {}, id="short-form"),
]
DEV_STILL_BLOCKED = [
    pytest.param("http://169.254.169.254/", {}, "cloud metadata", id="metadata"),
    pytest.param("http://[fd00:ec2::254]/", {}, "AWS IPv6 metadata", id="aws-v6-metadata"),
    pytest.param("http://[::ffff:169.254.169.254]/", {}, "cloud metadata", id="mapped-metadata"),
    pytest.param("http://meta.example/", {"meta.example": ["169.254.169.254"]}, "cloud metadata", id="name-metadata"),
    pytest.param("http://0.0.0.0/", {}, "unspecified", id="unspecified"),
    pytest.param("http://10.0.0.1/", {}, "private address", id="private-without-saas"),
    pytest.param("http://[fe80::1]/", {}, "link-local", id="v6-link-local"),
]


@pytest.mark.parametrize(("url", "table"), DEV_ALLOWED)
def test_development_allows_loopback(platform_env: pytest.MonkeyPatch, url: str, table: dict[str, list[str]]) -> None:
    set_env(platform_env, MOLECULE_ENV="development")
    resolver = FakeResolver(table)
    check_agent_url(url, resolver=resolver)  # raises InvalidInput when rejected
    assert resolver.asked == list(table)


@pytest.mark.parametrize(("url", "table", "reason"), DEV_STILL_BLOCKED)
def test_development_still_blocks_metadata_and_the_rest(
    platform_env: pytest.MonkeyPatch, url: str, table: dict[str, list[str]], reason: str
) -> None:
    set_env(platform_env, MOLECULE_ENV="development")
    assert reason in _rejection(url, FakeResolver(table)).message


@pytest.mark.parametrize("env", ["test", "production", None], ids=["test", "production", "unset"])
def test_outside_development_loopback_is_blocked(platform_env: pytest.MonkeyPatch, env: str | None) -> None:
    set_env(platform_env, MOLECULE_ENV=env)
    assert "loopback" in _rejection("http://127.0.0.1:8000/", FakeResolver()).message


# --- SaaS mode allows private ranges, nothing else -------------------------------------------

SAAS_ALLOWED = [
    pytest.param("http://10.0.0.5:8000/", {}, id="10/8"),
    pytest.param("http://10.255.255.255/", {}, id="10/8-top"),
    pytest.param("http://172.16.0.1/", {}, id="172.16/12"),
    pytest.param("http://172.31.255.254/", {}, id="172.16/12-top"),
    pytest.param("http://192.168.1.10/", {}, id="192.168/16"),
    pytest.param("http://[fc00::1]/", {}, id="fc00::/7-fc"),
    pytest.param("http://[fd12:3456:789a::1]/", {}, id="fc00::/7-fd"),
    pytest.param("http://[::ffff:10.0.0.1]/", {}, id="mapped-private"),
    pytest.param("http://agent.internal/", {"agent.internal": ["10.1.2.3", "fd00::5"]}, id="name-private"),
]
SAAS_STILL_BLOCKED = [
    pytest.param("http://127.0.0.1/", {}, "loopback", id="loopback"),
    pytest.param("http://[::1]/", {}, "loopback", id="v6-loopback"),
    pytest.param("http://localhost/", {"localhost": ["127.0.0.1"]}, "loopback", id="localhost"),
    pytest.param("http://[::ffff:127.0.0.1]/", {}, "loopback", id="mapped-loopback"),
    pytest.param("http://169.254.169.254/", {}, "cloud metadata", id="metadata"),
    pytest.param("http://[fd00:ec2::254]/", {}, "AWS IPv6 metadata", id="aws-v6-metadata-inside-fc00"),
    pytest.param("http://100.64.0.1/", {}, "carrier-grade NAT", id="cgnat"),
]


@pytest.mark.parametrize(("url", "table"), SAAS_ALLOWED)
def test_saas_mode_allows_private_ranges(
    platform_env: pytest.MonkeyPatch, url: str, table: dict[str, list[str]]
) -> None:
    set_env(platform_env, MOLECULE_SAAS_MODE="1")
    resolver = FakeResolver(table)
    check_agent_url(url, resolver=resolver)  # raises InvalidInput when rejected
    assert resolver.asked == list(table)


@pytest.mark.parametrize(("url", "table", "reason"), SAAS_STILL_BLOCKED)
def test_saas_mode_still_blocks_loopback_and_metadata(
    platform_env: pytest.MonkeyPatch, url: str, table: dict[str, list[str]], reason: str
) -> None:
    set_env(platform_env, MOLECULE_SAAS_MODE="1")
    assert reason in _rejection(url, FakeResolver(table)).message


def test_saas_mode_off_by_default_blocks_private() -> None:
    assert "private address" in _rejection("http://192.168.1.10/", FakeResolver()).message


def test_development_and_saas_together_still_block_aws_v6_metadata(platform_env: pytest.MonkeyPatch) -> None:
    set_env(platform_env, MOLECULE_ENV="development", MOLECULE_SAAS_MODE="1")
    check_agent_url("http://127.0.0.1/", resolver=FakeResolver())  # raises InvalidInput when rejected
    check_agent_url("http://10.0.0.1/", resolver=FakeResolver())
    assert "AWS IPv6 metadata" in _rejection("http://[fd00:ec2::254]/", FakeResolver()).message


# --- resolution failures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
        TimeoutError("timed out"),
        OSError("network unreachable"),
        UnicodeError("label empty or too long"),
    ],
    ids=["gaierror", "timeout", "oserror", "unicode"],
)
def test_resolution_failure_is_400(failure: Exception) -> None:
    def failing(host: str) -> list[str]:
        raise failure

    with pytest.raises(InvalidInput) as caught:
        check_agent_url("https://agent.example.com/", resolver=failing)
    assert caught.value.status_code == 400
    assert "cannot resolve host 'agent.example.com'" in caught.value.message


def test_resolver_answer_that_is_not_an_address_is_400() -> None:
    error = _rejection("https://agent.example.com/", FakeResolver({"agent.example.com": ["not-an-ip"]}))
    assert "cannot resolve" in error.message


# --- parse_ip_literal ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", "0.0.0.0"),  # noqa: S104 - an address under test, not a bind
        ("[::1]", "::1"),
        ("::ffff:7f00:1", "::ffff:127.0.0.1"),
        ("fe80::1%25eth0", "fe80::1"),
        ("2852039166", "169.254.169.254"),
    ],
)
def test_parse_ip_literal_reads_every_spelling(host: str, expected: str) -> None:
    assert parse_ip_literal(host) == ipaddress.ip_address(expected)


@pytest.mark.parametrize(
    "host",
    ["example.com", "cafe", "deadbeef.example", "1.2.3.4.5", "4294967296", "1.2.3.256", "localhost", ""],
)
def test_parse_ip_literal_returns_none_for_names_and_invalid_numbers(host: str) -> None:
    assert parse_ip_literal(host) is None


# --- blocked_reason --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "allow_loopback", "allow_private", "expected"),
    [
        ("8.8.8.8", False, False, None),
        ("2606:4700:4700::1111", False, False, None),
        ("127.0.0.1", False, False, "loopback address"),
        ("127.0.0.1", True, False, None),
        ("::1", True, False, None),
        ("10.0.0.1", False, False, "private address"),
        ("10.0.0.1", False, True, None),
        ("fd00:ec2::254", True, True, "AWS IPv6 metadata address"),
        ("169.254.169.254", True, True, "link-local / cloud metadata address"),
        ("255.255.255.255", False, False, "broadcast address"),
        ("::ffff:127.0.0.1", False, False, "loopback address (embedded in IPv6)"),
        ("::ffff:127.0.0.1", True, False, None),
        ("64:ff9b::a9fe:a9fe", True, True, "link-local / cloud metadata address (embedded in IPv6)"),
        ("64:ff9b::808:808", False, False, None),
    ],
)
def test_blocked_reason(address: str, allow_loopback: bool, allow_private: bool, expected: str | None) -> None:
    reason = blocked_reason(ipaddress.ip_address(address), allow_loopback=allow_loopback, allow_private=allow_private)
    assert reason == expected
