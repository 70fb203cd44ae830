"""EventBridge Scheduler in miniature: invoke each scheduled function of template.yaml at its rate,
with the schedule's Input as the event. MOLECULE_SCHEDULE_PERIOD_SECONDS shortens every period
(tests and demos; the template's rate stays the production truth)."""

from __future__ import annotations

import os
import threading
import time

from molecule_local.lambdas import FunctionRegistry
from molecule_local.template import ScheduleSpec


class SchedulerService:
    name = "scheduler"

    def __init__(self, functions: FunctionRegistry, period_override: float | None = None) -> None:
        self.functions = functions
        override = period_override or float(os.environ.get("MOLECULE_SCHEDULE_PERIOD_SECONDS") or 0)
        self.jobs: list[tuple[str, ScheduleSpec, float]] = [
            (spec.logical_id, schedule, override or schedule.period_seconds)
            for spec in functions.template.functions.values()
            for schedule in spec.schedules
        ]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self.invocations: dict[str, int] = {logical_id: 0 for logical_id, _, _ in self.jobs}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def describe(self) -> str:
        jobs = ", ".join(f"{fn} every {period:g}s" for fn, _, period in self.jobs) or "none"
        return f"Scheduler  {jobs}"

    def _run(self) -> None:
        next_run = {index: time.monotonic() + period for index, (_, _, period) in enumerate(self.jobs)}
        while not self._stop.is_set():
            if not next_run:
                self._stop.wait()
                return
            index = min(next_run, key=lambda i: next_run[i])
            if self._stop.wait(max(0.0, next_run[index] - time.monotonic())):
                return
            logical_id, schedule, period = self.jobs[index]
            try:
                self.functions.invoke(logical_id, dict(schedule.input))
            except Exception as exc:  # a failed run is logged; the schedule keeps going, as in AWS
                print(f"scheduler: {logical_id} failed: {exc!r}", flush=True)
            self.invocations[logical_id] += 1
            next_run[index] = time.monotonic() + period
