"""Who may talk to whom (SPEC §4.1): self; siblings (same parent, or both at the root); any
ancestor ↔ descendant. Cousins are denied. One rule, used by check-access, discovery and A2A."""

from __future__ import annotations

from uuid import UUID

from molecule_core.platform import db
from molecule_core.registry import store
from molecule_core.registry.models import Lineage


def is_access_allowed(caller: Lineage | None, target: Lineage | None) -> bool:
    """Pure: decide from the two lineages (None = unknown workspace). Removed workspaces talk to
    nobody."""
    if caller is None or target is None or caller.removed or target.removed:
        return False
    if caller.id == target.id:
        return True
    if caller.parent_id == target.parent_id:  # siblings, including two root workspaces
        return True
    return caller.id in target.ancestors or target.id in caller.ancestors


def can_communicate(caller_id: UUID, target_id: UUID) -> bool:
    lineages = db.single_statement(lambda conn: store.load_lineages(conn, [caller_id, target_id]))
    return is_access_allowed(lineages.get(caller_id), lineages.get(target_id))
