"""Validators shared by the domains' wire models (pydantic `field_validator` bodies)."""

from __future__ import annotations

import re

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def has_control_characters(value: str) -> bool:
    return _CONTROL_CHARS.search(value) is not None


def check_display_name(value: str) -> str:
    """A name people read in listings: not blank, no control characters."""
    if not value.strip():
        raise ValueError("name must not be blank")
    if has_control_characters(value):
        raise ValueError("name must not contain control characters")
    return value


def check_role(value: str | None) -> str | None:
    """A workspace's role, shown beside its name to people and peers (SPEC §4.3): no control
    characters (its length is capped by the field, 255)."""
    if value is not None and has_control_characters(value):
        raise ValueError("role must not contain control characters")
    return value
