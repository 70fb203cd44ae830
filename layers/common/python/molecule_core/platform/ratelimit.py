"""Per-credential request rate limit: a token bucket per credential, kept in the memory of one
execution environment (SPEC §5.15: 429 with Retry-After).

Why in memory and not in PostgreSQL: a shared counter would cost every request a write — a round
trip and row contention on exactly the hot paths (A2A, heartbeats) the limit protects. Per
environment, one credential gets at most `RATE_LIMIT_PER_SECOND` × the function's concurrent
environments, and the function's reserved concurrency bounds those; the HTTP API's own throttling
(template.yaml) is the fleet-wide ceiling. The limiter's job is narrower: one runaway agent or
script cannot take a whole environment's capacity from everyone else."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from molecule_core.platform.errors import TooManyRequests
from molecule_core.platform.settings import get_settings

# Credentials remembered per environment; the least recently seen are forgotten first (a forgotten
# bucket restarts full, which only ever errs on the side of letting a request through).
MAX_TRACKED = 10_000


class RateLimiter:
    def __init__(self, rate_per_second: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_per_second
        self.burst = burst
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, at)
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Take one request from `key`'s bucket: 0 when allowed, else the seconds until it would be."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > MAX_TRACKED:
                self._buckets.popitem(last=False)
            return wait


_limiter: RateLimiter | None = None
_limiter_lock = threading.Lock()


def _current() -> RateLimiter | None:
    global _limiter
    settings = get_settings()
    if settings.rate_limit_per_second <= 0:
        return None
    with _limiter_lock:
        if _limiter is None or (_limiter.rate, _limiter.burst) != (
            settings.rate_limit_per_second,
            settings.rate_limit_burst,
        ):
            _limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
        return _limiter


def check_rate(key: str) -> None:
    """Count one request of the credential `key`; TooManyRequests (429, Retry-After) over the limit."""
    limiter = _current()
    if limiter is None:
        return
    wait = limiter.acquire(key)
    if wait > 0:
        retry_after = max(1, math.ceil(wait))
        raise TooManyRequests(
            f"rate limit exceeded: at most {limiter.rate:g} requests per second per credential "
            f"(bursts of {limiter.burst}); retry in {retry_after} s",
            retry_after=retry_after,
        )
