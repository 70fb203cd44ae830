"""SQS and Lambda's SQS event source in miniature. `LocalSqs` runs a moto server on 127.0.0.1 with
every queue of template.yaml (dead-letter redrive wired with the real ARN) and points the in-process
functions at it (a `MotoEndpoint`); `SqsPollerService` does what an event source mapping does:
long-poll each queue a function is subscribed to, invoke the function with the exact SQS event Lambda sends, and delete
what the function processed — honouring ReportBatchItemFailures — so the rest comes back after its
visibility timeout and, after maxReceiveCount receives, moves to the dead-letter queue."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from molecule_local.lambdas import FunctionRegistry
from molecule_local.moto_endpoint import MotoEndpoint
from molecule_local.template import QueueTriggerSpec, Template

SQS_BATCH_LIMIT = 10  # ReceiveMessage / DeleteMessageBatch maximum
STOP_TIMEOUT_SECONDS = 30

Message = Mapping[str, Any]  # one message as ReceiveMessage returns it


class LocalSqs(MotoEndpoint):
    """A moto SQS endpoint with the template's queues. MOLECULE_SQS_PORT fixes its port (default:
    any free one)."""

    name = "sqs"
    port_variable = "MOLECULE_SQS_PORT"

    def __init__(self, template: Template, **options: Any) -> None:
        super().__init__(template, **options)
        self.queue_urls: dict[str, str] = {}  # logical id → URL
        self.queue_arns: dict[str, str] = {}  # logical id → ARN

    def describe(self) -> str:
        queues = ", ".join(self.queue_urls) or "none"
        return f"SQS        {self.endpoint_url}  (moto; queues: {queues})"

    def create_resources(self) -> None:
        self.create_queues()

    def create_queues(self) -> None:
        client = self.client()
        # Template.queues lists dead-letter queues first, so every redrive target has an ARN already.
        for logical_id, spec in self.template.queues.items():
            attributes = {
                "VisibilityTimeout": str(spec.visibility_timeout),
                "MessageRetentionPeriod": str(spec.message_retention_seconds),
            }
            if spec.fifo:
                attributes["FifoQueue"] = "true"
                attributes["ContentBasedDeduplication"] = str(spec.content_based_deduplication).lower()
            if spec.dead_letter_queue:
                attributes["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": self.queue_arns[spec.dead_letter_queue],
                        "maxReceiveCount": spec.max_receive_count or 10,
                    }
                )
            url = client.create_queue(QueueName=self.name_prefix + spec.name, Attributes=attributes)["QueueUrl"]
            self.queue_urls[logical_id] = url
            self.queue_arns[logical_id] = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]

    def environment(self) -> dict[str, str]:
        """What the in-process functions need to reach these queues: the SQS endpoint (SQS only, so
        any other AWS client is untouched) and every `NAME: !Ref <queue>` the template wires."""
        environment = {"AWS_ENDPOINT_URL_SQS": self.endpoint_url}
        for name, logical_id in self.template.queue_url_environment().items():
            environment[name] = self.queue_urls[logical_id]
        return environment


def lambda_message_attributes(attributes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """ReceiveMessage's MessageAttributes in the shape of a Lambda SQS record (camelCase, binary as
    base64)."""
    converted: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        entry: dict[str, Any] = {
            "stringListValues": list(value.get("StringListValues", [])),
            "binaryListValues": [base64.b64encode(b).decode() for b in value.get("BinaryListValues", [])],
            "dataType": value["DataType"],
        }
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            entry["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        converted[name] = entry
    return converted


def build_sqs_event(messages: Sequence[Message], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source sends for a batch of received messages."""
    records = []
    for message in messages:
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": lambda_message_attributes(message.get("MessageAttributes", {})),
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        records.append(record)
    return {"Records": records}


def processed_messages(messages: Sequence[Message], result: Any, report_batch_item_failures: bool) -> list[Message]:
    """The messages an invocation that returned `result` has processed, by Lambda's rules: all of them,
    unless ReportBatchItemFailures is on and the result lists failures — then all but those. A list
    naming an id that is empty or not in the batch is an invalid response: nothing was processed."""
    failures = result.get("batchItemFailures") if isinstance(result, Mapping) else None
    if not report_batch_item_failures or not failures:
        return list(messages)
    failed_ids = {failure.get("itemIdentifier") if isinstance(failure, Mapping) else None for failure in failures}
    if not failed_ids <= {message["MessageId"] for message in messages}:
        return []
    return [message for message in messages if message["MessageId"] not in failed_ids]


class SqsPollerService:
    """One long-polling thread per SQS trigger of the template, invoking its function in process."""

    name = "sqs-poller"

    def __init__(self, functions: FunctionRegistry, sqs: LocalSqs, wait_seconds: int = 1) -> None:
        self.functions = functions
        self.sqs = sqs
        self.wait_seconds = wait_seconds
        self.subscriptions: list[tuple[str, QueueTriggerSpec]] = [
            (spec.logical_id, trigger) for spec in functions.template.functions.values() for trigger in spec.queues
        ]
        self.invocations: dict[str, int] = {logical_id: 0 for logical_id, _ in self.subscriptions}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for logical_id, trigger in self.subscriptions:
            thread = threading.Thread(
                target=self._poll, args=(logical_id, trigger), name=f"sqs-{logical_id}-{trigger.name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=STOP_TIMEOUT_SECONDS)
        self._threads.clear()

    def describe(self) -> str:
        subscriptions = ", ".join(
            f"{logical_id} <- {trigger.queue} (batch {trigger.batch_size}"
            + (", partial failures)" if trigger.report_batch_item_failures else ")")
            for logical_id, trigger in self.subscriptions
        )
        return f"SQS poller {subscriptions or 'none'}"

    def _poll(self, logical_id: str, trigger: QueueTriggerSpec) -> None:
        client = self.sqs.client()
        queue_url = self.sqs.queue_urls[trigger.queue]
        while not self._stop.is_set():
            try:
                messages = client.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=min(trigger.batch_size, SQS_BATCH_LIMIT),
                    WaitTimeSeconds=self.wait_seconds,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception as exc:  # the endpoint going away at shutdown, or a hiccup: keep polling
                if self._stop.wait(1.0):
                    return
                print(f"sqs poller: receive from {trigger.queue} failed: {exc!r}", flush=True)
                continue
            if messages:
                self.deliver(client, logical_id, trigger, queue_url, messages)

    def deliver(
        self, client: Any, logical_id: str, trigger: QueueTriggerSpec, queue_url: str, messages: Sequence[Message]
    ) -> None:
        event = build_sqs_event(messages, self.sqs.queue_arns[trigger.queue], self.sqs.region)
        self.invocations[logical_id] += 1
        try:
            result = self.functions.invoke(logical_id, event)
        except Exception as exc:  # as in AWS: the whole batch comes back after its visibility timeout
            print(f"sqs poller: {logical_id} failed on {len(messages)} message(s): {exc!r}", flush=True)
            return
        done = processed_messages(messages, result, trigger.report_batch_item_failures)
        for start in range(0, len(done), SQS_BATCH_LIMIT):
            chunk = done[start : start + SQS_BATCH_LIMIT]
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)]
            try:
                failed = client.delete_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed", [])
            except Exception as exc:  # undeleted messages are redelivered, as in AWS
                failed = [repr(exc)]
            if failed:
                print(f"sqs poller: delete from {trigger.queue} failed: {failed}", flush=True)
