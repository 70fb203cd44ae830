"""Round trips of one request to the database, counted the way `bench statements` counts them
(issue 19): every statement this process sends, plus two (BEGIN, COMMIT) per transaction block."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from molecule_core.platform import db

from bench.statements import LEDGER, CountingCursor, counting_transactions

T = TypeVar("T")


@dataclass(frozen=True)
class Counted(Generic[T]):
    answer: T
    statements: list[str]
    transactions: int

    @property
    def round_trips(self) -> int:
        return len(self.statements) + 2 * self.transactions


def counted(database: str, request: Callable[[], T]) -> Counted[T]:
    """`request`'s answer and what it sent to the database (`database` is the test's own)."""
    db.configure(dsn=database, cursor_factory=CountingCursor)
    LEDGER.reset()
    try:
        with counting_transactions():
            answer = request()
        return Counted(answer, list(LEDGER.statements), LEDGER.transactions)
    finally:
        db.configure(dsn=database)
