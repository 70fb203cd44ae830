"""SQL for `workspaces`. Statements that write `status` spell the new status as a literal so the
enum drift gate (tests/unit/test_enum_drift.py) can check it against the migrations."""

from __future__ import annotations

from typing import Any, NamedTuple
from uuid import UUID

from psycopg import sql

from molecule_core.platform.db import Connection
from molecule_core.workspaces.models import CreateWorkspaceRequest, Workspace

WORKSPACE_COLUMNS = """
    id, name, role, tier, status, runtime, external, url, agent_card, delivery_mode, parent_id,
    last_heartbeat_at, last_error_rate, last_sample_error, active_tasks, max_concurrent_tasks,
    uptime_seconds, current_task, monthly_spend, budget_limit, hibernation_idle_minutes,
    instance_id, x, y, collapsed, created_at, updated_at, removed_at
"""

# Fields PATCH may change, mapped to their column (identical today; the map keeps the SQL built
# from a fixed allow-list, never from client keys).
PATCHABLE_COLUMNS = {
    "name": "name",
    "role": "role",
    "tier": "tier",
    "x": "x",
    "y": "y",
    "collapsed": "collapsed",
    "max_concurrent_tasks": "max_concurrent_tasks",
    "budget_limit": "budget_limit",
    "hibernation_idle_minutes": "hibernation_idle_minutes",
    "delivery_mode": "delivery_mode",
}


def insert_provisioning(conn: Connection, request: CreateWorkspaceRequest) -> Workspace:
    row = conn.execute(
        f"""
        INSERT INTO workspaces (
            name, role, tier, status, runtime, external, url, delivery_mode, parent_id,
            max_concurrent_tasks, budget_limit, hibernation_idle_minutes, x, y, collapsed
        ) VALUES (
            %(name)s, %(role)s, %(tier)s, 'provisioning', %(runtime)s, %(external)s, %(url)s,
            %(delivery_mode)s, %(parent_id)s, %(max_concurrent_tasks)s, %(budget_limit)s,
            %(hibernation_idle_minutes)s, %(x)s, %(y)s, %(collapsed)s
        )
        RETURNING {WORKSPACE_COLUMNS}
        """,
        request.model_dump(
            include={
                "name",
                "role",
                "tier",
                "runtime",
                "external",
                "url",
                "delivery_mode",
                "parent_id",
                "max_concurrent_tasks",
                "budget_limit",
                "hibernation_idle_minutes",
                "x",
                "y",
                "collapsed",
            }
        ),
    ).fetchone()
    assert row is not None
    return Workspace.model_validate(row)


def mark_online(conn: Connection, workspace_id: UUID, *, inbound_secret: str) -> Workspace:
    """External workspace created with a URL: it is reachable, hence online, and the platform may
    push to it at once — so it gets its inbound secret now, not at its first register."""
    row = conn.execute(
        f"""
        UPDATE workspaces
        SET status = 'online', last_heartbeat_at = now(), updated_at = now(),
            platform_inbound_secret = coalesce(platform_inbound_secret, %(secret)s)
        WHERE id = %(id)s RETURNING {WORKSPACE_COLUMNS}
        """,
        {"id": workspace_id, "secret": inbound_secret},
    ).fetchone()
    assert row is not None
    return Workspace.model_validate(row)


def mark_awaiting_agent(conn: Connection, workspace_id: UUID) -> Workspace:
    row = conn.execute(
        f"""
        UPDATE workspaces SET status = 'awaiting_agent', updated_at = now()
        WHERE id = %(id)s RETURNING {WORKSPACE_COLUMNS}
        """,
        {"id": workspace_id},
    ).fetchone()
    assert row is not None
    return Workspace.model_validate(row)


def get(conn: Connection, workspace_id: UUID) -> Workspace | None:
    row = conn.execute(f"SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = %(id)s", {"id": workspace_id}).fetchone()
    return Workspace.model_validate(row) if row else None


def list_live(conn: Connection) -> list[Workspace]:
    rows = conn.execute(
        f"SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE status <> 'removed' ORDER BY created_at, id"
    ).fetchall()
    return [Workspace.model_validate(row) for row in rows]


def is_live_parent(conn: Connection, parent_id: UUID) -> bool:
    row = conn.execute(
        "SELECT status <> 'removed' AS live FROM workspaces WHERE id = %(id)s", {"id": parent_id}
    ).fetchone()
    return bool(row and row["live"])


def update_fields(conn: Connection, workspace_id: UUID, changes: dict[str, Any]) -> str | None:
    """Apply a PATCH; returns the row's status before the change, or None when there is no row."""
    assignments = [
        sql.SQL("{} = {}").format(sql.Identifier(PATCHABLE_COLUMNS[field]), sql.Placeholder(field)) for field in changes
    ]
    statement = sql.SQL(
        """
        UPDATE workspaces SET {assignments}, updated_at = now()
        WHERE id = %(__id)s
        RETURNING status
        """
    ).format(assignments=sql.SQL(", ").join(assignments))
    row = conn.execute(statement, {**changes, "__id": workspace_id}).fetchone()
    return str(row["status"]) if row else None


class SubtreeMember(NamedTuple):
    id: UUID
    name: str
    status: str
    runtime: str
    external: bool
    instance_id: str | None
    parent_id: UUID | None
    depth: int


def subtree(conn: Connection, root_id: UUID) -> list[SubtreeMember]:
    """The workspace and all its descendants that are not removed, root first. Locks the rows so
    a concurrent create under one of them waits for the delete to finish."""
    rows = conn.execute(
        """
        WITH RECURSIVE tree AS (
            SELECT id, name, status, runtime, external, instance_id, parent_id, 0 AS depth
            FROM workspaces WHERE id = %(id)s
            UNION ALL
            SELECT w.id, w.name, w.status, w.runtime, w.external, w.instance_id, w.parent_id, t.depth + 1
            FROM workspaces w JOIN tree t ON w.parent_id = t.id
            WHERE w.status <> 'removed'
        )
        SELECT tree.id, tree.name, tree.status::text AS status, tree.runtime, tree.external,
               tree.instance_id, tree.parent_id, tree.depth
        FROM tree JOIN workspaces w ON w.id = tree.id
        ORDER BY tree.depth, tree.name
        FOR UPDATE OF w
        """,
        {"id": root_id},
    ).fetchall()
    return [SubtreeMember(**row) for row in rows]


def mark_removed(conn: Connection, workspace_ids: list[UUID]) -> None:
    conn.execute(
        """
        UPDATE workspaces
        SET status = 'removed', removed_at = coalesce(removed_at, now()), updated_at = now()
        WHERE id = ANY(%(ids)s)
        """,
        {"ids": workspace_ids},
    )


def purge(conn: Connection, workspace_ids: list[UUID]) -> None:
    """Hard delete; tokens, activity and queue rows go with the rows (ON DELETE CASCADE)."""
    conn.execute("DELETE FROM workspaces WHERE id = ANY(%(ids)s)", {"ids": workspace_ids})
