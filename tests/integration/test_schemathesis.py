"""Keep bad input from ever being a 5xx again (SPEC §8), and the API reference truthful (issue 20):
schemathesis generates valid and invalid requests for every operation of /openapi.json and sends
them over HTTP to the local API server (in process, on 127.0.0.1:0, real PostgreSQL); every answer
must be below 500, of a documented status, and match what the schema documents for it (body,
content type, required headers). Generated cases rarely reach the answers a client must handle
most carefully (a queued A2A message, a rate limit, an outage), so a deterministic sample of real
answers goes through the same checks too.

Bounded for `make test` (SCHEMATHESIS_MAX_EXAMPLES per operation and mode, default 8, and a time
budget after which each remaining operation gets two cases); `make fuzz` runs the same test with
far more examples. Generated workspace ids are often swapped for ones that exist, so cases get
past "not found" into the logic; lifecycle jobs are recorded, not run."""

from __future__ import annotations

import os
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from molecule_core.platform import db
from molecule_core.platform.validation import MAX_JSON_BODY_BYTES
from molecule_local.gateway import Gateway, RouteTable
from molecule_local.lambdas import FunctionRegistry
from molecule_local.stack import HttpService
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.agents import ScriptedAgent
from tests.conftest import ApiClient, RecordingDispatcher, create_workspace, set_env

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "8"))
TIME_BUDGET_SECONDS = float(os.environ.get("SCHEMATHESIS_TIME_BUDGET", "45"))
# An answer is what the schema documents: its status, body, content type and required headers.
DOCUMENTED = [
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
]
CHECKS = [not_a_server_error, *DOCUMENTED]


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


# --- a deterministic sample of real answers -------------------------------------------------------

A2A = "/workspaces/{workspace_id}/a2a"
V1_0_MESSAGE = {"messageId": "m-1.0", "role": "ROLE_USER", "parts": [{"text": "later, in A2A 1.0"}]}


def a2a_message(text: str, method: str = "message/send") -> dict[str, Any]:
    message = {"kind": "message", "messageId": f"m-{text}", "role": "user", "parts": [{"kind": "text", "text": text}]}
    return {"jsonrpc": "2.0", "id": f"r-{text}", "method": method, "params": {"message": message}}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def header(response: Any, name: str) -> str:
    """A header of a schemathesis response (its headers: lower-case name → values)."""
    return str({key.lower(): values for key, values in response.headers.items()}[name.lower()][0])


@dataclass
class Answers:
    """Sends one request through its documented operation; its answer must be `status` and be what
    the schema documents (the sample has the 5xx answers the API does give: 502, 503, 504)."""

    server: str
    session: requests.Session
    document: dict[str, Any] = field(init=False)
    schema: Any = field(init=False)

    def __post_init__(self) -> None:
        self.document = self.session.get(f"{self.server}/openapi.json", timeout=30).json()
        self.schema = schemathesis.openapi.from_dict(self.document)

    def expect(
        self,
        status: int,
        method: str,
        path: str,
        *,
        anonymous: bool = False,
        token: str | None = None,
        relayed: bool = False,
        **case: Any,
    ) -> Any:
        """Sent with the operator's token, none (`anonymous`) or `token`. `relayed`: the agent's own
        answer, which the `default` response documents; every other status must be documented by
        itself (a `default` would otherwise accept any)."""
        sent = self.schema[path][method].Case(**case)
        session = requests.Session() if anonymous or token else self.session
        if token:
            session.headers["Authorization"] = f"Bearer {token}"
        response = sent.call(base_url=self.server, session=session, timeout=30)
        label = f"{method} {path} -> {response.status_code}"
        assert response.status_code == status, f"{label}, not {status}: {response.text[:300]}"
        documented = self.document["paths"][path][method.lower()]["responses"]
        assert relayed or str(status) in documented, f"{label}: not documented"
        sent.validate_response(response, checks=DOCUMENTED)  # raises, naming what does not match
        return response


@pytest.fixture
def answers(server: str, dev: str) -> Answers:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {dev}"
    return Answers(server, session)


def test_the_a2a_proxys_real_answers_are_the_documented_ones(
    answers: Answers, api: ApiClient, dev: str, agent: ScriptedAgent, platform_env: Any
) -> None:
    # Given: a poll-mode workspace, one pushed to a real agent, one whose agent is gone, one pushed to
    # no URL at all, one out of budget
    inbox = create_workspace(api, dev, name="inbox", external=True)["id"]
    pushed = create_workspace(api, dev, name="pushed", external=True, url=agent.url)["id"]
    gone = create_workspace(api, dev, name="gone", external=True, url=f"http://127.0.0.1:{closed_port()}")["id"]
    unreachable = create_workspace(api, dev, name="unreachable", external=True)["id"]
    broke = create_workspace(api, dev, name="broke", external=True)["id"]
    for workspace_id in (pushed, gone, unreachable):
        assert api.patch(f"/workspaces/{workspace_id}", json_body={"delivery_mode": "push"}, token=dev).status == 200
    assert api.patch(f"/workspaces/{broke}", json_body={"budget_limit": 0}, token=dev).status == 200

    def a2a(status: int, workspace_id: str, body: Any, relayed: bool = False, **headers: str) -> Any:
        return answers.expect(
            status,
            "POST",
            A2A,
            path_parameters={"workspace_id": workspace_id},
            body=body,
            media_type="application/json",
            headers=headers or None,
            relayed=relayed,
        )

    # When / Then: each answer has a documented status, body, content type and headers
    a2a(200, pushed, a2a_message("hello"))  # the agent's own JSON-RPC answer
    assert a2a(200, inbox, a2a_message("to-inbox")).json()["delivery_mode"] == "poll"
    queued = a2a(202, pushed, a2a_message("later"), Prefer="respond-async")
    assert queued.json()["queued"] is True and queued.json()["result"]["status"]["state"] == "submitted"
    v1_0 = {"jsonrpc": "2.0", "id": 7, "method": "SendMessage", "params": {"message": V1_0_MESSAGE}}
    assert "task" in a2a(202, pushed, v1_0, Prefer="respond-async").json()["result"]
    streamed = a2a(202, pushed, a2a_message("later-stream", "message/stream"), Prefer="respond-async")
    assert header(streamed, "Content-Type").startswith("text/event-stream")
    a2a(400, pushed, {"jsonrpc": "2.0", "id": 1})  # a JSON-RPC error: no method
    a2a(402, broke, a2a_message("no-budget"))
    a2a(502, gone, a2a_message("nobody-home"))
    a2a(503, unreachable, a2a_message("no-url"))  # push mode, and no URL to push to
    agent.mode, agent.status = "status", 409
    a2a(409, pushed, a2a_message("refused"), relayed=True)  # the agent's own refusal: the `default` answer
    agent.mode = "slow"
    set_env(platform_env, A2A_PUSH_TIMEOUT_SECONDS="1")
    try:
        a2a(504, pushed, a2a_message("slow"))
    finally:
        agent.release.set()


def test_the_platforms_real_refusals_are_the_documented_ones(
    answers: Answers, api: ApiClient, dev: str, dispatcher: RecordingDispatcher, platform_env: Any
) -> None:
    # Given: a workspace, a parent with a child, a removed workspace
    existing = create_workspace(api, dev, name="existing", external=True)["id"]
    parent = create_workspace(api, dev, name="parent", external=True)["id"]
    create_workspace(api, dev, name="child", external=True, parent_id=parent)
    removed = create_workspace(api, dev, name="removed", external=True)["id"]
    assert api.delete(f"/workspaces/{removed}", token=dev).status == 200
    by_id = "/workspaces/{workspace_id}"

    # When / Then: each refusal has a documented status, body and headers
    answers.expect(401, "GET", by_id, path_parameters={"workspace_id": existing}, anonymous=True)
    answers.expect(404, "GET", by_id, path_parameters={"workspace_id": str(uuid.uuid4())})
    answers.expect(410, "GET", by_id, path_parameters={"workspace_id": removed})
    answers.expect(409, "DELETE", by_id, path_parameters={"workspace_id": parent})
    answers.expect(413, "POST", "/workspaces", body={"name": "x" * MAX_JSON_BODY_BYTES}, media_type="application/json")
    set_env(platform_env, RATE_LIMIT_PER_SECOND="0.01", RATE_LIMIT_BURST="1")
    answers.expect(200, "GET", "/workspaces")
    limited = answers.expect(429, "GET", "/workspaces")
    assert int(header(limited, "Retry-After")) >= 1
    set_env(platform_env, RATE_LIMIT_PER_SECOND="0")
    db.configure(dsn=f"postgresql://molecule@127.0.0.1:{closed_port()}/down")  # the database is gone
    down = answers.expect(503, "GET", "/workspaces")
    assert down.json()["code"] == "platform_unavailable" and int(header(down, "Retry-After")) > 0


def test_the_delegation_routes_real_answers_are_the_documented_ones(answers: Answers, api: ApiClient, dev: str) -> None:
    # Given: a delegator and a poll-mode target (the task waits in its inbox), and two cousins (a1
    # under a, b1 under b) whom the access rule keeps apart
    delegator = create_workspace(api, dev, name="delegator", external=True)
    own = delegator["connection"]["auth_token"]
    target = create_workspace(api, dev, name="target", external=True)["id"]
    a, b = (create_workspace(api, dev, name=name, external=True)["id"] for name in ("a", "b"))
    a1 = create_workspace(api, dev, name="a1", external=True, parent_id=a)["id"]
    b1 = create_workspace(api, dev, name="b1", external=True, parent_id=b)["id"]
    delegate, delegations = "/workspaces/{workspace_id}/delegate", "/workspaces/{workspace_id}/delegations"
    one, update = f"{delegations}/{{delegation_id}}", f"{delegations}/{{delegation_id}}/update"

    def send(status: int, path: str, workspace_id: str, body: Any = None, **case: Any) -> Any:
        if body is not None:
            case.update(body=body, media_type="application/json")
        return answers.expect(
            status, "POST", path, path_parameters={"workspace_id": workspace_id, **case.pop("more", {})}, **case
        )

    # When / Then: each answer has a documented status, body, content type and headers
    keyed = {"target_id": target, "task": "summarise", "idempotency_key": "k-1"}
    made = send(202, delegate, delegator["id"], keyed).json()
    assert send(200, delegate, delegator["id"], keyed).json()["idempotent_hit"] is True
    sdk = {"X-Workspace-ID": delegator["id"]}
    assert send(202, delegate, target, {"task": "translate"}, headers=sdk, token=own).json()["target_id"] == target
    send(401, delegate, target, {"target_id": a, "task": "x"}, headers=sdk, token=own)  # the path is the target
    send(400, delegate, delegator["id"], {"target_id": delegator["id"], "task": "myself"})
    send(403, delegate, a1, {"target_id": b1, "task": "not yours"})
    send(404, delegate, delegator["id"], {"target_id": str(uuid.uuid4()), "task": "anyone?"})
    send(413, delegate, delegator["id"], {"target_id": target, "task": "x" * MAX_JSON_BODY_BYTES})
    path = {"workspace_id": delegator["id"]}
    assert answers.expect(200, "GET", delegations, path_parameters=path, token=own).json()
    by_id = {**path, "delegation_id": made["delegation_id"]}
    assert answers.expect(200, "GET", one, path_parameters=by_id).json()["task"] == "summarise"
    answers.expect(404, "GET", one, path_parameters={**path, "delegation_id": "never-made"})
    recorded = {"target_id": target, "task": "check the deploy", "delegation_id": "task-7f3"}
    send(202, f"{delegations}/record", delegator["id"], recorded, token=own)
    closed = {"delegation_id": "task-7f3"}
    send(200, update, delegator["id"], {"status": "failed", "error": "no answer"}, more=closed)
    assert send(409, update, delegator["id"], {"status": "completed"}, more=closed).json()["status"] == "failed"
    send(404, update, delegator["id"], {"status": "completed"}, more={"delegation_id": "never-made"})
