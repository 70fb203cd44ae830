"""compact_json: the one JSON writer of every response — compact, UTF-8 as is, pydantic's forms for
UUIDs and datetimes. It is pydantic-core's serializer for speed; this pins that its output is what
`json.dumps(default=to_jsonable_python)` wrote before, for every kind of value responses carry."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from molecule_core.platform.http import compact_json
from pydantic import BaseModel
from pydantic_core import to_jsonable_python


class Status(StrEnum):
    ONLINE = "online"


class Row(BaseModel):
    id: UUID
    at: datetime


VALUES = [
    {"id": UUID(int=7), "created_at": datetime(2026, 12, 1, 17, 49, 13, 680000, tzinfo=UTC)},
    {"text": "naïve — 東京 🚀", "escaped": 'quote " backslash \\ newline \n tab \t', "nul_free": "\x01"},
    {"int": 2**62, "negative": -3, "float": 1.5, "big": 1e16, "bool": True, "none": None},
    {1: "int key", "2": "str key"},
    [Status.ONLINE, (1, 2), Decimal("1.50"), b"bytes"],
    {"model": Row(id=UUID(int=3), at=datetime(2026, 1, 1, tzinfo=UTC)), "nested": [[{"deep": [1, [2, [3]]]}]]},
    [],
    {},
    "",
]


def test_compact_json_writes_what_json_dumps_with_pydantic_fallback_wrote() -> None:
    for value in VALUES:
        expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=to_jsonable_python)
        assert compact_json(value) == expected, value


def test_a_small_float_may_be_written_with_a_shorter_exponent_but_reads_back_the_same() -> None:
    value = {"small": 1e-7, "tiny": 5e-324, "third": 1 / 3}
    assert json.loads(compact_json(value)) == value  # 1e-7, where json.dumps wrote 1e-07
