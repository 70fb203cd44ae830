"""Memories (SPEC §5.11): what agents remember between tasks, scoped to themselves, their team or
the fleet, and searchable; plus their key-value state.

Writes go through one path (`_prepared_content`): secrets redacted (`redact.py`), a forged
`[MEMORY ` delimiter escaped (`delimiter.py`). GLOBAL memories are written only by root
workspaces, read back wrapped in the delimiter, and each write leaves a `memory_write` activity
row with a hash of what was stored (never the text) for forensic replay. Who sees which memory is
the store's one search statement (see `store.py`).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote
from uuid import UUID

from pydantic import ValidationError

from molecule_core.activity.models import NewActivity
from molecule_core.activity.service import record_activity_in
from molecule_core.memories import store
from molecule_core.memories.delimiter import escape_delimiter, wrap_global
from molecule_core.memories.models import (
    MAX_CONTENT_BYTES,
    MAX_EXPORT_PAGE,
    MAX_IMPORT_ENTRIES,
    MAX_SEARCH_LIMIT,
    MAX_VALUE_BYTES,
    CommitMemoryRequest,
    CommittedMemory,
    ExportedMemory,
    ImportedMemory,
    ImportResult,
    Memory,
    MemorySearch,
    MemoryValue,
    Scope,
    SearchMemoriesRequest,
    SetMemoryRequest,
    SetMemoryResult,
    serialised_size,
)
from molecule_core.memories.redact import redact_secrets
from molecule_core.platform import db
from molecule_core.platform.errors import (
    AccessDenied,
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    WorkspaceNotFound,
)
from molecule_core.platform.observability import logger
from molecule_core.platform.settings import get_settings


def _check_workspace_echo(workspace_id: UUID, echoed: UUID | None) -> None:
    """Clients written for the original repeat the path's workspace id (body or query string)."""
    if echoed is not None and echoed != workspace_id:
        raise InvalidInput("workspace_id does not match the workspace in the path", field="workspace_id")


def _check_dimensions(embedding: list[float] | None) -> None:
    expected = get_settings().memory_embedding_dimensions
    if embedding is not None and len(embedding) != expected:
        raise InvalidInput(
            f"embedding must have {expected} dimensions (got {len(embedding)})",
            field="embedding",
            expected_dimensions=expected,
        )


def _check_content_size(content: str) -> None:
    if len(content.encode()) > MAX_CONTENT_BYTES:
        raise PayloadTooLarge(f"content is larger than {MAX_CONTENT_BYTES // 1024} KiB", field="content")


def _prepared_content(owner: str, content: str) -> str:
    """What is stored for `content`: secrets redacted, a forged delimiter escaped. Each rule that
    fired is logged by name, never with the value."""
    redacted = redact_secrets(content)
    if redacted.labels:
        logger.warning("memory content redacted", extra={"owner": owner, "redacted": list(redacted.labels)})
    return escape_delimiter(redacted.text)


# --- agent memories ------------------------------------------------------------------------------


def commit_memory(workspace_id: UUID, request: CommitMemoryRequest) -> CommittedMemory:
    _check_workspace_echo(workspace_id, request.workspace_id)
    _check_content_size(request.content)
    _check_dimensions(request.embedding)
    content = _prepared_content(str(workspace_id), request.content)

    def insert(conn: db.Connection) -> UUID | None:
        return store.insert_memory(
            conn,
            workspace_id,
            content=content,
            scope=request.scope,
            namespace=request.namespace,
            embedding=request.embedding,
        )

    if request.scope == "GLOBAL":
        with db.transaction() as conn:
            memory_id = insert(conn)
            if memory_id is not None:
                record_activity_in(conn, _global_write_audit(workspace_id, memory_id, request.namespace, content))
    else:
        memory_id = db.single_statement(insert, idempotent=False)
    if memory_id is None:
        is_root = db.single_statement(lambda conn: store.workspace_is_root(conn, workspace_id))
        if is_root is None:
            raise WorkspaceNotFound()
        raise AccessDenied("only root workspaces can write GLOBAL memories")
    return CommittedMemory(id=memory_id, scope=request.scope, namespace=request.namespace)


def _global_write_audit(workspace_id: UUID, memory_id: UUID, namespace: str, content: str) -> NewActivity:
    return NewActivity(
        workspace_id=workspace_id,
        activity_type="memory_write",
        source_id=workspace_id,
        method="memory/global",
        summary=f"GLOBAL memory written: id={memory_id} namespace={namespace}",
        request_body={
            "memory_id": str(memory_id),
            "namespace": namespace,
            "content_sha256": hashlib.sha256(content.encode()).hexdigest(),
        },
        status="ok",
    )


def search_memories(workspace_id: UUID, request: SearchMemoriesRequest) -> list[Memory]:
    _check_workspace_echo(workspace_id, request.workspace_id)
    _check_dimensions(request.embedding)
    search = MemorySearch(
        scope=request.scope,
        namespace=request.namespace,
        text=request.q,
        embedding=request.embedding,
        limit=min(request.limit, MAX_SEARCH_LIMIT),
    )
    dimensions = get_settings().memory_embedding_dimensions
    rows = db.single_statement(lambda conn: store.search_memories(conn, workspace_id, search, dimensions=dimensions))
    if rows is None:
        raise WorkspaceNotFound()
    return [_as_read(row) for row in rows]


def _as_read(row: dict[str, Any]) -> Memory:
    memory = Memory.model_validate(row)
    if memory.scope == "GLOBAL":
        memory.content = wrap_global(memory.id, memory.workspace_id, memory.content)
    return memory


def delete_memory(workspace_id: UUID, memory_id: UUID) -> None:
    """Only the workspace's own memories: anyone else's is 404, like one that does not exist."""
    if not db.single_statement(lambda conn: store.delete_memory(conn, workspace_id, memory_id)):
        raise NotFound("memory not found or not owned by this workspace")


# --- key-value memory ----------------------------------------------------------------------------


def _key_not_found() -> NotFound:
    return NotFound("key not found")


def _path_key(raw: str) -> str:
    """A key from the path: clients encode it (the MCP server uses encodeURIComponent); the local
    gateway hands the path on encoded, API Gateway decoded — unquoting serves both (a decoded key
    has no `%XX` left to unquote, short of a key that literally contains one)."""
    return unquote(raw)


def set_memory_value(workspace_id: UUID, request: SetMemoryRequest) -> SetMemoryResult:
    """Upsert; with `if_match_version` a compare-and-swap (0: create only). A mismatch is 409 with
    both versions (`current_version` null when the key has no live value)."""
    if serialised_size(request.value) > MAX_VALUE_BYTES:
        raise PayloadTooLarge(f"value is larger than {MAX_VALUE_BYTES // 1024} KiB", field="value")
    expires_at = datetime.now(UTC) + timedelta(seconds=request.ttl_seconds) if request.ttl_seconds else None
    key, value, expected = request.key, request.value, request.if_match_version

    def write(conn: db.Connection) -> int | None:
        if expected is None:
            return store.upsert_value(conn, workspace_id, key, value, expires_at=expires_at)
        if expected == 0:
            return store.create_value(conn, workspace_id, key, value, expires_at=expires_at)
        return store.swap_value(conn, workspace_id, key, value, expected_version=expected, expires_at=expires_at)

    version = db.single_statement(write, idempotent=False)
    if version is not None:
        return SetMemoryResult(key=key, version=version)
    # Nothing written: an unknown workspace, or a version that did not match. A fresh read (its
    # own statement, so it sees the write that won) says which version is there now.
    current = db.single_statement(lambda conn: store.get_value(conn, workspace_id, key))
    if current is None and not db.single_statement(lambda conn: store.workspace_exists(conn, workspace_id)):
        raise WorkspaceNotFound()
    raise Conflict(
        "if_match_version mismatch",
        expected_version=expected,
        current_version=None if current is None else int(current["version"]),
    )


def get_memory_value(workspace_id: UUID, raw_key: str) -> MemoryValue:
    key = _path_key(raw_key)
    row = db.single_statement(lambda conn: store.get_value(conn, workspace_id, key))
    if row is None:
        raise _key_not_found()
    return MemoryValue.model_validate(row)


def list_memory_values(workspace_id: UUID) -> list[MemoryValue]:
    rows = db.single_statement(lambda conn: store.list_values(conn, workspace_id))
    if rows is None:
        raise WorkspaceNotFound()
    return [MemoryValue.model_validate(row) for row in rows]


def delete_memory_value(workspace_id: UUID, raw_key: str) -> None:
    key = _path_key(raw_key)
    if not db.single_statement(lambda conn: store.delete_value(conn, workspace_id, key)):
        raise _key_not_found()


def sweep_expired_memory() -> int:
    """Delete expired key-value entries (they are invisible already; this reclaims the rows)."""
    return db.single_statement(store.delete_expired_values, idempotent=True)


# --- admin export / import -----------------------------------------------------------------------


def export_memories(*, after: UUID | None, limit: int) -> list[ExportedMemory]:
    """Every memory, oldest first, with its workspace's name (ids change when workspaces are
    re-created, names stay); redacted again on the way out, so text stored before a rule existed
    does not leak. Paged: `after` = the last id of the previous page."""
    page = max(1, min(limit, MAX_EXPORT_PAGE))
    rows = db.single_statement(lambda conn: store.export_page(conn, after=after, limit=page))
    if rows is None:
        raise InvalidInput("after: no memory has this id", field="after")
    return [ExportedMemory.model_validate({**row, "content": redact_secrets(row["content"]).text}) for row in rows]


def import_memories(entries: list[Any]) -> ImportResult:
    """Entries in the export's shape, matched to workspaces by name (the oldest live one of that
    name). Skipped: an unknown workspace, or a memory the workspace already has (same scope,
    namespace and content after redaction), also within the batch. Errors: an entry that is not
    valid, too large, or GLOBAL for a workspace that is not a root. Content goes through the same
    redaction and escaping as a commit."""
    if len(entries) > MAX_IMPORT_ENTRIES:
        raise PayloadTooLarge(f"at most {MAX_IMPORT_ENTRIES} memories per import")
    valid: list[ImportedMemory] = []
    errors = 0
    for entry in entries:
        try:
            memory = ImportedMemory.model_validate(entry)
            _check_content_size(memory.content)
        except (ValidationError, PayloadTooLarge):
            errors += 1
            continue
        valid.append(memory)
    with db.transaction() as conn:
        workspaces = store.workspaces_by_name(conn, sorted({memory.workspace_name for memory in valid}))
        rows: dict[tuple[str, Scope, str, str], dict[str, Any]] = {}
        for memory in valid:
            found = workspaces.get(memory.workspace_name)
            if found is None:
                continue
            workspace_id, is_root = found
            if memory.scope == "GLOBAL" and not is_root:
                errors += 1
                continue
            content = _prepared_content(memory.workspace_name, memory.content)
            rows.setdefault(
                (str(workspace_id), memory.scope, memory.namespace, content),
                {
                    "workspace_id": str(workspace_id),
                    "content": content,
                    "scope": memory.scope,
                    "namespace": memory.namespace,
                    "created_at": memory.created_at.isoformat() if memory.created_at else None,
                },
            )
        imported = store.insert_new_memories(conn, list(rows.values()))
    return ImportResult(imported=imported, skipped=len(entries) - imported - errors, errors=errors, total=len(entries))
