"""SQL of the provision pipeline: what a backend needs to start an agent, the credentials minted
before it starts, and the outcome (`instance_id`, or `failed` with a readable message). Statements
that write `status` spell it as a literal (the enum drift gate reads them)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from molecule_core.platform.db import Connection


def mark_failed(conn: Connection, workspace_id: UUID, message: str) -> None:
    conn.execute(
        """
        UPDATE workspaces
        SET status = 'failed', last_sample_error = %(message)s, updated_at = now()
        WHERE id = %(id)s AND status <> 'removed'
        """,
        {"id": workspace_id, "message": message},
    )


def set_instance_id(conn: Connection, workspace_id: UUID, instance_id: str | None) -> None:
    conn.execute(
        "UPDATE workspaces SET instance_id = %(instance_id)s, updated_at = now() WHERE id = %(id)s",
        {"id": workspace_id, "instance_id": instance_id},
    )


def set_inbound_secret(conn: Connection, workspace_id: UUID, secret: str) -> bool:
    row = conn.execute(
        """
        UPDATE workspaces SET platform_inbound_secret = %(secret)s, updated_at = now()
        WHERE id = %(id)s RETURNING id
        """,
        {"id": workspace_id, "secret": secret},
    ).fetchone()
    return row is not None


class ProvisionConfig(NamedTuple):
    id: UUID
    name: str
    runtime: str
    tier: int
    parent_id: UUID | None
    status: str
    instance_id: str | None
    created_at: datetime


def provision_config(conn: Connection, workspace_id: UUID) -> ProvisionConfig | None:
    row = conn.execute(
        """
        SELECT id, name, runtime, tier, parent_id, status::text AS status, instance_id, created_at
        FROM workspaces WHERE id = %(id)s
        """,
        {"id": workspace_id},
    ).fetchone()
    return ProvisionConfig(**row) if row else None
