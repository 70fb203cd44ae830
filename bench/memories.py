"""Memories (issue 14): search over 100 000 memories of 1 000 workspaces, against a primary-key
lookup measured in the same run.

Data: 1 000 workspaces in 100 teams (a root with 9 children), 100 memories each (INSERT … SELECT
generate_series, 10 transactions of 10 000 rows, then VACUUM ANALYZE): children half TEAM and half
LOCAL, roots 20 % GLOBAL (2 000 GLOBAL memories in all); 16 words each drawn from 1 200 made-up
words (skewed: a few common, most rare); every memory with an embedding of the default dimension
(MEMORY_EMBEDDING_DIMENSIONS, 1536) about one of 100 topics: the topic's random centre plus as
much random noise again (two memories of a topic have a cosine similarity near 0.5, of two topics
near 0), as a model's embeddings of what agents remember are grouped by what they are about.

Timed, interleaved (each round in a rotated order), from a random child workspace each time,
through `memories.service.search_memories` (the statement plus building the answer): ranked full
text (own memories, TEAM, GLOBAL), vector (own, TEAM, GLOBAL), hybrid (full text narrows, vectors
rank; TEAM); and `SELECT … FROM agent_memories WHERE id = …` on the same connection. A query
vector is about a random topic, made the way memories are. Target: a ranked full-text query and a
vector query each ≤ 10× the lookup at p50 (PASS/MISS). Also shown: GLOBAL ranked exactly (a
namespace filter takes the exact path over the same memories), and the channel plugin's recall
through the in-process gateway with a workspace token. Then the recall of the GLOBAL index: the
share of the exact top 10 it returns, for topical queries (target ≥ 0.95) and, for the record, for
random directions that no memory is about. Then EXPLAIN (ANALYZE, BUFFERS) of each search
statement, with the indexes its plan uses.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from molecule_core.auth.credentials import mint_token
from molecule_core.platform import db

from bench import print_table
from bench.a2a import explain_next
from bench.statements import Client, client_problems, embedded_database, platform_env, report_problems
from bench.support import admin_connection, p50, p99, thousands, timed_ms, verdict

TEAMS = 100
MEMBERS_PER_TEAM = 9  # children of each root
MEMORIES_PER_WORKSPACE = 100
BATCH_WORKSPACES = 100  # 10 000 memories per transaction
WORDS_PER_MEMORY = 16
VOCABULARY = 1_200
DIMENSIONS = 1536
TOPICS = 100
NOISE = 1.0  # a memory's noise against its topic's centre, both uniform in ±0.5 per component
RECALL_QUERIES = 100
TARGET_RECALL = 0.95
ROUNDS = 220
WARMUP = 20
TARGET_RATIO = 10.0
# The server's buffer cache holds the table (about 860 MB), as a production database's does (RDS
# gives shared_buffers a quarter of an instance's memory: 1 GB on a 4 GB instance, and Aurora
# three quarters). PostgreSQL's own default, 128 MB, is sized for a laptop, not for this table.
SERVER_SETTINGS = {"shared_buffers": "1GB"}
HOST = {"host": "127.0.0.1:8080"}

TEAMS_SQL = """
    INSERT INTO workspaces (name, runtime, external, status, delivery_mode, url)
    SELECT 'team-' || g, 'external', true, 'online', 'poll', 'remote://no-inbound'
    FROM generate_series(1, %(teams)s) AS g
"""
MEMBERS_SQL = """
    INSERT INTO workspaces (name, runtime, external, status, delivery_mode, url, parent_id)
    SELECT root.name || '-member-' || m, 'external', true, 'online', 'poll', 'remote://no-inbound', root.id
    FROM workspaces root, generate_series(1, %(members)s) AS m
    WHERE root.parent_id IS NULL
"""
TOPICS_SQL = """
    CREATE TEMPORARY TABLE bench_topics AS
    SELECT k - 1 AS k, (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, %(dimensions)s + 0 * k))::vector
           AS centre
    FROM generate_series(1, %(topics)s) AS k
"""
# One row per (workspace of the batch, n), about the topic its id and n hash to: the words and the
# noise are correlated subqueries (`+ 0 * n`), so each row draws its own.
MEMORIES_SQL = """
    INSERT INTO agent_memories (workspace_id, scope, namespace, content, embedding, created_at)
    SELECT w.id,
           CASE WHEN w.parent_id IS NULL AND n %% 5 = 0 THEN 'GLOBAL'
                WHEN n %% 2 = 0 THEN 'TEAM' ELSE 'LOCAL' END,
           'general',
           (SELECT string_agg((%(words)s::text[])[1 + floor(random() ^ 2 * %(vocabulary)s)::int], ' ')
              FROM generate_series(1, %(words_per_memory)s + 0 * n)),
           t.centre + (SELECT array_agg((random()::real - 0.5) * %(noise)s)
                       FROM generate_series(1, %(dimensions)s + 0 * n))::vector,
           now() - make_interval(secs => n * 60)
    FROM (SELECT id, parent_id FROM workspaces ORDER BY id OFFSET %(offset)s LIMIT %(batch)s) AS w
    CROSS JOIN generate_series(1, %(per_workspace)s) AS n
    JOIN bench_topics t ON t.k = (hashtext(w.id::text || ':' || n) & 2147483647) %% %(topics)s
"""


def made_up_words(count: int, seed: int = 14) -> list[str]:
    """Pronounceable, distinct, and not English (so no stop words and stable stems)."""
    rng = random.Random(seed)
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < count:
        word = "".join(rng.choice(syllables) for _ in range(3)) + rng.choice("lnrx")
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


@dataclass
class Fleet:
    members: list[str]  # child workspace ids
    tokens: dict[str, str]  # workspace id → bearer
    memory_ids: list[str]
    words: list[str]
    topics: list[list[float]]  # each topic's centre


def load(url: str) -> tuple[Fleet, float]:
    start = time.perf_counter()
    words = made_up_words(VOCABULARY)
    with admin_connection(url) as sql:
        sql.execute("TRUNCATE workspaces, structure_events CASCADE")
        sql.execute(TEAMS_SQL, {"teams": TEAMS})
        sql.execute(MEMBERS_SQL, {"members": MEMBERS_PER_TEAM})
        sql.execute(TOPICS_SQL, {"dimensions": DIMENSIONS, "topics": TOPICS})
        total = TEAMS * (MEMBERS_PER_TEAM + 1)
        for offset in range(0, total, BATCH_WORKSPACES):
            sql.execute(
                MEMORIES_SQL,
                {
                    "words": words,
                    "vocabulary": VOCABULARY,
                    "words_per_memory": WORDS_PER_MEMORY,
                    "dimensions": DIMENSIONS,
                    "noise": NOISE,
                    "topics": TOPICS,
                    "offset": offset,
                    "batch": BATCH_WORKSPACES,
                    "per_workspace": MEMORIES_PER_WORKSPACE,
                },
            )
        members = [str(r[0]) for r in sql.execute("SELECT id FROM workspaces WHERE parent_id IS NOT NULL ORDER BY id")]
        tokens = {workspace_id: mint_token() for workspace_id in members}
        with sql.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO workspace_auth_tokens (workspace_id, token_hash, prefix, origin, last_used_at) "
                "VALUES (%s, %s, %s, 'test', now())",
                [(workspace_id, t.token_hash, t.prefix) for workspace_id, t in tokens.items()],
            )
        memory_ids = [str(r[0]) for r in sql.execute("SELECT id FROM agent_memories ORDER BY random() LIMIT 2000")]
        topics = [list(r[0]) for r in sql.execute("SELECT centre::real[] FROM bench_topics ORDER BY k")]
        for table in ("workspaces", "workspace_auth_tokens", "agent_memories"):
            sql.execute(f"VACUUM ANALYZE {table}")
        sql.execute("CHECKPOINT")
    fleet = Fleet(members, {k: t.plaintext for k, t in tokens.items()}, memory_ids, words, topics)
    return fleet, time.perf_counter() - start


def query_word(url: str, words: list[str]) -> tuple[str, int]:
    """A word in about 1 % of the memories (as a recalled topic would be), and its count."""
    with admin_connection(url) as sql:
        counts = []
        for word in words[::40]:
            row = sql.execute(
                "SELECT count(*) FROM agent_memories WHERE content_tsv @@ websearch_to_tsquery('english', %s)", (word,)
            ).fetchone()
            counts.append((abs((row[0] if row else 0) - 1000), word, row[0] if row else 0))
    _, word, count = min(counts)
    return word, count


@dataclass(frozen=True)
class Query:
    name: str
    kind: str  # "full text" | "vector" | "hybrid"
    scope: str | None
    text: bool
    vector: bool
    namespace: str | None = None
    judged: bool = True


EXACT_GLOBAL = "vector, GLOBAL, exact (namespace filter)"
QUERIES = [
    Query("full text, own memories", "full text", None, text=True, vector=False),
    Query("full text, TEAM", "full text", "TEAM", text=True, vector=False),
    Query("full text, GLOBAL", "full text", "GLOBAL", text=True, vector=False),
    Query("vector, own memories", "vector", None, text=False, vector=True),
    Query("vector, TEAM", "vector", "TEAM", text=False, vector=True),
    Query("vector, GLOBAL", "vector", "GLOBAL", text=False, vector=True),
    Query("hybrid, TEAM", "hybrid", "TEAM", text=True, vector=True),
    Query(EXACT_GLOBAL, "vector", "GLOBAL", text=False, vector=True, namespace="general", judged=False),
]


def random_vector(rng: random.Random) -> list[float]:
    """A random direction: about no topic."""
    return [rng.random() - 0.5 for _ in range(DIMENSIONS)]


def topical_vector(rng: random.Random, topics: list[list[float]]) -> list[float]:
    """A query about a random topic, made the way the memories are (MEMORIES_SQL)."""
    return [c + (rng.random() - 0.5) * NOISE for c in rng.choice(topics)]


def _searcher(query: Query, word: str) -> Callable[[str, list[float]], list[Any]]:
    from molecule_core.memories import service  # inside platform_env: see registry.sweep_run
    from molecule_core.memories.models import SearchMemoriesRequest

    def run(workspace_id: str, vector: list[float]) -> list[Any]:
        request = SearchMemoriesRequest.model_construct(
            q=word if query.text else None,
            scope=query.scope,
            namespace=query.namespace,
            limit=10,
            embedding=vector if query.vector else None,
            workspace_id=None,
        )
        return service.search_memories(UUID(workspace_id), request)

    return run


def _primary_key_lookup(memory_id: str) -> Any:
    return db.single_statement(
        lambda conn: conn.execute(
            "SELECT id, workspace_id, content, scope, namespace, created_at FROM agent_memories WHERE id = %s",
            (memory_id,),
        ).fetchone()
    )


@dataclass
class Times:
    samples: dict[str, list[float]] = field(default_factory=dict)
    hits: dict[str, list[int]] = field(default_factory=dict)

    def add(self, name: str, ms: float, hits: int | None = None) -> None:
        self.samples.setdefault(name, []).append(ms)
        if hits is not None:
            self.hits.setdefault(name, []).append(hits)


PRIMARY_KEY = "primary-key lookup"
GATEWAY = "gateway: GET ?q=&scope=TEAM, workspace token"


def time_queries(api: Client, fleet: Fleet, word: str) -> Times:
    rng = random.Random(5)
    searchers = {query.name: _searcher(query, word) for query in QUERIES}
    times = Times()
    for index in range(ROUNDS):
        workspace_id = rng.choice(fleet.members)
        vector = topical_vector(rng, fleet.topics)
        memory_id = rng.choice(fleet.memory_ids)
        path = f"/workspaces/{workspace_id}/memories?workspace_id={workspace_id}&q={word}&scope=team"
        headers = {**HOST, "authorization": f"Bearer {fleet.tokens[workspace_id]}"}
        calls: list[tuple[str, Callable[[], Any]]] = [
            (name, lambda search=search, w=workspace_id, v=vector: search(w, v)) for name, search in searchers.items()
        ]
        calls.append((PRIMARY_KEY, lambda m=memory_id: _primary_key_lookup(m)))
        calls.append((GATEWAY, lambda p=path, h=headers: api.gateway.handle("GET", p, h)))
        shift = index % len(calls)
        for name, call in calls[shift:] + calls[:shift]:
            ms, result = timed_ms(call)
            if index < WARMUP:
                continue
            if name == GATEWAY:
                if result.status != 200:
                    api.problems.append(f"gateway recall answered {result.status}: {result.text[:200]}")
                times.add(name, ms, len(json.loads(result.body)) if result.status == 200 else None)
            elif name == PRIMARY_KEY:
                times.add(name, ms)
            else:
                times.add(name, ms, len(result))
    return times


def report(times: Times) -> None:
    lookup = p50(times.samples[PRIMARY_KEY])
    rows = []
    judged_names = {query.name for query in QUERIES if query.judged}
    for name in [query.name for query in QUERIES] + [GATEWAY, PRIMARY_KEY]:
        samples = times.samples[name]
        hits = times.hits.get(name, [])
        ratio = p50(samples) / lookup
        judged = name in judged_names
        rows.append(
            [
                name,
                len(samples),
                f"{min(hits)}-{max(hits)}" if hits else "-",
                f"{p50(samples):.2f}",
                f"{p99(samples):.2f}",
                f"{ratio:.1f}×",
                verdict(ratio <= TARGET_RATIO) if judged else "",
            ]
        )
    print_table(
        ["query", "calls", "hits", "p50 ms", "p99 ms", "p50 ÷ lookup", f"≤ {TARGET_RATIO:.0f}×"],
        rows,
        right=(1, 2, 3, 4, 5),
    )
    print(
        "(service: memories.service.search_memories(), limit 10, from a random child workspace; lookup: SELECT … "
        "FROM agent_memories WHERE id = …; exact: the same GLOBAL memories, ranked without the index; gateway: "
        "the channel plugin's recall through the in-process gateway; interleaved, ms)"
    )


EXACT_GLOBAL_SQL = """
    SELECT id FROM agent_memories
    WHERE scope = 'GLOBAL' AND embedding IS NOT NULL AND vector_dims(embedding) = %(dimensions)s
    ORDER BY embedding <=> %(vector)s::vector, created_at DESC, id
    LIMIT 10
"""


def recall(url: str, fleet: Fleet, problems: list[str]) -> None:
    """The share of the exact top 10 (every GLOBAL memory ranked, on another connection) that
    the indexed GLOBAL search returns, over RECALL_QUERIES queries of each kind."""
    search = _searcher(next(query for query in QUERIES if query.name == "vector, GLOBAL"), "")
    rng = random.Random(21)
    shares: dict[str, list[float]] = {"about a topic": [], "a random direction": []}
    with admin_connection(url) as sql:
        for _ in range(RECALL_QUERIES):
            for kind, vector in (
                ("about a topic", topical_vector(rng, fleet.topics)),
                ("a random direction", random_vector(rng)),
            ):
                found = {str(memory.id) for memory in search(rng.choice(fleet.members), vector)}
                exact = {
                    str(row[0])
                    for row in sql.execute(
                        EXACT_GLOBAL_SQL, {"dimensions": DIMENSIONS, "vector": "[" + ",".join(map(str, vector)) + "]"}
                    )
                }
                if len(exact) != 10:
                    problems.append(f"exact GLOBAL ranking found {len(exact)} memories, not 10")
                shares[kind].append(len(found & exact) / max(len(exact), 1))
    topical = sum(shares["about a topic"]) / RECALL_QUERIES
    stray = sum(shares["a random direction"]) / RECALL_QUERIES
    print(
        f"\nrecall@10 of the GLOBAL index against exact ranking, {RECALL_QUERIES} queries each: "
        f"about a topic {topical:.3f} (target ≥ {TARGET_RECALL}) — {verdict(topical >= TARGET_RECALL)}; "
        f"a random direction, about no topic {stray:.3f} (shown, not judged: every memory is about as far)"
    )


_INDEX = re.compile(r"(?:Index|Index Only|Bitmap Index) Scan (?:Backward )?(?:using|on) (\w+)")
_VECTOR = re.compile(r"'\[[-0-9.e,+]+\]'")


def _shortened(line: str) -> str:
    """A plan line with the query vector's 1 536 values elided."""
    return _VECTOR.sub(lambda m: f"'[…{m[0].count(',') + 1} values…]'", line)


def explain(url: str, fleet: Fleet, word: str, problems: list[str]) -> None:
    """Each search's plan; the indexed GLOBAL vector search must use the GLOBAL index, every
    other one an index of agent_memories."""
    from molecule_core.memories.store import GLOBAL_INDEX

    rng = random.Random(9)
    workspace_id = rng.choice(fleet.members)
    vector = topical_vector(rng, fleet.topics)
    for query in QUERIES:
        search = _searcher(query, word)
        plan = explain_next(url, "FROM agent_memories m", lambda search=search: search(workspace_id, vector))
        indexes = sorted({m for line in plan for m in _INDEX.findall(line)})
        if query.name == "vector, GLOBAL":
            uses_index = GLOBAL_INDEX in indexes
        else:
            uses_index = any(name.startswith("agent_memories") for name in indexes)
        print(
            f"\nEXPLAIN (ANALYZE, BUFFERS) — {query.name}: indexes used: {', '.join(indexes) or 'none'} — "
            f"{verdict(uses_index)}"
        )
        for line in plan:
            print(f"  {_shortened(line)}")
        if not plan:
            problems.append(f"no search statement was captured for EXPLAIN [{query.name}]")


def main() -> int:
    print(
        f"Memories (issue 14): search over {thousands(TEAMS * (MEMBERS_PER_TEAM + 1) * MEMORIES_PER_WORKSPACE)} "
        f"memories of {thousands(TEAMS * (MEMBERS_PER_TEAM + 1))} workspaces against a primary-key lookup"
    )
    print(
        f"(embedded PostgreSQL with pgvector, shared_buffers {SERVER_SETTINGS['shared_buffers']}, "
        f"{DIMENSIONS}-dimensional embeddings about {TOPICS} topics on every memory)\n"
    )
    problems: list[str] = []
    with platform_env(), embedded_database(SERVER_SETTINGS) as url:
        db.configure(dsn=url)
        api = Client()
        try:
            fleet, seconds = load(url)
            total = TEAMS * (MEMBERS_PER_TEAM + 1) * MEMORIES_PER_WORKSPACE
            print(f"loaded {thousands(total)} memories in {seconds:.0f} s, VACUUM ANALYZE done")
            word, count = query_word(url, fleet.words)
            print(
                f"query word {word!r}: in {thousands(count)} memories; "
                "each round a new query vector about a random topic\n"
            )
            report(time_queries(api, fleet, word))
            recall(url, fleet, problems)
            explain(url, fleet, word, problems)
        except (KeyError, TypeError, ValueError) as exc:
            api.problems.append(f"scenario stopped: {exc!r}")
        finally:
            db.configure(dsn=None)
        problems += client_problems(api)
    return report_problems(problems)
