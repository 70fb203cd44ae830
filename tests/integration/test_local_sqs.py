"""The local SQS stand-in against a small template of its own: queues are created from the
template (redrive wired), the poller hands functions the exact SQS event Lambda sends, and deletes
only what the function processed — batchItemFailures and raised errors come back after the
visibility timeout (1 s here), and after maxReceiveCount receives land in the dead-letter queue."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from molecule_local.lambdas import FunctionRegistry
from molecule_local.sqs import LocalSqs, SqsPollerService, processed_messages
from molecule_local.template import Template, load_template

from tests.conftest import eventually

TEMPLATE = """
Resources:
  WorkQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 1
      RedrivePolicy: {deadLetterTargetArn: !GetAtt WorkDeadLetterQueue.Arn, maxReceiveCount: 3}
  WorkDeadLetterQueue:
    Type: AWS::SQS::Queue
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: not-loaded/
      Timeout: 5
      Environment: {Variables: {WORK_QUEUE_URL: !Ref WorkQueue}}
      Events:
        Work:
          Type: SQS
          Properties: {Queue: !GetAtt WorkQueue.Arn, BatchSize: 5, FunctionResponseTypes: [ReportBatchItemFailures]}
"""

Script = Callable[[dict[str, Any]], Any]


class ScriptedFunctions(FunctionRegistry):
    """The template's functions, each answered by a script set in the test; every event is kept."""

    def __init__(self, template: Template) -> None:
        super().__init__(template)
        self.script: Script = lambda event: None
        self.events: list[dict[str, Any]] = []

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        self.events.append(event)
        return self.script(event)

    def deliveries(self, body: str) -> list[str]:
        """ApproximateReceiveCount of each delivery of the message with this body, in order."""
        return [
            record["attributes"]["ApproximateReceiveCount"]
            for event in list(self.events)
            for record in event["Records"]
            if record["body"] == body
        ]


@pytest.fixture
def template(tmp_path: Path) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    return load_template(path)


@pytest.fixture
def sqs(template: Template) -> Iterator[LocalSqs]:
    # moto keeps queues per process: a unique prefix keeps each test's queues its own.
    local_sqs = LocalSqs(template, port=0, name_prefix=f"t{uuid.uuid4().hex[:8]}-")
    local_sqs.start()
    yield local_sqs
    local_sqs.stop()


@pytest.fixture
def scripted(template: Template) -> ScriptedFunctions:
    return ScriptedFunctions(template)


@pytest.fixture
def start_poller(scripted: ScriptedFunctions, sqs: LocalSqs) -> Iterator[Callable[[], SqsPollerService]]:
    """Start the poller once the test has queued its messages, so they arrive as one batch."""
    started: list[SqsPollerService] = []

    def start() -> SqsPollerService:
        poller = SqsPollerService(scripted, sqs)
        poller.start()
        started.append(poller)
        return poller

    yield start
    for poller in started:
        poller.stop()


def send(sqs: LocalSqs, *bodies: str) -> None:
    sqs.client().send_message_batch(
        QueueUrl=sqs.queue_urls["WorkQueue"],
        Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)],
    )


def is_empty(sqs: LocalSqs, logical_id: str = "WorkQueue") -> bool:
    attributes = sqs.client().get_queue_attributes(
        QueueUrl=sqs.queue_urls[logical_id],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def fail_first_delivery_of(body: str) -> Script:
    def script(event: dict[str, Any]) -> dict[str, Any]:
        failures = [
            {"itemIdentifier": record["messageId"]}
            for record in event["Records"]
            if record["body"] == body and record["attributes"]["ApproximateReceiveCount"] == "1"
        ]
        return {"batchItemFailures": failures}

    return script


def fail_every_record(event: dict[str, Any]) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}


def test_queues_are_created_with_the_template_attributes_and_redrive(sqs: LocalSqs) -> None:
    client = sqs.client()
    work = client.get_queue_attributes(QueueUrl=sqs.queue_urls["WorkQueue"], AttributeNames=["All"])["Attributes"]

    assert work["VisibilityTimeout"] == "1"
    assert '"maxReceiveCount": 3' in work["RedrivePolicy"]
    assert sqs.queue_arns["WorkDeadLetterQueue"] in work["RedrivePolicy"]
    assert sqs.queue_urls["WorkQueue"].startswith(sqs.endpoint_url)


def test_functions_get_the_endpoint_and_the_queue_urls_the_template_wires(template: Template) -> None:
    before = os.environ.get("WORK_QUEUE_URL"), os.environ.get("AWS_ENDPOINT_URL_SQS")
    local_sqs = LocalSqs(template, port=0, name_prefix=f"t{uuid.uuid4().hex[:8]}-")

    local_sqs.start()
    try:
        assert os.environ["WORK_QUEUE_URL"] == local_sqs.queue_urls["WorkQueue"]
        assert os.environ["AWS_ENDPOINT_URL_SQS"] == local_sqs.endpoint_url
        assert os.environ["AWS_DEFAULT_REGION"] == local_sqs.region
        assert local_sqs.describe().startswith(f"SQS        {local_sqs.endpoint_url}")
    finally:
        local_sqs.stop()

    assert (os.environ.get("WORK_QUEUE_URL"), os.environ.get("AWS_ENDPOINT_URL_SQS")) == before


def test_a_queued_message_reaches_the_function_as_a_lambda_sqs_event(
    sqs: LocalSqs, scripted: ScriptedFunctions, start_poller: Callable[[], SqsPollerService]
) -> None:
    sqs.client().send_message(
        QueueUrl=sqs.queue_urls["WorkQueue"],
        MessageBody='{"job": 1}',
        MessageAttributes={"origin": {"DataType": "String", "StringValue": "test"}},
    )

    start_poller()

    assert eventually(lambda: bool(scripted.events))
    (record,) = scripted.events[0]["Records"]
    assert record["body"] == '{"job": 1}'
    assert record["md5OfBody"] == hashlib.md5(b'{"job": 1}').hexdigest()  # noqa: S324 - SQS's checksum
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == sqs.queue_arns["WorkQueue"]
    assert record["awsRegion"] == sqs.region
    assert record["messageId"] and record["receiptHandle"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "ApproximateFirstReceiveTimestamp", "SenderId"} <= set(record["attributes"])
    assert record["messageAttributes"] == {
        "origin": {"stringValue": "test", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
    }
    assert eventually(lambda: is_empty(sqs)), "a processed message was not deleted"


def test_a_record_in_batch_item_failures_is_redelivered_and_the_others_are_deleted(
    sqs: LocalSqs, scripted: ScriptedFunctions, start_poller: Callable[[], SqsPollerService]
) -> None:
    send(sqs, "a", "b", "c")
    scripted.script = fail_first_delivery_of("b")

    start_poller()

    assert eventually(lambda: scripted.deliveries("b") == ["1", "2"])
    assert eventually(lambda: is_empty(sqs))
    assert sorted(r["body"] for r in scripted.events[0]["Records"]) == ["a", "b", "c"]
    assert scripted.deliveries("a") == scripted.deliveries("c") == ["1"]


def test_a_function_that_raises_gets_the_whole_batch_redelivered(
    sqs: LocalSqs, scripted: ScriptedFunctions, start_poller: Callable[[], SqsPollerService]
) -> None:
    send(sqs, "x", "y")

    def raise_on_first_delivery(event: dict[str, Any]) -> None:
        if any(r["attributes"]["ApproximateReceiveCount"] == "1" for r in event["Records"]):
            raise RuntimeError("the function crashed")

    scripted.script = raise_on_first_delivery

    start_poller()

    assert eventually(lambda: is_empty(sqs))
    assert sorted(r["body"] for r in scripted.events[0]["Records"]) == ["x", "y"]
    assert scripted.deliveries("x") == scripted.deliveries("y") == ["1", "2"]


def test_a_message_that_keeps_failing_lands_in_the_dead_letter_queue_after_max_receives(
    sqs: LocalSqs, scripted: ScriptedFunctions, start_poller: Callable[[], SqsPollerService]
) -> None:
    send(sqs, "poison")
    scripted.script = fail_every_record
    client = sqs.client()
    dead_letters: list[dict[str, Any]] = []

    def in_dead_letter_queue() -> bool:
        dead_letters.extend(
            client.receive_message(QueueUrl=sqs.queue_urls["WorkDeadLetterQueue"], WaitTimeSeconds=1).get(
                "Messages", []
            )
        )
        return bool(dead_letters)

    start_poller()

    assert eventually(in_dead_letter_queue, timeout=20)
    assert [m["Body"] for m in dead_letters] == ["poison"]
    assert scripted.deliveries("poison") == ["1", "2", "3"]
    assert is_empty(sqs)


def test_the_poller_stops_its_threads(
    sqs: LocalSqs, scripted: ScriptedFunctions, start_poller: Callable[[], SqsPollerService]
) -> None:
    poller = start_poller()
    threads = list(poller._threads)

    poller.stop()

    assert threads and not any(thread.is_alive() for thread in threads)
    assert poller.describe() == "SQS poller Worker <- WorkQueue (batch 5, partial failures)"


MESSAGES = [{"MessageId": "m1"}, {"MessageId": "m2"}, {"MessageId": "m3"}]


@pytest.mark.parametrize(
    ("result", "report_batch_item_failures", "processed"),
    [
        (None, True, ["m1", "m2", "m3"]),
        ({"batchItemFailures": []}, True, ["m1", "m2", "m3"]),
        ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, True, ["m1", "m3"]),
        ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, False, ["m1", "m2", "m3"]),
        ({"batchItemFailures": [{"itemIdentifier": "elsewhere"}]}, True, []),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, True, []),
        ({"batchItemFailures": [{}]}, True, []),
    ],
    ids=["none", "empty-list", "one-failed", "partial-off", "unknown-id", "empty-id", "missing-id"],
)
def test_processed_messages_follow_lambdas_partial_batch_rules(
    result: Any, report_batch_item_failures: bool, processed: list[str]
) -> None:
    done = processed_messages(MESSAGES, result, report_batch_item_failures)

    assert [m["MessageId"] for m in done] == processed
