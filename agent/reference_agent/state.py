"""What the running agent knows about itself: its current behaviour switch, the A2A requests in
flight (reported as `active_tasks`), a recent error rate and its uptime — the contents of a
heartbeat."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import UUID

from molecule_core.registry.models import HeartbeatRequest

from reference_agent.config import Behaviour
from reference_agent.credentials import CredentialStore

# The error rate covers the last N answers, so an agent told to fail turns `degraded` quickly and
# recovers once it answers normally again (SPEC §5.3 thresholds: ≥ 0.5 degraded, < 0.1 online).
_ERROR_WINDOW = 20
_CURRENT_TASK_MAX = 200


@dataclass
class InFlightTask:
    summary: str = ""


class AgentState:
    def __init__(
        self,
        *,
        name: str,
        credentials: CredentialStore,
        behaviour: Behaviour | None = None,
        card_url: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.credentials = credentials
        self.behaviour = behaviour or Behaviour()
        # The URL the agent card advertises; None means "the URL the request came in on".
        self.card_url = card_url
        self._clock = clock
        self._started_at = clock()
        self._in_flight: list[InFlightTask] = []
        self._outcomes: deque[bool] = deque(maxlen=_ERROR_WINDOW)

    @contextmanager
    def track_task(self) -> Iterator[InFlightTask]:
        task = InFlightTask()
        self._in_flight.append(task)
        try:
            yield task
        finally:
            self._in_flight.remove(task)

    def record_outcome(self, succeeded: bool) -> None:
        self._outcomes.append(succeeded)

    @property
    def active_tasks(self) -> int:
        return len(self._in_flight)

    @property
    def current_task(self) -> str:
        summaries = [task.summary for task in self._in_flight if task.summary]
        return summaries[-1][:_CURRENT_TASK_MAX] if summaries else ""

    @property
    def error_rate(self) -> float:
        if not self._outcomes:
            return 0.0
        return self._outcomes.count(False) / len(self._outcomes)

    @property
    def uptime_seconds(self) -> int:
        return int(self._clock() - self._started_at)

    def heartbeat(self, workspace_id: UUID) -> HeartbeatRequest:
        return HeartbeatRequest(
            workspace_id=workspace_id,
            error_rate=self.error_rate,
            active_tasks=self.active_tasks,
            uptime_seconds=self.uptime_seconds,
            current_task=self.current_task,
            runtime_state="ok",
            sample_error=None,
            monthly_spend=None,
        )
