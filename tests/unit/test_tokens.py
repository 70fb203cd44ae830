"""Bearer tokens (SPEC §3, §4.1): minting, hashing, comparison, and reading the Authorization
header."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from molecule_core.auth.callers import request_bearer
from molecule_core.auth.credentials import (
    PREFIX_LENGTH,
    hash_token,
    mint_inbound_secret,
    mint_token,
    secrets_equal,
)

_BASE64URL_43 = re.compile(r"^[A-Za-z0-9_-]{43}$")


def bearer_from_headers(headers: dict[str, str] | None) -> str | None:
    """What a route's caller dependency reads from a request carrying these headers."""
    return request_bearer(Request("/", {}, APIGatewayProxyEventV2({"headers": headers or {}})))


# --- minting ---------------------------------------------------------------------------------


def test_minted_token_is_43_chars_of_unpadded_base64url() -> None:
    token = mint_token()
    assert len(token.plaintext) == 43
    assert _BASE64URL_43.match(token.plaintext)
    assert "=" not in token.plaintext


def test_minted_token_carries_32_random_bytes() -> None:
    plaintext = mint_token().plaintext
    assert len(base64.urlsafe_b64decode(plaintext + "=")) == 32


def test_minted_tokens_are_unique() -> None:
    tokens = [mint_token() for _ in range(500)]
    assert len({token.plaintext for token in tokens}) == 500
    assert len({token.token_hash for token in tokens}) == 500


def test_token_hash_is_sha256_of_plaintext() -> None:
    token = mint_token()
    assert token.token_hash == hashlib.sha256(token.plaintext.encode("utf-8")).digest()
    assert len(token.token_hash) == 32
    assert hash_token(token.plaintext) == token.token_hash


def test_hash_token_distinguishes_tokens() -> None:
    assert hash_token("a" * 43) != hash_token("a" * 42 + "b")
    assert hash_token("same") == hash_token("same")


def test_prefix_is_first_eight_characters() -> None:
    token = mint_token()
    assert PREFIX_LENGTH == 8
    assert token.prefix == token.plaintext[:8]
    assert len(token.prefix) == 8


def test_inbound_secret_has_token_strength_and_is_unique() -> None:
    secrets = {mint_inbound_secret() for _ in range(200)}
    assert len(secrets) == 200
    assert all(_BASE64URL_43.match(secret) for secret in secrets)


# --- comparison ------------------------------------------------------------------------------


def test_secrets_equal_matches_identical_values() -> None:
    token = mint_token().plaintext
    assert secrets_equal(token, token) is True
    assert secrets_equal(token, str(token)) is True


@pytest.mark.parametrize(
    ("presented", "expected"),
    [
        (None, "secret"),
        ("secret", None),
        (None, None),
        ("", "secret"),
        ("secret", ""),
        ("", ""),
        ("secret", "Secret"),
        ("secret", "secret2"),
        ("secre", "secret"),
        ("secret ", "secret"),
    ],
    ids=[
        "presented-none",
        "expected-none",
        "both-none",
        "presented-empty",
        "expected-empty",
        "both-empty",
        "case-differs",
        "longer-expected",
        "prefix-only",
        "trailing-space",
    ],
)
def test_secrets_equal_rejects_absent_or_different(presented: str | None, expected: str | None) -> None:
    assert secrets_equal(presented, expected) is False


# --- Authorization header --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Authorization": "Bearer abc123"}, "abc123"),
        ({"Authorization": "bearer abc123"}, "abc123"),
        ({"Authorization": "BEARER abc123"}, "abc123"),
        ({"Authorization": "BeArEr abc123"}, "abc123"),
        ({"authorization": "Bearer abc123"}, "abc123"),
        ({"AUTHORIZATION": "Bearer abc123"}, "abc123"),
        ({"Content-Type": "application/json", "aUtHoRiZaTiOn": "Bearer abc123"}, "abc123"),
        ({"Authorization": "Bearer first,Bearer second"}, "first"),
        ({"Authorization": "Bearer first, Bearer second"}, "first"),
        ({"Authorization": "Bearer first, Basic c2Vjb25k"}, "first"),
        ({"Authorization": "  Bearer   padded  "}, "padded"),
        ({"Authorization": "Bearer tok-en_with.chars~"}, "tok-en_with.chars~"),
    ],
    ids=[
        "canonical",
        "scheme-lower",
        "scheme-upper",
        "scheme-mixed",
        "name-lower",
        "name-upper",
        "name-mixed-among-others",
        "comma-joined-first-wins",
        "comma-space-joined-first-wins",
        "first-bearer-then-basic",
        "surrounding-space",
        "token-characters-kept",
    ],
)
def test_bearer_is_read(headers: dict[str, str], expected: str) -> None:
    assert bearer_from_headers(headers) == expected


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {"Content-Type": "application/json"},
        {"Authorization": ""},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Token abc123"},
        {"Authorization": "Bearerabc123"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer    "},
        {"Authorization": "Basic dXNlcjpwYXNz, Bearer abc123"},
        {"Authorization": ", Bearer abc123"},
        {"X-Authorization": "Bearer abc123"},
    ],
    ids=[
        "no-headers",
        "empty-headers",
        "no-authorization",
        "empty-value",
        "basic-scheme",
        "token-scheme",
        "no-space-after-scheme",
        "scheme-only",
        "empty-token",
        "blank-token",
        "first-value-not-bearer",
        "first-value-empty",
        "other-header-name",
    ],
)
def test_no_bearer_is_none(headers: dict[str, str] | None) -> None:
    assert bearer_from_headers(headers) is None
