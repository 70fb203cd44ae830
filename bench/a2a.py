"""A2A proxy and inbox (issue 5): what the proxy adds to a push delivery, what it asks the
database before dispatching, and what a since_id poll costs on a large activity log.

1. Proxy overhead (issue 19): the reference agent runs as a real process. The same
   `message/send` payload goes straight to the agent and through the A2A proxy over the local
   stack's HTTP server (`HttpService`, the loop `make run` listens with), once as a user (admin
   bearer) and once as a sibling workspace (its bearer and X-Workspace-ID), from a client in its own
   process on kept-alive connections, interleaved, 500 times each after 50 warm-ups; database work
   on pooled connections, as `make run` serves. Targets: added
   by the proxy for a user p50 ≤ 1.5 ms and p99 ≤ 5 ms, for a workspace p50 ≤ 3 ms. A second,
   instrumented pass (in-process) splits one proxied call into the agent's round trip, the
   database and the rest.
2. SQL round trips on the push path before dispatch, for every caller kind (workspace, admin and
   org bearers): `molecule_core.agents.service.post_json` is wrapped for the run to mark the
   moment of dispatch. Target 1.
3. `since_id` poll with 1 000 000 activity rows over 1 000 workspaces (INSERT … SELECT
   generate_series, 100 transactions of 10 000 rows, then VACUUM ANALYZE): the inbox read through
   the gateway with the workspace's token, the same read through `molecule_core.activity
   .list_activity` directly, and a primary-key lookup, interleaved, for a caught-up poller and for
   one a full page behind; EXPLAIN of the cursor query. Target: p50 ≤ 5 ms, and an index scan on
   activity_logs_cursor_idx.
"""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

import httpx
import psycopg
from molecule_core.agents import service as agent_client
from molecule_core.auth.credentials import mint_token
from molecule_core.platform import db, deferred
from molecule_local.stack import HttpService
from psycopg.abc import Params, Query
from psycopg.sql import Composable

from bench import print_table
from bench.statements import (
    ADMIN_TOKEN,
    LEDGER,
    Client,
    CountingCursor,
    client_problems,
    counting_transactions,
    embedded_database,
    platform_env,
    report_problems,
)
from bench.support import admin_connection, free_port, p50, p99, run_client, thousands, timed_ms, verdict

REPO = Path(__file__).resolve().parents[1]
WARMUP = 50
CALLS = 500
BREAKDOWN_CALLS = 200
SHIPPED_WARMUP = 20
SHIPPED_CALLS = 100
USER_P50_TARGET_MS = 1.5
USER_P99_TARGET_MS = 5.0
WORKSPACE_P50_TARGET_MS = 3.0
PRE_DISPATCH_TARGET = 1
ACTIVITY_ROWS = 1_000_000
INBOX_WORKSPACES = 1_000
BATCH_ROWS = 10_000
POLLS = 250
POLL_WARMUP = 20
POLL_TARGET_MS = 5.0
HOST = {"host": "127.0.0.1:8080"}

MESSAGE = {
    "jsonrpc": "2.0",
    "id": "bench-1",
    "method": "message/send",
    "params": {
        "message": {
            "kind": "message",
            "role": "user",
            "messageId": "bench-message-1",
            "parts": [{"kind": "text", "text": "ping from the benchmark"}],
        }
    },
}
MESSAGE_BYTES = json.dumps(MESSAGE, separators=(",", ":"))


# --- the reference agent as a push target ------------------------------------------------------------

# The reference agent's app (agent/reference_agent/app.py) behind uvicorn, as its CLI serves it,
# except for the listening socket: created with proto IPPROTO_TCP, so that asyncio sets TCP_NODELAY
# on every accepted connection (it only does for sockets whose proto says TCP; the socket the CLI
# gets from socket.create_server has proto 0).
_SERVE_APP = """
import asyncio, socket, sys
from pathlib import Path
from reference_agent.app import create_app
from reference_agent.credentials import CredentialStore
from reference_agent.server import AgentServer, server_config
from reference_agent.state import AgentState
port, config_dir = int(sys.argv[1]), Path(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", port))
sock.listen(128)
state = AgentState(name="bench-agent", credentials=CredentialStore(config_dir))
asyncio.run(AgentServer(server_config(create_app(state))).serve(sockets=[sock]))
"""


class AgentProcess:
    """The reference agent in its own process, serving on `port`: either its app with a TCP
    socket (`_SERVE_APP`), or `python -m reference_agent run` as shipped, its platform URL a closed
    port (the first register attempt fails and the next is 30 s away: it serves and stays quiet)."""

    def __init__(self, workspace_id: str, port: int, tmp: Path, *, shipped: bool) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "agent.log"
        self._log_file = self.log.open("wb")
        config_dir = tmp / "config"
        if shipped:
            argv = [
                *("-m", "reference_agent", "run", "--platform-url", f"http://127.0.0.1:{free_port()}"),
                *("--workspace-id", workspace_id, "--port", str(port), "--config-dir", str(config_dir)),
                *("--register-attempts", "100", "--register-backoff", "30"),
            ]
        else:
            argv = ["-c", _SERVE_APP, str(port), str(config_dir)]
        self.process = subprocess.Popen(
            [sys.executable, *argv], cwd=REPO, stdout=self._log_file, stderr=subprocess.STDOUT
        )

    def wait_until_serving(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"reference agent exited with {self.process.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=0.1)
        raise TimeoutError(f"reference agent not serving within {timeout:.0f}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()


@contextlib.contextmanager
def reference_agent(workspace_id: str, port: int, *, shipped: bool) -> Iterator[AgentProcess]:
    with tempfile.TemporaryDirectory(prefix="molecule-bench-agent-") as tmp:
        agent = AgentProcess(workspace_id, port, Path(tmp), shipped=shipped)
        try:
            agent.wait_until_serving()
        except Exception as exc:
            agent.stop()
            raise RuntimeError(f"{exc}\n{agent.log.read_text(errors='replace')[-3000:]}") from None
        try:
            yield agent
        finally:
            agent.stop()


@dataclass(frozen=True)
class Target:
    workspace_id: str  # push-mode workspace whose URL is the agent
    agent_url: str


def create_target(api: Client, name: str, port: int) -> Target:
    url = f"http://127.0.0.1:{port}"
    body = {"name": name, "external": True, "url": url, "delivery_mode": "push"}
    created = api.call("POST", "/workspaces", "push target", json_body=body, expect=201)
    if created.get("delivery_mode") != "push" or created.get("status") != "online":
        api.problems.append(
            f"push target created {created.get('status')!r} in mode {created.get('delivery_mode')!r}, "
            "not online in push mode"
        )
    return Target(str(created["id"]), url)


# --- 1. proxy overhead -------------------------------------------------------------------------------


def _proxy_call(api: Client, target_id: str, token: str) -> Callable[[], int]:
    path = f"/workspaces/{target_id}/a2a"
    headers = {**HOST, "authorization": f"Bearer {token}", "content-type": "application/json"}
    return lambda: api.gateway.handle("POST", path, headers, MESSAGE_BYTES).status


# The client, run as `python -c OVERHEAD_CLIENT '<json>'` — its own process, as a real caller is:
# sends the same message/send straight to the agent and through the proxy over the local stack's
# HTTP, once per caller kind, interleaved (the order rotates each round), on kept-alive connections
# (one httpx.Client each); prints each path's milliseconds and the statuses it saw, as JSON.
OVERHEAD_CLIENT = r"""
import json, sys, time
import httpx
plan = json.loads(sys.argv[1])
body = plan["body"].encode()
paths = plan["paths"]  # name -> {"url": ..., "headers": {...}}
clients = {name: httpx.Client(timeout=10.0) for name in paths}
samples = {name: [] for name in paths}
statuses = {name: set() for name in paths}
names = list(paths)
for index in range(plan["warmup"] + plan["calls"]):
    shift = index % len(names)
    for name in names[shift:] + names[:shift]:
        start = time.perf_counter()
        status = clients[name].post(paths[name]["url"], content=body, headers=paths[name]["headers"]).status_code
        elapsed = (time.perf_counter() - start) * 1000
        statuses[name].add(status)
        if index >= plan["warmup"]:
            samples[name].append(elapsed)
print(json.dumps({"samples": samples, "statuses": {name: sorted(seen) for name, seen in statuses.items()}}))
"""


@dataclass(frozen=True)
class Caller:
    """Who sends the proxied calls: a user (the admin bearer, no workspace header) or a workspace
    (its own bearer and X-Workspace-ID, as an agent's SDK sends them)."""

    name: str
    token: str
    workspace_id: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        if self.workspace_id:
            headers["X-Workspace-ID"] = self.workspace_id
        return headers


def interleaved_over_http(
    api_url: str, target: Target, callers: list[Caller], warmup: int, calls: int
) -> dict[str, list[float]]:
    """Milliseconds per path: "direct" straight to the agent, and one per caller through the proxy
    over the local stack's HTTP."""
    paths = {"direct": {"url": target.agent_url, "headers": {"Content-Type": "application/json"}}}
    for caller in callers:
        paths[caller.name] = {"url": f"{api_url}/workspaces/{target.workspace_id}/a2a", "headers": caller.headers()}
    plan = {"body": MESSAGE_BYTES, "paths": paths, "warmup": warmup, "calls": calls}
    result = run_client(OVERHEAD_CLIENT, json.dumps(plan), timeout=900)
    for name, seen in result["statuses"].items():
        if seen != [200]:
            raise RuntimeError(f"{name} message/send to {paths[name]['url']} answered {seen}, not only 200")
    return {name: list(values) for name, values in result["samples"].items()}


def _cells(label: str, values: list[float]) -> list[object]:
    return [label, len(values), f"{p50(values):.2f}", f"{p99(values):.2f}", f"{sum(values) / len(values):.2f}"]


def _added(label: str, proxied: list[float], direct: list[float], p50_target: float, p99_target: float | None) -> str:
    added_p50, added_p99 = p50(proxied) - p50(direct), p99(proxied) - p99(direct)
    p99_part = (
        f"p99 {added_p99:.2f} ms (target ≤ {p99_target:g}) — {verdict(added_p99 <= p99_target)}"
        if p99_target is not None
        else f"p99 {added_p99:.2f} ms"
    )
    return (
        f"added by the proxy, {label}: p50 {added_p50:.2f} ms (target ≤ {p50_target:g}) — "
        f"{verdict(added_p50 <= p50_target)}; {p99_part}"
    )


def measure_overhead(api: Client, url: str, tuned: Target, shipped: Target, sibling: Caller) -> None:
    user = Caller("user", ADMIN_TOKEN)
    service = HttpService(api.gateway, "127.0.0.1", 0)
    service.start()
    try:
        # As `make run` serves: each unit of work takes a pooled connection (LocalStack.start), so one
        # call's receipt, written after its answer, does not hold the connection the next call needs.
        with db.pooled(url):
            figures = interleaved_over_http(service.url, tuned, [user, sibling], WARMUP, CALLS)
            shipped_figures = interleaved_over_http(service.url, shipped, [user], SHIPPED_WARMUP, SHIPPED_CALLS)
    finally:
        service.stop()
    print_table(
        ["path", "calls", "p50 ms", "p99 ms", "mean ms"],
        [
            _cells("agent app (TCP_NODELAY): straight, httpx keep-alive", figures["direct"]),
            _cells("agent app: through the proxy, user caller (admin bearer)", figures["user"]),
            _cells("agent app: through the proxy, workspace caller (bearer + X-Workspace-ID)", figures[sibling.name]),
            _cells("agent CLI as shipped: straight, httpx keep-alive", shipped_figures["direct"]),
            _cells("agent CLI as shipped: through the proxy, user caller", shipped_figures["user"]),
        ],
        right=(1, 2, 3, 4),
    )
    print(_added("user caller", figures["user"], figures["direct"], USER_P50_TARGET_MS, USER_P99_TARGET_MS))
    print(_added("workspace caller", figures[sibling.name], figures["direct"], WORKSPACE_P50_TARGET_MS, None))
    print(
        f"(over the local stack's HTTP server, the client in its own process; the shipped CLI listens on "
        f"socket.create_server(): proto 0, so asyncio leaves TCP_NODELAY off and uvicorn's two writes per "
        f"answer wait for a delayed ACK on a kept-alive connection; {SHIPPED_CALLS} calls after "
        f"{SHIPPED_WARMUP} warm-ups)"
    )


@dataclass
class Stopwatch:
    """Time spent in wrapped calls during one proxied request."""

    spent: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.spent[name] = self.spent.get(name, 0.0) + seconds * 1000


@contextlib.contextmanager
def instrumented(watch: Stopwatch) -> Iterator[None]:
    """Time the agent round trip (post_json) and the database work for the duration of the block:
    the proxy's two single statements in order (its dispatch context, then its receipt), and any
    transaction block, BEGIN to COMMIT (none on this path)."""
    original_post, original_single, original_tx = agent_client.post_json, db.single_statement, db.transaction

    def post_json(*args: Any, **kwargs: Any) -> agent_client.AgentResponse:
        start = time.perf_counter()
        try:
            return original_post(*args, **kwargs)
        finally:
            watch.add("agent", time.perf_counter() - start)

    def single_statement(work: Callable[[db.Connection], Any], **kwargs: Any) -> Any:
        name = "dispatch" if "dispatch" not in watch.spent else "receipt"  # in the proxy's order
        start = time.perf_counter()
        try:
            return original_single(work, **kwargs)
        finally:
            watch.add(name, time.perf_counter() - start)

    @contextlib.contextmanager
    def transaction() -> Iterator[db.Connection]:
        start = time.perf_counter()
        try:
            with original_tx() as conn:
                yield conn
        finally:
            watch.add("transactions", time.perf_counter() - start)

    agent_client.post_json = post_json  # type: ignore[assignment]
    db.single_statement = single_statement  # type: ignore[assignment]
    db.transaction = transaction  # type: ignore[assignment]
    try:
        yield
    finally:
        agent_client.post_json = original_post  # type: ignore[assignment]
        db.single_statement = original_single  # type: ignore[assignment]
        db.transaction = original_tx  # type: ignore[assignment]


def _receipts(url: str, workspace_id: str) -> int:
    with admin_connection(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM activity_logs WHERE workspace_id = %s AND activity_type = 'a2a_receive'",
            (workspace_id,),
        ).fetchone()
    return int(row[0]) if row else 0


def measure_breakdown(api: Client, url: str, target: Target) -> None:
    proxied = _proxy_call(api, target.workspace_id, ADMIN_TOKEN)
    measured = ("agent", "dispatch", "receipt", "transactions")
    parts: dict[str, list[float]] = {name: [] for name in ("total", *measured, "rest")}
    receipts_before = _receipts(url, target.workspace_id)
    for _ in range(BREAKDOWN_CALLS):
        watch = Stopwatch()
        # As the HTTP server runs it: the receipt is written once the answer is out (platform/deferred.py).
        with instrumented(watch), deferred.after_answer():
            answered, _ = timed_ms(proxied)
        parts["total"].append(answered)
        for name in measured:
            parts[name].append(watch.spent.get(name, 0.0))
        parts["rest"].append(answered - sum(watch.spent.get(name, 0.0) for name in measured if name != "receipt"))
    written = _receipts(url, target.workspace_id) - receipts_before
    if written != BREAKDOWN_CALLS:  # the instrumented path must be the real one, receipt included
        api.problems.append(f"breakdown: {written} receipts written for {BREAKDOWN_CALLS} instrumented calls")
    print(
        f"\nwhere one proxied call's time goes (agent app; separate instrumented pass, {BREAKDOWN_CALLS} calls, "
        "admin bearer):"
    )
    labels = {
        "total": "whole call through the gateway, to its answer",
        "agent": "post_json: the agent's round trip as the proxy sees it",
        "dispatch": "database: dispatch context — credential, target, lineages (one statement)",
        "receipt": "after the answer: a2a_receive receipt + last_active_at (one statement, WAL flush not awaited)",
        "transactions": "database: transaction blocks, BEGIN to COMMIT (none on this path)",
        "rest": "the rest: event, Powertools, normalise, JSON, logging",
    }
    print_table(
        ["part", "p50 ms", "p99 ms"],
        [[labels[name], f"{p50(values):.2f}", f"{p99(values):.2f}"] for name, values in parts.items()],
        right=(1, 2),
    )
    plan = explain_next(url, "live_bearer(", proxied)
    timings = [line.strip() for line in plan if line.strip().startswith(("Planning Time", "Execution Time"))]
    print(f"dispatch context statement, EXPLAIN ANALYZE on the server: {'; '.join(timings) or 'not captured'}")


# --- 2. round trips before dispatch ------------------------------------------------------------------


@dataclass(frozen=True)
class DispatchCount:
    caller: str
    statements: list[str]
    transactions: int
    before: tuple[int, int] | None  # (statements, tx) when post_json was called; None: never
    status: int

    @property
    def round_trips(self) -> int:
        return len(self.statements) + 2 * self.transactions

    @property
    def before_round_trips(self) -> int | None:
        return None if self.before is None else self.before[0] + 2 * self.before[1]


def count_dispatch(api: Client, target_id: str, caller: str, sender: Caller) -> DispatchCount:
    marks: list[tuple[int, int]] = []
    original = agent_client.post_json

    def post_json(*args: Any, **kwargs: Any) -> agent_client.AgentResponse:
        marks.append((len(LEDGER.statements), LEDGER.transactions))
        return original(*args, **kwargs)

    agent_client.post_json = post_json  # type: ignore[assignment]
    try:
        extra = {"x-workspace-id": sender.workspace_id} if sender.workspace_id else None
        api.call("POST", f"/workspaces/{target_id}/a2a", caller, json_body=MESSAGE, token=sender.token, headers=extra)
    finally:
        agent_client.post_json = original  # type: ignore[assignment]
    row = api.rows[-1]
    return DispatchCount(caller, row.statements, row.transactions, marks[0] if marks else None, row.status)


def measure_dispatch(api: Client, target: Target, sibling: Caller) -> None:
    org = api.call("POST", "/org/tokens", "admin bearer", json_body={"name": "bench", "org_id": "acme"}, expect=201)
    counts = [
        count_dispatch(api, target.workspace_id, "workspace bearer (a sibling calls)", sibling),
        count_dispatch(api, target.workspace_id, "admin bearer (a user calls)", Caller("user", ADMIN_TOKEN)),
        count_dispatch(
            api, target.workspace_id, "org bearer (an org integration calls)", Caller("org", org["auth_token"])
        ),
    ]
    rows = []
    for c in counts:
        before = c.before_round_trips
        rows.append(
            [
                c.caller,
                len(c.statements),
                c.transactions,
                c.round_trips,
                "-" if c.before is None else c.before[0],
                "-" if c.before is None else c.before[1],
                "-" if before is None else before,
                verdict(before is not None and before <= PRE_DISPATCH_TARGET),
                c.status,
            ]
        )
        if c.status != 200:
            api.problems.append(f"proxied call with {c.caller} answered {c.status}")
        if c.before is None:
            api.problems.append(f"proxied call with {c.caller} never dispatched")
    print_table(
        [
            *("caller", "statements", "tx", "round trips", "before dispatch: stmts", "tx", "round trips"),
            *(f"≤ {PRE_DISPATCH_TARGET}", "status"),
        ],
        rows,
        right=(1, 2, 3, 4, 5, 6, 8),
    )
    first = counts[0]
    print(f"\n{first.caller}, in order:")
    for index, statement in enumerate(first.statements):
        if first.before is not None and index == first.before[0]:
            print("  ── dispatch (post_json) ──")
        print(f"  {statement[:130]}")


# --- 3. since_id poll over 1 000 000 activity rows ---------------------------------------------------

INBOX_WORKSPACES_SQL = """
    INSERT INTO workspaces (name, runtime, external, status, last_heartbeat_at, delivery_mode, url)
    SELECT 'inbox-' || g, 'external', true, 'online', now(), 'poll', 'remote://no-inbound'
    FROM generate_series(1, %(n)s) AS g
"""
# Rows g of one batch: workspace g mod 1000, two in three from a peer workspace (the rest from the
# canvas user), a normalised message/send body, created_at spread over the last ~6 days.
ACTIVITY_SQL = """
    INSERT INTO activity_logs (workspace_id, activity_type, source_id, target_id, method, summary,
                               request_body, duration_ms, status, created_at)
    SELECT w.ids[1 + g %% w.n],
           'a2a_receive',
           CASE WHEN g %% 3 = 0 THEN NULL ELSE w.ids[1 + (g + 1) %% w.n] END,
           w.ids[1 + g %% w.n],
           'message/send',
           'message ' || g,
           jsonb_build_object(
               'jsonrpc', '2.0', 'id', g::text, 'method', 'message/send',
               'params', jsonb_build_object('message', jsonb_build_object(
                   'kind', 'message', 'role', 'user', 'messageId', 'm-' || g,
                   'parts', jsonb_build_array(jsonb_build_object('kind', 'text', 'text', 'message ' || g))))),
           5 + g %% 40,
           'ok',
           now() - make_interval(secs => (%(total)s::int - g) * 0.5)
    FROM generate_series(%(first)s::int, %(last)s::int) AS g,
         (SELECT array_agg(id ORDER BY id) AS ids, count(*)::int AS n FROM workspaces) AS w
"""


class ExplainingCursor(psycopg.Cursor[Any]):
    """Before running the next statement whose text contains `ExplainingCursor.match`, runs it once
    under EXPLAIN (ANALYZE, BUFFERS) with the same parameters and keeps the plan (read-only
    statements only: the analysed statement really runs)."""

    match: ClassVar[str | None] = None
    plan: ClassVar[list[str]] = []

    def execute(
        self, query: Query, params: Params | None = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> ExplainingCursor:
        match = ExplainingCursor.match
        if match is not None:
            text = query.as_string(self) if isinstance(query, Composable) else str(query)
            if match in text:
                ExplainingCursor.match = None
                rows = super().execute(f"EXPLAIN (ANALYZE, BUFFERS) {text}", params).fetchall()
                ExplainingCursor.plan = [
                    str(next(iter(row.values())) if isinstance(row, dict) else row[0]) for row in rows
                ]
        super().execute(query, params, prepare=prepare, binary=binary)
        return self


def explain_next(url: str, match: str, work: Callable[[], Any]) -> list[str]:
    """The plan of the first statement containing `match` that `work` sends, on a warm connection
    (`work` runs once before, so planning does not pay for the new session's catalog caches)."""
    db.configure(dsn=url, cursor_factory=ExplainingCursor)
    ExplainingCursor.plan, ExplainingCursor.match = [], None
    try:
        work()
        ExplainingCursor.match = match
        work()
    finally:
        ExplainingCursor.match = None
        db.configure(dsn=url)
    return list(ExplainingCursor.plan)


def load_inbox(url: str) -> tuple[list[str], dict[str, str], float]:
    """1 000 workspaces with a token each and 1 000 000 activity rows: (ids, token by id, seconds)."""
    start = time.perf_counter()
    with admin_connection(url) as sql:
        sql.execute("TRUNCATE workspaces, structure_events CASCADE")
        sql.execute(INBOX_WORKSPACES_SQL, {"n": INBOX_WORKSPACES})
        ids = [str(row[0]) for row in sql.execute("SELECT id FROM workspaces ORDER BY id").fetchall()]
        tokens = {workspace_id: mint_token() for workspace_id in ids}
        with sql.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO workspace_auth_tokens (workspace_id, token_hash, prefix, origin) "
                "VALUES (%s, %s, %s, 'test')",
                [(workspace_id, t.token_hash, t.prefix) for workspace_id, t in tokens.items()],
            )
        for first in range(1, ACTIVITY_ROWS + 1, BATCH_ROWS):  # one transaction (one xid) per batch
            last = min(first + BATCH_ROWS - 1, ACTIVITY_ROWS)
            sql.execute(ACTIVITY_SQL, {"first": first, "last": last, "total": ACTIVITY_ROWS})
        sql.execute("VACUUM ANALYZE workspaces")
        sql.execute("VACUUM ANALYZE workspace_auth_tokens")
        sql.execute("VACUUM ANALYZE activity_logs")
        sql.execute("CHECKPOINT")
    return ids, {workspace_id: t.plaintext for workspace_id, t in tokens.items()}, time.perf_counter() - start


@dataclass(frozen=True)
class Poll:
    workspace_id: str
    cursor: str


def pick_polls(url: str, ids: list[str], *, behind: bool, count: int, seed: int) -> list[Poll]:
    """Random workspaces and a cursor in each: one of its 5 newest rows (a caught-up poller gets
    0-4 rows), or a row 100-999 rows back (a full page of 100)."""
    rng = random.Random(seed)
    polls = []
    with admin_connection(url) as sql:
        for _ in range(count):
            workspace_id = rng.choice(ids)
            offset = rng.randrange(100, ACTIVITY_ROWS // INBOX_WORKSPACES) if behind else rng.randrange(5)
            row = sql.execute(
                "SELECT id FROM activity_logs WHERE workspace_id = %s ORDER BY xid DESC, seq DESC OFFSET %s LIMIT 1",
                (workspace_id, offset),
            ).fetchone()
            if row is not None:
                polls.append(Poll(workspace_id, str(row[0])))
    return polls


@dataclass
class PollTimes:
    gateway: list[float] = field(default_factory=list)
    service: list[float] = field(default_factory=list)
    primary_key: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    statuses: set[int] = field(default_factory=set)


def time_polls(api: Client, url: str, polls: list[Poll], tokens: dict[str, str]) -> PollTimes:
    # A poller uses its token every few seconds: auth touches last_used_at at most once a minute,
    # so in steady state a poll does not write. Tokens fresh from the load would all write once.
    with admin_connection(url) as sql:
        sql.execute("UPDATE workspace_auth_tokens SET last_used_at = now()")
    times = PollTimes()
    for index, poll in enumerate(polls):
        headers = {**HOST, "authorization": f"Bearer {tokens[poll.workspace_id]}"}
        path = f"/workspaces/{poll.workspace_id}/activity?since_id={poll.cursor}"
        cursor_id = UUID(poll.cursor)

        def gateway(path: str = path, headers: dict[str, str] = headers) -> Any:
            return api.gateway.handle("GET", path, headers)

        def service(poll: Poll = poll) -> Any:
            return _read_inbox(poll)

        def primary_key(cursor_id: UUID = cursor_id) -> Any:
            return db.single_statement(
                lambda conn: conn.execute(
                    "SELECT id, workspace_id, activity_type, created_at FROM activity_logs WHERE id = %s", (cursor_id,)
                ).fetchone()
            )

        calls: list[tuple[list[float], Callable[[], Any]]] = [
            (times.gateway, gateway),
            (times.service, service),
            (times.primary_key, primary_key),
        ]
        shift = index % len(calls)  # rotate who goes first
        for sink, call in calls[shift:] + calls[:shift]:
            ms, result = timed_ms(call)
            if index >= POLL_WARMUP:
                sink.append(ms)
            if call is gateway:
                times.statuses.add(result.status)
                if index >= POLL_WARMUP and result.status == 200:
                    times.rows.append(len(json.loads(result.body)))
    return times


def _read_inbox(poll: Poll) -> Any:
    from molecule_core.activity.models import ActivityQuery  # inside platform_env: see registry.sweep_run
    from molecule_core.activity.service import list_activity
    from molecule_core.auth.models import Caller, PresentedCaller

    # the admin caller is decided without a lookup: the read without auth
    return list_activity(UUID(poll.workspace_id), PresentedCaller(Caller("admin")), ActivityQuery(since_id=poll.cursor))


def measure_inbox(api: Client, url: str) -> None:
    ids, tokens, seconds = load_inbox(url)
    print(
        f"loaded {thousands(INBOX_WORKSPACES)} workspaces and {thousands(ACTIVITY_ROWS)} activity rows in "
        f"{seconds:.0f} s ({ACTIVITY_ROWS // BATCH_ROWS} transactions), VACUUM ANALYZE done"
    )
    scenarios = {
        "caught up (cursor among the 5 newest rows)": pick_polls(url, ids, behind=False, count=POLLS, seed=1),
        "a page behind (cursor 100-999 rows back)": pick_polls(url, ids, behind=True, count=POLLS, seed=2),
    }
    rows = []
    results = {}
    for name, polls in scenarios.items():
        times = time_polls(api, url, polls, tokens)
        results[name] = times
        if times.statuses != {200}:
            api.problems.append(f"inbox poll [{name}] answered {sorted(times.statuses)}, not only 200")
        returned = f"{min(times.rows)}-{max(times.rows)}" if times.rows else "-"
        rows.append(
            [
                name,
                len(times.gateway),
                returned,
                f"{p50(times.gateway):.2f}",
                f"{p99(times.gateway):.2f}",
                f"{p50(times.service):.2f}",
                f"{p50(times.primary_key):.3f}",
                f"{p50(times.gateway) / p50(times.primary_key):.0f}×",
                verdict(p50(times.gateway) <= POLL_TARGET_MS),
            ]
        )
    print_table(
        [
            "poller",
            "polls",
            "rows back",
            "gateway p50",
            "gateway p99",
            "list_activity() p50",
            "PK lookup p50",
            "gateway ÷ PK",
            f"p50 ≤ {POLL_TARGET_MS:.0f} ms",
        ],
        rows,
        right=(1, 2, 3, 4, 5, 6, 7),
    )
    print(
        "(gateway: GET /workspaces/{id}/activity?since_id=… with the workspace's token, in-process; "
        "list_activity(): the same read without HTTP, auth or JSON; PK lookup: SELECT … FROM activity_logs "
        "WHERE id = <cursor>; all ms, interleaved)"
    )
    for name, polls in scenarios.items():
        plan = explain_next(url, "FROM activity_logs a", lambda polls=polls: _read_inbox(polls[0]))
        uses_index = any("Index Scan" in line and "activity_logs_cursor_idx" in line for line in plan)
        print(
            f"\nEXPLAIN (ANALYZE, BUFFERS) of the cursor query, {name}: index scan on activity_logs_cursor_idx: "
            f"{'yes' if uses_index else 'NO'} — {verdict(uses_index)}"
        )
        for line in plan:
            print(f"  {line}")
        if not plan:
            api.problems.append(f"no cursor query was captured for EXPLAIN [{name}]")


# --- main --------------------------------------------------------------------------------------------


def main() -> int:
    print("A2A proxy and inbox (issue 5): proxy overhead, SQL before dispatch, since_id poll on 1 000 000 rows")
    print("(embedded PostgreSQL, MOLECULE_ENV=development so a loopback agent URL is allowed)\n")
    problems: list[str] = []
    with platform_env(MOLECULE_ENV="development"), embedded_database() as url:
        db.configure(dsn=url)  # timed parts run on a plain cursor; part 2 counts
        api = Client()
        try:
            body = {"name": "bench-caller", "external": True}
            caller = api.call("POST", "/workspaces", "caller", json_body=body, expect=201)
            tuned = create_target(api, "bench-agent", free_port())
            shipped = create_target(api, "bench-agent-cli", free_port())
            tuned_port, shipped_port = (int(t.agent_url.rsplit(":", 1)[1]) for t in (tuned, shipped))
            sibling = Caller("workspace", caller["connection"]["auth_token"], caller["id"])
            with (
                reference_agent(tuned.workspace_id, tuned_port, shipped=False),
                reference_agent(shipped.workspace_id, shipped_port, shipped=True),
            ):
                print(
                    f"1. Proxy overhead over the local stack's HTTP: message/send, {CALLS} calls each after "
                    f"{WARMUP} warm-ups, interleaved; the reference agent and the client each in its own process"
                )
                measure_overhead(api, url, tuned, shipped, sibling)
                measure_breakdown(api, url, tuned)
                print(f"\n2. SQL round trips on the push path before dispatch (target ≤ {PRE_DISPATCH_TARGET})")
                db.configure(dsn=url, cursor_factory=CountingCursor)
                with counting_transactions():
                    measure_dispatch(api, tuned, sibling)
                db.configure(dsn=url)
            print(
                f"\n3. since_id poll: {thousands(ACTIVITY_ROWS)} activity rows over {thousands(INBOX_WORKSPACES)} "
                f"workspaces, {POLLS - POLL_WARMUP} timed polls per poller after {POLL_WARMUP} warm-ups"
            )
            measure_inbox(api, url)
        except (RuntimeError, TimeoutError, KeyError, TypeError) as exc:
            api.problems.append(f"scenario stopped: {exc!r}")
        finally:
            db.configure(dsn=None)
        problems += client_problems(api)
    return report_problems(problems)
