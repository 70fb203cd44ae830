"""SQL of the delegations domain (migrations/010): the `delegations` rows, and — in the same
statement as every change of one — the `delegation` activity row and the structural event that
SPEC §5.10 asks of each transition, so a transition is one round trip and can never be recorded
half. A transition names the statuses it may leave: a delegation that is already final (or already
further along) is left alone, which is what makes the drain's answer, a poll target's reply and the
agent's own update safe to race."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple
from uuid import UUID

from psycopg.types.json import Jsonb

from molecule_core.delegations.models import PREVIEW_CHARS, DelegationStatus
from molecule_core.platform.db import Connection

_ITEM_COLUMNS = f"""
    d.id, d.delegation_id, d.source_id, d.target_id, left(d.task, 200) AS summary, d.status, d.created_at,
    left(d.result, {PREVIEW_CHARS}) AS response_preview, d.error
"""
_FULL_COLUMNS = f"""
    {_ITEM_COLUMNS}, d.task, d.result, d.origin, d.queue_id, d.dispatched_at, d.finished_at, d.updated_at
"""

# Each change of a delegation also writes, in the same statement, a `delegation` row in the
# delegator's activity feed (request_body carries the delegation_id, as the original server's
# readers join on it; response_body the result) and a structural event.
_RECORDED = """
, logged AS (
    INSERT INTO activity_logs (workspace_id, activity_type, source_id, target_id, method, summary,
                               request_body, response_body, status, error_detail)
    SELECT c.source_id, 'delegation', c.source_id, c.target_id, %(method)s, %(summary)s,
           jsonb_build_object('delegation_id', c.delegation_id) || %(request_extra)s,
           CASE WHEN c.result IS NULL THEN NULL
                ELSE jsonb_build_object('delegation_id', c.delegation_id, 'text', c.result) END,
           c.status, c.error
    FROM changed c
), event AS (
    INSERT INTO structure_events (event_type, workspace_id, payload)
    SELECT %(event_type)s, c.source_id,
           jsonb_build_object('delegation_id', c.delegation_id, 'target_id', c.target_id, 'status', c.status)
           || %(event_extra)s
    FROM changed c
)
"""


class Record(NamedTuple):
    """How a change is recorded: the activity row's method and summary, the event type, and what
    the request body and the event payload carry beyond the delegation's id, target and status."""

    method: str
    summary: str
    event_type: str
    request_extra: dict[str, Any]
    event_extra: dict[str, Any]

    def params(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "summary": self.summary,
            "event_type": self.event_type,
            "request_extra": Jsonb(self.request_extra),
            "event_extra": Jsonb(self.event_extra),
        }


class DelegateContext(NamedTuple):
    # what `workspace_lineages` answers for the delegator and the target (registry.models parses it)
    lineages: dict[str, Any]
    # the live delegation with the request's idempotency key, if any
    existing_delegation_id: str | None
    existing_status: str | None
    existing_target_id: UUID | None


def load_delegate_context(
    conn: Connection, delegator_id: UUID, target_id: UUID, idempotency_key: str | None
) -> DelegateContext:
    """Everything a delegate request decides from, in one round trip: both workspaces' lineages
    (existence, removal, the access rule) and the live delegation with the same key."""
    row = conn.execute(
        """
        SELECT workspace_lineages(ARRAY[%(source)s, %(target)s]::uuid[]) AS lineages,
               d.delegation_id AS existing_delegation_id, d.status AS existing_status,
               d.target_id AS existing_target_id
        FROM (SELECT 1) one
        LEFT JOIN delegations d
               ON %(key)s::text IS NOT NULL AND d.source_id = %(source)s AND d.idempotency_key = %(key)s
              AND d.status <> 'failed'
        """,
        {"source": delegator_id, "target": target_id, "key": idempotency_key},
    ).fetchone()
    assert row is not None
    return DelegateContext(**row)


class NewDelegation(NamedTuple):
    id: UUID
    delegation_id: str
    source_id: UUID
    target_id: UUID
    task: str
    status: DelegationStatus
    origin: str
    idempotency_key: str | None = None


Inserted = Literal["inserted", "taken", "no_delegator"]


def insert_delegation(conn: Connection, new: NewDelegation, record: Record) -> Inserted:
    """Insert the delegation with its activity row and event. `taken`: its delegation_id or its
    idempotency key belongs to a delegation already there (a concurrent request, a repeated
    record); `no_delegator`: the delegator does not exist (or was removed)."""
    row = conn.execute(
        """
        WITH changed AS (
            INSERT INTO delegations (id, delegation_id, source_id, target_id, task, status, origin, idempotency_key,
                                     dispatched_at)
            SELECT %(id)s, %(delegation_id)s, w.id, %(target_id)s, %(task)s, %(status)s, %(origin)s,
                   %(idempotency_key)s, CASE WHEN %(status)s = 'pending' THEN NULL ELSE now() END
            FROM workspaces w WHERE w.id = %(source_id)s AND w.status <> 'removed'
            ON CONFLICT DO NOTHING
            RETURNING source_id, target_id, delegation_id, status, result, error
        )"""
        + _RECORDED
        + """
        SELECT CASE WHEN EXISTS (SELECT 1 FROM changed) THEN 'inserted'
                    WHEN EXISTS (SELECT 1 FROM workspaces WHERE id = %(source_id)s AND status <> 'removed') THEN 'taken'
                    ELSE 'no_delegator' END AS outcome
        """,
        {**new._asdict(), **record.params()},
    ).fetchone()
    assert row is not None
    outcome: Inserted = row["outcome"]
    return outcome


def transition(
    conn: Connection,
    *,
    source_id: UUID,
    delegation_id: str,
    target_id: UUID | None,
    from_statuses: tuple[DelegationStatus, ...],
    to_status: DelegationStatus,
    record: Record,
    result: str | None = None,
    error: str | None = None,
    queue_id: UUID | None = None,
) -> bool:
    """Move one delegation of `source_id` to `to_status` if it is in one of `from_statuses` (and,
    when `target_id` is given, goes to that target), with its activity row and event. False when
    nothing moved."""
    row = conn.execute(
        """
        WITH changed AS (
            UPDATE delegations d
            SET status = %(to_status)s, updated_at = now(),
                result = coalesce(%(result)s, d.result), error = coalesce(%(error)s, d.error),
                queue_id = coalesce(%(queue_id)s, d.queue_id),
                dispatched_at = CASE WHEN %(to_status)s IN ('dispatched', 'queued')
                                     THEN coalesce(d.dispatched_at, now()) ELSE d.dispatched_at END,
                finished_at = CASE WHEN %(to_status)s IN ('completed', 'failed') THEN now() ELSE d.finished_at END
            WHERE d.source_id = %(source_id)s AND d.delegation_id = %(delegation_id)s
              AND (%(target_id)s::uuid IS NULL OR d.target_id = %(target_id)s)
              AND d.status = ANY(%(from_statuses)s)
            RETURNING d.source_id, d.target_id, d.delegation_id, d.status, d.result, d.error
        )"""
        + _RECORDED
        + "SELECT count(*) AS moved FROM changed",
        {
            "source_id": source_id,
            "delegation_id": delegation_id,
            "target_id": target_id,
            "from_statuses": list(from_statuses),
            "to_status": to_status,
            "result": result,
            "error": error,
            "queue_id": queue_id,
            **record.params(),
        },
    ).fetchone()
    return bool(row and row["moved"])


# A2A queue statuses that end a message without a result the drain reported to its delegation.
UndeliveredStatus = Literal["expired", "dropped", "failed"]


def fail_undelivered(conn: Connection, queue_status: UndeliveredStatus, reason: str, record: Record) -> int:
    """Fail every `dispatched` delegation whose queue message ended `queue_status` — expired before
    the drain reached it, dropped by an operator, or failed without the drain closing the delegation
    (it died in between) — with its activity row and event; the error is `reason`, then the
    message's last error. How many moved."""
    row = conn.execute(
        """
        WITH changed AS (
            UPDATE delegations d
            SET status = 'failed', updated_at = now(), finished_at = now(),
                error = %(reason)s || coalesce(': ' || q.last_error, '')
            FROM a2a_queue q
            WHERE d.status = 'dispatched' AND d.queue_id = q.id AND q.status = %(queue_status)s
            RETURNING d.source_id, d.target_id, d.delegation_id, d.status, d.result, d.error
        )"""
        + _RECORDED
        + "SELECT count(*) AS moved FROM changed",
        {
            "queue_status": queue_status,
            "reason": reason,
            **record.params(),
        },
    ).fetchone()
    return int(row["moved"]) if row else 0


def get_status(conn: Connection, source_id: UUID, delegation_id: str) -> str | None:
    row = conn.execute(
        "SELECT status FROM delegations WHERE source_id = %(source_id)s AND delegation_id = %(delegation_id)s",
        {"source_id": source_id, "delegation_id": delegation_id},
    ).fetchone()
    return str(row["status"]) if row else None


class Listed(NamedTuple):
    workspace_exists: bool
    rows: list[dict[str, Any]]


def list_delegations(conn: Connection, source_id: UUID, *, status: str | None, limit: int) -> Listed:
    """The delegator's delegations, newest first; whether the workspace exists, in the same
    round trip (an unknown workspace is 404, one without delegations an empty list)."""
    rows = conn.execute(
        f"""
        SELECT w.id AS workspace_id, {_ITEM_COLUMNS}
        FROM workspaces w
        LEFT JOIN LATERAL (
            SELECT * FROM delegations
            WHERE source_id = w.id AND (%(status)s::text IS NULL OR status = %(status)s)
            ORDER BY created_at DESC, id DESC
            LIMIT %(limit)s
        ) d ON true
        WHERE w.id = %(source_id)s
        ORDER BY d.created_at DESC, d.id DESC
        """,
        {"source_id": source_id, "status": status, "limit": limit},
    ).fetchall()
    return Listed(bool(rows), [row for row in rows if row["id"] is not None])


def get_delegation(conn: Connection, source_id: UUID, delegation_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = conn.execute(
        f"SELECT {_FULL_COLUMNS} FROM delegations d "
        "WHERE d.source_id = %(source_id)s AND d.delegation_id = %(delegation_id)s",
        {"source_id": source_id, "delegation_id": delegation_id},
    ).fetchone()
    return row
