"""Bearer tokens: 32 random bytes, base64url without padding (43 characters). Only the sha256 is
stored; the prefix (first 8 characters) lets operators recognise a token in listings. Also how a
bearer is read from an Authorization header value (pure)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import NamedTuple

TOKEN_BYTES = 32
PREFIX_LENGTH = 8


class MintedToken(NamedTuple):
    plaintext: str
    token_hash: bytes
    prefix: str


def mint_token() -> MintedToken:
    plaintext = base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).rstrip(b"=").decode("ascii")
    return MintedToken(plaintext, hash_token(plaintext), plaintext[:PREFIX_LENGTH])


def hash_token(plaintext: str) -> bytes:
    return hashlib.sha256(plaintext.encode("utf-8")).digest()


def secrets_equal(presented: str | None, expected: str | None) -> bool:
    """Constant-time comparison; an absent value never matches."""
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def mint_inbound_secret() -> str:
    """The platform → agent bearer (platform_inbound_secret): same strength as a token, stored in
    plaintext because the platform presents it."""
    return mint_token().plaintext


def parse_bearer(authorization: str | None) -> str | None:
    """The token of `Authorization: Bearer <token>`; the scheme is case-insensitive and, when
    several Authorization values arrive joined by commas, the first wins."""
    if not authorization:
        return None
    first = authorization.split(",", 1)[0].strip()
    scheme, _, token = first.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
