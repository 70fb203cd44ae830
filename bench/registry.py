"""Registry (issue 3): what register and heartbeat cost, how the liveness sweep scales, and a
heartbeat storm against the local stack.

1. Round trips per request: register (lazy heal of the inbound secret, re-register, first register
   that mints a token) and heartbeat (workspace_id only, full body, a status transition), sent with
   the workspace's own bearer through the in-process gateway and counted like `statements`
   (statements + 2 per BEGIN/COMMIT block). Targets: heartbeat ≤ 2, register ≤ 4.
2. Stale sweep over 100 000 workspaces (one INSERT … SELECT generate_series: half external, half
   managed, all online, half of each with a stale heartbeat; and once more with 1 % stale), on
   fresh data for each run, against `SELECT count(*) FROM workspaces` timed on the same connection
   in the same run. Target: sweep ≤ 5× count(*) at 50 % stale, and the same number of statements at
   1 000 and at 100 000 workspaces. EXPLAIN (ANALYZE, BUFFERS) of the stale statement, rolled back.
3. 200 concurrent heartbeats, 3 rounds, against the local stack run as a real process
   (`python -m molecule_local run`, MOLECULE_ENV=development) on its own database in the same
   embedded cluster, each agent on its own keep-alive connection: errors, p50/p99 latency, whether
   each heartbeat reached its row, and the deadlocks PostgreSQL counted for that database
   (pg_stat_database, read before the stack starts and after it stopped). Target: zero of each.
   Also shown: 200 registers that open their connections at the same moment, heartbeats one by one
   on new connections, and 30 in a row on one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
import psycopg
from molecule_core.platform import db
from molecule_core.platform.settings import get_settings
from psycopg.abc import Params, Query

from bench import print_table
from bench.statements import (
    ADMIN_TOKEN,
    AGENT_CARD,
    AGENT_URL,
    LEDGER,
    Client,
    CountingCursor,
    Row,
    counting_transactions,
    embedded_database,
    platform_env,
)
from bench.support import admin_connection, free_port, p50, p99, thousands, timed_ms, verdict

REPO = Path(__file__).resolve().parents[1]
HEARTBEAT_TARGET = 2
REGISTER_TARGET = 4
FLEET = 100_000
SMALL_FLEET = 1_000
SWEEP_RUNS = 3
COUNTS_PER_RUN = 7
SWEEP_RATIO_TARGET = 5.0
HALF_STALE = 4  # FLEET_SQL period: 50 % stale
ONE_PERCENT_STALE = 200  # 1 % stale: a healthy fleet's minute
BASELINE_HEARTBEATS = 30
REQUEST_TIMEOUT_SECONDS = 10.0
STORM_SIZE = 200
STORM_ROUNDS = 3
STACK_DATABASE = "bench_stack"

# Half external (even g), half managed (odd g), all online. Rows with g mod `period` in {0, 1} have
# a heartbeat an hour old (stale for any sensible threshold), one external and one managed per
# period: period 4 makes half the fleet stale, period 200 one per cent.
FLEET_SQL = """
    INSERT INTO workspaces (name, runtime, external, status, last_heartbeat_at, instance_id, url)
    SELECT 'fleet-' || g,
           CASE WHEN g %% 2 = 0 THEN 'external' ELSE 'langgraph' END,
           g %% 2 = 0,
           'online',
           CASE WHEN g %% %(period)s < 2 THEN now() - interval '1 hour' ELSE now() END,
           CASE WHEN g %% 2 = 0 THEN NULL ELSE 'i-' || g END,
           'https://93.184.216.34/agent/' || g
    FROM generate_series(1, %(n)s) AS g
"""


# --- 1. round trips per request --------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    row: Row
    target: int | None  # None: informational


def measure_round_trips(api: Client, url: str) -> list[Measured]:
    created = api.call(
        "POST", "/workspaces", "set-up", json_body={"name": "registry-bench", "external": True}, expect=201
    )
    workspace_id, token = created["id"], created["connection"]["auth_token"]
    register = {"id": workspace_id, "url": AGENT_URL, "agent_card": AGENT_CARD, "delivery_mode": "push"}
    measured: list[Measured] = []

    def call(route: str, request: str, body: dict[str, Any], bearer: str | None, target: int | None, **kw: Any) -> Any:
        answer = api.call("POST", route, request, json_body=body, token=bearer, **kw)
        measured.append(Measured(api.rows[-1], target))
        return answer

    with admin_connection(url) as sql:
        sql.execute("UPDATE workspaces SET platform_inbound_secret = NULL WHERE id = %s", (workspace_id,))
    healed = call("/registry/register", "its token; inbound secret NULL → lazy heal", register, token, REGISTER_TARGET)
    if not isinstance(healed, dict) or not healed.get("platform_inbound_secret"):
        api.problems.append("register with a NULL inbound secret did not return a healed secret")
    call("/registry/register", "re-register with its token", register, token, REGISTER_TARGET)
    with admin_connection(url) as sql:
        sql.execute(
            "UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = %s AND revoked_at IS NULL",
            (workspace_id,),
        )
    first = call(
        "/registry/register", "creation token revoked → mints one (no bearer)", register, None, REGISTER_TARGET
    )
    token = first.get("auth_token") if isinstance(first, dict) else None
    if not token:
        api.problems.append("register of a workspace without a live token did not mint one")
        return measured
    call("/registry/heartbeat", "workspace_id only", {"workspace_id": workspace_id}, token, HEARTBEAT_TARGET)
    full = {
        "workspace_id": workspace_id,
        "error_rate": 0.0,
        "sample_error": "none",
        "active_tasks": 1,
        "uptime_seconds": 120,
        "current_task": "indexing the repository",
        "monthly_spend": 42,
        "runtime_state": "running",
    }
    call("/registry/heartbeat", "full body, stays online", full, token, HEARTBEAT_TARGET)
    degraded = {**full, "error_rate": 0.6, "sample_error": "tool call failed"}
    call("/registry/heartbeat", "full body, online → degraded (+ event)", degraded, token, HEARTBEAT_TARGET)
    wrong = {"workspace_id": workspace_id}
    call("/registry/heartbeat", "invalid bearer → 401 (refusal path)", wrong, "bench-not-a-token", None, expect=401)
    return measured


def report_round_trips(measured: list[Measured]) -> None:
    rows = []
    for m in measured:
        r = m.row
        target = f"≤ {m.target}" if m.target is not None else "-"
        result = verdict(r.round_trips <= m.target) if m.target is not None else "info"
        status = r.status if r.status == r.expected else f"{r.status} !"
        rows.append([r.route, r.request, len(r.statements), r.transactions, r.round_trips, target, result, status])
    print_table(
        ["route", "request", "statements", "tx", "round trips", "target", "", "status"],
        rows,
        right=(2, 3, 4, 5),
    )
    for m in measured:
        if m.target is not None and m.row.round_trips > m.target:
            print(f"\n{m.row.route} [{m.row.request}] sends:")
            for statement in m.row.statements:
                print(f"  {statement[:140]}")


# --- 2. stale sweep at 100 000 workspaces -----------------------------------------------------------


class TimedCursor(CountingCursor):
    """Counts like CountingCursor and adds up the time spent in execute() (the server's work plus
    the wire; COMMIT and row conversion are not in it)."""

    execute_ms: ClassVar[list[float]] = []

    def execute(
        self, query: Query, params: Params | None = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> TimedCursor:
        start = time.perf_counter()
        try:
            super().execute(query, params, prepare=prepare, binary=binary)
        finally:
            TimedCursor.execute_ms.append((time.perf_counter() - start) * 1000)
        return self


@dataclass(frozen=True)
class SweepRun:
    fleet: int
    period: int
    ms: float
    execute_ms: float
    result: dict[str, int]
    statements: list[str]
    transactions: int
    count_ms: list[float]

    @property
    def round_trips(self) -> int:
        return len(self.statements) + 2 * self.transactions

    @property
    def expected(self) -> dict[str, int]:
        per_kind = self.fleet // self.period  # one external and one managed row per period
        return {"awaiting_agent": per_kind, "offline": per_kind}


def load_fleet(url: str, size: int, period: int) -> None:
    """A fresh fleet of `size` workspaces, vacuumed and analysed, nothing dirty in shared buffers."""
    with admin_connection(url) as sql:
        sql.execute("TRUNCATE workspaces, structure_events CASCADE")
        sql.execute(FLEET_SQL, {"n": size, "period": period})
        sql.execute("VACUUM ANALYZE workspaces")
        sql.execute("VACUUM ANALYZE structure_events")
        sql.execute("CHECKPOINT")


def count_workspaces() -> float:
    ms, _ = timed_ms(
        lambda: db.single_statement(lambda conn: conn.execute("SELECT count(*) FROM workspaces").fetchone())
    )
    return ms


def sweep_run(url: str, size: int, period: int) -> SweepRun:
    # Imported here, not at the top: Powertools' Logger reads its level when molecule_core's
    # observability module is first imported, which must happen inside platform_env.
    from molecule_core.lifecycle.service import run_liveness_sweep

    load_fleet(url, size, period)
    count_workspaces()  # warm-up: the connection and the table's pages
    count_ms = [count_workspaces() for _ in range(COUNTS_PER_RUN)]
    LEDGER.reset()
    TimedCursor.execute_ms.clear()
    ms, result = timed_ms(run_liveness_sweep)
    execute_ms = sum(TimedCursor.execute_ms)
    return SweepRun(size, period, ms, execute_ms, result, list(LEDGER.statements), LEDGER.transactions, count_ms)


def explain_stale_statement(url: str, statement: str) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the sweep's stale statement on a fresh fleet, rolled back."""
    load_fleet(url, FLEET, HALF_STALE)
    with psycopg.connect(url) as conn:  # not autocommit: the analysed UPDATE is rolled back
        rows = conn.execute(
            f"EXPLAIN (ANALYZE, BUFFERS) {statement}",  # the statement text the sweep sent
            {"stale_seconds": get_settings().heartbeat_stale_seconds},
        ).fetchall()
        conn.rollback()
    return [str(row[0]) for row in rows]


def measure_sweep(url: str, problems: list[str]) -> None:
    cases = [
        ("50 %", [sweep_run(url, SMALL_FLEET, HALF_STALE)]),
        ("50 %", [sweep_run(url, FLEET, HALF_STALE) for _ in range(SWEEP_RUNS)]),
        ("1 %", [sweep_run(url, FLEET, ONE_PERCENT_STALE) for _ in range(SWEEP_RUNS)]),
    ]
    for _, runs in cases:
        for run in runs:
            got = {key: run.result.get(key) for key in run.expected}
            if got != run.expected:
                problems.append(f"sweep over {run.fleet} workspaces moved {got}, expected {run.expected}")
    rows = []
    for share, runs in cases:
        sweep_ms = statistics.median(r.ms for r in runs)
        count_ms = statistics.median(ms for r in runs for ms in r.count_ms)
        rows.append(
            [
                thousands(runs[0].fleet),
                f"{thousands(2 * runs[0].fleet // runs[0].period)} ({share})",
                len(runs[0].statements),
                runs[0].transactions,
                runs[0].round_trips,
                " / ".join(f"{r.ms:.0f}" for r in runs),
                f"{sweep_ms:.1f}",
                f"{statistics.median(r.execute_ms for r in runs):.1f}",
                f"{count_ms:.2f}",
                f"{sweep_ms / count_ms:.1f}×",
            ]
        )
    print_table(
        [
            "workspaces",
            "stale",
            "statements",
            "tx",
            "round trips",
            "sweep runs ms",
            "sweep p50",
            "in execute()",
            "count(*) p50",
            "ratio",
        ],
        rows,
        right=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    )
    all_runs = [run for _, runs in cases for run in runs]
    small = all_runs[0]
    constant = all(
        len(r.statements) == len(small.statements) and r.transactions == small.transactions for r in all_runs
    )
    print(
        f"\nstatement count constant from {thousands(SMALL_FLEET)} to {thousands(FLEET)} workspaces: "
        f"{'yes' if constant else 'NO'} ({len(small.statements)} statements, {small.transactions} tx in every run) — "
        f"{verdict(constant)}"
    )
    half = cases[1][1]
    sweep_ms = statistics.median(r.ms for r in half)
    count_ms = statistics.median(ms for r in half for ms in r.count_ms)
    ratio = sweep_ms / count_ms
    print(
        f"sweep ÷ count(*) at {thousands(FLEET)} workspaces, 50 % stale: {sweep_ms:.1f} ms ÷ {count_ms:.2f} ms = "
        f"{ratio:.1f}× (target ≤ {SWEEP_RATIO_TARGET:.0f}×) — {verdict(ratio <= SWEEP_RATIO_TARGET)}"
    )
    print("(sweep p50 = the whole run_liveness_sweep(); in execute() = the time its statements took to run and answer,")
    print(" the rest is BEGIN/COMMIT, turning the returned rows into objects and the lifecycle requests)")
    print("\nstatements of one sweep:")
    for statement in half[0].statements:
        print(f"  {statement[:140]}")
    stale_statement = next((st for st in half[0].statements if "last_heartbeat_at" in st), None)
    if stale_statement is None:
        problems.append("the sweep sent no statement about last_heartbeat_at")
        return
    print(
        f"\nEXPLAIN (ANALYZE, BUFFERS) of the stale statement, fresh fleet of {thousands(FLEET)} "
        "(50 % stale), rolled back:"
    )
    for line in explain_stale_statement(url, stale_statement):
        print(f"  {line}")


# --- 3. heartbeat storm against the local stack -----------------------------------------------------


def stack_env(database_url: str, data_dir: str) -> dict[str, str]:
    """As tests/e2e: nothing of the caller's platform settings leaks in; development mode."""
    dropped = ("MOLECULE_", "ADMIN_TOKEN", "DATABASE_", "POWERTOOLS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.pop("PLATFORM_URL", None)
    env.pop("PROVISIONER_BACKEND", None)
    env.update(
        DATABASE_URL=database_url,
        MOLECULE_ENV="development",
        ADMIN_TOKEN=ADMIN_TOKEN,
        MOLECULE_DATA_DIR=data_dir,
        RATE_LIMIT_PER_SECOND="0",  # one credential, far past a fleet's per-credential rate
    )
    return env


class StackProcess:
    """`python -m molecule_local run --port <free>`; stopped with SIGTERM (as Ctrl-C)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._log_file = log.open("wb")
        self.exit_code: int | None = None
        self.process = subprocess.Popen(
            [sys.executable, "-m", "molecule_local", "run", "--port", str(self.port)],
            cwd=REPO,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def wait_until_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"local stack exited with {self.process.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.base_url}/health", timeout=1.0).status_code == 200:
                    return
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=0.1)
        raise TimeoutError(f"local stack not healthy within {timeout:.0f}s")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
        self.exit_code = int(self.process.returncode)
        return self.exit_code


@contextlib.contextmanager
def local_stack(database_url: str) -> Iterator[StackProcess]:
    with tempfile.TemporaryDirectory(prefix="molecule-bench-stack-") as tmp:
        stack = StackProcess(stack_env(database_url, tmp), Path(tmp) / "stack.log")
        try:
            stack.wait_until_healthy()
        except Exception as exc:
            stack.stop()
            raise RuntimeError(f"{exc}\n{stack.log.read_text(errors='replace')[-3000:]}") from None
        try:
            yield stack
        finally:
            stack.stop()


@dataclass(frozen=True)
class Sample:
    ms: float
    outcome: str  # "200", another status, "wrong workspace", or an exception's name

    @property
    def ok(self) -> bool:
        return self.outcome == "200"


@dataclass
class Phase:
    label: str
    samples: list[Sample]
    wall_ms: float
    stack_cpu_ms: float | None  # CPU the stack process used meanwhile (None: /proc unreadable)
    client_cpu_ms: float  # CPU this process (the clients) used meanwhile
    listen_overflows: int | None  # connections the kernel dropped for a full accept queue (Linux)
    applied: int | None = None  # rows the database shows this phase wrote (None: not checked)


class AgentConnection:
    """One agent's keep-alive HTTP/1.1 connection to the stack, spoken with asyncio streams: one
    write per request and almost no client CPU, so the figures are the server's (an httpx
    AsyncClient with 200 connections spends more CPU per request than the stack does)."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        payload = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: Bearer {self.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        writer.write(head.encode() + payload)
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await reader.readexactly(length)

    async def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            with contextlib.suppress(OSError):
                await self._streams[1].wait_closed()


async def _post(agent: AgentConnection, path: str, body: dict[str, Any]) -> Sample:
    start = time.perf_counter()
    try:
        status, answer = await asyncio.wait_for(agent.post(path, body), timeout=REQUEST_TIMEOUT_SECONDS)
        outcome = str(status)
        # register answers with the workspace it registered: another one means the answer
        # belongs to another request
        if status == 200 and "id" in body and json.loads(answer).get("workspace_id") != body["id"]:
            outcome = "wrong workspace"
    except (OSError, TimeoutError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
        outcome = type(exc).__name__
    return Sample((time.perf_counter() - start) * 1000, outcome)


def _heartbeat(workspace_id: str, uptime: int) -> dict[str, Any]:
    return {"workspace_id": workspace_id, "error_rate": 0.0, "active_tasks": 0, "uptime_seconds": uptime}


def _cpu_ms(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), in ms."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _listen_overflows() -> int | None:
    """The kernel's TcpExt ListenOverflows counter: SYNs or handshakes dropped because a listening
    socket's accept queue was full (Linux /proc/net/netstat)."""
    try:
        lines = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines()]
    except OSError:
        return None
    for names, values in itertools.pairwise(lines):
        if names[0] == values[0] == "TcpExt:" and "ListenOverflows" in names and names != values:
            return int(values[names.index("ListenOverflows")])
    return None


async def _phase(label: str, pid: int, requests: list[Any], *, together: bool) -> Phase:
    """Send `requests` all at once, or one after the other; time them and the stack's CPU."""
    cpu_before, client_before, overflows_before = _cpu_ms(pid), time.process_time(), _listen_overflows()
    start = time.perf_counter()
    samples = list(await asyncio.gather(*requests)) if together else [await request for request in requests]
    wall_ms = (time.perf_counter() - start) * 1000
    cpu_after, client_ms = _cpu_ms(pid), (time.process_time() - client_before) * 1000
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    overflows_after = _listen_overflows()
    overflows = None if overflows_before is None or overflows_after is None else overflows_after - overflows_before
    return Phase(label, samples, wall_ms, cpu, client_ms, overflows)


def _applied(stack_url: str, sql: str, value: object) -> int:
    with admin_connection(stack_url) as conn:
        row = conn.execute(sql, (value,)).fetchone()
    return int(row[0]) if row else 0


def _create_agents(base_url: str) -> list[tuple[str, str]]:
    """STORM_SIZE external workspaces, created one by one: (id, auth_token)."""
    agents = []
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as client:
        for index in range(STORM_SIZE):
            response = client.post("/workspaces", json={"name": f"storm-{index}", "external": True})
            if response.status_code != 201:
                raise RuntimeError(f"create answered {response.status_code}: {response.text[:300]}")
            created = response.json()
            agents.append((created["id"], created["connection"]["auth_token"]))
    return agents


async def _storm(port: int, stack_url: str, pid: int, agents: list[tuple[str, str]]) -> list[Phase]:
    register = {"agent_card": AGENT_CARD, "delivery_mode": "poll"}
    # Every agent opens its connection at the same moment (an agent fleet reconnecting after a
    # restart); these connections are dropped afterwards, whatever became of them.
    fresh = [(ws, AgentConnection("127.0.0.1", port, token)) for ws, token in agents]
    try:
        phases = [
            await _phase(
                f"register ×{STORM_SIZE} at once, new connections",
                pid,
                [_post(agent, "/registry/register", {"id": ws, **register}) for ws, agent in fresh],
                together=True,
            )
        ]
    finally:
        await asyncio.gather(*(agent.close() for _, agent in fresh))
    phases[-1].applied = _applied(
        stack_url, "SELECT count(*) FROM workspaces WHERE status = 'online' AND delivery_mode = %s", "poll"
    )
    connections = [(ws, AgentConnection("127.0.0.1", port, token)) for ws, token in agents]
    try:
        phases.append(
            await _phase(
                f"heartbeat ×{STORM_SIZE} one by one, new connections",
                pid,
                [_post(agent, "/registry/heartbeat", _heartbeat(ws, 1)) for ws, agent in connections],
                together=False,
            )
        )
        ws, agent = connections[0]
        phases.append(
            await _phase(
                f"heartbeat ×{BASELINE_HEARTBEATS} in a row, one connection",
                pid,
                [_post(agent, "/registry/heartbeat", _heartbeat(ws, 2)) for _ in range(BASELINE_HEARTBEATS)],
                together=False,
            )
        )
        for round_index in range(STORM_ROUNDS):
            uptime = 60 * (round_index + 1)
            phases.append(
                await _phase(
                    f"heartbeat round {round_index + 1}: ×{STORM_SIZE} at once, open conns",
                    pid,
                    [_post(agent, "/registry/heartbeat", _heartbeat(ws, uptime)) for ws, agent in connections],
                    together=True,
                )
            )
            phases[-1].applied = _applied(
                stack_url, "SELECT count(*) FROM workspaces WHERE uptime_seconds = %s", uptime
            )
    finally:
        await asyncio.gather(*(agent.close() for _, agent in connections))
    return phases


def deadlock_count(url: str) -> int:
    with admin_connection(url) as sql:  # a new connection: a fresh statistics snapshot
        row = sql.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = %s", (STACK_DATABASE,)).fetchone()
    return int(row[0]) if row else 0


def measure_storm(url: str, problems: list[str]) -> None:
    with admin_connection(url) as sql:
        sql.execute(f"CREATE DATABASE {STACK_DATABASE}")
    stack_url = psycopg.conninfo.make_conninfo(url, dbname=STACK_DATABASE)
    before = deadlock_count(url)
    try:
        with local_stack(stack_url) as stack:
            phases = asyncio.run(_storm(stack.port, stack_url, stack.process.pid, _create_agents(stack.base_url)))
    except (RuntimeError, TimeoutError, httpx.HTTPError) as exc:
        problems.append(f"heartbeat storm could not run: {exc!r}")
        return
    if stack.exit_code != 0:
        problems.append(f"the local stack did not stop cleanly (exit status {stack.exit_code})")
    after = deadlock_count(url)  # the stack's backends have exited: their statistics are flushed

    def cells(phase: Phase) -> list[object]:
        times = [s.ms for s in phase.samples]
        errors = sum(1 for s in phase.samples if not s.ok)
        applied = "-" if phase.applied is None else f"{phase.applied}/{len(phase.samples)}"
        rate = len(times) / phase.wall_ms * 1000
        cpu = "-" if phase.stack_cpu_ms is None else f"{phase.stack_cpu_ms / len(times):.1f}"
        client = f"{phase.client_cpu_ms / len(times):.1f}"
        return [
            phase.label,
            len(times),
            errors,
            applied,
            f"{p50(times):.1f}",
            f"{p99(times):.1f}",
            f"{max(times):.1f}",
            f"{phase.wall_ms:.0f}",
            f"{rate:.0f}",
            cpu,
            client,
            "-" if phase.listen_overflows is None else phase.listen_overflows,
        ]

    storm = [phase for phase in phases if phase.label.startswith("heartbeat round")]
    heartbeats = [s for phase in storm for s in phase.samples]
    cpu = [phase.stack_cpu_ms for phase in storm]
    total = Phase(
        f"all {STORM_ROUNDS} rounds",
        heartbeats,
        sum(phase.wall_ms for phase in storm),
        None if None in cpu else sum(c or 0.0 for c in cpu),
        sum(phase.client_cpu_ms for phase in storm),
        None
        if any(phase.listen_overflows is None for phase in storm)
        else sum(phase.listen_overflows or 0 for phase in storm),
        sum(phase.applied or 0 for phase in storm),
    )
    print_table(
        [
            "phase",
            "requests",
            "errors",
            "in db",
            "p50 ms",
            "p99 ms",
            "max ms",
            "wall ms",
            "req/s",
            "stack CPU/req",
            "client CPU/req",
            "listen drops",
        ],
        [cells(phase) for phase in [*phases, total]],
        right=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11),
    )
    print("in db: workspaces whose row shows the phase's write (registered online in poll mode, or the round's")
    print("uptime_seconds). CPU/req: ms of CPU the stack process / this client process used per request.")
    print("listen drops: the kernel's TcpExt ListenOverflows meanwhile (handshakes dropped: accept queue full).")
    for phase in phases:
        failures = Counter(s.outcome for s in phase.samples if not s.ok)
        if failures:
            outcomes = ", ".join(f"{outcome} ×{n}" for outcome, n in failures.most_common())
            print(f"errors in {phase.label}: {outcomes}")
    errors = sum(1 for s in heartbeats if not s.ok)
    lost = len(heartbeats) - (total.applied or 0)
    delta = after - before
    print(f"local stack stopped with SIGTERM, exit status {stack.exit_code}")
    print(f"deadlocks in database {STACK_DATABASE} (pg_stat_database): before {before}, after {after}, delta {delta}")
    print(
        f"target: zero heartbeat errors, zero deadlocks → {errors} errors, {delta} deadlocks "
        f"({lost} heartbeats not in the database) — {verdict(errors == 0 and delta == 0 and lost == 0)}"
    )


# --- main ------------------------------------------------------------------------------------------


def main() -> int:
    print("Registry (issue 3): round trips per request, stale sweep at 100 000 workspaces, heartbeat storm")
    print("(embedded PostgreSQL; round trips = statements + 2 per transaction block)\n")
    problems: list[str] = []
    with platform_env(), embedded_database() as url:
        with counting_transactions():
            db.configure(dsn=url, cursor_factory=TimedCursor)
            api = Client()
            try:
                print(
                    f"1. Round trips per request (targets: heartbeat ≤ {HEARTBEAT_TARGET}, "
                    f"register ≤ {REGISTER_TARGET})"
                )
                try:
                    measured = measure_round_trips(api, url)
                except (KeyError, IndexError, TypeError, AttributeError) as exc:
                    api.problems.append(f"scenario stopped: a response lacked what later requests need ({exc!r})")
                    measured = []
                report_round_trips(measured)
                for m in measured:
                    if m.row.status != m.row.expected:
                        api.problems.append(
                            f"{m.row.route} [{m.row.request}] answered {m.row.status}: {m.row.body[:200]}"
                        )
                problems += api.problems
                print(
                    f"\n2. Stale sweep: run_liveness_sweep() over {thousands(FLEET)} workspaces (fresh data per run) "
                    "against SELECT count(*) FROM workspaces"
                )
                measure_sweep(url, problems)
            finally:
                db.configure(dsn=None)
        print(
            f"\n3. Heartbeat storm: local stack as a process, {STORM_SIZE} external workspaces, "
            f"{STORM_ROUNDS} rounds of {STORM_SIZE} concurrent heartbeats"
        )
        measure_storm(url, problems)
    for problem in problems:
        print(f"\nPROBLEM: {problem}")
    return 1 if problems else 0
