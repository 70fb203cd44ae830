"""Statements per request: SQL round trips each route costs, one representative request for every
route of template.yaml (and a few variants where the caller or the body changes the work), driven
through the in-process API Gateway stand-in against an embedded PostgreSQL, with S3 and SQS on moto
servers where a route needs them.

Every `execute`/`executemany` goes through a counting cursor installed with
`db.configure(cursor_factory=...)` (`Connection.execute` opens a cursor too). BEGIN and COMMIT
travel outside any cursor, so transaction blocks are counted separately; a request's round trips
are its statements plus two per transaction block. Opening the connection is not counted (it
happens once per execution environment).

Target (issue 19): every read route (GET) answers in at most 2 round trips, the inbox read with a
`since_id` cursor included; the table marks each read request PASS or MISS.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from uuid import UUID

import httpx
import psycopg
from molecule_core.platform import db, migrations, observability
from molecule_core.platform.settings import reset_settings
from molecule_core.provisioning.backends.base import AgentSpec, use_provisioner
from molecule_local.gateway import Gateway
from molecule_local.lambdas import FunctionRegistry
from molecule_local.stack import route_table
from molecule_local.template import default_template
from psycopg.abc import Params, Query
from psycopg.sql import Composable

from bench import print_table
from bench.support import verdict

ADMIN_TOKEN = "bench-admin-token"  # noqa: S105 - a throwaway credential for the embedded stack
# A public address literal: passes the URL-safety check without a DNS lookup.
AGENT_URL = "https://93.184.216.34/agent"
AGENT_CARD = {"name": "bench-agent", "version": "1.0.0", "skills": [{"id": "echo", "name": "Echo"}]}
READ_ROUND_TRIP_TARGET = 2  # issue 19: every read route, the inbox with a cursor included

# Platform settings the run controls; nothing from the caller's shell leaks in.
_CLEARED_ENV = (
    "DATABASE_URL",
    "DATABASE_SECRET_ARN",
    "ADMIN_TOKEN_SECRET_ARN",
    "MOLECULE_ENABLE_TEST_TOKENS",
    "PLATFORM_URL",
    "PROVISIONER_BACKEND",
    "MOLECULE_SAAS_MODE",
    "SECRETS_KMS_KEY_ID",
    "FILES_BUCKET",
    "LIFECYCLE_QUEUE_URL",
)


@dataclass
class Ledger:
    """What the current request sent to the database."""

    statements: list[str] = field(default_factory=list)
    transactions: int = 0

    def reset(self) -> None:
        self.statements = []
        self.transactions = 0

    def record(self, cursor: psycopg.Cursor[Any], query: Query) -> None:
        if isinstance(query, Composable):
            text = query.as_string(cursor)
        else:
            text = query.decode() if isinstance(query, bytes) else str(query)
        self.statements.append(re.sub(r"\s+", " ", text).strip())


LEDGER = Ledger()


class CountingCursor(psycopg.Cursor[Any]):
    """A psycopg cursor that records every statement it sends."""

    def execute(
        self, query: Query, params: Params | None = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> CountingCursor:
        LEDGER.record(self, query)
        super().execute(query, params, prepare=prepare, binary=binary)
        return self

    def executemany(self, query: Query, params_seq: Iterable[Params], *, returning: bool = False) -> None:
        LEDGER.record(self, query)
        super().executemany(query, params_seq, returning=returning)


@contextmanager
def counting_transactions() -> Iterator[None]:
    """Count transaction blocks (BEGIN…COMMIT, or SAVEPOINT…RELEASE when nested) by wrapping
    `psycopg.Connection.transaction` for the duration of the run."""
    original = psycopg.Connection.transaction

    @contextmanager
    def transaction(self: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> Iterator[psycopg.Transaction]:
        LEDGER.transactions += 1
        with original(self, *args, **kwargs) as block:
            yield block

    psycopg.Connection.transaction = transaction  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        psycopg.Connection.transaction = original  # type: ignore[method-assign]


@contextmanager
def platform_env(**overrides: str) -> Iterator[None]:
    """MOLECULE_ENV=test (test tokens allowed), an ADMIN_TOKEN, a secrets key file in a temporary
    directory (made on first use, as the local stack does), quiet logs; all restored after.
    The platform's Logger is made when the handlers' imports load, before this runs, so
    POWERTOOLS_LOG_LEVEL alone would not reach it: its level is set here too (ERROR silences the
    request line and the warnings the scenario provokes on purpose).
    `overrides` replace or add settings (e.g. MOLECULE_ENV="development" to allow loopback URLs)."""
    saved = dict(os.environ)
    saved_level = observability.logger.log_level
    with tempfile.TemporaryDirectory(prefix="molecule-bench-secrets-") as secrets_dir:
        for name in _CLEARED_ENV:
            os.environ.pop(name, None)
        os.environ.update(
            MOLECULE_ENV="test",
            ADMIN_TOKEN=ADMIN_TOKEN,
            SECRETS_KEY_FILE=str(Path(secrets_dir) / "secrets.key"),
            POWERTOOLS_SERVICE_NAME="molecule",
            POWERTOOLS_METRICS_NAMESPACE="MoleculeBench",
            POWERTOOLS_METRICS_DISABLED="true",
            POWERTOOLS_LOG_LEVEL="ERROR",
            # benchmarks drive one credential far past any per-credential rate a fleet would see
            RATE_LIMIT_PER_SECOND="0",
        )
        os.environ.update(overrides)
        observability.logger.setLevel(logging.ERROR)
        reset_settings()
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)
            observability.logger.setLevel(saved_level)
            reset_settings()


@contextmanager
def embedded_database(settings: Mapping[str, str] | None = None) -> Iterator[str]:
    """A throwaway PostgreSQL cluster, migrated; yields its URL. `settings` (server parameters such
    as shared_buffers) are written with ALTER SYSTEM and the cluster restarted before use."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs complains at import when XDG_RUNTIME_DIR is unset
        import pgserver

    with tempfile.TemporaryDirectory(prefix="molecule-bench-pg-") as data_dir:
        if settings:
            first = pgserver.get_server(data_dir, cleanup_mode="stop")
            for name, value in settings.items():
                first.psql(f"ALTER SYSTEM SET {name} = '{value}';")
            first.cleanup()  # stops it: the next handle starts it again with the settings
        server = pgserver.get_server(data_dir, cleanup_mode="delete")
        try:
            url = server.get_uri()
            migrations.up(url)
            yield url
        finally:
            server.cleanup()


@dataclass(frozen=True)
class Row:
    route: str
    request: str
    statements: list[str]
    transactions: int
    status: int
    expected: int
    body: str

    @property
    def round_trips(self) -> int:
        return len(self.statements) + 2 * self.transactions

    @property
    def is_read(self) -> bool:
        """A request to a read route (GET), the requests the round-trip target applies to."""
        return self.route.startswith("GET ")

    @property
    def within_target(self) -> bool:
        return self.round_trips <= READ_ROUND_TRIP_TARGET

    @property
    def label(self) -> str:
        return f"{self.route} [{self.request}]"


def read_target_summary(rows: Iterable[Row]) -> str:
    """One line: how many read routes answer every request within the target, and which requests
    miss it. A route counts once, and only when all of its read requests are within the target."""
    reads = [row for row in rows if row.is_read]
    routes = {row.route for row in reads}
    missed = [row for row in reads if not row.within_target]
    within = len(routes - {row.route for row in missed})
    outcome = f"MISS: {', '.join(row.label for row in missed)}" if missed else verdict(True)
    return f"read routes within {READ_ROUND_TRIP_TARGET} round trips: {within} of {len(routes)} — {outcome}"


def client_problems(api: Client) -> list[str]:
    """Requests that did not answer what the scenario expected, then what the scenario reported."""
    failed = [row for row in api.rows if row.status != row.expected]
    return [f"{r.route} [{r.request}] answered {r.status}: {r.body[:200]}" for r in failed] + api.problems


def report_problems(problems: list[str]) -> int:
    """Print every problem; the exit status says whether the setup itself broke."""
    for problem in problems:
        print(f"\nPROBLEM: {problem}")
    return 1 if problems else 0


class Client:
    """Sends requests through the gateway the way the local stack does, and records what each
    one cost in SQL."""

    def __init__(self) -> None:

        self.functions = FunctionRegistry()
        self.routes = route_table(self.functions.template)
        self.gateway = Gateway(self.routes, self.functions)
        self.rows: list[Row] = []
        self.problems: list[str] = []  # requests that answered, but not with what they should

    def call(
        self,
        method: str,
        path: str,
        request: str,
        *,
        token: str | None = ADMIN_TOKEN,
        json_body: Any = None,
        body: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        expect: int = 200,
    ) -> Any:
        """`json_body` is sent as JSON; `body` as given (its content-type in `headers`)."""
        all_headers = {"host": "127.0.0.1:8080", **(headers or {})}
        if token is not None:
            all_headers["authorization"] = f"Bearer {token}"
        if json_body is not None:
            body = json.dumps(json_body)
            all_headers["content-type"] = "application/json"
        matched = self.routes.match(method, urlsplit(path).path)
        route = matched[0].route_key if matched else f"{method} {path} (no route)"
        LEDGER.reset()
        result = self.gateway.handle(method, path, all_headers, body)
        self.rows.append(
            Row(route, request, LEDGER.statements, LEDGER.transactions, result.status, expect, result.text)
        )
        is_json = result.headers.get("content-type", "").startswith("application/json")
        return result.json() if is_json and result.body else result.text

    @property
    def exercised(self) -> set[str]:
        return {row.route for row in self.rows}


@dataclass(frozen=True)
class Fleet:
    """What the first requests created, for the later ones."""

    workspace_id: str  # external, no URL yet: the "agent" of the registry and activity calls
    workspace_token: str
    peer_id: str  # external with a URL: a sibling of workspace_id
    managed_id: str  # managed, created with no provisioner: failed


def drive_workspaces(api: Client) -> Fleet:
    api.call("GET", "/health", "shallow")
    api.call("GET", "/health?deep=true", "deep=true (pings the database)")
    laptop = {"name": "laptop", "external": True}
    created = api.call("POST", "/workspaces", "external, no URL", json_body=laptop, expect=201)
    remote = {"name": "remote", "external": True, "url": AGENT_URL}
    peer = api.call("POST", "/workspaces", "external with URL", json_body=remote, expect=201)
    managed = {"name": "managed", "runtime": "langgraph"}
    failed = api.call("POST", "/workspaces", "managed, no provisioner", json_body=managed, expect=201)
    if failed.get("status") != "failed":
        api.problems.append(f"managed workspace without a provisioner ended {failed.get('status')!r}, not failed")
    fleet = Fleet(created["id"], created["connection"]["auth_token"], peer["id"], failed["id"])
    workspace = f"/workspaces/{fleet.workspace_id}"
    api.call("GET", "/workspaces", "3 workspaces")
    api.call("GET", workspace, "admin bearer")
    api.call("GET", workspace, "workspace bearer", token=fleet.workspace_token)
    api.call("GET", f"{workspace}/state", "workspace bearer", token=fleet.workspace_token)
    api.call("PATCH", workspace, "name, x, y", json_body={"name": "laptop-2", "x": 10.0, "y": 20.0})
    return fleet


def drive_tokens(api: Client, fleet: Fleet) -> None:
    tokens = f"/workspaces/{fleet.workspace_id}/tokens"
    agent = fleet.workspace_token
    api.call("GET", tokens, "workspace bearer", token=agent)
    minted = api.call("POST", tokens, "workspace bearer", token=agent, expect=201)
    api.call("DELETE", f"{tokens}/{minted['id']}", "workspace bearer", token=agent)
    api.call("GET", "/org/tokens", "admin bearer")
    org = api.call("POST", "/org/tokens", "admin bearer", json_body={"name": "bench", "org_id": "acme"}, expect=201)
    api.call("GET", f"/workspaces/{fleet.workspace_id}", "org bearer", token=org["auth_token"])
    api.call("DELETE", f"/org/tokens/{org['id']}", "admin bearer")
    api.call("GET", f"/admin/workspaces/{fleet.workspace_id}/test-token", "admin bearer, MOLECULE_ENV=test")


def drive_registry(api: Client, fleet: Fleet) -> None:
    agent = fleet.workspace_token
    register = {"id": fleet.workspace_id, "url": AGENT_URL, "agent_card": AGENT_CARD}
    api.call("POST", "/registry/register", "push, URL + card", json_body=register, token=agent)
    heartbeat = {"workspace_id": fleet.workspace_id, "error_rate": 0.0, "active_tasks": 0, "uptime_seconds": 60}
    api.call("POST", "/registry/heartbeat", "healthy", json_body=heartbeat, token=agent)
    card = {"workspace_id": fleet.workspace_id, "agent_card": AGENT_CARD}
    api.call("POST", "/registry/update-card", "new card", json_body=card, token=agent)
    caller = {"x-workspace-id": fleet.workspace_id}
    api.call("GET", f"/registry/discover/{fleet.peer_id}", "a sibling", headers=caller, token=agent)
    api.call("GET", f"/registry/{fleet.workspace_id}/peers", "1 sibling", token=agent)
    pair = {"caller_id": fleet.workspace_id, "target_id": fleet.peer_id}
    api.call("POST", "/registry/check-access", "siblings", json_body=pair)


def drive_agent_cards(api: Client, fleet: Fleet) -> None:
    """The card registered in `drive_registry`, answered as the proxy's own."""
    well_known = f"/workspaces/{fleet.workspace_id}/.well-known"
    api.call("GET", f"{well_known}/agent-card.json", "admin bearer")
    api.call("GET", f"{well_known}/agent.json", "own bearer (the older path)", token=fleet.workspace_token)


def drive_activity(api: Client, fleet: Fleet) -> None:
    workspace = f"/workspaces/{fleet.workspace_id}"
    agent = fleet.workspace_token
    report = {"activity_type": "agent_log", "summary": "indexed 12 files"}
    api.call("POST", f"{workspace}/activity", "agent_log self-report", json_body=report, token=agent)
    api.call("POST", f"{workspace}/notify", "message to the user", json_body={"message": "done"}, token=agent)
    feed = api.call("GET", f"{workspace}/activity", "feed, newest first")
    api.call("GET", f"{workspace}/activity?since_id={feed[-1]['id']}", "inbox, since_id cursor", token=agent)


def drive_events(api: Client, fleet: Fleet) -> None:
    fleet_events = api.call("GET", "/events", "fleet, newest first")
    api.call("GET", f"/events/{fleet.workspace_id}", "one workspace", token=fleet.workspace_token)
    api.call("GET", f"/events?since_id={fleet_events[-1]['id']}", "fleet, since_id cursor")


def drive_memories(api: Client, fleet: Fleet) -> None:
    workspace, agent = f"/workspaces/{fleet.workspace_id}", fleet.workspace_token
    fact = {"content": "deploys go through staging", "scope": "TEAM", "workspace_id": fleet.workspace_id}
    memory = api.call("POST", f"{workspace}/memories", "TEAM fact", json_body=fact, token=agent, expect=201)
    api.call("GET", f"{workspace}/memories?q=deploys&scope=team", "full text, TEAM", token=agent)
    api.call("POST", f"{workspace}/memories/search", "full text, own", json_body={"q": "staging"}, token=agent)
    exported = api.call("GET", "/admin/memories/export", "admin bearer")
    api.call("POST", "/admin/memories/import", "1 duplicate", json_body=exported)
    api.call("DELETE", f"{workspace}/memories/{memory['id']}", "own memory", token=agent)
    api.call("POST", f"{workspace}/memory", "new key", json_body={"key": "plan", "value": [1]}, token=agent)
    swap = {"key": "plan", "value": [1, 2], "if_match_version": 1}
    api.call("POST", f"{workspace}/memory", "compare-and-swap", json_body=swap, token=agent)
    api.call("GET", f"{workspace}/memory", "1 key", token=agent)
    api.call("GET", f"{workspace}/memory/plan", "one key", token=agent)
    api.call("DELETE", f"{workspace}/memory/plan", "one key", token=agent)


def drive_secrets(api: Client, fleet: Fleet) -> None:
    """SPEC §5.12 with the local key file. The first write makes the data key. The workspace is
    external, so no write requests a restart of its agent."""
    workspace = f"/workspaces/{fleet.workspace_id}"
    region = {"key": "SHARED_REGION", "value": "eu-west-1"}
    api.call("POST", "/settings/secrets", "new global, makes the data key", json_body=region)
    api.call("PUT", "/settings/secrets", "same key", json_body={**region, "value": "eu-central-1"})
    ops = {"key": "OPS_TOKEN", "value": "ops-1"}
    api.call("POST", "/admin/secrets", "new global", json_body=ops)
    api.call("PUT", "/admin/secrets", "same key", json_body={**ops, "value": "ops-2"})
    api.call("GET", "/settings/secrets", "2 globals")
    api.call("GET", "/admin/secrets", "2 globals")
    api_key = {"key": "API_KEY", "value": "k-1"}
    api.call("POST", f"{workspace}/secrets", "new key, admin bearer", json_body=api_key)
    api.call("PUT", f"{workspace}/secrets", "same key", json_body={**api_key, "value": "k-2"})
    api.call("PUT", f"{workspace}/model", "own model", json_body={"model": "anthropic:claude-sonnet"})
    api.call("GET", f"{workspace}/secrets", "2 own + 2 globals")
    api.call("GET", f"{workspace}/secrets/values", "own bearer, 4 values", token=fleet.workspace_token)
    api.call("GET", f"{workspace}/model", "own model")
    api.call("DELETE", f"{workspace}/secrets/API_KEY", "own key")
    api.call("DELETE", "/settings/secrets/SHARED_REGION", "global")
    api.call("DELETE", "/admin/secrets/OPS_TOKEN", "global")


def drive_delegations(api: Client, fleet: Fleet) -> None:
    """SPEC §5.10 with the A2A queue on moto (publishing is not SQL; marking the row published is).
    A push target gets the task through the queue, a poll target in its inbox; the poll target's
    reply through the proxy closes its delegation (the delegator is in poll mode too: its inbox)."""
    from bench.a2a_queue import local_sqs

    workspace, agent = f"/workspaces/{fleet.workspace_id}", fleet.workspace_token
    pusher = {"name": "pusher", "external": True, "url": AGENT_URL, "delivery_mode": "push"}
    push_id = api.call("POST", "/workspaces", "external, push (delegation target)", json_body=pusher, expect=201)["id"]
    inbox = api.call(
        "POST", "/workspaces", "external, no URL (poll target)", json_body={"name": "inbox", "external": True},
        expect=201,
    )  # fmt: skip
    with local_sqs():
        task = {"target_id": push_id, "task": "summarise the logs", "idempotency_key": "bench-1"}
        made = api.call("POST", f"{workspace}/delegate", "push target: queue", json_body=task, token=agent, expect=202)
        api.call("POST", f"{workspace}/delegate", "same idempotency key", json_body=task, token=agent)
        polled = api.call(
            "POST", f"/workspaces/{inbox['id']}/delegate", "SDK form, poll target: inbox",
            headers={"x-workspace-id": fleet.workspace_id}, json_body={"task": "check the inbox"}, token=agent,
            expect=202,
        )  # fmt: skip
    metadata = {"delegation_id": polled["delegation_id"]}
    message = {"role": "agent", "parts": [{"kind": "text", "text": "done"}], "metadata": metadata}
    reply = {"jsonrpc": "2.0", "id": "r", "method": "message/send", "params": {"message": message}}
    api.call(
        "POST", f"{workspace}/a2a", "poll target's reply, closing its delegation", json_body=reply,
        token=inbox["connection"]["auth_token"],
    )  # fmt: skip
    api.call("GET", f"{workspace}/delegations", "2 delegations", token=agent)
    delegation = api.call("GET", f"{workspace}/delegations/{made['delegation_id']}", "one, full result", token=agent)
    record = {"target_id": push_id, "task": "sent myself", "delegation_id": "agent-task-1"}
    recorded = f"{workspace}/delegations/record"
    api.call("POST", recorded, "agent-dispatched", json_body=record, token=agent, expect=202)
    closed = {"status": "completed", "response_preview": "it worked"}
    api.call("POST", f"{workspace}/delegations/agent-task-1/update", "completed", json_body=closed, token=agent)
    drive_a2a_queue(api, fleet, push_id, delegation["queue_id"])


def drive_a2a_queue(api: Client, fleet: Fleet, target_id: str, queue_id: str) -> None:
    """The queue rows a delegation to a push target left (nothing drains them here: `queued`)."""
    queue = f"/workspaces/{target_id}/a2a/queue"
    api.call("GET", queue, "target's queue, admin bearer")
    api.call("GET", f"{queue}/{queue_id}", "its caller's bearer", token=fleet.workspace_token)
    api.call("GET", "/admin/a2a-queue", "fleet, newest first")
    api.call("POST", "/admin/a2a-queue/drop-stale", "none older than 60 min")


class IdleBackend:
    """A provisioner backend that starts nothing: it hands out instance ids and keeps the specs
    (with each agent's token), so that a managed workspace can come online by registering."""

    name = "bench-idle"

    def __init__(self) -> None:
        self.started: list[AgentSpec] = []

    def start(self, spec: AgentSpec) -> str:
        self.started.append(spec)
        return f"idle-{len(self.started)}"

    def stop(self, workspace_id: UUID, instance_id: str | None) -> None:
        pass

    def is_running(self, workspace_id: UUID, instance_id: str | None) -> bool:
        return True


def drive_lifecycle(api: Client, fleet: Fleet) -> None:
    """SPEC §5.5. Restart, pause, resume and expand succeed with no provisioner: the slow part is
    a lifecycle job, and with no LIFECYCLE_QUEUE_URL the request stays recorded on the row.
    Hibernation needs a managed workspace online; it is made with `IdleBackend` and comes online
    by registering with the token the backend was handed."""
    managed = f"/workspaces/{fleet.managed_id}"
    api.call("POST", f"{managed}/restart", "managed, failed: recorded for the queue", expect=202)
    api.call("POST", f"{managed}/pause", "managed, no provisioner: nothing to stop")
    api.call("POST", f"{managed}/resume", "paused: restart recorded")
    team = {"children": [{"name": "helper", "runtime": "langgraph"}]}
    api.call(
        "POST", f"/workspaces/{fleet.workspace_id}/expand", "1 managed child, no provisioner (ends failed)",
        json_body=team, expect=201,
    )  # fmt: skip
    backend = IdleBackend()
    use_provisioner(backend)
    try:
        sleeper = {"name": "sleeper", "runtime": "langgraph"}
        created = api.call("POST", "/workspaces", "managed, backend that starts nothing", json_body=sleeper, expect=201)
        token = backend.started[-1].env["MOLECULE_AUTH_TOKEN"]
        register = {"id": created["id"], "url": AGENT_URL, "agent_card": AGENT_CARD}
        api.call("POST", "/registry/register", "managed agent comes online", json_body=register, token=token)
        api.call("POST", f"/workspaces/{created['id']}/hibernate", "managed, online, idle")
    finally:
        use_provisioner(None)


@contextmanager
def local_s3() -> Iterator[None]:
    """The template's files bucket on a moto S3 server, exported to the functions for the block."""
    from molecule_local.s3 import LocalS3  # moto: only this part of the run needs it

    s3 = LocalS3(default_template(), port=0, name_prefix=f"bench{os.urandom(4).hex()}-")
    s3.start()
    try:
        yield
    finally:
        s3.stop()


def drive_files(api: Client) -> None:
    """SPEC §5.7, §5.13 with the files bucket on moto: a workspace the platform cannot call (no
    inbound URL) gets chat uploads staged by the platform; a presigned PUT goes from here to S3."""
    staged = {"name": "files", "external": True}
    created = api.call("POST", "/workspaces", "external, no URL (files staged)", json_body=staged, expect=201)
    workspace, agent = f"/workspaces/{created['id']}", created["connection"]["auth_token"]
    boundary = "bench-boundary"
    form = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="notes.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nthe build is green\r\n--{boundary}--\r\n"
    )
    multipart = {"content-type": f"multipart/form-data; boundary={boundary}"}
    with local_s3():
        uploaded = api.call("POST", f"{workspace}/chat/uploads", "1 file, staged", body=form, headers=multipart)
        uri = quote(uploaded["files"][0]["uri"], safe="")
        api.call("GET", f"{workspace}/chat/download?path={uri}", "staged file, own bearer", token=agent)
        content = b"quarterly figures\n" * 64
        declared = {"name": "report.txt", "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
        grant = api.call(
            "POST", f"{workspace}/files/upload-url", "with sha256", json_body=declared, token=agent, expect=201
        )
        put = httpx.put(grant["upload_url"], content=content, headers=grant["upload_headers"])
        if put.status_code != 200:
            api.problems.append(f"presigned PUT to the files bucket answered {put.status_code}: {put.text[:200]}")
        file = f"{workspace}/files/{grant['file_id']}"
        api.call("GET", file, "first read after the PUT (marks it stored)", token=agent)
        api.call("GET", file, "own bearer", token=agent)


def drive_deletes(api: Client, fleet: Fleet) -> None:
    api.call("DELETE", f"/workspaces/{fleet.peer_id}", "leaf")
    parent = api.call(
        "POST", "/workspaces", "external, tree root", json_body={"name": "root", "external": True}, expect=201
    )
    root_id = parent["id"]
    for name in ("child", "grandchild"):
        tree_node = {"name": name, "external": True, "parent_id": parent["id"]}
        parent = api.call("POST", "/workspaces", "external, with parent_id", json_body=tree_node, expect=201)
    api.call("DELETE", f"/workspaces/{root_id}?confirm=true", "confirm=true, cascades to 2")


def drive(api: Client) -> None:
    """One representative request per route of template.yaml (a few get more), in an order where
    each finds what the earlier ones made."""
    fleet = drive_workspaces(api)
    drive_tokens(api, fleet)
    drive_registry(api, fleet)
    drive_agent_cards(api, fleet)
    drive_activity(api, fleet)
    drive_events(api, fleet)
    drive_memories(api, fleet)
    drive_secrets(api, fleet)
    drive_delegations(api, fleet)
    drive_lifecycle(api, fleet)
    drive_files(api)
    drive_deletes(api, fleet)
    api.call("GET", "/openapi.json", "no auth", token=None)
    api.call("GET", "/docs", "no auth", token=None)
    api.call("GET", "/", "console page, no auth", token=None)
    api.call("GET", "/console/app.js", "console script, no auth", token=None)


def main(show_sql: bool = False) -> int:
    print("Statements per request: SQL round trips, one representative request per route")
    print("(in-process gateway, embedded PostgreSQL; round trips = statements + 2 per transaction block;")
    print(f" target: every read route (GET) within {READ_ROUND_TRIP_TARGET} round trips)\n")
    with platform_env(), embedded_database() as url, counting_transactions():
        db.configure(dsn=url, cursor_factory=CountingCursor)
        api = Client()
        try:
            drive(api)
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            api.problems.append(f"scenario stopped: a response lacked what later requests need ({exc!r})")
        finally:
            db.configure(dsn=None)
    print_table(
        ["route", "request", "statements", "tx", "round trips", "target", "verdict", "status"],
        [
            (
                r.route,
                r.request,
                len(r.statements),
                r.transactions,
                r.round_trips,
                f"≤ {READ_ROUND_TRIP_TARGET}" if r.is_read else "-",
                verdict(r.within_target) if r.is_read else "-",
                r.status if r.status == r.expected else f"{r.status} !",
            )
            for r in api.rows
        ],
        right=(2, 3, 4, 5, 7),
    )
    print(f"\n{read_target_summary(api.rows)}")
    template_routes = {route.route_key for route in api.routes.routes}
    missing = sorted(template_routes - api.exercised)
    if missing:
        print(f"routes in template.yaml not exercised: {', '.join(missing)}")
    else:
        print(f"every route in template.yaml exercised ({len(template_routes)} routes)")
    if show_sql:
        for row in api.rows:
            print(f"\n{row.route}  [{row.request}]")
            for statement in row.statements:
                print(f"  {statement[:150]}")
    failed = [row for row in api.rows if row.status != row.expected]
    for row in failed:
        api.problems.append(f"{row.route} [{row.request}] answered {row.status}, not {row.expected}: {row.body[:300]}")
    for problem in api.problems:
        print(f"\nPROBLEM: {problem}")
    return 1 if api.problems else 0
