"""The platform's input rules (platform/validation.py): what a JSON body may contain, and how an
answer the platform cannot refuse is made storable."""

from __future__ import annotations

import math
from typing import Any

import pytest
from molecule_core.platform.errors import InvalidInput, PayloadTooLarge
from molecule_core.platform.validation import (
    INT32_MAX,
    MAX_JSON_BODY_BYTES,
    MAX_JSON_DEPTH,
    FiniteFloat,
    NonNegativeInt32,
    StorableText,
    json_problem,
    parse_json_body,
    storable_json,
)
from pydantic import BaseModel, ValidationError


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"k": value}
    return value


def test_a_clean_body_parses_to_its_value() -> None:
    assert parse_json_body('{"a":[1,2.5,"x",null,true],"b":{"c":"\\u00e9"}}') == {
        "a": [1, 2.5, "x", None, True],
        "b": {"c": "é"},
    }


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ('{"x":NaN}', "x", "must be a finite number"),
        ('{"a":{"b":[1,Infinity]}}', "a.b[1]", "must be a finite number"),
        ('{"x":-Infinity}', "x", "must be a finite number"),
        ('{"x":1e999}', "x", "must be a finite number"),
        ('{"a":["ok","\\u0000"]}', "a[1]", "NUL characters are not allowed"),
        ('{"a":{"k\\u0000":1}}', "a", "NUL characters are not allowed (in a key)"),
        ('{"t":"\\ud800"}', "t", "invalid Unicode (unpaired surrogate)"),
        ('{"t":"\\udc00x"}', "t", "invalid Unicode (unpaired surrogate)"),
        ('"\\u0000"', "body", "NUL characters are not allowed"),
    ],
)
def test_what_cannot_be_stored_is_refused_naming_the_field(body: str, field: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_json_body(body)

    assert refused.value.body() == {
        "error": f"{field}: {reason}" if field != "body" else f"request body: {reason}",
        "field": field,
    }


def test_a_paired_surrogate_escape_is_an_ordinary_character() -> None:
    assert parse_json_body('{"t":"\\ud83d\\ude00"}') == {"t": "😀"}


def test_nesting_is_allowed_up_to_the_limit_and_refused_beyond_it() -> None:
    assert json_problem(nested(MAX_JSON_DEPTH)) is None
    assert json_problem({"card": nested(MAX_JSON_DEPTH)}) == ("card", f"nested deeper than {MAX_JSON_DEPTH} levels")


def test_nesting_deeper_than_the_parser_can_go_is_refused_not_crashed() -> None:
    with pytest.raises(InvalidInput, match="nested deeper"):
        parse_json_body("[" * 200_000 + "]" * 200_000)


def test_an_oversized_body_is_413() -> None:
    with pytest.raises(PayloadTooLarge):
        parse_json_body('"' + "x" * MAX_JSON_BODY_BYTES + '"')


def nested_list(depth: int, innermost: Any = 1) -> Any:
    value: Any = innermost
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"a": [1, 2.5, "x", None, True, 10**30], "b": {"c": "é", "d": []}}, None),
        (nested_list(MAX_JSON_DEPTH), None),
        (nested_list(MAX_JSON_DEPTH - 1, {"k": 1}), None),
        (nested_list(MAX_JSON_DEPTH + 1), ("", f"nested deeper than {MAX_JSON_DEPTH} levels")),
        (nested_list(MAX_JSON_DEPTH, []), None),  # an empty list at the limit
        (nested_list(MAX_JSON_DEPTH + 1, []), ("", f"nested deeper than {MAX_JSON_DEPTH} levels")),
        (
            {"x": [nested_list(MAX_JSON_DEPTH - 2, {}), nested_list(MAX_JSON_DEPTH - 1, {})]},
            ("x", f"nested deeper than {MAX_JSON_DEPTH} levels"),  # an empty object one beyond it
        ),
        ("\x00", ("", "NUL characters are not allowed")),
        (math.nan, ("", "must be a finite number")),
        ({"a": [{"b": [1, -math.inf]}]}, ("a[0].b[1]", "must be a finite number")),
        ({"a": [{"b\ud800": 1}]}, ("a[0]", "invalid Unicode (unpaired surrogate) (in a key)")),
        # two lone halves of one pair, in two strings: each is still unpaired
        (["\ud83d", "\ude00"], ("[1]", "invalid Unicode (unpaired surrogate)")),
        ({"k": "ok", "t": "a\x00"}, ("t", "NUL characters are not allowed")),
    ],
)
def test_json_problem_finds_a_problem_wherever_it_is_and_nothing_in_a_clean_value(
    value: Any, problem: tuple[str, str] | None
) -> None:
    assert json_problem(value) == problem
    if problem is not None and "nested" not in problem[1]:
        assert json_problem(storable_json(value)) is None  # what storable_json repairs
    if problem is None:
        assert storable_json(value) is value


def test_storable_json_replaces_what_postgresql_cannot_store_and_keeps_the_rest() -> None:
    value = {"a\x00": ["ok", "b\ud800c", math.inf], "n": 1, "nested": nested(200)}

    repaired = storable_json(value)

    assert repaired["a\ufffd"] == ["ok", "b\ufffdc", None]
    assert repaired["n"] == 1 and repaired["nested"] == nested(200)
    assert json_problem(repaired["a\ufffd"]) is None


def test_storable_json_returns_a_clean_value_as_it_is() -> None:
    value = {"a": [1, "x"]}

    assert storable_json(value) is value


class Fields(BaseModel):
    text: StorableText | None = None
    ratio: FiniteFloat | None = None
    count: NonNegativeInt32 | None = None


@pytest.mark.parametrize(
    ("field", "value"),
    [("text", "a\x00"), ("ratio", math.nan), ("ratio", math.inf), ("count", INT32_MAX + 1), ("count", -1)],
)
def test_the_model_field_types_refuse_what_the_columns_cannot_hold(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        Fields(**{field: value})

    assert refused.value.errors()[0]["loc"] == (field,)


def test_the_model_field_types_accept_the_columns_range() -> None:
    assert Fields(text="plain", ratio=0.5, count=INT32_MAX).count == INT32_MAX
