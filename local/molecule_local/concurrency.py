"""Powertools keeps the invocation being handled in class-level state: `BaseRouter.current_event`
and `BaseRouter.lambda_context` are class attributes, and each resolver's `context` holds the
current request. That is right for Lambda, where an execution environment handles one event at a
time. The local stack runs many invocations at once on threads of one process, so here that state
becomes per thread — otherwise a request can be answered with another request's headers (a bearer
swapped mid-request turned a heartbeat into a 401 under load; bench/registry.py found it).

Nothing here ships to AWS: only the local stack (and tests that drive it on threads) call
`isolate_powertools_invocations()`."""

from __future__ import annotations

import threading
from typing import Any

_STATE = threading.local()
_PER_THREAD = ("current_event", "lambda_context", "context")


class _PerThread:
    """A data descriptor whose value lives in the current thread (reads and writes, on the class
    and on instances alike)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        try:
            return getattr(_STATE, self.name)
        except AttributeError:
            if self.name == "context":  # resolvers expect a dict to be there before the first event
                setattr(_STATE, self.name, {})
                return _STATE.context
            raise AttributeError(self.name) from None

    def __set__(self, instance: object, value: Any) -> None:
        setattr(_STATE, self.name, value)


def isolate_powertools_invocations() -> None:
    """Make Powertools' per-invocation state per-thread. Idempotent."""
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

    if getattr(type(BaseRouter), "molecule_per_thread", False):
        return
    # Instance reads and writes (`app.current_event`, `self.context = {}`) find these in the class …
    for name in _PER_THREAD:
        setattr(BaseRouter, name, _PerThread(name))
    # … and class-level writes (`BaseRouter.current_event = event` in resolve()) go through the
    # metaclass, whose data descriptors take precedence over the class's own attributes.
    namespace: dict[str, Any] = {name: _PerThread(name) for name in _PER_THREAD}
    namespace["molecule_per_thread"] = True
    BaseRouter.__class__ = type("PerThreadRouterMeta", (type(BaseRouter),), namespace)
