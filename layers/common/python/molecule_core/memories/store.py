"""SQL for `agent_memories` and `workspace_memory` (migrations/011).

Search is one statement: the caller's row, its team and the ranked memories it may see. Who sees
what (SPEC §5.11) is written here in SQL so that it costs no extra round trip:

- no scope: the caller's own memories; LOCAL: its own LOCAL ones; GLOBAL: every GLOBAL memory;
- TEAM: TEAM memories of its team — its parent and the parent's children (itself and its
  siblings), or, for a root, itself and its children — that the access rule (registry, SPEC §4.1)
  lets it see. Every team member is the caller itself, a sibling, its parent or (for a root) its
  child, all of which the rule allows, except removed workspaces, which talk to nobody: so the rule
  reduces to "neither side removed". tests/integration/test_memories.py checks this statement
  against `registry.service.is_access_allowed` for every pair of a family tree.

Ranking: two or more characters of `q` are full-text search (`content_tsv`, a generated tsvector
with a GIN index, ranked by ts_rank); one character is a substring match. With an embedding
(pgvector), vectors rank: alone, the memories with an embedding by cosine distance; with `q`,
full text narrows and vectors rank the matches (matches without an embedding last).

Exact or approximate: own, LOCAL and TEAM memories are found by index first (a workspace's or a
team's are tens to hundreds of rows) and every one of them is ranked exactly — an ANN index would
search all memories and filter afterwards, dropping matches. GLOBAL is the one visible set that
is the same for every caller and grows with the fleet; exact ranking reads one page per memory
(a 1 536-float vector fills most of one), so a plain GLOBAL vector search walks the HNSW index of
migration 018 instead (`ranked_by_index` says when: no namespace or text to filter by, the
index's dimension, a limit the index can fill). bench/memories.py measures each kind, and the
recall of the index against exact ranking.

pgvector is optional (migrations/011 adds `embedding` only where the extension exists, 018 the
index only where pgvector has HNSW), so each process asks the catalog once what is there
(`capabilities`).
"""

from __future__ import annotations

import functools
import struct
import threading
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from psycopg import sql
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.types.json import Jsonb

from molecule_core.memories.models import MemorySearch, Scope
from molecule_core.platform.db import Connection

# The index migration 018 creates over GLOBAL memories' embeddings (found by name in the catalog).
GLOBAL_INDEX = "agent_memories_global_embedding_idx"
# pgvector's HNSW returns at most `hnsw.ef_search` rows (its default, 40): a longer search is exact.
INDEX_MAX_LIMIT = 40


class Capabilities(NamedTuple):
    """What this database offers vector search: the oid of pgvector's `vector` type when
    agent_memories has its `embedding` column (else None), and the dimension of the GLOBAL index
    (None without one)."""

    vector_oid: int | None
    global_index_dimensions: int | None


# Each database this process talks to (tests and the bench use several).
_capabilities: dict[tuple[str, str, str], Capabilities] = {}
_capabilities_lock = threading.Lock()


def capabilities(conn: Connection) -> Capabilities:
    info = conn.info
    database = (info.host, str(info.port), info.dbname)
    if database not in _capabilities:
        row = conn.execute(
            r"""
            SELECT to_regtype('vector')::oid AS oid, EXISTS (
                SELECT 1 FROM pg_attribute
                WHERE attrelid = 'agent_memories'::regclass AND attname = 'embedding' AND NOT attisdropped
            ) AS present, (
                SELECT substring(pg_get_indexdef(i.indexrelid) FROM 'vector\((\d+)\)')::int
                FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                WHERE i.indrelid = 'agent_memories'::regclass AND c.relname = %(index)s AND i.indisvalid
            ) AS index_dimensions
            """,
            {"index": GLOBAL_INDEX},
        ).fetchone()
        vector_oid = int(row["oid"]) if row and row["present"] and row["oid"] else None
        found = Capabilities(vector_oid, row["index_dimensions"] if vector_oid and row else None)
        with _capabilities_lock:
            _capabilities[database] = found
    return _capabilities[database]


def vector_type(conn: Connection) -> int | None:
    return capabilities(conn).vector_oid


def forget_schema_capabilities() -> None:
    """Ask the catalog again on next use (after a migration changed the table)."""
    with _capabilities_lock:
        _capabilities.clear()


def ranked_by_index(search: MemorySearch, *, dimensions: int, index_dimensions: int | None) -> bool:
    """Whether a vector search walks the GLOBAL index rather than ranking exactly: GLOBAL with
    nothing else to filter by (the index knows no namespace or text, and would drop what a filter
    leaves out), vectors of the index's dimension, and no more rows than the index returns."""
    return (
        search.scope == "GLOBAL"
        and search.namespace is None
        and search.text is None
        and index_dimensions == dimensions
        and search.limit <= INDEX_MAX_LIMIT
    )


class _Embedding(NamedTuple):
    values: list[float]


class _EmbeddingDumper(Dumper):
    """An embedding as a binary `vector` parameter (pgvector's vector_recv: dimensions, a zero,
    then big-endian float4s). The text form would cost more than the search itself: formatting
    1 536 floats takes about a millisecond in Python, and the server parses them again."""

    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        values = obj.values
        return struct.pack(f">HH{len(values)}f", len(values), 0, *values)


@functools.cache
def _dumper_for(oid: int) -> type[_EmbeddingDumper]:
    return type("EmbeddingDumper", (_EmbeddingDumper,), {"oid": oid})


def _embedding_param(conn: Connection, oid: int, values: list[float]) -> _Embedding:
    # The type's oid differs between databases, so each connection is told its own.
    conn.adapters.register_dumper(_Embedding, _dumper_for(oid))
    return _Embedding(values)


# --- agent memories ------------------------------------------------------------------------------


def insert_memory(
    conn: Connection,
    workspace_id: UUID,
    *,
    content: str,
    scope: Scope,
    namespace: str,
    embedding: list[float] | None,
) -> UUID | None:
    """Insert a memory of `workspace_id`; None when the workspace does not exist or the scope is
    GLOBAL and the workspace is not a root (`workspace_is_root` tells which). The embedding is
    stored where pgvector is installed, and dropped otherwise."""
    oid = vector_type(conn) if embedding is not None else None
    statement = sql.SQL(
        """
        INSERT INTO agent_memories (workspace_id, content, scope, namespace{embedding_column})
        SELECT w.id, %(content)s, %(scope)s, %(namespace)s{embedding_value}
        FROM workspaces w
        WHERE w.id = %(workspace_id)s AND (%(scope)s <> 'GLOBAL' OR w.parent_id IS NULL)
        RETURNING id
        """
    ).format(
        embedding_column=sql.SQL(", embedding" if oid else ""),
        embedding_value=sql.SQL(", %(embedding)s" if oid else ""),
    )
    row = conn.execute(
        statement,
        {
            "workspace_id": workspace_id,
            "content": content,
            "scope": scope,
            "namespace": namespace,
            "embedding": _embedding_param(conn, oid, embedding) if oid and embedding else None,
        },
    ).fetchone()
    return UUID(str(row["id"])) if row else None


def workspace_is_root(conn: Connection, workspace_id: UUID) -> bool | None:
    """True for a root workspace, False for a child, None when it does not exist."""
    row = conn.execute("SELECT parent_id FROM workspaces WHERE id = %(id)s", {"id": workspace_id}).fetchone()
    return None if row is None else row["parent_id"] is None


def delete_memory(conn: Connection, workspace_id: UUID, memory_id: UUID) -> bool:
    cursor = conn.execute(
        "DELETE FROM agent_memories WHERE id = %(id)s AND workspace_id = %(workspace_id)s",
        {"id": memory_id, "workspace_id": workspace_id},
    )
    return cursor.rowcount > 0


_VISIBLE: dict[Scope | None, str] = {
    None: "m.workspace_id = caller.id",
    "LOCAL": "m.workspace_id = caller.id AND m.scope = 'LOCAL'",
    "GLOBAL": "m.scope = 'GLOBAL'",
    "TEAM": "m.scope = 'TEAM' AND caller.live AND m.workspace_id = ANY(caller.team)",
}
# The team rule (module docstring): the caller's parent and the parent's children, or a root and
# its children; neither side removed. Two branches, so that each is one index lookup (an OR of
# the two conditions would read every workspace).
_TEAM = """,
            ARRAY(
                SELECT t.id FROM workspaces t WHERE t.id = coalesce(w.parent_id, w.id) AND t.status <> 'removed'
                UNION ALL
                SELECT t.id FROM workspaces t WHERE t.parent_id = coalesce(w.parent_id, w.id) AND t.status <> 'removed'
            ) AS team"""
_TSQUERY = "websearch_to_tsquery('english', %(text)s)"


def _search_statement(search: MemorySearch, *, vectors: int | None, by_index: bool = False) -> sql.Composed:
    """`vectors`: the dimension vectors rank by (None: no vector ranking); `by_index`: rank through
    the GLOBAL index (`ranked_by_index`), else exactly. The indexed form repeats the index's
    expression and predicate word for word, the dimension a literal, so that the planner can prove
    the index applies (in a prepared statement's generic plan too, where no value is known), and
    orders by distance alone, the order the index yields."""
    conditions = [_VISIBLE[search.scope]]
    if search.namespace is not None:
        conditions.append("m.namespace = %(namespace)s")
    if search.is_full_text:
        conditions.append(f"m.content_tsv @@ {_TSQUERY}")
    elif search.text is not None:
        conditions.append("strpos(lower(m.content), lower(%(text)s)) > 0")
    distance = "NULL::float8"
    order = []
    if vectors is not None and by_index:
        conditions.append(f"vector_dims(m.embedding) = {int(vectors)}")
        distance = f"(m.embedding::vector({int(vectors)})) <=> %(embedding)s"
        order.append("distance")
    elif vectors is not None:
        distance = "m.embedding <=> %(embedding)s"
        if search.text is None:
            conditions.append("m.embedding IS NOT NULL AND vector_dims(m.embedding) = %(dimensions)s")
        else:
            # Full-text matches without a vector, or with one of another dimension (written before
            # MEMORY_EMBEDDING_DIMENSIONS changed), have no distance: ranked last, never an error.
            distance = f"CASE WHEN vector_dims(m.embedding) = %(dimensions)s THEN {distance} END"
        order.append("distance NULLS LAST")
    if not by_index:
        if search.is_full_text:
            order.append(f"ts_rank(m.content_tsv, {_TSQUERY}) DESC")
        order += ["m.created_at DESC", "m.id"]
    return sql.SQL(
        """
        WITH caller AS (
            SELECT w.id, w.status <> 'removed' AS live{team}
            FROM workspaces w WHERE w.id = %(workspace_id)s
        )
        SELECT caller.id AS caller_id, found.id, found.workspace_id, found.content, found.scope,
               found.namespace, found.created_at, 1 - found.distance AS similarity_score
        FROM caller
        LEFT JOIN LATERAL (
            SELECT m.id, m.workspace_id, m.content, m.scope, m.namespace, m.created_at, {distance} AS distance
            FROM agent_memories m
            WHERE {conditions}
            ORDER BY {order}
            LIMIT %(limit)s
        ) found ON true
        """
    ).format(
        team=sql.SQL(_TEAM if search.scope == "TEAM" else ""),
        distance=sql.SQL(distance),
        conditions=sql.SQL("\n              AND ".join(conditions)),
        order=sql.SQL(", ".join(order)),
    )


def search_memories(
    conn: Connection, workspace_id: UUID, search: MemorySearch, *, dimensions: int
) -> list[dict[str, Any]] | None:
    """The memories `workspace_id` may see that match, best first; None when the workspace does
    not exist. An embedding ranks only where pgvector is installed (else: full text / newest)."""
    found = capabilities(conn) if search.embedding is not None else Capabilities(None, None)
    oid = found.vector_oid
    by_index = oid is not None and ranked_by_index(
        search, dimensions=dimensions, index_dimensions=found.global_index_dimensions
    )
    rows = conn.execute(
        _search_statement(search, vectors=dimensions if oid is not None else None, by_index=by_index),
        {
            "workspace_id": workspace_id,
            "namespace": search.namespace,
            "text": search.text,
            "embedding": _embedding_param(conn, oid, search.embedding) if oid and search.embedding else None,
            "dimensions": dimensions,
            "limit": search.limit,
        },
    ).fetchall()
    if not rows:
        return None
    return [row for row in rows if row["id"] is not None]


# --- key-value memory ----------------------------------------------------------------------------

_VALUE_COLUMNS = "key, value, version, expires_at, updated_at"


def _live(expires_at: str = "expires_at") -> str:
    """A value that has not expired (an expired one is invisible before the sweep deletes it)."""
    return f"({expires_at} IS NULL OR {expires_at} > now())"


_LIVE = _live()


def _insert_value(conn: Connection, params: dict[str, Any], *, only_over_expired: bool) -> int | None:
    """INSERT … ON CONFLICT DO UPDATE; the SELECT from workspaces makes an unknown workspace write
    nothing (None) instead of failing on the foreign key."""
    guard = f"WHERE NOT {_live('workspace_memory.expires_at')}" if only_over_expired else ""
    row = conn.execute(
        f"""
        INSERT INTO workspace_memory (workspace_id, key, value, expires_at)
        SELECT w.id, %(key)s, %(value)s, %(expires_at)s FROM workspaces w WHERE w.id = %(workspace_id)s
        ON CONFLICT (workspace_id, key) DO UPDATE
        SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, updated_at = now(),
            version = workspace_memory.version + 1
        {guard}
        RETURNING version
        """,
        {**params, "value": Jsonb(params["value"])},
    ).fetchone()
    return int(row["version"]) if row else None


def upsert_value(
    conn: Connection, workspace_id: UUID, key: str, value: Any, *, expires_at: datetime | None
) -> int | None:
    """Last write wins; None when the workspace does not exist. The version counts every write (an
    expired row is replaced and its version still counts up, so a version a stale writer holds
    never comes back)."""
    params = {"workspace_id": workspace_id, "key": key, "value": value, "expires_at": expires_at}
    return _insert_value(conn, params, only_over_expired=False)


def create_value(
    conn: Connection, workspace_id: UUID, key: str, value: Any, *, expires_at: datetime | None
) -> int | None:
    """Compare-and-swap with version 0: write only if the key has no live value; None otherwise
    (or when the workspace does not exist). Of two racing creators, the second waits for the
    first's row and then finds it live."""
    params = {"workspace_id": workspace_id, "key": key, "value": value, "expires_at": expires_at}
    return _insert_value(conn, params, only_over_expired=True)


def swap_value(
    conn: Connection, workspace_id: UUID, key: str, value: Any, *, expected_version: int, expires_at: datetime | None
) -> int | None:
    """Compare-and-swap: write only if the live value has `expected_version`; None otherwise. Of
    two writers holding the same version, the second waits on the first's row lock, re-reads the
    row, finds the new version and writes nothing."""
    row = conn.execute(
        f"""
        UPDATE workspace_memory
        SET value = %(value)s, expires_at = %(expires_at)s, updated_at = now(), version = version + 1
        WHERE workspace_id = %(workspace_id)s AND key = %(key)s AND version = %(expected)s AND {_LIVE}
        RETURNING version
        """,
        {
            "workspace_id": workspace_id,
            "key": key,
            "value": Jsonb(value),
            "expires_at": expires_at,
            "expected": expected_version,
        },
    ).fetchone()
    return int(row["version"]) if row else None


def get_value(conn: Connection, workspace_id: UUID, key: str) -> dict[str, Any] | None:
    return conn.execute(
        f"""
        SELECT {_VALUE_COLUMNS} FROM workspace_memory
        WHERE workspace_id = %(workspace_id)s AND key = %(key)s AND {_LIVE}
        """,
        {"workspace_id": workspace_id, "key": key},
    ).fetchone()


def list_values(conn: Connection, workspace_id: UUID) -> list[dict[str, Any]] | None:
    """Live values ordered by key; None when the workspace does not exist (one statement: the
    workspace row is joined to its values)."""
    rows = conn.execute(
        f"""
        SELECT v.key, v.value, v.version, v.expires_at, v.updated_at
        FROM workspaces w
        LEFT JOIN workspace_memory v ON v.workspace_id = w.id AND {_live("v.expires_at")}
        WHERE w.id = %(workspace_id)s
        ORDER BY v.key
        """,
        {"workspace_id": workspace_id},
    ).fetchall()
    if not rows:
        return None
    return [row for row in rows if row["key"] is not None]


def workspace_exists(conn: Connection, workspace_id: UUID) -> bool:
    return conn.execute("SELECT 1 FROM workspaces WHERE id = %(id)s", {"id": workspace_id}).fetchone() is not None


def delete_value(conn: Connection, workspace_id: UUID, key: str) -> bool:
    """False when there is no live value (an expired one is gone already, whatever the sweep did)."""
    cursor = conn.execute(
        f"DELETE FROM workspace_memory WHERE workspace_id = %(workspace_id)s AND key = %(key)s AND {_LIVE}",
        {"workspace_id": workspace_id, "key": key},
    )
    return cursor.rowcount > 0


def delete_expired_values(conn: Connection) -> int:
    return conn.execute("DELETE FROM workspace_memory WHERE expires_at <= now()").rowcount


# --- admin export / import -----------------------------------------------------------------------


def export_page(conn: Connection, *, after: UUID | None, limit: int) -> list[dict[str, Any]] | None:
    """Memories oldest first with their workspace's name, `limit` at a time after the memory
    `after`; None when `after` names no memory."""
    cursor_row = None
    if after is not None:
        cursor_row = conn.execute(
            "SELECT created_at, id FROM agent_memories WHERE id = %(id)s", {"id": after}
        ).fetchone()
        if cursor_row is None:
            return None
    return conn.execute(
        """
        SELECT m.id, m.content, m.scope, m.namespace, m.created_at, w.name AS workspace_name
        FROM agent_memories m JOIN workspaces w ON w.id = m.workspace_id
        WHERE %(after_at)s::timestamptz IS NULL OR (m.created_at, m.id) > (%(after_at)s, %(after_id)s::uuid)
        ORDER BY m.created_at, m.id
        LIMIT %(limit)s
        """,
        {
            "after_at": cursor_row["created_at"] if cursor_row else None,
            "after_id": cursor_row["id"] if cursor_row else None,
            "limit": limit,
        },
    ).fetchall()


def workspaces_by_name(conn: Connection, names: list[str]) -> dict[str, tuple[UUID, bool]]:
    """name → (id, is root) of the oldest live workspace of each name (names are not unique)."""
    rows = conn.execute(
        """
        SELECT DISTINCT ON (name) name, id, parent_id IS NULL AS is_root
        FROM workspaces
        WHERE name = ANY(%(names)s) AND status <> 'removed'
        ORDER BY name, created_at, id
        """,
        {"names": names},
    ).fetchall()
    return {row["name"]: (UUID(str(row["id"])), bool(row["is_root"])) for row in rows}


def insert_new_memories(conn: Connection, entries: list[dict[str, Any]]) -> int:
    """Insert the entries (workspace_id, content, scope, namespace, created_at) that are not there
    yet (same workspace, scope, namespace and content); the number inserted."""
    if not entries:
        return 0
    cursor = conn.execute(
        """
        INSERT INTO agent_memories (workspace_id, content, scope, namespace, created_at)
        SELECT e.workspace_id, e.content, e.scope, e.namespace, coalesce(e.created_at, now())
        FROM jsonb_to_recordset(%(entries)s) AS e(
            workspace_id uuid, content text, scope text, namespace text, created_at timestamptz)
        WHERE NOT EXISTS (
            SELECT 1 FROM agent_memories m
            WHERE m.workspace_id = e.workspace_id AND m.scope = e.scope
              AND m.namespace = e.namespace AND m.content = e.content
        )
        """,
        {"entries": Jsonb(entries)},
    )
    return cursor.rowcount
