"""Work the caller's answer need not wait for: the record of something already done (the A2A
proxy's a2a_receive row of a push delivery), written once the answer is on its way.

A runtime that can go on after it has answered opens `after_answer()` around one invocation and
sends the answer inside it; what `defer` collected runs when the block ends, in order. Two runtimes
can: the streaming runtime client (`stream_runtime.serve_one`: Lambda freezes the environment only
when it asks for the next invocation, so work between the posted answer and that request still
runs) and the local stack's HTTP server (its connection thread runs the work before it reads the
connection's next request, so a client on one kept-alive connection reads its own writes).

Everywhere else — the managed Lambda runtime, an SQS or schedule handler, the in-process gateway
tests drive — nobody has opened the block, and `defer` runs the work at once: work is never
skipped, only moved. What is deferred must be a record, never the fact itself: if the process dies
between answer and record, the answer stands and only its record is gone (the same bargain as
writing it without waiting for the disk). One unit's failure is logged and the others still run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from molecule_core.platform.observability import logger

_pending: ContextVar[tuple[list[Callable[[], object]], list[Callable[[], object]]] | None] = ContextVar(
    "molecule_deferred", default=None
)


def defer(work: Callable[[], object], *, last: bool = False) -> None:
    """Run `work` after the answer is sent, or now when no runtime will run it later. `last`: after
    all other work of the block, even work deferred after it — what closes the invocation's
    records (publishing its metrics, which a streamed answer's receipt still adds to once its
    last event is relayed)."""
    pending = _pending.get()
    if pending is None:
        work()
    else:
        pending[1 if last else 0].append(work)


@contextmanager
def after_answer() -> Iterator[None]:
    """Collect deferred work while the block answers; run it when the block ends (also when it
    ends with an exception), in order, the `last` units after the others. Work deferred by
    deferred work runs at once."""
    pending: tuple[list[Callable[[], object]], list[Callable[[], object]]] = ([], [])
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)
        for work in (*pending[0], *pending[1]):
            try:
                work()
            except Exception:
                logger.exception("deferred work failed", extra={"work": getattr(work, "__qualname__", repr(work))})
