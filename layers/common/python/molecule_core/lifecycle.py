"""Lifecycle requests (restart, wake, hibernate, stop). Callers ask here; how a request reaches a
backend is the dispatcher's business. Until the lifecycle queue is configured, requests are
recorded on the row (`restart_requested_at`, set by the caller's own statement) and logged, so a
later dispatcher can pick them up — nothing is kept in process memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol
from uuid import UUID

from molecule_core.observability import logger

LifecycleAction = Literal["restart", "wake", "hibernate", "stop"]


@dataclass(frozen=True)
class LifecycleRequest:
    action: LifecycleAction
    workspace_id: UUID
    reason: str


class LifecycleDispatcher(Protocol):
    def dispatch(self, requests: Sequence[LifecycleRequest]) -> None: ...


class LoggingDispatcher:
    """The default: no lifecycle queue configured, so requests stay recorded on their rows."""

    def dispatch(self, requests: Sequence[LifecycleRequest]) -> None:
        for request in requests:
            logger.info(
                "lifecycle request recorded; no lifecycle queue configured",
                extra={
                    "action": request.action,
                    "workspace_id": str(request.workspace_id),
                    "reason": request.reason,
                },
            )


_dispatcher: LifecycleDispatcher = LoggingDispatcher()


def request_lifecycle(requests: Sequence[LifecycleRequest]) -> None:
    if requests:
        _dispatcher.dispatch(requests)


def use_dispatcher(dispatcher: LifecycleDispatcher | None) -> None:
    global _dispatcher
    _dispatcher = dispatcher or LoggingDispatcher()
