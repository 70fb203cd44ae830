"""Scheduled liveness sweeps (SPEC §5.3). Liveness has no in-memory state: each run reads the
database, in a constant number of statements whatever the fleet size."""

from __future__ import annotations

from molecule_core import db
from molecule_core.lifecycle import LifecycleRequest, request_lifecycle
from molecule_core.settings import get_settings
from molecule_core.store import lifecycle as lifecycle_store
from molecule_core.store import sweeps as sweep_store

# A restart request younger than this may still be on its way through the queue.
PENDING_RESTART_GRACE_SECONDS = 120


def run_liveness_sweep() -> dict[str, int]:
    settings = get_settings()
    with db.transaction() as conn:
        stale = sweep_store.mark_stale_heartbeats(conn, settings.heartbeat_stale_seconds)
    with db.transaction() as conn:
        timed_out = sweep_store.fail_provisioning_timeouts(conn, settings.provision_timeout_seconds)
    with db.transaction() as conn:
        # requested before this run and still unclaimed: the request never reached a lifecycle job
        unclaimed = lifecycle_store.pending_restarts(
            conn, PENDING_RESTART_GRACE_SECONDS, settings.restart_lease_seconds
        )
    restarts = [LifecycleRequest("restart", w.id, "heartbeat_stale") for w in stale if not w.external]
    request_lifecycle(
        restarts + [LifecycleRequest("restart", workspace_id, "pending_restart") for workspace_id in unclaimed]
    )
    return {
        "awaiting_agent": sum(1 for w in stale if w.external),
        "offline": len(restarts),
        "restart_requested": len(restarts),
        "provision_timed_out": len(timed_out),
        "restart_re_requested": len(unclaimed),
    }
