"""The queues of template.yaml, as the local stack reads them, and the rules an SQS event source
needs to be safe: a dead-letter queue, a visibility timeout that outlives the function, and partial
batch responses."""

from __future__ import annotations

from pathlib import Path

from molecule_local.template import QueueSpec, default_template, load_template

# AWS's guidance for SQS event sources: visibility timeout at least six times the function timeout.
VISIBILITY_TO_TIMEOUT_RATIO = 6


def test_every_sqs_queue_of_the_template_is_parsed() -> None:
    resources = default_template().resources
    declared = {logical_id for logical_id, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}

    assert set(default_template().queues) == declared
    assert {"LifecycleQueue", "LifecycleDeadLetterQueue"} <= declared


def test_lifecycle_queue_redrives_to_its_dead_letter_queue_after_five_receives() -> None:
    queue = default_template().queues["LifecycleQueue"]

    assert queue.dead_letter_queue == "LifecycleDeadLetterQueue"
    assert queue.max_receive_count == 5
    assert not queue.fifo
    assert queue.message_retention_seconds == 4 * 86400
    assert default_template().queues["LifecycleDeadLetterQueue"].message_retention_seconds == 14 * 86400


def test_dead_letter_queues_come_before_the_queues_that_redrive_to_them() -> None:
    order = list(default_template().queues)

    for position, spec in enumerate(default_template().queues.values()):
        if spec.dead_letter_queue:
            assert order.index(spec.dead_letter_queue) < position


def test_every_queue_a_function_consumes_has_a_dead_letter_queue() -> None:
    template = default_template()
    for spec in template.functions.values():
        for trigger in spec.queues:
            queue = template.queues[trigger.queue]
            assert queue.dead_letter_queue in template.queues, f"{trigger.queue} has no dead-letter queue"
            assert queue.max_receive_count, f"{trigger.queue} redrives without maxReceiveCount"


def test_visibility_timeout_is_at_least_six_times_the_consuming_function_timeout() -> None:
    template = default_template()
    for spec in template.functions.values():
        for trigger in spec.queues:
            visibility = template.queues[trigger.queue].visibility_timeout
            assert visibility >= VISIBILITY_TO_TIMEOUT_RATIO * spec.timeout, (
                f"{trigger.queue}: visibility {visibility}s < 6 x {spec.logical_id}'s {spec.timeout}s timeout"
            )


def test_every_sqs_triggered_function_reports_batch_item_failures() -> None:
    triggers = [(s.logical_id, t) for s in default_template().functions.values() for t in s.queues]

    assert triggers, "no function consumes a queue"
    for logical_id, trigger in triggers:
        assert trigger.report_batch_item_failures, f"{logical_id}/{trigger.name} retries whole batches"


def test_lifecycle_function_consumes_the_lifecycle_queue_in_batches_of_five() -> None:
    (trigger,) = default_template().functions["LifecycleFunction"].queues

    assert trigger.queue == "LifecycleQueue"
    assert trigger.batch_size == 5
    assert default_template().functions["LifecycleFunction"].timeout == 300


def test_lifecycle_queue_url_is_wired_to_every_function_through_globals() -> None:
    template = default_template()

    assert template.queue_url_environment() == {
        "LIFECYCLE_QUEUE_URL": "LifecycleQueue",
        "A2A_QUEUE_URL": "A2aQueue",
        "A2A_DEAD_LETTER_QUEUE_URL": "A2aDeadLetterQueue",  # the outbox sweep's own (it rescues dead letters)
    }
    assert template.raw["Globals"]["Function"]["Environment"]["Variables"]["LIFECYCLE_QUEUE_URL"] == {
        "Ref": "LifecycleQueue"
    }


def test_functions_that_request_lifecycle_jobs_may_send_to_the_lifecycle_queue() -> None:
    resources = default_template().resources
    for logical_id in ("A2aProxyFunction", "LivenessSweepFunction", "WorkspacesFunction", "LifecycleFunction"):
        policies = resources[logical_id]["Properties"]["Policies"]
        send = [p["SQSSendMessagePolicy"] for p in policies if isinstance(p, dict) and "SQSSendMessagePolicy" in p]
        assert {"QueueName": {"Fn::GetAtt": ["LifecycleQueue", "QueueName"]}} in send, logical_id


def test_fifo_queue_properties_and_function_level_queue_refs_are_read(tmp_path: Path) -> None:
    template_file = tmp_path / "template.yaml"
    template_file.write_text(
        """
Resources:
  JobsQueue:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      ContentBasedDeduplication: "true"
      VisibilityTimeout: 120
      RedrivePolicy: {deadLetterTargetArn: !GetAtt JobsDlq.Arn, maxReceiveCount: 3}
  JobsDlq:
    Type: AWS::SQS::Queue
    Properties: {FifoQueue: true, QueueName: jobs-dead.fifo}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker/
      Environment: {Variables: {JOBS_QUEUE_URL: !Ref JobsQueue, JOBS_DLQ_ARN: !GetAtt JobsDlq.Arn}}
      Events:
        Jobs:
          Type: SQS
          Properties: {Queue: !GetAtt JobsQueue.Arn}
"""
    )
    template = load_template(template_file)

    assert template.queues == {
        "JobsDlq": QueueSpec("JobsDlq", fifo=True, queue_name="jobs-dead.fifo"),
        "JobsQueue": QueueSpec(
            "JobsQueue",
            fifo=True,
            content_based_deduplication=True,
            visibility_timeout=120,
            dead_letter_queue="JobsDlq",
            max_receive_count=3,
        ),
    }
    assert template.queues["JobsQueue"].name == "JobsQueue.fifo"
    assert template.queue_url_environment() == {"JOBS_QUEUE_URL": "JobsQueue"}
    (trigger,) = template.functions["Worker"].queues
    assert (trigger.queue, trigger.batch_size, trigger.report_batch_item_failures) == ("JobsQueue", 10, False)
