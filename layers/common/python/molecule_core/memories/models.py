"""Agent memories and key-value memory as clients write and read them (SPEC §5.11).

- Agent memories: a fact with a scope (LOCAL: the workspace itself, TEAM: its team, GLOBAL: the
  fleet) and a namespace, optionally with an embedding; searched by full text and by vector.
- Key-value memory: JSON values under a key, versioned for compare-and-swap, with an optional TTL.
- The admin export/import format (`[{content,scope,namespace,created_at,workspace_name}]`).

Clients written for the original send the scope in upper case and repeat the workspace id in the
body (the channel plugin: `{content, scope, workspace_id}`); both are accepted here.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, Literal, NamedTuple
from uuid import UUID

from pydantic import ConfigDict, Field, field_validator

from molecule_core.platform.models import WireModel
from molecule_core.platform.validation import has_control_characters

Scope = Literal["LOCAL", "TEAM", "GLOBAL"]
SCOPES: tuple[Scope, ...] = ("LOCAL", "TEAM", "GLOBAL")
DEFAULT_NAMESPACE = "general"
MAX_NAMESPACE_CHARS = 50
MAX_CONTENT_BYTES = 64 * 1024  # SPEC §5.11: larger content is 413
MAX_VALUE_BYTES = 256 * 1024  # a key-value entry (serialised JSON): room for a task ledger, not a file
MAX_KEY_CHARS = 255
MAX_QUERY_CHARS = 1000
MAX_SEARCH_LIMIT = 50  # the original's ceiling (#377): larger limits are clamped, never refused
MAX_TTL_SECONDS = 10 * 365 * 24 * 3600
MAX_VERSION = 2**63 - 1
MAX_IMPORT_ENTRIES = 10_000
MAX_EXPORT_PAGE = 5_000
FLOAT4_MAX = 3.4028234663852886e38  # pgvector stores float4


def parse_scope(value: object) -> Scope:
    """LOCAL, TEAM or GLOBAL in any case; anything else is refused with its name."""
    scope = str(value).strip().upper() if isinstance(value, str) else None
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {value!r}: must be LOCAL, TEAM or GLOBAL")
    return scope


def check_no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def check_content(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return check_no_nul(value)


def check_label(value: str, max_chars: int) -> str:
    """A namespace or a key: not empty, bounded, no control characters."""
    if not value:
        raise ValueError("must not be empty")
    if len(value) > max_chars:
        raise ValueError(f"must be at most {max_chars} characters")
    if has_control_characters(value):
        raise ValueError("must not contain control characters")
    return value


def check_namespace(value: object) -> str:
    """Blank or absent means "general"; at most 50 characters, no control characters."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_NAMESPACE
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return check_label(value, MAX_NAMESPACE_CHARS)


def check_embedding(values: list[float] | None) -> list[float] | None:
    """Finite numbers that fit a float4 (what pgvector stores), not all zero (no direction, so no
    cosine)."""
    if values is None:
        return None
    if not values:
        raise ValueError("must not be empty")
    if any(not math.isfinite(v) or abs(v) > FLOAT4_MAX for v in values):
        raise ValueError("must hold finite numbers within float4 range")
    if not any(values):
        raise ValueError("must not be all zeros")
    return values


def parse_embedding_text(raw: str) -> list[float]:
    """An embedding in a query string: `0.1,0.2,…` or a JSON array."""
    text = raw.strip().removeprefix("[").removesuffix("]")
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError("must be a comma-separated list of numbers") from None


class _MemoryFields(WireModel):
    """What a memory is made of, on commit and on import: validated the same way on both."""

    model_config = ConfigDict(extra="ignore")

    content: str
    scope: Scope
    namespace: str = DEFAULT_NAMESPACE

    _scope = field_validator("scope", mode="before")(parse_scope)
    _namespace = field_validator("namespace", mode="before")(check_namespace)
    _content = field_validator("content")(check_content)


class CommitMemoryRequest(_MemoryFields):
    """POST /workspaces/{id}/memories."""

    embedding: list[float] | None = None
    # The channel plugin repeats the path's workspace id in the body; when present it must match.
    workspace_id: UUID | None = None

    _embedding = field_validator("embedding")(check_embedding)


class CommittedMemory(WireModel):
    id: UUID
    scope: Scope
    namespace: str


class SearchMemoriesRequest(WireModel):
    """GET /workspaces/{id}/memories (query string) and POST …/memories/search (the same fields as
    a body: an embedding of a real model's size does not fit API Gateway's 10 KiB request line).
    In a query string `embedding` is `0.1,0.2,…` or a JSON array."""

    model_config = ConfigDict(extra="ignore")

    q: str | None = Field(None, max_length=MAX_QUERY_CHARS)
    scope: Scope | None = None
    namespace: str | None = Field(None, max_length=MAX_NAMESPACE_CHARS)
    limit: int = Field(MAX_SEARCH_LIMIT, ge=1)
    embedding: list[float] | None = None
    workspace_id: UUID | None = None

    _embedding = field_validator("embedding")(check_embedding)

    @field_validator("scope", mode="before")
    @classmethod
    def _scope(cls, value: object) -> Scope | None:
        return None if value is None or value == "" else parse_scope(value)

    @field_validator("q", "namespace")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return check_no_nul(value.strip()) or None if value else None

    @field_validator("embedding", mode="before")
    @classmethod
    def _embedding_text(cls, value: object) -> object:
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
            value = value[0]
        return parse_embedding_text(value) if isinstance(value, str) else value


class Memory(WireModel):
    """A search hit. GLOBAL content arrives wrapped in the `[MEMORY …]` delimiter; with an
    embedding in the search, `similarity_score` is the cosine similarity (null for a full-text
    match that has no embedding)."""

    id: UUID
    workspace_id: UUID
    content: str
    scope: Scope
    namespace: str
    created_at: datetime
    similarity_score: float | None = None


class MemorySearch(NamedTuple):
    """A validated search, as the store runs it."""

    scope: Scope | None
    namespace: str | None
    text: str | None
    embedding: list[float] | None
    limit: int

    @property
    def is_full_text(self) -> bool:
        """Two or more characters: PostgreSQL full-text search; one character: a substring."""
        return self.text is not None and len(self.text) >= 2


# --- key-value memory ------------------------------------------------------------------------


def check_key(value: str) -> str:
    return check_label(value, MAX_KEY_CHARS)


def check_json_value(value: Any) -> Any:
    """What jsonb cannot store: NUL in a string or a key, NaN and infinities."""
    pending = [value]
    while pending:  # iterative: a deep value must not exhaust the stack here
        item = pending.pop()
        if isinstance(item, str):
            check_no_nul(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError("must not contain NaN or infinite numbers")
        elif isinstance(item, dict):
            pending.extend(check_no_nul(str(key)) for key in item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return value


def serialised_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


class SetMemoryRequest(WireModel):
    """POST /workspaces/{id}/memory: upsert; `if_match_version` makes it a compare-and-swap (0 =
    the key must not exist yet)."""

    model_config = ConfigDict(extra="ignore")

    key: str
    value: Any
    ttl_seconds: int | None = Field(None, ge=1, le=MAX_TTL_SECONDS)
    if_match_version: int | None = Field(None, ge=0, le=MAX_VERSION)

    _key = field_validator("key")(check_key)
    _value = field_validator("value")(check_json_value)


class SetMemoryResult(WireModel):
    status: Literal["ok"] = "ok"
    key: str
    version: int


class MemoryValue(WireModel):
    key: str
    value: Any
    version: int
    expires_at: datetime | None
    updated_at: datetime


# --- admin export / import -----------------------------------------------------------------


class ExportedMemory(WireModel):
    id: UUID
    content: str
    scope: Scope
    namespace: str
    created_at: datetime
    workspace_name: str


class ImportedMemory(_MemoryFields):
    """One entry of POST /admin/memories/import (the export's shape); a bad entry is counted in
    `errors`, it does not fail the import."""

    created_at: datetime | None = None
    workspace_name: str = Field(min_length=1, max_length=255)

    _name = field_validator("workspace_name")(check_no_nul)


class ImportResult(WireModel):
    imported: int
    skipped: int
    errors: int
    total: int
