"""SQL of the A2A domain.

- The proxy: everything the push path needs before dispatch in one round trip — the target row
  (status, URL, mode, capacity, budget, inbound secret) and the caller's and target's lineages for
  the access rule (the `workspace_lineages` SQL function, migrations/006).
- `a2a_queue`: the outbox of A2A messages that wait for a busy or long-running target (SPEC §5.5).
  The row is the truth; the SQS FIFO message only carries its id. Active rows are `queued` and
  `dispatched`; `completed`, `failed`, `expired` and `dropped` are final.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from uuid import UUID

from psycopg.types.json import Jsonb

from molecule_core.platform.db import Connection


class DispatchContext(NamedTuple):
    id: UUID
    name: str
    status: str
    runtime: str
    external: bool
    url: str | None
    delivery_mode: str | None
    instance_id: str | None
    active_tasks: int
    max_concurrent_tasks: int
    monthly_spend: int
    budget_limit: int | None
    platform_inbound_secret: str | None
    agent_card: Any  # as registered: the agent's A2A version(s) come from it
    # what `workspace_lineages` answers for the target and the caller (registry.models parses it);
    # None when no workspace calls (a user or an org integration: the access rule is not theirs)
    lineages: dict[str, Any] | None


class Dispatch(NamedTuple):
    """The one read before dispatch: what the presented bearer resolved to (`live_bearer`; all
    None when none was presented or it is not live) and the target (None when unknown)."""

    bearer_kind: str | None
    bearer_token_id: UUID | None
    bearer_workspace_id: UUID | None
    target: DispatchContext | None


def load_dispatch(
    conn: Connection, target_id: UUID, token_hash: bytes | None, caller_id: UUID | None = None
) -> Dispatch:
    """Everything the proxy needs before dispatch, in one round trip: the caller's credential, the
    target row, and the lineages of both for the access rule (the caller's workspace is the
    bearer's, or `caller_id` when the platform itself sends for a workspace; no lineages are
    walked when no workspace calls)."""
    row = conn.execute(
        """
        WITH bearer AS MATERIALIZED (
            SELECT kind, token_id, workspace_id FROM live_bearer(%(token_hash)s)
            WHERE %(token_hash)s::bytea IS NOT NULL
            LIMIT 1
        )
        SELECT (SELECT kind FROM bearer) AS bearer_kind,
               (SELECT token_id FROM bearer) AS bearer_token_id,
               (SELECT workspace_id FROM bearer) AS bearer_workspace_id,
               t.id, t.name, t.status::text AS status, t.runtime, t.external, t.url, t.delivery_mode,
               t.instance_id, t.active_tasks, t.max_concurrent_tasks, t.monthly_spend, t.budget_limit,
               t.platform_inbound_secret, t.agent_card,
               CASE WHEN coalesce((SELECT workspace_id FROM bearer), %(caller_id)s::uuid) IS NOT NULL THEN
                   workspace_lineages(
                       ARRAY[%(target_id)s::uuid, coalesce((SELECT workspace_id FROM bearer), %(caller_id)s::uuid)]
                   )
               END AS lineages
        FROM (SELECT 1) one
        LEFT JOIN workspaces t ON t.id = %(target_id)s
        """,
        {"target_id": target_id, "token_hash": token_hash, "caller_id": caller_id},
    ).fetchone()
    assert row is not None
    bearer = (row.pop("bearer_kind"), row.pop("bearer_token_id"), row.pop("bearer_workspace_id"))
    return Dispatch(*bearer, DispatchContext(**row) if row["id"] is not None else None)


def mark_dead_agent_offline(conn: Connection, workspace_id: UUID, reason: str) -> bool:
    """The agent behind a live workspace is dead: offline + a (coalesced) restart request + event.
    False when the workspace was not in a live status (nothing changed)."""
    row = conn.execute(
        """
        WITH upd AS (
            UPDATE workspaces
            SET status = 'offline', restart_requested_at = coalesce(restart_requested_at, now()), updated_at = now()
            WHERE id = %(id)s AND status IN ('online', 'degraded', 'awaiting_agent', 'provisioning')
            RETURNING id
        ), event AS (
            INSERT INTO structure_events (event_type, workspace_id, payload)
            SELECT 'WORKSPACE_OFFLINE', id, jsonb_build_object('reason', %(reason)s::text) FROM upd
        )
        SELECT id FROM upd
        """,
        {"id": workspace_id, "reason": reason},
    ).fetchone()
    return row is not None


# --- the A2A queue (SPEC §5.5) -------------------------------------------------------------------

FINAL_STATUSES = ("completed", "failed", "expired", "dropped")


class Enqueued(NamedTuple):
    id: UUID
    created: bool
    published: bool
    queue_depth: int


def insert_queued(
    conn: Connection,
    *,
    target_id: UUID,
    caller_id: UUID | None,
    body: Any,
    method: str | None,
    idempotency_key: str | None,
    ttl_seconds: int,
    protocol_version: str | None = None,
    forwarded_headers: dict[str, str] | None = None,
) -> Enqueued | None:
    """Insert a queued row, or find the active row with the same (target, idempotency key); with the
    target's active depth. None only when a concurrent insert of the same key committed after this
    statement's snapshot (the caller runs it again and then sees that row)."""
    row = conn.execute(
        """
        WITH ins AS (
            INSERT INTO a2a_queue (workspace_id, caller_id, body, method, idempotency_key, expires_at,
                                   protocol_version, forwarded_headers)
            VALUES (%(target)s, %(caller)s, %(body)s, %(method)s, %(key)s,
                    now() + make_interval(secs => %(ttl)s), %(version)s, %(headers)s)
            ON CONFLICT (workspace_id, idempotency_key)
                WHERE idempotency_key IS NOT NULL AND status IN ('queued', 'dispatched')
            DO NOTHING
            RETURNING id, published_at
        ), found AS (
            SELECT id, published_at FROM ins
            UNION ALL
            SELECT q.id, q.published_at FROM a2a_queue q
            WHERE %(key)s::text IS NOT NULL AND q.workspace_id = %(target)s AND q.idempotency_key = %(key)s
              AND q.status IN ('queued', 'dispatched') AND NOT EXISTS (SELECT 1 FROM ins)
        )
        SELECT f.id, f.published_at IS NOT NULL AS published,
               EXISTS (SELECT 1 FROM ins) AS created,
               (SELECT count(*) FROM a2a_queue d
                WHERE d.workspace_id = %(target)s AND d.status IN ('queued', 'dispatched'))
               + (SELECT count(*) FROM ins) AS queue_depth
        FROM found f
        LIMIT 1
        """,
        {
            "target": target_id,
            "caller": caller_id,
            "body": Jsonb(body),
            "method": method,
            "key": idempotency_key,
            "ttl": ttl_seconds,
            "version": protocol_version,
            "headers": Jsonb(forwarded_headers or {}),
        },
    ).fetchone()
    if row is None:
        return None
    return Enqueued(UUID(str(row["id"])), bool(row["created"]), bool(row["published"]), int(row["queue_depth"]))


def mark_published(conn: Connection, queue_ids: list[UUID]) -> int:
    cursor = conn.execute(
        "UPDATE a2a_queue SET published_at = now() WHERE id = ANY(%(ids)s) AND status IN ('queued', 'dispatched')",
        {"ids": queue_ids},
    )
    return cursor.rowcount


class Unpublished(NamedTuple):
    id: UUID
    workspace_id: UUID


# An active row whose message was published this long ago and never claimed to completion has lost
# its message some way the platform could not record (e.g. it reached the dead-letter queue while
# the database was down, and the dead-letter rescue could not run): publish it again. Far longer
# than any legitimate retry path (5 receives, backoff <= 15 min).
STALE_PUBLISH_SECONDS = 2 * 3600


def list_unpublished(conn: Connection, older_than_seconds: int, lease_seconds: int, limit: int) -> list[Unpublished]:
    """Active rows with no live message, oldest first: `queued` (or `dispatched` past its lease —
    its drain died or lost the database before its bookkeeping) whose `published_at` is NULL (the
    publish failed, a drain acknowledged the message without finishing the row, or its message was
    rescued from the dead-letter queue) or so old that its message must be gone."""
    rows = conn.execute(
        """
        SELECT id, workspace_id FROM a2a_queue
        WHERE (status = 'queued'
               OR (status = 'dispatched' AND dispatched_at < now() - make_interval(secs => %(lease)s)))
          AND ((published_at IS NULL AND enqueued_at < now() - make_interval(secs => %(age)s))
               OR published_at < now() - make_interval(secs => %(stale)s))
        ORDER BY enqueued_at, id
        LIMIT %(limit)s
        """,
        {"age": older_than_seconds, "lease": lease_seconds, "stale": STALE_PUBLISH_SECONDS, "limit": limit},
    ).fetchall()
    return [Unpublished(UUID(str(r["id"])), UUID(str(r["workspace_id"]))) for r in rows]


def list_active(conn: Connection, after: UUID | None, limit: int) -> list[Unpublished]:
    """Every `queued` and `dispatched` row, by id (a keyset page after `after`)."""
    rows = conn.execute(
        """
        SELECT id, workspace_id FROM a2a_queue
        WHERE status IN ('queued', 'dispatched') AND (%(after)s::uuid IS NULL OR id > %(after)s)
        ORDER BY id
        LIMIT %(limit)s
        """,
        {"after": after, "limit": limit},
    ).fetchall()
    return [Unpublished(UUID(str(r["id"])), UUID(str(r["workspace_id"]))) for r in rows]


def release_all_leases(conn: Connection) -> int:
    """Every `dispatched` row back to `queued`: for a restart after which no drain can still hold
    a lease (the local stack runs its drains in its own process)."""
    cursor = conn.execute(
        """
        UPDATE a2a_queue SET status = 'queued', last_error = 'interrupted by a restart of the platform'
        WHERE status = 'dispatched'
        """
    )
    return cursor.rowcount


def forget_messages(conn: Connection, queue_ids: list[UUID]) -> list[UUID]:
    """These rows' messages are gone (found in the dead-letter queue): the active ones are marked as
    having no live message, for the outbox sweep to publish again."""
    rows = conn.execute(
        """
        UPDATE a2a_queue SET published_at = NULL
        WHERE id = ANY(%(ids)s) AND status IN ('queued', 'dispatched')
        RETURNING id
        """,
        {"ids": queue_ids},
    ).fetchall()
    return [UUID(str(r["id"])) for r in rows]


class Claim(NamedTuple):
    """The outcome of a claim attempt. `claimed` False: `previous_status` says why (None: no row);
    `leased` True: another drain's lease runs, and the row was marked as having no live message."""

    claimed: bool
    previous_status: str | None
    leased: bool = False
    status: str | None = None
    id: UUID | None = None
    workspace_id: UUID | None = None
    caller_id: UUID | None = None
    body: Any = None
    method: str | None = None
    attempts: int = 0
    target_url: str | None = None
    target_status: str | None = None
    inbound_secret: str | None = None
    protocol_version: str | None = None  # the caller's (None: queued before versions were kept)
    forwarded_headers: dict[str, str] | None = None
    agent_card: Any = None
    queued_ms: float = 0.0  # how long the row had waited since it was queued, at the claim


def claim(conn: Connection, queue_id: UUID, lease_seconds: int) -> Claim:
    """One statement: `queued` (or `dispatched` with a lapsed lease) → `dispatched`, attempts + 1;
    a row past expires_at becomes `expired` instead. Returns the row and its target. A row whose
    lease still runs is not claimed but marked as having no live message (`published_at` NULL): the
    caller acknowledges this message, and the outbox sweep publishes the row again once the lease
    has passed, unless the lease holder finished it first (SPEC §5.5)."""
    row = conn.execute(
        """
        WITH current AS (
            SELECT id, status FROM a2a_queue WHERE id = %(id)s
        ), leased AS (
            UPDATE a2a_queue q SET published_at = NULL
            WHERE q.id = %(id)s AND q.status = 'dispatched'
              AND q.dispatched_at >= now() - make_interval(secs => %(lease)s)
            RETURNING q.id
        ), claimed AS (
            UPDATE a2a_queue q
            SET status = CASE WHEN q.expires_at < now() THEN 'expired' ELSE 'dispatched' END,
                attempts = CASE WHEN q.expires_at < now() THEN q.attempts ELSE q.attempts + 1 END,
                dispatched_at = CASE WHEN q.expires_at < now() THEN q.dispatched_at ELSE now() END,
                last_error = CASE WHEN q.expires_at < now() THEN 'expired before delivery' ELSE q.last_error END
            WHERE q.id = %(id)s
              AND (q.status = 'queued'
                   OR (q.status = 'dispatched' AND q.dispatched_at < now() - make_interval(secs => %(lease)s)))
            RETURNING q.id, q.status, q.workspace_id, q.caller_id, q.body, q.method, q.attempts,
                      q.protocol_version, q.forwarded_headers,
                      extract(epoch FROM now() - q.enqueued_at) * 1000 AS queued_ms
        )
        SELECT cur.status AS previous_status, EXISTS (SELECT 1 FROM leased) AS leased,
               c.id, c.status, c.workspace_id, c.caller_id, c.body, c.method,
               c.attempts, w.url AS target_url, w.status::text AS target_status,
               w.platform_inbound_secret AS inbound_secret, c.protocol_version, c.forwarded_headers,
               w.agent_card, c.queued_ms
        FROM current cur
        LEFT JOIN claimed c ON true
        LEFT JOIN workspaces w ON w.id = c.workspace_id
        """,
        {"id": queue_id, "lease": lease_seconds},
    ).fetchone()
    if row is None:
        return Claim(claimed=False, previous_status=None)
    if row["id"] is None:
        return Claim(claimed=False, previous_status=row["previous_status"], leased=bool(row["leased"]))
    return Claim(
        claimed=True,
        previous_status=row["previous_status"],
        status=row["status"],
        id=UUID(str(row["id"])),
        workspace_id=UUID(str(row["workspace_id"])),
        caller_id=UUID(str(row["caller_id"])) if row["caller_id"] else None,
        body=row["body"],
        method=row["method"],
        attempts=int(row["attempts"]),
        target_url=row["target_url"],
        target_status=row["target_status"],
        inbound_secret=row["inbound_secret"],
        protocol_version=row["protocol_version"],
        forwarded_headers=row["forwarded_headers"] or {},
        agent_card=row["agent_card"],
        queued_ms=float(row["queued_ms"]),
    )


def complete(conn: Connection, queue_id: UUID, response_status: int, response_body: Any) -> bool:
    cursor = conn.execute(
        """
        UPDATE a2a_queue
        SET status = 'completed', response_status = %(status)s, response_body = %(body)s, completed_at = now(),
            last_error = NULL
        WHERE id = %(id)s AND status = 'dispatched'
        """,
        {"id": queue_id, "status": response_status, "body": None if response_body is None else Jsonb(response_body)},
    )
    return cursor.rowcount == 1


def release(conn: Connection, queue_id: UUID, error: str) -> bool:
    """A failed delivery: back to `queued` with the error, for the next SQS delivery (the message
    this drain holds comes back: it is live as of now)."""
    cursor = conn.execute(
        """
        UPDATE a2a_queue SET status = 'queued', last_error = %(error)s, published_at = now()
        WHERE id = %(id)s AND status = 'dispatched'
        """,
        {"id": queue_id, "error": error[:2000]},
    )
    return cursor.rowcount == 1


def fail(conn: Connection, queue_id: UUID, error: str) -> bool:
    cursor = conn.execute(
        "UPDATE a2a_queue SET status = 'failed', last_error = %(error)s WHERE id = %(id)s AND status = 'dispatched'",
        {"id": queue_id, "error": error[:2000]},
    )
    return cursor.rowcount == 1


def fail_answered(conn: Connection, queue_id: UUID, response_status: int, response_body: Any, error: str) -> bool:
    """The agent answered with an error no redelivery gets past (SPEC §5.5): `failed`, its answer kept."""
    cursor = conn.execute(
        """
        UPDATE a2a_queue
        SET status = 'failed', response_status = %(status)s, response_body = %(body)s, completed_at = now(),
            last_error = %(error)s
        WHERE id = %(id)s AND status = 'dispatched'
        """,
        {
            "id": queue_id,
            "status": response_status,
            "body": None if response_body is None else Jsonb(response_body),
            "error": error[:2000],
        },
    )
    return cursor.rowcount == 1


def expire_due(conn: Connection) -> int:
    cursor = conn.execute(
        """
        UPDATE a2a_queue SET status = 'expired', last_error = coalesce(last_error, 'expired before delivery')
        WHERE status = 'queued' AND expires_at < now()
        """
    )
    return cursor.rowcount


def delete_finished_older_than(conn: Connection, days: int) -> int:
    """Delete the rows of messages that ended (completed, failed, expired, dropped) and were enqueued
    more than `days` ago: their outcome lives on in the activity log. Rows still on their way are
    never touched, however old."""
    cursor = conn.execute(
        """
        DELETE FROM a2a_queue
        WHERE enqueued_at < now() - make_interval(days => %(days)s)
          AND status IN ('completed', 'failed', 'expired', 'dropped')
        """,
        {"days": days},
    )
    return cursor.rowcount


def drop_stale(conn: Connection, max_age_minutes: int) -> int:
    cursor = conn.execute(
        """
        UPDATE a2a_queue SET status = 'dropped', last_error = 'dropped by an operator (stale)'
        WHERE status = 'queued' AND enqueued_at < now() - make_interval(mins => %(minutes)s)
        """,
        {"minutes": max_age_minutes},
    )
    return cursor.rowcount


def get(conn: Connection, queue_id: UUID) -> dict[str, Any] | None:
    row = conn.execute(
        """
        SELECT id, workspace_id, caller_id, method, status, attempts, last_error, response_status, response_body,
               enqueued_at, published_at, dispatched_at, completed_at, expires_at
        FROM a2a_queue WHERE id = %(id)s
        """,
        {"id": queue_id},
    ).fetchone()
    return dict(row) if row else None


QUEUE_ROW_COLUMNS = """
    id AS queue_id, workspace_id, caller_id, method, status, attempts, last_error, response_status,
    enqueued_at, published_at, dispatched_at, completed_at, expires_at
"""


def list_rows(conn: Connection, *, workspace_id: UUID | None, status: str | None, limit: int) -> list[dict[str, Any]]:
    """Queue rows newest first: one target's (workspace_id) or every target's, optionally of one
    status. Answers bookkeeping only, never the message bodies."""
    return conn.execute(
        f"""
        SELECT {QUEUE_ROW_COLUMNS} FROM a2a_queue
        WHERE (%(workspace_id)s::uuid IS NULL OR workspace_id = %(workspace_id)s)
          AND (%(status)s::text IS NULL OR status = %(status)s)
        ORDER BY enqueued_at DESC, id DESC
        LIMIT %(limit)s
        """,
        {"workspace_id": workspace_id, "status": status, "limit": limit},
    ).fetchall()
