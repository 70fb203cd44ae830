"""What the platform accepts as input, as reusable rules (SPEC §8: bad input is a 400 naming the
field, never a 5xx):

- `parse_json_body`: every JSON request body, once, at the edge (`platform.http` installs it as
  each resolver's body parser): at most `MAX_JSON_BODY_BYTES`, nested at most `MAX_JSON_DEPTH`
  levels, no NaN/Infinity (not JSON, and `GET /workspaces` would emit them to every client), and
  no text PostgreSQL cannot store — a NUL character (text and jsonb refuse U+0000) or a lone UTF-16
  surrogate (not encodable as UTF-8) — in any key or string.
- Field types for the domains' models: `StorableText` (a `str` without NUL), `FiniteFloat`,
  `Int32`/`Int64` and their non-negative forms (the ranges of PostgreSQL's integer/bigint, so a
  number that cannot be stored is a 400, not a numeric overflow), `StorableJson` (any JSON value
  that passes the same checks as a body) and `StorableObject` (a JSON object that does).
- `storable_json`: for what the platform stores but cannot refuse (an agent's answer, after
  delivery): the same value with unstorable characters replaced by U+FFFD.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from molecule_core.platform.errors import InvalidInput, PayloadTooLarge

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# U+0000, and UTF-16 surrogates (which a JSON `\ud800` escape can produce without its pair).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# Deeper than any agent card, A2A message or activity body the clients send; shallow enough that
# no parser, validator or jsonb function on the way recurses into trouble.
MAX_JSON_DEPTH = 64
# Under Lambda's 6 MB invocation payload (API Gateway's own limit is 10 MB).
MAX_JSON_BODY_BYTES = 5 * 1024 * 1024

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


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


def unstorable_reason(text: str) -> str | None:
    """Why PostgreSQL could not store `text`, or None."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return "NUL characters are not allowed" if found.group() == "\x00" else "invalid Unicode (unpaired surrogate)"


def check_storable_text(value: str) -> str:
    reason = unstorable_reason(value)
    if reason:
        raise ValueError(reason)
    return value


def _child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any, int]]:
    """Every value inside `value` with its path and depth, without recursion (the depth is what
    is being checked, so the walk itself must not depend on it)."""
    stack: list[tuple[str, Any, int]] = [(path, value, 0)]
    while stack:
        here, item, depth = stack.pop()
        yield here, item, depth
        if isinstance(item, dict):
            stack.extend((_child_path(here, str(k)), v, depth + 1) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((_child_path(here, i), v, depth + 1) for i, v in enumerate(item))


def _is_clean(value: Any, max_depth: int | None) -> bool:
    """Whether no key or string in `value` holds an unstorable character, no number is non-finite
    and (with `max_depth`) nothing is nested deeper — one pass that builds no paths and searches
    every key and string at once, for the common case; `json_problem` walks again with paths only
    to name what it found."""
    texts: list[str] = []
    pending: list[tuple[Any, int]] = [([value], -1)]
    while pending:
        item, depth = pending.pop()
        if item and max_depth is not None and depth >= max_depth:
            return False
        if isinstance(item, dict):
            texts.extend(key if isinstance(key, str) else str(key) for key in item)
            children: Any = item.values()
        else:
            children = item
        for child in children:
            if isinstance(child, str):
                texts.append(child)
            elif isinstance(child, dict | list):
                pending.append((child, depth + 1))
            elif isinstance(child, float) and not math.isfinite(child):
                return False
    # joined, a NUL is still a NUL and a lone surrogate still a code point of its own (a str never
    # pairs surrogates), so one search finds what a search per text would
    return _UNSTORABLE.search("".join(texts)) is None


def json_problem(value: Any, path: str = "") -> tuple[str, str] | None:
    """(path, reason) of the first thing in a JSON value the platform cannot accept, or None."""
    if _is_clean(value, MAX_JSON_DEPTH):
        return None
    for here, item, depth in _walk(value, path):
        if depth > MAX_JSON_DEPTH:
            # named by its top-level field: the full path would be as long as the nesting
            return re.split(r"[.\[]", here, maxsplit=1)[0], f"nested deeper than {MAX_JSON_DEPTH} levels"
        if isinstance(item, str):
            reason = unstorable_reason(item)
        elif isinstance(item, float) and not math.isfinite(item):
            reason = "must be a finite number"
        elif isinstance(item, dict):
            reason = next((f"{r} (in a key)" for key in item if (r := unstorable_reason(str(key)))), None)
        else:
            reason = None
        if reason:
            return here, reason
    return None


def invalid_field(field: str, reason: str) -> InvalidInput:
    return InvalidInput(f"{field}: {reason}" if field else f"request body: {reason}", field=field or "body")


def check_storable_json(value: Any) -> Any:
    problem = json_problem(value)
    if problem:
        path, reason = problem
        raise ValueError(f"{path}: {reason}" if path else reason)
    return value


def _non_finite(token: str) -> float:
    # NaN/Infinity are not JSON; parsed as NaN, the walk reports where they were.
    return math.nan


def parse_json_body(text: str) -> Any:
    """A request body as JSON, or InvalidInput (400) naming the field / PayloadTooLarge (413)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_JSON_BODY_BYTES:
        raise PayloadTooLarge(f"request body is larger than {MAX_JSON_BODY_BYTES} bytes")
    try:
        value = json.loads(text, parse_constant=_non_finite)
    except RecursionError:
        raise invalid_field("", f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    problem = json_problem(value)
    if problem:
        raise invalid_field(*problem)
    return value


def storable_json(value: Any) -> Any:
    """`value` with every unstorable character (NUL, lone surrogates) in keys and strings replaced
    by U+FFFD and non-finite numbers by null: for answers the platform keeps but cannot refuse.
    (Depth is not capped here: what an agent answered is kept as it was nested.)"""
    return value if _is_clean(value, None) else _repaired(value)


def _repaired(value: Any) -> Any:
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {_UNSTORABLE.sub("\ufffd", str(k)): _repaired(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_repaired(item) for item in value]
    return value


# Field types for the domains' wire models.
StorableText = Annotated[str, AfterValidator(check_storable_text)]
StorableJson = Annotated[Any, AfterValidator(check_storable_json)]
StorableObject = Annotated[dict[str, Any], AfterValidator(check_storable_json)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
NonNegativeInt32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
NonNegativeInt64 = Annotated[int, Field(ge=0, le=INT64_MAX)]
