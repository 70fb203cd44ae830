"""The A2A queue (SPEC §5.5) end to end: real PostgreSQL, the template's FIFO queue on moto
(LocalSqs with a name prefix), the drain function driven with real SQS events, real agents on
127.0.0.1 (tests/agents.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from molecule_core.a2a import queue
from molecule_core.lifecycle.models import LifecycleRequest
from molecule_local.lambdas import FunctionRegistry
from molecule_local.sqs import LocalSqs, build_sqs_event, processed_messages
from molecule_local.template import default_template
from psycopg.rows import dict_row

from tests.agents import ScriptedAgent, scripted_agent
from tests.conftest import ApiClient, RecordingDispatcher, create_workspace, eventually, set_env


@pytest.fixture
def sqs() -> Iterator[LocalSqs]:
    local_sqs = LocalSqs(default_template(), port=0, name_prefix=f"t{uuid.uuid4().hex[:8]}-")
    local_sqs.start()
    yield local_sqs
    local_sqs.stop()


def send(text: str, message_id: str, **params: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": f"req-{message_id}",
        "method": "message/send",
        "params": {
            "message": {"role": "user", "messageId": message_id, "parts": [{"kind": "text", "text": text}]},
            **params,
        },
    }


def push_target(database: str, api: ApiClient, admin: str, url: str, name: str = "target") -> dict[str, Any]:
    created = create_workspace(api, admin, name=name, external=True, url=url)
    with psycopg.connect(database) as conn:
        conn.execute(
            "UPDATE workspaces SET status = 'online', url = %s, delivery_mode = 'push' WHERE id = %s",
            (url, created["id"]),
        )
    return created


def row(database: str, queue_id: uuid.UUID) -> dict[str, Any]:
    with psycopg.connect(database, row_factory=dict_row) as conn:
        found = conn.execute("SELECT * FROM a2a_queue WHERE id = %s", (queue_id,)).fetchone()
    assert found is not None
    return found


def execute(database: str, statement: str, *args: Any) -> None:
    with psycopg.connect(database) as conn:
        conn.execute(statement, args)


def enqueue(target: dict[str, Any], text: str, message_id: str, caller: uuid.UUID | None = None, **params: Any):
    body = send(text, message_id, **params)
    return queue.enqueue(uuid.UUID(target["id"]), caller, body, "message/send", message_id, None)


def receive(sqs: LocalSqs, expected: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    client, received = sqs.client(), []

    def got_all() -> bool:
        response = client.receive_message(
            QueueUrl=sqs.queue_urls["A2aQueue"],
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
        )
        received.extend(response.get("Messages", []))
        return len(received) >= expected

    assert eventually(got_all, timeout), f"{len(received)} of {expected} messages arrived"
    return received


def drain_round(sqs: LocalSqs, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Invoke the drain function as the event source mapping would; delete what it processed.
    Returns the messages it reported failed."""
    event = build_sqs_event(messages, sqs.queue_arns["A2aQueue"], sqs.region)
    result = FunctionRegistry().invoke("A2aDrainFunction", event)
    done = processed_messages(messages, result, True)
    client = sqs.client()
    for message in done:
        client.delete_message(QueueUrl=sqs.queue_urls["A2aQueue"], ReceiptHandle=message["ReceiptHandle"])
    done_ids = {m["MessageId"] for m in done}
    return [m for m in messages if m["MessageId"] not in done_ids]


def queue_empty(sqs: LocalSqs) -> bool:
    attributes = sqs.client().get_queue_attributes(
        QueueUrl=sqs.queue_urls["A2aQueue"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        attributes["ApproximateNumberOfMessages"] == "0" and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    )


def drain_until_empty(sqs: LocalSqs, timeout: float = 60.0) -> None:
    client = sqs.client()

    def step() -> bool:
        response = client.receive_message(
            QueueUrl=sqs.queue_urls["A2aQueue"], MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"]
        )
        messages = response.get("Messages", [])
        if messages:
            for failed in drain_round(sqs, messages):  # retry at once instead of after the back-off
                client.change_message_visibility(
                    QueueUrl=sqs.queue_urls["A2aQueue"], ReceiptHandle=failed["ReceiptHandle"], VisibilityTimeout=0
                )
        return queue_empty(sqs)

    assert eventually(step, timeout), "the A2A queue did not drain"


def test_enqueue_inserts_the_row_then_publishes_one_fifo_message(
    sqs: LocalSqs, database: str, api: ApiClient, dev: str, agent: ScriptedAgent
) -> None:
    target = push_target(database, api, dev, agent.url)

    result = enqueue(target, "hello", "m-1")

    assert result.created and result.queue_depth == 1
    (message,) = receive(sqs, 1)
    assert json.loads(message["Body"]) == {"queue_id": str(result.queue_id)}
    assert message["Attributes"]["MessageGroupId"] == target["id"]
    assert message["Attributes"]["MessageDeduplicationId"] == str(result.queue_id)
    stored = row(database, result.queue_id)
    assert stored["status"] == "queued" and stored["published_at"] is not None
    assert stored["idempotency_key"] == "m-1" and stored["body"]["params"]["message"]["messageId"] == "m-1"
    assert stored["expires_at"] - stored["enqueued_at"] == timedelta(seconds=86400)


def test_the_same_message_id_twice_is_one_row_and_one_message(
    sqs: LocalSqs, database: str, api: ApiClient, dev: str, agent: ScriptedAgent
) -> None:
    target = push_target(database, api, dev, agent.url)

    first = enqueue(target, "hello", "m-1")
    second = enqueue(target, "hello again", "m-1")
    other = enqueue(target, "other", "m-2")

    assert second.queue_id == first.queue_id and not second.created
    assert other.queue_id != first.queue_id and other.queue_depth == 2
    received = receive(sqs, 2)
    assert sorted(json.loads(m["Body"])["queue_id"] for m in received) == sorted(
        [str(first.queue_id), str(other.queue_id)]
    )
    assert not sqs.client().receive_message(QueueUrl=sqs.queue_urls["A2aQueue"], WaitTimeSeconds=0).get("Messages")


def test_expiry_is_capped_by_the_queues_retention(
    sqs: LocalSqs, database: str, api: ApiClient, dev: str, agent: ScriptedAgent
) -> None:
    target = push_target(database, api, dev, agent.url)
    body = send("x", "m-1")

    short = queue.enqueue(uuid.UUID(target["id"]), None, body, "message/send", "m-1", 60)
    long = queue.enqueue(uuid.UUID(target["id"]), None, body, "message/send", "m-2", 30 * 86400)

    short_row, long_row = row(database, short.queue_id), row(database, long.queue_id)
    assert short_row["expires_at"] - short_row["enqueued_at"] == timedelta(seconds=60)
    assert long_row["expires_at"] - long_row["enqueued_at"] == timedelta(days=4)


def test_sqs_down_at_enqueue_loses_nothing(
    sqs: LocalSqs, database: str, api: ApiClient, dev: str, agent: ScriptedAgent, platform_env: pytest.MonkeyPatch
) -> None:
    target = push_target(database, api, dev, agent.url)
    real_url = sqs.queue_urls["A2aQueue"]
    set_env(platform_env, A2A_QUEUE_URL=real_url.rsplit("/", 1)[0] + "/no-such-queue.fifo")

    result = enqueue(target, "while sqs is down", "m-down")

    assert row(database, result.queue_id)["published_at"] is None
    assert queue.republish_unpublished(older_than_seconds=0) == 0  # still down: nothing marked published
    assert row(database, result.queue_id)["published_at"] is None

    set_env(platform_env, A2A_QUEUE_URL=real_url)
    assert queue.republish_unpublished(older_than_seconds=0) == 1
    assert row(database, result.queue_id)["published_at"] is not None
    assert queue.republish_unpublished(older_than_seconds=0) == 0

    drain_until_empty(sqs)
    assert row(database, result.queue_id)["status"] == "completed"
    assert [r.json()["params"]["message"]["messageId"] for r in agent.received] == ["m-down"]


def test_a_queued_row_whose_message_was_lost_long_ago_is_published_again(
    sqs: LocalSqs, database: str, api: ApiClient, dev: str, agent: ScriptedAgent
) -> None:
    """A message can leave SQS (dead-letter queue) while its row is still queued — e.g. its receives
    were spent while another drain held the lease. The outbox sweep publishes such rows again."""
    target = push_target(database, api, dev, agent.url)
    result = enqueue(target, "lost in the DLQ", "m-lost")
    drain_queue = sqs.client()
    purged = drain_queue.purge_queue(QueueUrl=sqs.queue_urls["A2aQueue"])  # the message is gone
    assert purged["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert queue.republish_unpublished(older_than_seconds=0) == 0  # recently published: left alone
    execute(database, "UPDATE a2a_queue SET published_at = now() - interval '3 hours' WHERE id = %s", result.queue_id)
    assert queue.republish_unpublished(older_than_seconds=0) == 1
    drain_until_empty(sqs)
    assert row(database, result.queue_id)["status"] == "completed"
    assert [r.json()["params"]["message"]["messageId"] for r in agent.received] == ["m-lost"]


def test_drain_delivers_completes_and_records_activity(
    sqs: LocalSqs, database: str, api: ApiClient, dev: str, agent: ScriptedAgent
) -> None:
    target = push_target(database, api, dev, agent.url)
    caller = create_workspace(api, dev, name="caller")
    result = enqueue(target, "deliver me", "m-7", caller=uuid.UUID(caller["id"]))

    drain_until_empty(sqs)

    (received,) = agent.received
    assert received.json()["params"]["message"]["messageId"] == "m-7"
    assert received.headers["x-source-workspace-id"] == caller["id"]
    done = row(database, result.queue_id)
    assert done["status"] == "completed" and done["attempts"] == 1 and done["completed_at"] is not None
    assert done["response_status"] == 200 and done["response_body"]["result"]["parts"][0]["text"] == "echo: deliver me"
    with psycopg.connect(database, row_factory=dict_row) as conn:
        (activity,) = conn.execute(
            "SELECT * FROM activity_logs WHERE workspace_id = %s AND activity_type = 'a2a_receive'", (target["id"],)
        ).fetchall()
    assert activity["status"] == "ok" and activity["method"] == "message/send"
    assert str(activity["source_id"]) == caller["id"]
    assert activity["request_body"]["params"]["message"]["messageId"] == "m-7"
    assert activity["response_body"] == done["response_body"] and activity["duration_ms"] is not None


def test_a_redelivered_record_of_a_completed_row_is_not_delivered_again(
    sqs: LocalSqs, database: str, api: ApiClient, dev: str, agent: ScriptedAgent
) -> None:
    target = push_target(database, api, dev, agent.url)
    result = enqueue(target, "once", "m-1")
    (message,) = receive(sqs, 1)

    assert drain_round(sqs, [message]) == []
    assert drain_round(sqs, [message]) == []  # the same record again (SQS at-least-once)
    queue.drain_record(result.queue_id)

    assert len(agent.received) == 1
    assert row(database, result.queue_id)["attempts"] == 1


def test_a_row_left_dispatched_by_a_dead_drain_is_reclaimed_only_after_its_lease(
    sqs: LocalSqs, database: str, api: ApiClient, dev: str, agent: ScriptedAgent
) -> None:
    target = push_target(database, api, dev, agent.url)
    result = enqueue(target, "survive a crash", "m-crash")
    execute(
        database,
        "UPDATE a2a_queue SET status = 'dispatched', attempts = 1, dispatched_at = now() WHERE id = %s",
        result.queue_id,
    )

    queue.drain_record(result.queue_id)  # acknowledged: the lease holder, or the sweep, finishes it
    leased = row(database, result.queue_id)
    assert agent.received == [] and leased["status"] == "dispatched" and leased["published_at"] is None

    lease = 300 + queue.LEASE_MARGIN_SECONDS
    execute(
        database,
        "UPDATE a2a_queue SET dispatched_at = now() - make_interval(secs => %s) WHERE id = %s",
        lease + 1,
        result.queue_id,
    )
    queue.drain_record(result.queue_id)

    (received,) = agent.received
    assert received.json()["params"]["message"]["messageId"] == "m-crash"
    done = row(database, result.queue_id)
    assert done["status"] == "completed" and done["attempts"] == 2


def test_expired_rows_are_never_delivered(
    sqs: LocalSqs, database: str, api: ApiClient, dev: str, agent: ScriptedAgent
) -> None:
    target = push_target(database, api, dev, agent.url)
    swept = enqueue(target, "too late", "m-1")
    at_drain = enqueue(target, "too late too", "m-2")
    fresh = enqueue(target, "in time", "m-3")
    execute(
        database,
        "UPDATE a2a_queue SET expires_at = now() - interval '1 second' WHERE id = ANY(%s)",
        [swept.queue_id, at_drain.queue_id],
    )

    queue.drain_record(at_drain.queue_id)  # expired at drain time
    assert row(database, at_drain.queue_id)["status"] == "expired"
    assert queue.expire_due() == 1  # the sweep expires the other one
    assert row(database, swept.queue_id)["status"] == "expired"
    drain_until_empty(sqs)

    assert [r.json()["params"]["message"]["messageId"] for r in agent.received] == ["m-3"]
    assert row(database, fresh.queue_id)["status"] == "completed"
    assert row(database, swept.queue_id)["status"] == "expired"


def test_agent_503_puts_the_row_back_then_fails_it_after_max_attempts(
    sqs: LocalSqs, database: str, api: ApiClient, dev: str, agent: ScriptedAgent, platform_env: pytest.MonkeyPatch
) -> None:
    set_env(platform_env, A2A_QUEUE_MAX_ATTEMPTS="3")
    agent.mode, agent.status = "status", 503
    target = push_target(database, api, dev, agent.url)
    result = enqueue(target, "busy agent", "m-1")

    for attempt in (1, 2):
        with pytest.raises(queue.DrainRetry, match="503"):
            queue.drain_record(result.queue_id)
        back = row(database, result.queue_id)
        assert (back["status"], back["attempts"], back["last_error"]) == ("queued", attempt, "agent answered 503")

    queue.drain_record(result.queue_id)  # the last attempt: done, not raised
    failed = row(database, result.queue_id)
    assert (failed["status"], failed["attempts"]) == ("failed", 3)
    queue.drain_record(result.queue_id)  # final: acknowledged, not delivered again
    assert len(agent.received) == 3


def test_a_hibernated_target_is_woken_and_the_message_waits(
    sqs: LocalSqs, database: str, api: ApiClient, dev: str, agent: ScriptedAgent, dispatcher: RecordingDispatcher
) -> None:
    target = push_target(database, api, dev, agent.url)
    result = enqueue(target, "wake up", "m-1")
    execute(database, "UPDATE workspaces SET status = 'hibernated' WHERE id = %s", target["id"])

    with pytest.raises(queue.DrainRetry):
        queue.drain_record(result.queue_id)

    assert dispatcher.requests == [LifecycleRequest("wake", uuid.UUID(target["id"]), "a2a_queue")]
    assert row(database, result.queue_id)["status"] == "queued" and agent.received == []
    execute(database, "UPDATE workspaces SET status = 'online' WHERE id = %s", target["id"])
    queue.drain_record(result.queue_id)
    assert row(database, result.queue_id)["status"] == "completed"


def test_each_target_gets_its_messages_in_order_while_another_target_proceeds(
    sqs: LocalSqs, database: str, api: ApiClient, dev: str
) -> None:
    with scripted_agent() as slow_agent, scripted_agent() as other_agent:
        first = push_target(database, api, dev, slow_agent.url, name="first")
        second = push_target(database, api, dev, other_agent.url, name="second")
        for n in range(100):
            enqueue(first, f"first {n}", f"a-{n:03d}")
        for n in range(10):
            enqueue(second, f"second {n}", f"b-{n:03d}")

        # The first target answers 503: its group stops (nothing of it overtakes the failed one)...
        slow_agent.mode, slow_agent.status = "status", 503
        client, held = sqs.client(), []

        def second_done() -> bool:
            response = client.receive_message(
                QueueUrl=sqs.queue_urls["A2aQueue"], MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"]
            )
            if response.get("Messages"):
                held.extend(drain_round(sqs, response["Messages"]))
            return len(other_agent.received) == 10

        # ...while the second target's messages are all delivered.
        assert eventually(second_done, 30)
        assert all(m["Attributes"]["MessageGroupId"] == first["id"] for m in held)
        assert {r.json()["params"]["message"]["messageId"] for r in slow_agent.received} == {"a-000"}

        slow_agent.mode = "echo"
        for message in held:
            client.change_message_visibility(
                QueueUrl=sqs.queue_urls["A2aQueue"], ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        drain_until_empty(sqs, timeout=120)

        delivered = [r.json()["params"]["message"]["messageId"] for r in slow_agent.received]
        assert delivered[1:] == [f"a-{n:03d}" for n in range(100)]
        assert [r.json()["params"]["message"]["messageId"] for r in other_agent.received] == [
            f"b-{n:03d}" for n in range(10)
        ]


def test_status_is_visible_to_caller_target_org_and_admin_only(
    sqs: LocalSqs, database: str, api: ApiClient, dev: str, agent: ScriptedAgent
) -> None:
    target = push_target(database, api, dev, agent.url)
    caller = create_workspace(api, dev, name="caller", external=True)
    stranger = create_workspace(api, dev, name="stranger", external=True)
    org = api.post("/org/tokens", json_body={"name": "canvas"}, token=dev).json()["auth_token"]
    result = enqueue(target, "status?", "m-1", caller=uuid.UUID(caller["id"]))
    path = f"/workspaces/{target['id']}/a2a/queue/{result.queue_id}"

    minted = api.post(f"/workspaces/{target['id']}/tokens", token=dev)
    assert minted.status == 201, minted.text
    target_token = minted.json()["auth_token"]
    for token in (caller["connection"]["auth_token"], target_token, org, dev):
        answer = api.get(path, token=token)
        assert answer.status == 200, answer.text
        assert answer.json()["status"] == "queued" and answer.json()["response_status"] is None

    assert api.get(path, token=stranger["connection"]["auth_token"]).status == 404
    assert api.get(f"/workspaces/{target['id']}/a2a/queue/{uuid.uuid4()}", token=dev).status == 404
    assert api.get(f"/workspaces/{target['id']}/a2a/queue/not-a-uuid", token=dev).status == 404
    assert api.get(f"/workspaces/{stranger['id']}/a2a/queue/{result.queue_id}", token=dev).status == 404
    assert api.get(path).status == 401
    assert api.get(path, token="forged").status == 401

    queue.drain_record(result.queue_id)
    done = api.get(path, token=caller["connection"]["auth_token"]).json()
    assert done["status"] == "completed" and done["attempts"] == 1 and done["response_status"] == 200
    assert done["response_body"]["result"]["parts"][0]["text"] == "echo: status?"
    assert done["completed_at"] and done["dispatched_at"] and done["published_at"] and done["expires_at"]


def test_a_workspace_lists_its_queue_newest_first_by_status_and_the_operator_lists_the_fleets(
    sqs: LocalSqs, database: str, api: ApiClient, dev: str, agent: ScriptedAgent
) -> None:
    target = push_target(database, api, dev, agent.url)
    other = push_target(database, api, dev, agent.url, name="other")
    first = enqueue(target, "first", "m-first")
    second = enqueue(target, "second", "m-second")
    elsewhere = enqueue(other, "elsewhere", "m-elsewhere")
    execute(database, "UPDATE a2a_queue SET enqueued_at = now() - interval '1 minute' WHERE id = %s", first.queue_id)
    execute(
        database,
        "UPDATE a2a_queue SET status = 'failed', last_error = 'agent answered 503' WHERE id = %s",
        first.queue_id,
    )
    target_token = api.post(f"/workspaces/{target['id']}/tokens", token=dev).json()["auth_token"]

    mine = api.get(f"/workspaces/{target['id']}/a2a/queue", token=target_token)
    failed = api.get(f"/workspaces/{target['id']}/a2a/queue?status=failed", token=target_token)
    fleet = api.get("/admin/a2a-queue?limit=2", token=dev)

    assert mine.status == 200
    assert [item["queue_id"] for item in mine.json()] == [str(second.queue_id), str(first.queue_id)]
    assert "body" not in mine.json()[0] and mine.json()[0]["method"] == "message/send"
    assert [(item["queue_id"], item["last_error"]) for item in failed.json()] == [
        (str(first.queue_id), "agent answered 503")
    ]
    assert {item["queue_id"] for item in fleet.json()} == {str(second.queue_id), str(elsewhere.queue_id)}
    assert api.get("/admin/a2a-queue", token=target_token).status == 401
    assert api.get(f"/workspaces/{other['id']}/a2a/queue", token=target_token).status == 401
    assert api.get(f"/workspaces/{target['id']}/a2a/queue?status=lost", token=target_token).status == 400
    assert api.get("/admin/a2a-queue?limit=0", token=dev).status == 400


def test_drop_stale_drops_old_queued_rows_only(
    sqs: LocalSqs, database: str, api: ApiClient, dev: str, agent: ScriptedAgent
) -> None:
    target = push_target(database, api, dev, agent.url)
    old = enqueue(target, "old", "m-old")
    new = enqueue(target, "new", "m-new")
    execute(database, "UPDATE a2a_queue SET enqueued_at = now() - interval '2 hours' WHERE id = %s", old.queue_id)

    assert api.post("/admin/a2a-queue/drop-stale?max_age_minutes=60").status == 401
    answer = api.post("/admin/a2a-queue/drop-stale?max_age_minutes=60", token=dev)

    assert answer.status == 200 and answer.json() == {"dropped": 1}
    assert row(database, old.queue_id)["status"] == "dropped"
    assert row(database, new.queue_id)["status"] == "queued"
    assert api.post("/admin/a2a-queue/drop-stale?max_age_minutes=0", token=dev).status == 400
    queue.drain_record(old.queue_id)  # a dropped row is final: never delivered
    assert agent.received == []


def test_outbox_sweep_function_expires_and_republishes(
    sqs: LocalSqs, database: str, api: ApiClient, dev: str, agent: ScriptedAgent
) -> None:
    target = push_target(database, api, dev, agent.url)
    due = enqueue(target, "due", "m-due")
    lost = enqueue(target, "lost", "m-lost")
    execute(database, "UPDATE a2a_queue SET expires_at = now() - interval '1 second' WHERE id = %s", due.queue_id)
    execute(
        database,
        "UPDATE a2a_queue SET published_at = NULL, enqueued_at = now() - interval '1 minute' WHERE id = %s",
        lost.queue_id,
    )

    result = FunctionRegistry().invoke("A2aOutboxSweepFunction", {"sweep": "a2a_outbox"})

    assert result == {"expired": 1, "rescued": 0, "republished": 1, "delegations_failed": 0}
    assert row(database, lost.queue_id)["published_at"] is not None
    assert datetime.now(UTC) - row(database, lost.queue_id)["published_at"] < timedelta(minutes=1)


def test_the_sample_sqs_event_for_an_unknown_row_is_acknowledged(database: str) -> None:
    event = json.loads((Path(__file__).resolve().parents[2] / "events/sqs_a2a_drain.json").read_text())

    assert FunctionRegistry().invoke("A2aDrainFunction", event) == {"batchItemFailures": []}


def test_a_plain_queued_message_touches_no_delegation(
    sqs: LocalSqs, database: str, api: ApiClient, dev: str, agent: ScriptedAgent
) -> None:
    target = push_target(database, api, dev, agent.url)
    caller = create_workspace(api, dev, name="caller")
    enqueue(target, "no delegation", "m-plain", caller=uuid.UUID(caller["id"]))
    drain_until_empty(sqs)
    with psycopg.connect(database) as conn:
        rows = conn.execute("SELECT count(*) FROM activity_logs WHERE activity_type = 'delegation'").fetchone()
    assert rows == (0,)


def test_the_retention_sweep_deletes_old_rows_of_ended_messages_only(
    sqs: LocalSqs, database: str, api: ApiClient, dev: str, agent: ScriptedAgent
) -> None:
    target = push_target(database, api, dev, agent.url)
    rows = {status: enqueue(target, status, f"m-{status}").queue_id for status in (
        "completed", "failed", "expired", "dropped", "queued", "dispatched", "recent")}  # fmt: skip
    for status, queue_id in rows.items():
        if status != "recent":  # older than ACTIVITY_RETENTION_DAYS (7)
            execute(database, "UPDATE a2a_queue SET enqueued_at = now() - interval '8 days' WHERE id = %s", queue_id)
        if status not in ("queued", "recent"):
            execute(database, "UPDATE a2a_queue SET status = %s WHERE id = %s", status, queue_id)
    execute(database, "UPDATE a2a_queue SET status = 'completed' WHERE id = %s", rows["recent"])

    swept = FunctionRegistry().invoke("ActivityRetentionFunction", {})

    assert swept["queue_rows"] == 4
    with psycopg.connect(database) as conn:
        left = {r[0] for r in conn.execute("SELECT id FROM a2a_queue").fetchall()}
    assert left == {rows["queued"], rows["dispatched"], rows["recent"]}  # on their way, or within retention
