"""Keep bad input from ever being a 5xx again (SPEC §8): schemathesis generates valid and invalid
requests for every operation of /openapi.json and sends them over HTTP to the local API server
(in process, on 127.0.0.1:0, real PostgreSQL); every answer must be below 500 and match what the
schema documents for its status.

Bounded for `make test` (SCHEMATHESIS_MAX_EXAMPLES per operation and mode, default 8, and a time
budget after which each remaining operation gets two cases); `make fuzz` runs the same test with
far more examples. Generated workspace ids are often swapped for ones that exist, so cases get
past "not found" into the logic; lifecycle jobs are recorded, not run."""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from molecule_local.gateway import Gateway, RouteTable
from molecule_local.lambdas import FunctionRegistry
from molecule_local.stack import HttpService
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.conftest import ApiClient, RecordingDispatcher, create_workspace

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "8"))
TIME_BUDGET_SECONDS = float(os.environ.get("SCHEMATHESIS_TIME_BUDGET", "45"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@dataclass
class Run:
    """Sends generated cases to the server and keeps the figures and every failure."""

    server: str
    session: requests.Session
    known_ids: list[str]
    rng: random.Random = field(default_factory=lambda: random.Random(12))
    operations: int = 0
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def use_known_ids(self, case: Any) -> None:
        if case.path_parameters and "workspace_id" in case.path_parameters and self.rng.random() < 0.7:
            case.path_parameters["workspace_id"] = self.rng.choice(self.known_ids)
        if isinstance(case.body, dict):
            for name in ("id", "workspace_id", "caller_id", "target_id", "parent_id"):
                if name in case.body and self.rng.random() < 0.7:
                    case.body[name] = self.rng.choice(self.known_ids)

    def send(self, case: Any, label: str) -> None:
        self.use_known_ids(case)
        response = case.call(base_url=self.server, session=self.session, timeout=30)
        self.cases += 1
        self.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as failure:  # collected: one report for the run
            found = failure.exceptions if isinstance(failure, BaseExceptionGroup) else (failure,)
            what = "; ".join(f"{type(f).__name__}: {str(f).splitlines()[0][:200]}" for f in found)
            self.failures.append(f"{label} -> {response.status_code}: {what}\n    {case.as_curl_command()[:600]}")

    def fuzz(self, operation: Any, mode: GenerationMode, examples: int) -> None:
        label = f"{operation.label} [{mode.value}]"

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            self.send(case, label)

        try:
            exercise()
        except Unsatisfiable:
            # nothing to make invalid (an operation without parameters or body)
            assert mode is GenerationMode.NEGATIVE, f"{label}: no valid case could be generated"

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)


@pytest.fixture
def server(database: str, functions: FunctionRegistry, routes: RouteTable) -> Iterator[str]:
    service = HttpService(Gateway(routes, functions), "127.0.0.1", 0)
    service.start()
    try:
        yield service.url
    finally:
        service.stop()


def test_no_generated_request_gets_a_5xx_or_an_undocumented_answer(
    server: str,
    api: ApiClient,
    dev: str,
    dispatcher: RecordingDispatcher,
    bucket: Any,  # a deployment has its files bucket: without one, staging answers 503 by design
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given: workspaces that generated ids are swapped for, so cases reach past "not found"
    known_ids = [create_workspace(api, dev, name=f"fuzz-{n}", external=True)["id"] for n in range(3)]
    schema = schemathesis.openapi.from_url(f"{server}/openapi.json")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {dev}"
    run = Run(server, session, known_ids)
    started = time.monotonic()

    # When: every operation gets valid and invalid cases
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        run.operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            # past the time budget every remaining operation still runs, with a couple of cases
            run.fuzz(operation, mode, MAX_EXAMPLES if time.monotonic() - started < TIME_BUDGET_SECONDS else 2)

    # Then: no 5xx, and every answer is what the schema documents for its status
    with capsys.disabled():
        print(
            f"\nschemathesis: {run.operations} operations, {run.cases} cases, {run.server_errors} x 5xx "
            f"in {time.monotonic() - started:.0f}s; statuses {dict(sorted(run.statuses.items()))}"
        )
    assert run.operations == len(operations) >= 30 and run.cases > 2 * run.operations
    assert run.failures == [], "\n".join(run.failures[:40])
