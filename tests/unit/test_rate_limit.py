"""The per-credential token bucket (platform/ratelimit.py): a burst is allowed, the rate refills it,
each credential has its own bucket, and the wait it reports is the real time to the next token."""

from __future__ import annotations

import pytest
from molecule_core.platform.errors import TooManyRequests
from molecule_core.platform.ratelimit import RateLimiter, check_rate
from molecule_core.platform.settings import reset_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_next_request_waits_for_one_token() -> None:
    clock = Clock()
    limiter = RateLimiter(2.0, 3, clock=clock)

    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.5)


def test_the_rate_refills_the_bucket_up_to_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(2.0, 3, clock=clock)
    for _ in range(3):
        limiter.acquire("a")

    clock.now += 0.5  # one token back
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    clock.now += 60  # never more than the burst
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") > 0


def test_each_credential_has_its_own_bucket() -> None:
    limiter = RateLimiter(1.0, 1, clock=Clock())

    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    assert limiter.acquire("b") == 0.0


def test_over_the_limit_is_429_with_a_whole_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATE_LIMIT_PER_SECOND", "0.5")
    monkeypatch.setenv("RATE_LIMIT_BURST", "1")
    reset_settings()
    try:
        check_rate("over-limit-credential")
        with pytest.raises(TooManyRequests) as refused:
            check_rate("over-limit-credential")
    finally:
        reset_settings()

    assert refused.value.status_code == 429
    assert refused.value.headers == {"Retry-After": "2"}
    assert "rate limit exceeded" in refused.value.message


def test_a_zero_rate_turns_the_limit_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATE_LIMIT_PER_SECOND", "0")
    monkeypatch.setenv("RATE_LIMIT_BURST", "1")
    reset_settings()
    try:
        for _ in range(10):
            check_rate("unlimited-credential")
    finally:
        reset_settings()
