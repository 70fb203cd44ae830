"""Nothing acknowledged is stranded (SPEC §5.5, issue 12 item 1): faults between delivery and
bookkeeping, with a real outage — a throwaway embedded PostgreSQL stopped with `pg_ctl -m
immediate` and started again (as in test_datastore_down) — the template's FIFO queue and its
dead-letter queue on moto, the drain and outbox-sweep functions invoked with real events, and real
agents on 127.0.0.1.

- A record that meets a row leased by another drain is acknowledged (no receive spent) and the row
  marked as having no live message; the outbox sweep publishes it again once the lease has passed.
- Receives spent while the database is down send the message to the dead-letter queue; the sweep
  takes it back.
- A run of many messages through an outage: every accepted message is delivered; the only
  duplicates are redeliveries of the same messageId."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from molecule_core.a2a import queue
from molecule_core.platform import db
from molecule_local.lambdas import FunctionRegistry
from molecule_local.sqs import LocalSqs, build_sqs_event, processed_messages
from molecule_local.template import default_template
from psycopg.rows import dict_row

from tests.agents import ScriptedAgent, scripted_agent
from tests.conftest import ApiClient, create_workspace, database_trigger, eventually, set_env
from tests.integration.test_datastore_down import ThrowawayDatastore
from tests.integration.test_datastore_down import throwaway_datastore as throwaway_datastore

ADMIN = "admin-token-for-queue-recovery"
TABLES = "workspaces, workspace_auth_tokens, org_api_tokens, activity_logs, structure_events, a2a_queue"


@pytest.fixture
def outage_db(
    api: ApiClient, throwaway_datastore: ThrowawayDatastore, platform_env: pytest.MonkeyPatch
) -> Iterator[ThrowawayDatastore]:
    """The platform on a database of its own that the test may stop; started again afterwards."""
    throwaway_datastore.start()
    with psycopg.connect(throwaway_datastore.uri, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    db.configure(dsn=throwaway_datastore.uri)
    set_env(platform_env, ADMIN_TOKEN=ADMIN, MOLECULE_ENV="development")
    try:
        yield throwaway_datastore
    finally:
        throwaway_datastore.start()
        db.configure(dsn=None)


@pytest.fixture
def sqs() -> Iterator[LocalSqs]:
    local_sqs = LocalSqs(default_template(), port=0, name_prefix=f"r{uuid.uuid4().hex[:8]}-")
    local_sqs.start()
    yield local_sqs
    local_sqs.stop()


def send(text: str, message_id: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": f"req-{message_id}",
        "method": "message/send",
        "params": {"message": {"role": "user", "messageId": message_id, "parts": [{"kind": "text", "text": text}]}},
    }


def push_target(api: ApiClient, url: str, name: str = "target") -> uuid.UUID:
    created = create_workspace(api, ADMIN, name=name, external=True, url=url)
    assert api.patch(f"/workspaces/{created['id']}", json_body={"delivery_mode": "push"}, token=ADMIN).status == 200
    return uuid.UUID(created["id"])


def sql(datastore: ThrowawayDatastore, statement: str, *args: Any) -> list[dict[str, Any]]:
    with psycopg.connect(datastore.uri, row_factory=dict_row, autocommit=True) as conn:
        cursor = conn.execute(statement, args)
        return cursor.fetchall() if cursor.description else []


def queue_row(datastore: ThrowawayDatastore, queue_id: uuid.UUID) -> dict[str, Any]:
    (found,) = sql(datastore, "SELECT * FROM a2a_queue WHERE id = %s", queue_id)
    return found


def receive(sqs: LocalSqs, logical_id: str = "A2aQueue") -> list[dict[str, Any]]:
    return list(
        sqs.client()
        .receive_message(
            QueueUrl=sqs.queue_urls[logical_id], MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"]
        )
        .get("Messages", [])
    )


def drain_round(sqs: LocalSqs, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The drain function on these records, as the event source mapping runs it: processed records
    are deleted; failed ones are made visible again at once (instead of after the back-off).
    Returns the failed ones."""
    result = FunctionRegistry().invoke(
        "A2aDrainFunction", build_sqs_event(messages, sqs.queue_arns["A2aQueue"], sqs.region)
    )
    client, url = sqs.client(), sqs.queue_urls["A2aQueue"]
    done = processed_messages(messages, result, True)
    for message in done:
        client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    failed = [m for m in messages if m not in done]
    for message in failed:
        client.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return failed


def lapse_leases(datastore: ThrowawayDatastore) -> None:
    """Time passes: every lease has run out and every unpublished row is past the sweep's grace."""
    lease = queue.lease_seconds() + 1
    sql(
        datastore,
        "UPDATE a2a_queue SET dispatched_at = dispatched_at - make_interval(secs => %s),"
        " enqueued_at = enqueued_at - interval '1 minute' WHERE status IN ('queued', 'dispatched')",
        lease,
    )


def outbox_sweep() -> dict[str, int]:
    result: dict[str, int] = FunctionRegistry().invoke("A2aOutboxSweepFunction", {"sweep": "a2a_outbox"})
    return result


def delivered_ids(agent: ScriptedAgent) -> list[str]:
    return [r.json()["params"]["message"]["messageId"] for r in agent.received]


def test_a_message_delivered_just_before_the_database_went_away_is_not_stranded(
    outage_db: ThrowawayDatastore, sqs: LocalSqs, api: ApiClient, agent: ScriptedAgent
) -> None:
    # Given: a queued message whose delivery is under way
    target = push_target(api, agent.url)
    queued = queue.enqueue(target, None, send("deliver me", "m-1"), "message/send", "m-1", None)
    (message,) = receive(sqs)
    agent.mode = "slow"
    drain = threading.Thread(target=lambda: drain_round(sqs, [message]))
    drain.start()
    assert eventually(lambda: len(agent.received) == 1)

    # When: the database goes away after the agent got it, before the drain recorded it
    outage_db.stop()
    agent.release.set()
    drain.join(60)
    outage_db.start()

    # Then: the row is left dispatched; the record that comes back is acknowledged, not refused
    assert queue_row(outage_db, queued.queue_id)["status"] == "dispatched"
    (again,) = receive(sqs)
    assert drain_round(sqs, [again]) == []
    left = queue_row(outage_db, queued.queue_id)
    assert left["status"] == "dispatched" and left["published_at"] is None
    assert receive(sqs) == [] and receive(sqs, "A2aDeadLetterQueue") == []
    assert outbox_sweep()["republished"] == 0  # the lease still runs

    # ...and once the lease has passed, the outbox sweep publishes it and it is delivered again
    lapse_leases(outage_db)
    assert outbox_sweep() == {"expired": 0, "rescued": 0, "republished": 1, "delegations_failed": 0}
    agent.mode = "echo"
    (republished,) = receive(sqs)
    assert drain_round(sqs, [republished]) == []
    done = queue_row(outage_db, queued.queue_id)
    assert done["status"] == "completed" and done["attempts"] == 2
    assert delivered_ids(agent) == ["m-1", "m-1"]  # the same messageId: the agent can tell


def test_receives_spent_while_the_database_is_down_are_taken_back_from_the_dead_letter_queue(
    outage_db: ThrowawayDatastore, sqs: LocalSqs, api: ApiClient, agent: ScriptedAgent
) -> None:
    target = push_target(api, agent.url)
    queued = queue.enqueue(target, None, send("patience", "m-dlq"), "message/send", "m-dlq", None)

    # the database is down for every one of the message's five receives
    outage_db.stop()
    for _ in range(5):
        (message,) = receive(sqs)
        assert drain_round(sqs, [message]) == [message]
    assert receive(sqs) == []  # gone to the dead-letter queue
    outage_db.start()

    lapse_leases(outage_db)
    assert outbox_sweep() == {"expired": 0, "rescued": 1, "republished": 1, "delegations_failed": 0}
    assert receive(sqs, "A2aDeadLetterQueue") == []
    (message,) = receive(sqs)
    assert drain_round(sqs, [message]) == []
    assert queue_row(outage_db, queued.queue_id)["status"] == "completed"
    assert delivered_ids(agent) == ["m-dlq"]


def test_many_messages_through_a_database_outage_are_all_delivered(
    outage_db: ThrowawayDatastore, sqs: LocalSqs, api: ApiClient, capsys: pytest.CaptureFixture[str]
) -> None:
    accepted = 40
    with scripted_agent() as first, scripted_agent() as second:
        targets = [push_target(api, first.url, "first"), push_target(api, second.url, "second")]
        queue_ids = [
            queue.enqueue(
                targets[n % 2], None, send(f"n{n}", f"m-{n:03d}"), "message/send", f"m-{n:03d}", None
            ).queue_id
            for n in range(accepted)
        ]
        stop = threading.Event()
        down = threading.Event()

        def drain_loop() -> None:
            while not stop.is_set():
                messages = receive(sqs)
                if messages:
                    drain_round(sqs, messages)
                elif not down.is_set():
                    rows = sql(outage_db, "SELECT count(*) AS n FROM a2a_queue WHERE status IN ('queued','dispatched')")
                    if rows[0]["n"] == 0:
                        return
                    lapse_leases(outage_db)  # nothing left in SQS: time passes for the sweep
                    outbox_sweep()

        loop = threading.Thread(target=drain_loop)
        loop.start()
        # the outage starts mid-run and lasts a few seconds
        assert eventually(lambda: len(first.received) + len(second.received) >= accepted // 4, 60)
        down.set()
        outage_db.stop()
        threading.Event().wait(3)  # the outage's length, not a synchronisation
        outage_db.start()
        down.clear()
        loop.join(180)
        stop.set()
        assert not loop.is_alive(), "the queue did not drain"

        statuses = Counter(queue_row(outage_db, queue_id)["status"] for queue_id in queue_ids)
        deliveries = Counter(delivered_ids(first) + delivered_ids(second))
    duplicated = sum(count - 1 for count in deliveries.values())
    with capsys.disabled():
        print(
            f"\noutage scenario: accepted {accepted}, delivered {len(deliveries)}, duplicated {duplicated}"
            f" (same messageId), statuses {dict(statuses)}"
        )
    assert statuses == {"completed": accepted}
    assert sorted(deliveries) == sorted(f"m-{n:03d}" for n in range(accepted))
    assert json.dumps(dict(statuses))


@pytest.fixture
def database_lost_after_publish(outage_db: ThrowawayDatastore) -> Iterator[None]:
    """The connection dies exactly when the enqueue records its publish (the trigger terminates the
    session: what a client sees when the database goes away at that moment)."""
    with database_trigger(
        outage_db.uri,
        "lose_connection",
        "UPDATE OF published_at ON a2a_queue",
        "PERFORM pg_terminate_backend(pg_backend_pid());",
        when="NEW.published_at IS NOT NULL",
    ):
        yield


def test_an_enqueue_whose_bookkeeping_fails_after_the_publish_tells_the_truth(
    outage_db: ThrowawayDatastore,
    sqs: LocalSqs,
    api: ApiClient,
    agent: ScriptedAgent,
    database_lost_after_publish: None,
) -> None:
    target = push_target(api, agent.url)
    path = f"/workspaces/{target}/a2a"
    headers = {"prefer": "respond-async"}

    first = api.post(path, json_body=send("once", "m-truth"), headers=headers, token=ADMIN)
    retry = api.post(path, json_body=send("once", "m-truth"), headers=headers, token=ADMIN)

    # queued (and published) is what the caller is told; its retry finds the same row
    assert first.status == 202, first.text
    assert retry.status == 202 and retry.json()["queue_id"] == first.json()["queue_id"]
    rows = sql(outage_db, "SELECT id, status FROM a2a_queue")
    assert [str(r["id"]) for r in rows] == [first.json()["queue_id"]]
    for message in receive(sqs):
        drain_round(sqs, [message])
    assert delivered_ids(agent) == ["m-truth"]
