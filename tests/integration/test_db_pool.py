"""The local stack's connection pool (platform/db.py `PingWhenIdle`): a connection handed out
again soon after a unit of work gave it back is not pinged first — a ping is one more round trip
per unit of work — while one that sat idle is, so a connection that died meanwhile is replaced
before a request uses it."""

from __future__ import annotations

import psycopg
from molecule_core.platform import db

from bench.statements import LEDGER, CountingCursor

UNITS = 5


def backend_pid(conn: db.Connection) -> int:
    row = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()
    assert row is not None
    return int(row["pid"])


def pings() -> int:
    return sum(1 for statement in LEDGER.statements if not statement.strip())


def test_a_connection_back_in_use_within_the_idle_window_is_not_pinged(database: str) -> None:
    db.configure(dsn=database, cursor_factory=CountingCursor)
    try:
        with db.pooled(database, max_size=1, ping_idle_seconds=3600):
            db.single_statement(backend_pid)  # first hand-out: never used, so pinged
            LEDGER.reset()
            pids = {db.single_statement(backend_pid) for _ in range(UNITS)}
            with db.transaction() as conn:
                pids.add(backend_pid(conn))

            assert (pings(), len(LEDGER.statements)) == (0, UNITS + 1)
            assert len(pids) == 1  # the same pooled connection every time
    finally:
        db.configure(dsn=database)


def test_a_connection_that_sat_idle_is_pinged_and_replaced_if_it_died(database: str) -> None:
    db.configure(dsn=database, cursor_factory=CountingCursor)
    try:
        with db.pooled(database, max_size=1, ping_idle_seconds=0):  # every hand-out counts as idle
            first = db.single_statement(backend_pid)
            with psycopg.connect(database, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (first,))
            LEDGER.reset()

            second = db.single_statement(backend_pid)  # no 503: the ping found it dead first

            assert second != first
            assert pings() >= 1
    finally:
        db.configure(dsn=database)
