"""SQL for the scheduled liveness sweeps. Each sweep is one statement whatever the fleet size:
find, transition and record events together, skipping rows another sweep holds."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from molecule_core.db import Connection


@dataclass(frozen=True)
class StaleWorkspace:
    id: UUID
    external: bool
    instance_id: str | None


def mark_stale_heartbeats(conn: Connection, stale_seconds: int) -> list[StaleWorkspace]:
    """online/degraded with a heartbeat older than the threshold → external ones `awaiting_agent`
    (re-registrable, not an error), platform-managed ones `offline` with a restart requested
    (restart_requested_at coalesces: an earlier, still pending request is kept)."""
    rows = conn.execute(
        """
        WITH stale AS (
            SELECT id FROM workspaces
            WHERE status IN ('online', 'degraded')
              AND (last_heartbeat_at IS NULL
                   OR last_heartbeat_at < now() - make_interval(secs => %(stale_seconds)s))
            FOR UPDATE SKIP LOCKED
        ), upd AS (
            UPDATE workspaces w
            SET status = CASE WHEN w.external THEN 'awaiting_agent'::workspace_status
                              ELSE 'offline'::workspace_status END,
                restart_requested_at = CASE
                    WHEN w.external THEN w.restart_requested_at
                    ELSE coalesce(w.restart_requested_at, now())
                END,
                updated_at = now()
            FROM stale WHERE w.id = stale.id
            RETURNING w.id, w.external, w.instance_id, w.last_heartbeat_at
        ), event AS (
            INSERT INTO structure_events (event_type, workspace_id, payload)
            SELECT CASE WHEN upd.external THEN 'WORKSPACE_AWAITING_AGENT' ELSE 'WORKSPACE_OFFLINE' END,
                   upd.id,
                   jsonb_build_object('reason', 'heartbeat_stale',
                                      'last_heartbeat_at', upd.last_heartbeat_at,
                                      'stale_after_seconds', %(stale_seconds)s::int)
            FROM upd
        )
        SELECT id, external, instance_id FROM upd
        """,
        {"stale_seconds": stale_seconds},
    ).fetchall()
    return [StaleWorkspace(**row) for row in rows]


def fail_provisioning_timeouts(conn: Connection, timeout_seconds: int) -> list[UUID]:
    """`provisioning` for longer than the timeout → `failed` with a message saying so."""
    rows = conn.execute(
        """
        WITH late AS (
            SELECT id FROM workspaces
            WHERE status = 'provisioning'
              AND status_changed_at < now() - make_interval(secs => %(timeout)s)
            FOR UPDATE SKIP LOCKED
        ), upd AS (
            UPDATE workspaces w
            SET status = 'failed',
                last_sample_error = 'provisioning timed out after ' || %(timeout)s::int
                                    || ' seconds: the agent never registered',
                updated_at = now()
            FROM late WHERE w.id = late.id
            RETURNING w.id
        ), event AS (
            INSERT INTO structure_events (event_type, workspace_id, payload)
            SELECT 'WORKSPACE_PROVISION_FAILED', upd.id,
                   jsonb_build_object('reason', 'provision_timeout', 'timeout_seconds', %(timeout)s::int)
            FROM upd
        )
        SELECT id FROM upd
        """,
        {"timeout": timeout_seconds},
    ).fetchall()
    return [row["id"] for row in rows]
