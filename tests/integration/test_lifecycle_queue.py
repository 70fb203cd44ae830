"""Lifecycle requests through the lifecycle queue (moto SQS, the template's real queues): the
dispatcher sends `LifecycleMessage`s, `request_lifecycle` picks SQS when LIFECYCLE_QUEUE_URL is set,
and the lifecycle function runs one job per record, reporting the failed ones."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from molecule_core.lifecycle import dispatch as lifecycle
from molecule_core.lifecycle import service as lifecycle_service
from molecule_core.lifecycle.dispatch import LoggingDispatcher, SqsLifecycleDispatcher, request_lifecycle
from molecule_core.lifecycle.models import LifecycleMessage, LifecycleRequest
from molecule_local.lambdas import FunctionRegistry
from molecule_local.sqs import LocalSqs, SqsPollerService, build_sqs_event
from molecule_local.template import default_template

from tests.conftest import eventually, set_env

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sqs() -> Iterator[LocalSqs]:
    """The template's queues on moto; LIFECYCLE_QUEUE_URL & co. exported until the test ends."""
    local_sqs = LocalSqs(default_template(), port=0, name_prefix=f"t{uuid.uuid4().hex[:8]}-")
    local_sqs.start()
    yield local_sqs
    local_sqs.stop()


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> list[LifecycleRequest]:
    """Replaces the job itself: records each request; a request whose reason is "fail" raises."""
    handled: list[LifecycleRequest] = []

    def handle(request: LifecycleRequest) -> None:
        if request.reason == "fail":
            raise RuntimeError("backend down")
        handled.append(request)

    monkeypatch.setattr(lifecycle_service, "handle_lifecycle_job", handle)
    return handled


def receive_all(sqs: LocalSqs, expected: int) -> list[dict[str, Any]]:
    client, received = sqs.client(), []
    url = sqs.queue_urls["LifecycleQueue"]

    def got_all() -> bool:
        # AttributeNames=All, as the local poller (and Lambda) ask for them
        response = client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
        )
        received.extend(response.get("Messages", []))
        return len(received) >= expected

    assert eventually(got_all), f"{len(received)} of {expected} messages arrived"
    return received


def requests(count: int, action: str = "restart", reason: str = "heartbeat_stale") -> list[LifecycleRequest]:
    return [LifecycleRequest(action, uuid.uuid4(), reason) for _ in range(count)]  # type: ignore[arg-type]


def test_lifecycle_message_round_trips_through_json() -> None:
    message = LifecycleMessage(
        action="hibernate", workspace_id=uuid.uuid4(), reason="idle", requested_at=datetime.now(UTC)
    )

    assert LifecycleMessage.from_json(message.to_json()) == message
    assert message.to_request() == LifecycleRequest("hibernate", message.workspace_id, "idle")


def test_lifecycle_message_rejects_an_unknown_action() -> None:
    body = (
        f'{{"action": "explode", "workspace_id": "{uuid.uuid4()}", "reason": "x",'
        ' "requested_at": "2026-01-01T00:00:00Z"}'
    )

    with pytest.raises(ValueError, match="action"):
        LifecycleMessage.from_json(body)


def test_sqs_dispatcher_sends_every_request_as_a_lifecycle_message_in_batches(sqs: LocalSqs) -> None:
    sent = requests(23)  # three SendMessageBatch calls: 10 + 10 + 3

    SqsLifecycleDispatcher(sqs.queue_urls["LifecycleQueue"]).dispatch(sent)

    received = [LifecycleMessage.from_json(m["Body"]) for m in receive_all(sqs, 23)]
    assert sorted((m.workspace_id, m.action, m.reason) for m in received) == sorted(
        (r.workspace_id, r.action, r.reason) for r in sent
    )
    assert all(m.requested_at.tzinfo is not None for m in received)


def test_request_lifecycle_uses_the_queue_when_lifecycle_queue_url_is_set(sqs: LocalSqs) -> None:
    (request,) = requests(1, action="wake", reason="a2a_message")

    request_lifecycle([request])

    (message,) = receive_all(sqs, 1)
    assert LifecycleMessage.from_json(message["Body"]).to_request() == request
    assert isinstance(lifecycle.current_dispatcher(), SqsLifecycleDispatcher)


def test_without_lifecycle_queue_url_requests_are_only_logged(platform_env: pytest.MonkeyPatch) -> None:
    set_env(platform_env, LIFECYCLE_QUEUE_URL=None)

    assert isinstance(lifecycle.current_dispatcher(), LoggingDispatcher)


def test_an_installed_dispatcher_wins_over_the_queue(sqs: LocalSqs) -> None:
    recorded: list[LifecycleRequest] = []

    class Recording:
        def dispatch(self, batch: Any) -> None:
            recorded.extend(batch)

    lifecycle.use_dispatcher(Recording())
    try:
        request_lifecycle(requests(1))
    finally:
        lifecycle.use_dispatcher(None)

    assert len(recorded) == 1
    assert isinstance(lifecycle.current_dispatcher(), SqsLifecycleDispatcher)


def test_a_failed_send_is_logged_with_its_workspace_ids_and_not_raised(
    sqs: LocalSqs, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(lifecycle.logger, "error", lambda msg, extra: errors.append((msg, extra)))
    missing_queue = sqs.queue_urls["LifecycleQueue"] + "-does-not-exist"
    sent = requests(2)

    SqsLifecycleDispatcher(missing_queue).dispatch(sent)

    ((message, extra),) = errors
    assert "stays recorded on the row" in message
    assert [r["workspace_id"] for r in extra["requests"]] == [str(r.workspace_id) for r in sent]


def test_importing_lifecycle_does_not_import_boto3() -> None:
    # Powertools itself imports the bare `botocore` package (for its user agent); the SDK proper —
    # boto3, botocore's session and clients — must wait until a request is dispatched.
    check = (
        "import sys, molecule_core.lifecycle.service; "
        "sys.exit(int(any(m in sys.modules for m in ('boto3', 'botocore.session', 'botocore.client'))))"
    )

    result = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr or "molecule_core.lifecycle.service imported boto3 at load"


def test_lifecycle_function_runs_each_job_and_reports_the_failed_record(
    sqs: LocalSqs, jobs: list[LifecycleRequest]
) -> None:
    ok, failing = requests(1, reason="ok") + requests(1, reason="fail")
    SqsLifecycleDispatcher(sqs.queue_urls["LifecycleQueue"]).dispatch([ok, failing])
    messages = receive_all(sqs, 2)
    event = build_sqs_event(messages, sqs.queue_arns["LifecycleQueue"], sqs.region)
    failing_id = next(m["MessageId"] for m in messages if str(failing.workspace_id) in m["Body"])

    result = FunctionRegistry().invoke("LifecycleFunction", event)

    assert result == {"batchItemFailures": [{"itemIdentifier": failing_id}]}
    assert jobs == [ok]


def test_lifecycle_function_reports_a_malformed_body_as_a_failed_record(
    sqs: LocalSqs, jobs: list[LifecycleRequest]
) -> None:
    (ok,) = requests(1, reason="ok")
    client, url = sqs.client(), sqs.queue_urls["LifecycleQueue"]
    SqsLifecycleDispatcher(url).dispatch([ok])
    client.send_message(QueueUrl=url, MessageBody='{"action": "restart"}')
    messages = receive_all(sqs, 2)
    malformed_id = next(m["MessageId"] for m in messages if m["Body"] == '{"action": "restart"}')

    result = FunctionRegistry().invoke(
        "LifecycleFunction", build_sqs_event(messages, sqs.queue_arns["LifecycleQueue"], sqs.region)
    )

    assert result == {"batchItemFailures": [{"itemIdentifier": malformed_id}]}
    assert jobs == [ok]


def test_a_requested_restart_reaches_the_job_through_the_local_poller(
    sqs: LocalSqs, jobs: list[LifecycleRequest]
) -> None:
    poller = SqsPollerService(FunctionRegistry(), sqs)
    poller.start()
    try:
        (request,) = requests(1)

        request_lifecycle([request])

        assert eventually(lambda: jobs == [request])
        assert eventually(lambda: is_drained(sqs)), "the processed message was not deleted"
    finally:
        poller.stop()


def is_drained(sqs: LocalSqs) -> bool:
    attributes = sqs.client().get_queue_attributes(
        QueueUrl=sqs.queue_urls["LifecycleQueue"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_a_restart_waiting_for_another_comes_back_soon_not_after_the_visibility_timeout(
    sqs: LocalSqs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lifecycle queue's visibility timeout is 30 minutes (6× the function's timeout). A restart
    that finds another restart of its workspace in flight asks SQS to show it again shortly."""
    registry = FunctionRegistry()
    registry.handler("LifecycleFunction")
    function_module = sys.modules["molecule_fn_LifecycleFunction"]
    monkeypatch.setattr(function_module, "RESTART_RETRY_SECONDS", 1)

    def in_flight(request: LifecycleRequest) -> None:
        raise lifecycle_service.RestartInFlight(str(request.workspace_id))

    monkeypatch.setattr(lifecycle_service, "handle_lifecycle_job", in_flight)
    (request,) = requests(1)
    SqsLifecycleDispatcher(sqs.queue_urls["LifecycleQueue"]).dispatch([request])
    messages = receive_all(sqs, 1)  # now invisible for the queue's 1800 s

    event = build_sqs_event(messages, sqs.queue_arns["LifecycleQueue"], sqs.region)

    with pytest.raises(BatchProcessingError):  # every record of the batch failed: Powertools raises
        registry.invoke("LifecycleFunction", event)
    again = receive_all(sqs, 1)  # visible again within seconds, not half an hour
    assert again[0]["MessageId"] == messages[0]["MessageId"]
