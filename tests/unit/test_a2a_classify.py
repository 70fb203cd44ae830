"""is_upstream_dead_status: the table of the history's #2362 review (18 codes and more)."""

from __future__ import annotations

import pytest
from molecule_core.a2a.classify import is_upstream_dead_status

DEAD = [502, 503, 504, 521, 522, 523, 524]
ALIVE = [200, 201, 202, 204, 301, 400, 401, 403, 404, 408, 409, 429, 500, 501, 505, 520, 525, 526, 530]


@pytest.mark.parametrize("status", DEAD)
def test_dead_statuses(status: int) -> None:
    assert is_upstream_dead_status(status)


@pytest.mark.parametrize("status", ALIVE)
def test_statuses_that_do_not_mean_dead(status: int) -> None:
    assert not is_upstream_dead_status(status)


def test_table_covers_at_least_18_codes() -> None:
    assert len(set(DEAD) | set(ALIVE)) >= 18
    assert {520, 525} <= set(ALIVE)  # Cloudflare-shaped, but a running origin
