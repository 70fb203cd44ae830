"""The platform → agent bearer (`platform_inbound_secret`): read it, and mint it inline when a
workspace has none (lazy heal for workspaces provisioned before secrets existed, or whose mint
failed). One helper for every caller — register, chat uploads and downloads — which differ only in
how they answer each outcome (the history's readOrLazyHealInboundSecret lesson)."""

from __future__ import annotations

from typing import NamedTuple
from uuid import UUID

from molecule_core.auth.service import mint_inbound_secret
from molecule_core.platform import db
from molecule_core.platform.errors import WorkspaceNotFound
from molecule_core.platform.observability import logger
from molecule_core.registry import store as registry_store

_UNREAD = object()


class InboundSecret(NamedTuple):
    secret: str | None
    healed: bool
    error: Exception | None


def read_or_heal_inbound_secret(workspace_id: UUID, *, known: object = _UNREAD) -> InboundSecret:
    """(secret, healed, error), one of exactly four outcomes:
    - present             → (secret, False, None)
    - missing, minted     → (new secret, True, None)
    - missing, mint fails → (None, False, error)
    - read fails          → (None, False, error)
    `known` lets a caller that has just read the row (register) skip the read."""
    if known is _UNREAD:
        try:
            exists, secret = db.single_statement(lambda conn: registry_store.read_inbound_secret(conn, workspace_id))
        except Exception as exc:
            logger.warning("inbound secret read failed", extra={"workspace_id": str(workspace_id)})
            return InboundSecret(None, False, exc)
        if not exists:
            return InboundSecret(None, False, WorkspaceNotFound())
    else:
        secret = known if isinstance(known, str) else None
    if secret:
        return InboundSecret(secret, False, None)
    candidate = mint_inbound_secret()
    try:
        # one idempotent statement (coalesce keeps a secret that appeared meanwhile): one round trip
        stored = db.single_statement(lambda conn: registry_store.heal_inbound_secret(conn, workspace_id, candidate))
        if stored is None:
            raise WorkspaceNotFound()
    except Exception as exc:
        logger.warning("inbound secret heal failed", extra={"workspace_id": str(workspace_id)})
        return InboundSecret(None, False, exc)
    logger.info("inbound secret healed", extra={"workspace_id": str(workspace_id)})
    return InboundSecret(stored, True, None)
