"""What a secret's name and value may be (SPEC §5.12). A secret becomes an environment variable of
an agent, so its name is an environment variable name and its value must be passable through
execve: no NUL. The messages name the field and never repeat the value."""

from __future__ import annotations

import re

from pydantic import SecretStr

from molecule_core.platform.errors import InvalidInput, PayloadTooLarge
from molecule_core.provisioning.models import PLATFORM_AGENT_ENV
from molecule_core.secrets.models import KEY_PATTERN

MAX_VALUE_BYTES = 64 * 1024
_KEY = re.compile(KEY_PATTERN.removesuffix("$") + r"\Z")  # \Z: `$` would also accept a trailing newline


def check_key(key: str) -> str:
    """A name from a path (`DELETE …/secrets/{key}`): the body's `key` is checked by its model."""
    if not _KEY.match(key):
        raise InvalidInput("key: must match ^[A-Za-z_][A-Za-z0-9_]{0,127}$", field="key")
    return key


def check_writable_key(key: str) -> str:
    """A name a secret may be stored under: not one the provision pipeline sets itself (the
    platform's value would win anyway, and PLATFORM_URL pointing elsewhere would hand the agent's
    token to whoever runs that URL)."""
    check_key(key)
    if key in PLATFORM_AGENT_ENV:
        raise InvalidInput(f"key: {key} is set by the platform for every agent; choose another name", field="key")
    return key


def check_value(value: SecretStr, field: str = "value") -> str:
    """The plaintext of a value to store: non-empty, at most 64 KiB of UTF-8, no NUL."""
    plaintext = value.get_secret_value()
    if not plaintext:
        raise InvalidInput(f"{field}: must not be empty", field=field)
    size = len(plaintext.encode("utf-8", errors="surrogatepass"))
    if size > MAX_VALUE_BYTES:
        raise PayloadTooLarge(f"{field}: at most {MAX_VALUE_BYTES} bytes ({size} given)", field=field)
    if "\0" in plaintext:
        raise InvalidInput(f"{field}: must not contain NUL characters", field=field)
    if any(0xD800 <= ord(char) <= 0xDFFF for char in plaintext):
        raise InvalidInput(f"{field}: must be valid Unicode (lone surrogate)", field=field)
    return plaintext
