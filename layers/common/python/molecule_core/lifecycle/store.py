"""SQL for lifecycle: restart coalescing, pause/resume, hibernation claims, and the scheduled
liveness sweeps (each one statement whatever the fleet size: find, transition and record events
together, skipping rows another sweep holds). Statements that change `status` spell it as a
literal (the enum drift gate reads them)."""

from __future__ import annotations

from typing import NamedTuple
from uuid import UUID

from molecule_core.platform.db import Connection

# `tree`: the workspace %(id)s and its descendants that are not removed.
_LIVE_SUBTREE = """
    tree AS (
        SELECT id FROM workspaces WHERE id = %(id)s AND status <> 'removed'
        UNION ALL
        SELECT w.id FROM workspaces w JOIN tree ON w.parent_id = tree.id WHERE w.status <> 'removed'
    )
"""


class Claimed(NamedTuple):
    id: UUID
    status: str
    external: bool
    instance_id: str | None


def request_restart(conn: Connection, workspace_id: UUID) -> None:
    """Record a pending restart (coalesces with one already pending)."""
    conn.execute(
        "UPDATE workspaces SET restart_requested_at = coalesce(restart_requested_at, now()) WHERE id = %(id)s",
        {"id": workspace_id},
    )


def request_restarts_of_running(conn: Connection, workspace_ids: list[UUID]) -> list[UUID]:
    """Record a pending restart for those of `workspace_ids` whose agent the platform runs and
    should keep running: not external, not removed, paused or hibernated (those start later with
    the configuration of that moment anyway). One statement whatever the count."""
    rows = conn.execute(
        """
        UPDATE workspaces SET restart_requested_at = coalesce(restart_requested_at, now())
        WHERE id = ANY(%(ids)s) AND NOT external
          AND status NOT IN ('removed', 'paused', 'hibernating', 'hibernated')
        RETURNING id
        """,
        {"ids": workspace_ids},
    ).fetchall()
    return [row["id"] for row in rows]


def pending_restarts(conn: Connection, older_than_seconds: int, lease_seconds: int) -> list[UUID]:
    """Restarts requested a while ago that no job has claimed (their message was lost, or its send
    failed): the liveness sweep requests them again. One statement whatever the fleet size."""
    rows = conn.execute(
        """
        SELECT id FROM workspaces
        WHERE restart_requested_at < now() - make_interval(secs => %(older)s)
          AND status NOT IN ('removed', 'paused')
          AND (restart_claimed_at IS NULL OR restart_claimed_at < now() - make_interval(secs => %(lease)s))
        """,
        {"older": older_than_seconds, "lease": lease_seconds},
    ).fetchall()
    return [row["id"] for row in rows]


def claim_restart(conn: Connection, workspace_id: UUID, lease_seconds: int) -> Claimed | None:
    """Take the pending restart if none is in flight (or the one in flight lost its lease). At most
    one restart per workspace runs at a time; requests that arrive meanwhile stay pending."""
    row = conn.execute(
        """
        UPDATE workspaces
        SET restart_claimed_at = now(), restart_requested_at = NULL, updated_at = now()
        WHERE id = %(id)s
          AND restart_requested_at IS NOT NULL
          AND status NOT IN ('removed', 'paused')
          AND (restart_claimed_at IS NULL
               OR restart_claimed_at < now() - make_interval(secs => %(lease)s))
        RETURNING id, status::text AS status, external, instance_id
        """,
        {"id": workspace_id, "lease": lease_seconds},
    ).fetchone()
    return Claimed(**row) if row else None


def restart_in_flight(conn: Connection, workspace_id: UUID, lease_seconds: int) -> bool:
    row = conn.execute(
        """
        SELECT restart_claimed_at IS NOT NULL
               AND restart_claimed_at >= now() - make_interval(secs => %(lease)s) AS in_flight
        FROM workspaces WHERE id = %(id)s
        """,
        {"id": workspace_id, "lease": lease_seconds},
    ).fetchone()
    return bool(row and row["in_flight"])


def release_restart(conn: Connection, workspace_id: UUID) -> None:
    conn.execute("UPDATE workspaces SET restart_claimed_at = NULL WHERE id = %(id)s", {"id": workspace_id})


def mark_provisioning(conn: Connection, workspace_id: UUID, reason: str) -> None:
    conn.execute(
        """
        WITH upd AS (
            UPDATE workspaces SET status = 'provisioning', updated_at = now()
            WHERE id = %(id)s AND status NOT IN ('removed', 'paused')
            RETURNING id
        )
        INSERT INTO structure_events (event_type, workspace_id, payload)
        SELECT 'WORKSPACE_PROVISIONING', id, jsonb_build_object('reason', %(reason)s::text) FROM upd
        """,
        {"id": workspace_id, "reason": reason},
    )


def paused_ancestor(conn: Connection, workspace_id: UUID) -> UUID | None:
    """The nearest paused ancestor, if any (a paused ancestor blocks restart and resume)."""
    row = conn.execute(
        """
        WITH RECURSIVE up AS (
            SELECT parent_id, 0 AS depth FROM workspaces WHERE id = %(id)s
            UNION ALL
            SELECT w.parent_id, up.depth + 1 FROM workspaces w JOIN up ON w.id = up.parent_id
            WHERE up.depth < 64
        )
        SELECT w.id FROM up JOIN workspaces w ON w.id = up.parent_id
        WHERE w.status = 'paused' ORDER BY up.depth LIMIT 1
        """,
        {"id": workspace_id},
    ).fetchone()
    return row["id"] if row else None


def pause_subtree(conn: Connection, root_id: UUID) -> list[Claimed]:
    """The workspace and its live descendants → paused (one statement), with events."""
    rows = conn.execute(
        f"""
        WITH RECURSIVE {_LIVE_SUBTREE}, upd AS (
            UPDATE workspaces w
            SET status = 'paused', paused_at = now(), updated_at = now()
            FROM tree WHERE w.id = tree.id AND w.status NOT IN ('paused', 'removed')
            RETURNING w.id, w.status::text AS status, w.external, w.instance_id
        ), event AS (
            INSERT INTO structure_events (event_type, workspace_id, payload)
            SELECT 'WORKSPACE_PAUSED', id, jsonb_build_object('root_id', %(id)s::uuid) FROM upd
        )
        SELECT id, status, external, instance_id FROM upd
        """,
        {"id": root_id},
    ).fetchall()
    return [Claimed(**row) for row in rows]


def resume_subtree(conn: Connection, root_id: UUID) -> list[Claimed]:
    """Paused members of the subtree → awaiting_agent (external: its operator reconnects) or
    provisioning with a restart requested (managed: the pipeline starts it again)."""
    rows = conn.execute(
        f"""
        WITH RECURSIVE {_LIVE_SUBTREE}, upd AS (
            UPDATE workspaces w
            SET status = CASE WHEN w.external THEN 'awaiting_agent'::workspace_status
                              ELSE 'provisioning'::workspace_status END,
                restart_requested_at = CASE WHEN w.external THEN NULL ELSE now() END,
                paused_at = NULL, updated_at = now()
            FROM tree WHERE w.id = tree.id AND w.status = 'paused'
            RETURNING w.id, w.status::text AS status, w.external, w.instance_id
        ), event AS (
            INSERT INTO structure_events (event_type, workspace_id, payload)
            SELECT CASE WHEN external THEN 'WORKSPACE_AWAITING_AGENT' ELSE 'WORKSPACE_PROVISIONING' END,
                   id, jsonb_build_object('reason', 'resume')
            FROM upd
        )
        SELECT id, status, external, instance_id FROM upd
        """,
        {"id": root_id},
    ).fetchall()
    return [Claimed(**row) for row in rows]


def claim_hibernation(conn: Connection, workspace_id: UUID, *, force: bool) -> Claimed | None:
    """online|degraded → hibernating, atomically; with force=False only when no task is active."""
    row = conn.execute(
        """
        UPDATE workspaces SET status = 'hibernating', updated_at = now()
        WHERE id = %(id)s AND status IN ('online', 'degraded') AND NOT external
          AND (%(force)s OR active_tasks = 0)
        RETURNING id, status::text AS status, external, instance_id
        """,
        {"id": workspace_id, "force": force},
    ).fetchone()
    return Claimed(**row) if row else None


def claim_idle_for_hibernation(conn: Connection) -> list[Claimed]:
    """The hibernation sweep's claim: every managed online/degraded workspace with no active task
    that has been idle longer than its own hibernation_idle_minutes — one statement."""
    rows = conn.execute(
        """
        UPDATE workspaces SET status = 'hibernating', updated_at = now()
        WHERE id IN (
            SELECT id FROM workspaces
            WHERE status IN ('online', 'degraded') AND NOT external
              AND hibernation_idle_minutes IS NOT NULL AND active_tasks = 0
              AND coalesce(last_active_at, status_changed_at)
                  < now() - make_interval(mins => hibernation_idle_minutes)
            FOR UPDATE SKIP LOCKED
        )
        RETURNING id, status::text AS status, external, instance_id
        """
    ).fetchall()
    return [Claimed(**row) for row in rows]


def finish_hibernation(conn: Connection, workspace_id: UUID) -> bool:
    row = conn.execute(
        """
        WITH upd AS (
            UPDATE workspaces SET status = 'hibernated', instance_id = NULL, updated_at = now()
            WHERE id = %(id)s AND status = 'hibernating'
            RETURNING id
        ), event AS (
            INSERT INTO structure_events (event_type, workspace_id, payload)
            SELECT 'WORKSPACE_HIBERNATED', id, '{}'::jsonb FROM upd
        )
        SELECT id FROM upd
        """,
        {"id": workspace_id},
    ).fetchone()
    return row is not None


def abandon_hibernation(conn: Connection, workspace_id: UUID) -> None:
    """The stop failed: the agent still runs, so the workspace is back to online."""
    conn.execute(
        "UPDATE workspaces SET status = 'online', updated_at = now() WHERE id = %(id)s AND status = 'hibernating'",
        {"id": workspace_id},
    )


class LifecycleState(NamedTuple):
    id: UUID
    status: str
    external: bool
    instance_id: str | None
    active_tasks: int


def lifecycle_state(conn: Connection, workspace_id: UUID) -> LifecycleState | None:
    row = conn.execute(
        """
        SELECT id, status::text AS status, external, instance_id, active_tasks
        FROM workspaces WHERE id = %(id)s
        """,
        {"id": workspace_id},
    ).fetchone()
    return LifecycleState(**row) if row else None


# --- liveness sweeps (SPEC §5.3) ------------------------------------------------------------------


class StaleWorkspace(NamedTuple):
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
