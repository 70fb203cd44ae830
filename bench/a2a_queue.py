"""A2A queue (issue 6): what one enqueue costs, and how fast the drain empties the queue.

1. Enqueue cost: one `molecule_core.a2a.queue.enqueue(...)` of a new message, counted like
   `statements` (statements + 2 per BEGIN/COMMIT block), and the SQS API calls it makes (botocore
   `before-call.sqs` hook on the client `queue._sqs()` returns). Also a duplicate (same messageId).
   Target: ≤ 2 SQL round trips + 1 SQS call for a new message.
2. Drain throughput: 1 000 messages over 10 push-mode workspaces, all pointing at one reference
   agent app (uvicorn, TCP_NODELAY, its own process), enqueued first (published to the template's
   FIFO queue on moto, `LocalSqs`), then drained by the real drain function through
   `SqsPollerService` (as the local stack runs it) until every row is `completed`; against the
   same 1 000 `message/send` payloads POSTed straight to the agent with httpx (keep-alive) in the
   same run. Target: drain ≥ 30 % of direct.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import httpx
from molecule_core.a2a import queue
from molecule_core.platform import db, observability
from molecule_local.lambdas import FunctionRegistry
from molecule_local.sqs import LocalSqs, SqsPollerService
from molecule_local.template import default_template

from bench import print_table
from bench.a2a import Target, create_target, reference_agent
from bench.statements import (
    LEDGER,
    Client,
    CountingCursor,
    client_problems,
    counting_transactions,
    embedded_database,
    platform_env,
    report_problems,
)
from bench.support import admin_connection, free_port, p50, p99, thousands, verdict

ENQUEUE_ROUND_TRIP_TARGET = 2
ENQUEUE_SQS_TARGET = 1
TARGETS = 10
MESSAGES = 1_000
DIRECT_WARMUP = 20
RATIO_TARGET = 0.30
DRAIN_DEADLINE_SECONDS = 300.0
ENQUEUE_DEADLINE_SECONDS = 120.0


def payload(message_id: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": f"req-{message_id}",
        "method": "message/send",
        "params": {
            "message": {
                "kind": "message",
                "role": "user",
                "messageId": message_id,
                "parts": [{"kind": "text", "text": "ping from the queue benchmark"}],
            }
        },
    }


@contextlib.contextmanager
def local_sqs() -> Iterator[LocalSqs]:
    sqs = LocalSqs(default_template(), port=0, name_prefix=f"bench{uuid.uuid4().hex[:8]}-")
    sqs.start()
    try:
        yield sqs
    finally:
        sqs.stop()


@contextlib.contextmanager
def quiet_platform_logger() -> Iterator[None]:
    """The platform's Powertools logger at ERROR for the run: it logs one INFO line per enqueue and
    per drained record to stdout, which would bury the figures (and cost time in both paths)."""
    from molecule_core.platform.observability import logger

    saved = logger.log_level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(saved)


@contextlib.contextmanager
def counting_sqs_calls() -> Iterator[list[str]]:
    """The names of the SQS operations the queue's client sends during the block."""
    calls: list[str] = []

    def before_call(model: Any, **_: Any) -> None:
        calls.append(model.name)

    events = queue._sqs().meta.events
    events.register("before-call.sqs", before_call, unique_id="bench-queue-count")
    try:
        yield calls
    finally:
        events.unregister("before-call.sqs", unique_id="bench-queue-count")


def _enqueue(target: Target, message_id: str) -> queue.EnqueueResult:
    """One enqueue, as one invocation makes it: its metrics are flushed when it ends (metrics are
    disabled here, so that prints nothing; left to pile up, Powertools prints them all at a metric's
    100th value, in the middle of the bench's tables)."""
    try:
        return queue.enqueue(
            UUID(target.workspace_id), None, payload(message_id), "message/send", message_id, expires_in_seconds=None
        )
    finally:
        observability.flush_metrics()


# --- 1. enqueue cost ---------------------------------------------------------------------------------


def measure_enqueue(api: Client, url: str, target: Target) -> None:
    cases = [
        ("new message (first: boto3 client created)", "bench-enqueue-1", True),
        ("new message (warm)", "bench-enqueue-2", True),
        ("duplicate messageId (same as the previous)", "bench-enqueue-2", False),
    ]
    rows = []
    listed: list[tuple[str, list[str]]] = []
    db.configure(dsn=url, cursor_factory=CountingCursor)
    try:
        queue._sqs()  # the client exists before the hook is registered; creating it sends nothing
        with counting_transactions():
            for label, message_id, new in cases:
                with counting_sqs_calls() as calls:
                    LEDGER.reset()
                    start = time.perf_counter()
                    result = _enqueue(target, message_id)
                    ms = (time.perf_counter() - start) * 1000
                statements, tx = list(LEDGER.statements), LEDGER.transactions
                round_trips = len(statements) + 2 * tx
                if result.created != new:
                    api.problems.append(f"enqueue [{label}] created={result.created}, expected {new}")
                ok = round_trips <= ENQUEUE_ROUND_TRIP_TARGET and len(calls) <= ENQUEUE_SQS_TARGET
                rows.append(
                    [
                        label,
                        len(statements),
                        tx,
                        round_trips,
                        len(calls),
                        ", ".join(calls) or "-",
                        result.created,
                        result.queue_depth,
                        f"{ms:.2f}",
                        verdict(ok) if new else "-",
                    ]
                )
                listed.append((label, statements))
    finally:
        db.configure(dsn=url)
    print_table(
        ["enqueue", "statements", "tx", "round trips", "SQS calls", "operations", "created", "depth", "ms", "≤ 2 + 1"],
        rows,
        right=(1, 2, 3, 4, 7, 8),
    )
    for label, statements in listed:
        print(f"\n{label}, statements in order:")
        for statement in statements:
            print(f"  {statement[:130]}")


def reset_queue(url: str, sqs: LocalSqs) -> None:
    """Forget part 1's messages: rows and SQS messages, so part 2 drains exactly its own."""
    with admin_connection(url) as sql:
        sql.execute("DELETE FROM a2a_queue")
    sqs.client().purge_queue(QueueUrl=sqs.queue_urls["A2aQueue"])


# --- 2. drain throughput -----------------------------------------------------------------------------


@contextlib.contextmanager
def timing_sqs_calls() -> Iterator[list[float]]:
    """Seconds each SQS API call of the queue's client took during the block (botocore's
    before-call/after-call events: serialising, signing, the HTTP round trip to moto, parsing)."""
    spent: list[float] = []
    started: list[float] = []

    def before_call(**_: Any) -> None:
        started.append(time.perf_counter())

    def after_call(**_: Any) -> None:
        if started:
            spent.append(time.perf_counter() - started.pop())

    events = queue._sqs().meta.events
    events.register("before-call.sqs", before_call, unique_id="bench-queue-time-before")
    events.register("after-call.sqs", after_call, unique_id="bench-queue-time-after")
    try:
        yield spent
    finally:
        events.unregister("before-call.sqs", unique_id="bench-queue-time-before")
        events.unregister("after-call.sqs", unique_id="bench-queue-time-after")


def enqueue_all(targets: list[Target]) -> tuple[float, list[float]]:
    """Enqueue MESSAGES messages round-robin over the targets; (seconds taken, seconds of each
    SQS call)."""
    start = time.perf_counter()
    deadline = time.monotonic() + ENQUEUE_DEADLINE_SECONDS
    with timing_sqs_calls() as sqs_seconds:
        for index in range(MESSAGES):
            if time.monotonic() > deadline:
                raise TimeoutError(f"enqueue of {MESSAGES} messages took over {ENQUEUE_DEADLINE_SECONDS:.0f}s")
            result = _enqueue(targets[index % len(targets)], f"bench-drain-{index}")
            if not result.created:
                raise RuntimeError(f"enqueue {index} did not create a row")
    return time.perf_counter() - start, list(sqs_seconds)


def direct_posts(agent_url: str) -> tuple[float, set[int]]:
    """The same MESSAGES payloads straight to the agent, httpx keep-alive; (seconds, statuses)."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    statuses: set[int] = set()
    with httpx.Client(follow_redirects=False, timeout=10.0) as http:
        for index in range(DIRECT_WARMUP):
            http.post(agent_url, json=payload(f"bench-warmup-{index}"), headers=headers)
        start = time.perf_counter()
        for index in range(MESSAGES):
            statuses.add(http.post(agent_url, json=payload(f"bench-drain-{index}"), headers=headers).status_code)
        return time.perf_counter() - start, statuses


def status_counts(url: str) -> dict[str, int]:
    with admin_connection(url) as sql:
        return dict(sql.execute("SELECT status, count(*) FROM a2a_queue GROUP BY status").fetchall())


def drain_all(url: str, sqs: LocalSqs) -> tuple[float, dict[str, int], int]:
    """Start the poller and wait until every row is completed (or the deadline); (seconds, final
    status counts, drain invocations)."""
    poller = SqsPollerService(FunctionRegistry(), sqs)
    start = time.perf_counter()
    deadline = time.monotonic() + DRAIN_DEADLINE_SECONDS
    poller.start()
    try:
        with admin_connection(url) as sql:
            while time.monotonic() < deadline:
                row = sql.execute("SELECT count(*) FROM a2a_queue WHERE status = 'completed'").fetchone()
                if row is not None and row[0] >= MESSAGES:
                    break
                time.sleep(0.02)
        seconds = time.perf_counter() - start
    finally:
        poller.stop()
    return seconds, status_counts(url), poller.invocations.get("A2aDrainFunction", 0)


def drain_without_sqs(url: str) -> float:
    """Put every delivered row back to `queued` and run drain_record() on each, in enqueue order:
    claim, deliver, complete and log, minus SQS."""
    with admin_connection(url) as sql:
        sql.execute(
            "UPDATE a2a_queue SET status = 'queued', attempts = 0, dispatched_at = NULL, completed_at = NULL,"
            " response_status = NULL, response_body = NULL"
        )
        ids = [row[0] for row in sql.execute("SELECT id FROM a2a_queue ORDER BY enqueued_at, id").fetchall()]
    started = time.perf_counter()
    for queue_id in ids:
        queue.drain_record(queue_id)
        observability.flush_metrics()  # as the drain function does after each batch
    return time.perf_counter() - started


def measure_drain(api: Client, url: str, sqs: LocalSqs, targets: list[Target], agent_url: str) -> None:
    enqueue_seconds, sqs_seconds = enqueue_all(targets)
    counts = status_counts(url)
    published = 0
    with admin_connection(url) as sql:
        row = sql.execute("SELECT count(*) FROM a2a_queue WHERE published_at IS NOT NULL").fetchone()
        published = row[0] if row else 0
    print(
        f"enqueued {thousands(MESSAGES)} messages over {len(targets)} targets in {enqueue_seconds:.2f} s "
        f"({MESSAGES / enqueue_seconds:.0f}/s); rows {counts}, published {published}"
    )
    if sqs_seconds:
        ms = [seconds * 1000 for seconds in sqs_seconds]
        print(
            f"  of which {len(ms)} SQS calls (SendMessage to moto): {sum(sqs_seconds):.2f} s, "
            f"p50 {p50(ms):.2f} ms, p99 {p99(ms):.2f} ms; first 100 mean {sum(ms[:100]) / len(ms[:100]):.2f} ms, "
            f"last 100 mean {sum(ms[-100:]) / len(ms[-100:]):.2f} ms"
        )
    direct_seconds, statuses = direct_posts(agent_url)
    if statuses != {200}:
        api.problems.append(f"direct message/send answered {sorted(statuses)}, not only 200")
    drain_seconds, final, invocations = drain_all(url, sqs)
    completed = final.get("completed", 0)
    if completed != MESSAGES:
        api.problems.append(f"drain stopped at the deadline or with other rows: {final}")
    with admin_connection(url) as sql:
        answered = sql.execute("SELECT response_status, count(*) FROM a2a_queue GROUP BY 1").fetchall()
    if dict(answered) != {200: MESSAGES}:
        api.problems.append(f"drained rows' agent answers: {dict(answered)}")
    direct_rate = MESSAGES / direct_seconds
    drain_rate = completed / drain_seconds
    ratio = drain_rate / direct_rate
    own_seconds = drain_without_sqs(url)
    own_rate = MESSAGES / own_seconds
    print_table(
        ["path", "messages", "seconds", "messages/s"],
        [
            [
                "straight to the agent: httpx POST loop, keep-alive",
                MESSAGES,
                f"{direct_seconds:.2f}",
                f"{direct_rate:.0f}",
            ],
            [
                f"queue drain: SqsPollerService → A2aDrainFunction ({invocations} invocations)",
                completed,
                f"{drain_seconds:.2f}",
                f"{drain_rate:.0f}",
            ],
            [
                "the drain's own work, no SQS: drain_record() per row (same rows re-queued)",
                MESSAGES,
                f"{own_seconds:.2f}",
                f"{own_rate:.0f}",
            ],
        ],
        right=(1, 2, 3),
    )
    print(
        f"drain_record() alone ÷ direct: {own_rate / direct_rate * 100:.1f} % — what the platform's drain costs "
        "without the SQS stand-in (moto's FIFO send/receive/delete slow down as the queue fills)"
    )
    print(
        f"drain ÷ direct: {ratio * 100:.1f} % (target ≥ {RATIO_TARGET * 100:.0f} %) — {verdict(ratio >= RATIO_TARGET)}"
    )
    print(
        "(drain time: from starting the poller — first invocation loads the handler — until the last row is "
        "completed, polled every 20 ms; rows at the end: "
        f"{final})"
    )


# --- main --------------------------------------------------------------------------------------------


def main() -> int:
    print("A2A queue (issue 6): enqueue cost, drain throughput against direct delivery")
    print("(embedded PostgreSQL, moto SQS with the template's queues, MOLECULE_ENV=development)\n")
    problems: list[str] = []
    with platform_env(MOLECULE_ENV="development"), embedded_database() as url, quiet_platform_logger():
        db.configure(dsn=url)
        api = Client()
        try:
            port = free_port()
            targets = [create_target(api, f"bench-queue-{index}", port) for index in range(TARGETS)]
            with local_sqs() as sqs, reference_agent(targets[0].workspace_id, port, shipped=False) as agent:
                print(
                    f"1. Enqueue cost: one enqueue() (target ≤ {ENQUEUE_ROUND_TRIP_TARGET} SQL round trips "
                    f"+ {ENQUEUE_SQS_TARGET} SQS call for a new message)"
                )
                measure_enqueue(api, url, targets[0])
                reset_queue(url, sqs)
                print(
                    f"\n2. Drain throughput: {thousands(MESSAGES)} messages over {TARGETS} push workspaces, all "
                    "pointing at one reference agent app (uvicorn, TCP_NODELAY, its own process)"
                )
                measure_drain(api, url, sqs, targets, agent.url)
        except (RuntimeError, TimeoutError, KeyError, TypeError) as exc:
            api.problems.append(f"scenario stopped: {exc!r}")
        finally:
            db.configure(dsn=None)
        problems += client_problems(api)
    return report_problems(problems)
