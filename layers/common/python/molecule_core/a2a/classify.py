"""Which upstream answers mean "the agent behind this URL is dead". One table, one predicate.

502/503/504 come from the agent's own proxy or load balancer when nothing answers behind it;
521 (web server down), 522 (connection timed out), 523 (origin unreachable) and 524 (origin
timed out) are Cloudflare's origin-failure family — more direct signs of a dead host than 524
alone (history #2362). 520 (unknown error) and 525 (TLS handshake failed) look alike but mean a
misbehaving or misconfigured origin that is running: restarting it would not help."""

from __future__ import annotations

DEAD_UPSTREAM_STATUSES = frozenset({502, 503, 504, 521, 522, 523, 524})


def is_upstream_dead_status(status: int) -> bool:
    return status in DEAD_UPSTREAM_STATUSES
