"""SQL for the registry: what register and heartbeat read and write. Each call is one round trip
(SPEC perf targets: heartbeat ≤ 2 statements including auth, register ≤ 4): auth, transition and
event are folded into single statements with CTEs."""

from __future__ import annotations

from typing import Any, NamedTuple
from uuid import UUID

from psycopg.types.json import Jsonb

from molecule_core.platform.db import Connection
from molecule_core.registry.models import HeartbeatRequest, Lineage, lineages_from_json


class RegisterTarget(NamedTuple):
    id: UUID
    status: str
    runtime: str
    external: bool
    delivery_mode: str | None
    url: str | None
    platform_inbound_secret: str | None
    has_live_token: bool
    bearer_matches: bool


def load_register_target(conn: Connection, workspace_id: UUID, bearer_hash: bytes | None) -> RegisterTarget | None:
    """The workspace, whether it has a live token, and whether the bearer is one of them."""
    row = conn.execute(
        """
        SELECT w.id, w.status::text AS status, w.runtime, w.external, w.delivery_mode, w.url,
               w.platform_inbound_secret,
               EXISTS (
                   SELECT 1 FROM workspace_auth_tokens t
                   WHERE t.workspace_id = w.id AND t.revoked_at IS NULL
               ) AS has_live_token,
               EXISTS (
                   SELECT 1 FROM workspace_auth_tokens t
                   WHERE t.workspace_id = w.id AND t.revoked_at IS NULL
                     AND t.token_hash = %(bearer_hash)s
               ) AS bearer_matches
        FROM workspaces w WHERE w.id = %(id)s
        """,
        {"id": workspace_id, "bearer_hash": bearer_hash},
    ).fetchone()
    return RegisterTarget(**row) if row else None


class Registered(NamedTuple):
    accepted: bool  # False: the token rule refused the bearer once the row was locked
    previous_status: str | None
    minted_token: bool


def mark_registered(
    conn: Connection,
    workspace_id: UUID,
    *,
    bearer_hash: bytes | None,
    url: str | None,
    agent_card: dict[str, Any] | None,
    delivery_mode: str,
    token_hash: bytes | None,
    token_prefix: str | None,
) -> Registered | None:
    """Register's one statement: the token rule, decided under the workspace's row lock, then
    online (a paused workspace stays paused: only /resume ends a pause), fresh heartbeat, card, URL,
    mode, a WORKSPACE_ONLINE event — and, when `token_hash` is given, the workspace's first token.

    Concurrent first registers: each waits on the row lock of the one before; the token that one
    committed is not in this statement's snapshot, but the one-register-mint unique index sees it,
    so this insert is skipped — and a register that minted nothing must present a live token of
    the workspace, or nothing is written (accepted False → 401). Never touches a removed workspace;
    None when there was nothing to lock (unknown or removed)."""
    row = conn.execute(
        """
        WITH prev AS (
            SELECT id, status FROM workspaces
            WHERE id = %(id)s AND status <> 'removed'
            FOR UPDATE
        ), minted AS (
            INSERT INTO workspace_auth_tokens (workspace_id, token_hash, prefix, origin)
            SELECT prev.id, %(token_hash)s, %(token_prefix)s, 'register' FROM prev
            WHERE %(token_hash)s::bytea IS NOT NULL
              AND NOT EXISTS (
                  SELECT 1 FROM workspace_auth_tokens t
                  WHERE t.workspace_id = prev.id AND t.revoked_at IS NULL
              )
            ON CONFLICT (workspace_id) WHERE origin = 'register' AND revoked_at IS NULL DO NOTHING
            RETURNING id
        ), allowed AS (
            SELECT prev.id, prev.status FROM prev
            WHERE EXISTS (SELECT 1 FROM minted)
               OR EXISTS (
                  SELECT 1 FROM workspace_auth_tokens t
                  WHERE t.workspace_id = prev.id AND t.revoked_at IS NULL AND t.token_hash = %(bearer_hash)s
               )
        ), upd AS (
            UPDATE workspaces w
            SET status = CASE WHEN allowed.status = 'paused' THEN w.status ELSE 'online' END,
                last_heartbeat_at = now(),
                last_active_at = now(),
                agent_card = coalesce(%(agent_card)s, w.agent_card),
                url = coalesce(%(url)s, w.url),
                delivery_mode = %(delivery_mode)s,
                updated_at = now()
            FROM allowed WHERE w.id = allowed.id
            RETURNING w.id, allowed.status::text AS previous_status, w.status::text AS status
        ), event AS (
            INSERT INTO structure_events (event_type, workspace_id, payload)
            SELECT 'WORKSPACE_ONLINE', upd.id,
                   jsonb_build_object('from', upd.previous_status, 'reason', 'register',
                                      'delivery_mode', %(delivery_mode)s::text)
            FROM upd WHERE upd.status = 'online'
        )
        SELECT EXISTS (SELECT 1 FROM upd) AS accepted, (SELECT previous_status FROM upd) AS previous_status,
               EXISTS (SELECT 1 FROM minted) AS minted_token
        FROM prev
        """,
        {
            "id": workspace_id,
            "bearer_hash": bearer_hash,
            "url": url,
            "agent_card": Jsonb(agent_card) if agent_card is not None else None,
            "delivery_mode": delivery_mode,
            "token_hash": token_hash,
            "token_prefix": token_prefix,
        },
    ).fetchone()
    if row is None:
        return None
    return Registered(bool(row["accepted"]), row["previous_status"], bool(row["minted_token"]))


class HeartbeatOutcome(NamedTuple):
    previous_status: str
    status: str


# Token rule folded into the heartbeat's one statement: a workspace with a live token accepts only
# one of its own tokens; one without any (legacy, or all revoked) accepts the heartbeat as is.
_HEARTBEAT = """
    WITH prev AS (
        SELECT w.id, w.status FROM workspaces w
        WHERE w.id = %(id)s AND w.status <> 'removed'
          AND (
              NOT EXISTS (
                  SELECT 1 FROM workspace_auth_tokens t
                  WHERE t.workspace_id = w.id AND t.revoked_at IS NULL
              )
              OR EXISTS (
                  SELECT 1 FROM workspace_auth_tokens t
                  WHERE t.workspace_id = w.id AND t.revoked_at IS NULL AND t.token_hash = %(bearer_hash)s
              )
          )
        FOR UPDATE OF w
    ), upd AS (
        UPDATE workspaces w
        SET last_heartbeat_at = now(),
            last_error_rate = coalesce(%(error_rate)s, w.last_error_rate),
            last_sample_error = coalesce(%(sample_error)s, w.last_sample_error),
            active_tasks = coalesce(%(active_tasks)s, w.active_tasks),
            uptime_seconds = coalesce(%(uptime_seconds)s, w.uptime_seconds),
            current_task = coalesce(%(current_task)s, w.current_task),
            monthly_spend = coalesce(%(monthly_spend)s, w.monthly_spend),
            last_active_at = CASE WHEN coalesce(%(active_tasks)s, 0) > 0 THEN now() ELSE w.last_active_at END,
            status = CASE
                WHEN w.status NOT IN ('online', 'degraded', 'offline', 'awaiting_agent', 'provisioning')
                    THEN w.status
                WHEN %(is_degraded)s THEN 'degraded'
                WHEN w.status = 'degraded' AND coalesce(%(error_rate)s, w.last_error_rate) >= 0.1
                    THEN 'degraded'
                ELSE 'online'
            END,
            updated_at = now()
        FROM prev WHERE w.id = prev.id
        RETURNING w.id, prev.status::text AS previous_status, w.status::text AS status
    ), event AS (
        INSERT INTO structure_events (event_type, workspace_id, payload)
        SELECT CASE upd.status WHEN 'degraded' THEN 'WORKSPACE_DEGRADED' ELSE 'WORKSPACE_ONLINE' END,
               upd.id,
               jsonb_build_object('from', upd.previous_status, 'to', upd.status, 'reason', 'heartbeat')
        FROM upd WHERE upd.status <> upd.previous_status
    )
    SELECT previous_status, status FROM upd
"""


def record_heartbeat(
    conn: Connection, request: HeartbeatRequest, bearer_hash: bytes | None, *, is_degraded: bool
) -> HeartbeatOutcome | None:
    """None when nothing was updated: unknown, removed, or the token rule refused the bearer."""
    row = conn.execute(
        _HEARTBEAT,
        {
            "id": request.workspace_id,
            "bearer_hash": bearer_hash,
            "error_rate": request.error_rate,
            "sample_error": request.sample_error,
            "active_tasks": request.active_tasks,
            "uptime_seconds": request.uptime_seconds,
            "current_task": request.current_task,
            "monthly_spend": request.monthly_spend,
            "is_degraded": is_degraded,
        },
    ).fetchone()
    return HeartbeatOutcome(row["previous_status"], row["status"]) if row else None


def update_agent_card(conn: Connection, workspace_id: UUID, agent_card: dict[str, Any]) -> bool:
    row = conn.execute(
        """
        WITH upd AS (
            UPDATE workspaces SET agent_card = %(agent_card)s, updated_at = now()
            WHERE id = %(id)s AND status <> 'removed'
            RETURNING id
        ), event AS (
            INSERT INTO structure_events (event_type, workspace_id, payload)
            SELECT 'AGENT_CARD_UPDATED', id, '{}'::jsonb FROM upd
        )
        SELECT id FROM upd
        """,
        {"id": workspace_id, "agent_card": Jsonb(agent_card)},
    ).fetchone()
    return row is not None


def load_lineages(conn: Connection, workspace_ids: list[UUID]) -> dict[UUID, Lineage]:
    """Ancestor chains of several workspaces in one round trip."""
    row = conn.execute("SELECT workspace_lineages(%(ids)s::uuid[]) AS lineages", {"ids": workspace_ids}).fetchone()
    return lineages_from_json(row["lineages"] if row else None)


def list_peers(conn: Connection, workspace_id: UUID, query: str | None) -> list[dict[str, Any]] | None:
    """Parent, siblings and children that are not removed, optionally filtered by name/role; None
    when the workspace itself is unknown or removed (one statement for both answers)."""
    rows = conn.execute(
        """
        WITH me AS (SELECT id, parent_id FROM workspaces WHERE id = %(id)s AND status <> 'removed')
        SELECT me.id AS me, peer.*
        FROM me
        LEFT JOIN LATERAL (
            SELECT w.id, w.name, w.role, w.tier, w.status::text AS status, w.url, w.agent_card,
                   CASE
                       WHEN w.id = me.parent_id THEN 'parent'
                       WHEN w.parent_id = me.id THEN 'child'
                       ELSE 'sibling'
                   END AS relation,
                   w.created_at
            FROM workspaces w
            WHERE w.status <> 'removed' AND w.id <> me.id
              AND (
                  w.id = me.parent_id
                  OR w.parent_id = me.id
                  OR w.parent_id IS NOT DISTINCT FROM me.parent_id
              )
              AND (
                  %(q)s::text IS NULL
                  OR w.name ILIKE '%%' || %(q)s || '%%'
                  OR w.role ILIKE '%%' || %(q)s || '%%'
              )
        ) peer ON true
        ORDER BY peer.relation, peer.created_at, peer.id
        """,
        {"id": workspace_id, "q": query},
    ).fetchall()
    if not rows:
        return None
    return [{k: v for k, v in row.items() if k not in ("me", "created_at")} for row in rows if row["id"] is not None]


def read_inbound_secret(conn: Connection, workspace_id: UUID) -> tuple[bool, str | None]:
    """(exists, secret)."""
    row = conn.execute(
        "SELECT platform_inbound_secret FROM workspaces WHERE id = %(id)s", {"id": workspace_id}
    ).fetchone()
    return (row is not None, row["platform_inbound_secret"] if row else None)


def heal_inbound_secret(conn: Connection, workspace_id: UUID, candidate: str) -> str | None:
    """Store `candidate` unless a secret appeared meanwhile; concurrent heals converge on one
    value. None when the workspace row is gone."""
    row = conn.execute(
        """
        UPDATE workspaces
        SET platform_inbound_secret = coalesce(platform_inbound_secret, %(candidate)s), updated_at = now()
        WHERE id = %(id)s
        RETURNING platform_inbound_secret
        """,
        {"id": workspace_id, "candidate": candidate},
    ).fetchone()
    return row["platform_inbound_secret"] if row else None


class WorkspaceSummary(NamedTuple):
    id: UUID
    name: str
    url: str | None
    status: str


def load_discovery(
    conn: Connection, target_id: UUID, caller_id: UUID
) -> tuple[WorkspaceSummary | None, dict[UUID, Lineage]]:
    """The target's summary and both lineages (for the access rule), in one round trip."""
    row = conn.execute(
        """
        SELECT t.id, t.name, t.url, t.status::text AS status, workspace_lineages(ids.ids) AS lineages
        FROM (SELECT ARRAY[%(target)s, %(caller)s]::uuid[] AS ids) ids
        LEFT JOIN workspaces t ON t.id = %(target)s
        """,
        {"target": target_id, "caller": caller_id},
    ).fetchone()
    assert row is not None
    lineages = lineages_from_json(row.pop("lineages"))
    return (WorkspaceSummary(**row) if row["id"] is not None else None), lineages
