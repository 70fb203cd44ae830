"""SQL for the A2A proxy: everything the push path needs before dispatch in one round trip —
the target row (status, URL, mode, capacity, budget, inbound secret) and the caller's and target's
lineages for the access rule."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from molecule_core.db import Connection
from molecule_core.store.registry import LINEAGE_CTE, Lineage, lineages_from_json


@dataclass(frozen=True)
class DispatchContext:
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
    lineages: dict[UUID, Lineage]


def load_dispatch_context(conn: Connection, target_id: UUID, caller_id: UUID | None) -> DispatchContext | None:
    row = conn.execute(
        f"""
        WITH RECURSIVE {LINEAGE_CTE}
        SELECT t.id, t.name, t.status::text AS status, t.runtime, t.external, t.url, t.delivery_mode,
               t.instance_id, t.active_tasks, t.max_concurrent_tasks, t.monthly_spend, t.budget_limit,
               t.platform_inbound_secret, (SELECT lineages FROM lineages) AS lineages
        FROM workspaces t WHERE t.id = %(target_id)s
        """,
        {"target_id": target_id, "lineage_ids": [target_id] if caller_id is None else [target_id, caller_id]},
    ).fetchone()
    if row is None:
        return None
    return DispatchContext(**{**row, "lineages": lineages_from_json(row["lineages"])})


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
