"""Lifecycle jobs from the lifecycle queue (SPEC §5.5): each record is a `LifecycleMessage`; a record
whose job fails is reported in batchItemFailures, so SQS redelivers only that one (and after
maxReceiveCount moves it to the dead-letter queue)."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.lifecycle import service
from molecule_core.lifecycle.models import LifecycleMessage
from molecule_core.platform.observability import logger, publishes_metrics

processor = BatchProcessor(event_type=EventType.SQS)
RESTART_RETRY_SECONDS = 15


def run_lifecycle_job(record: SQSRecord) -> None:
    message = LifecycleMessage.from_json(record.body)
    logger.info(
        "lifecycle job",
        extra={
            "action": message.action,
            "workspace_id": str(message.workspace_id),
            "reason": message.reason,
            "receive_count": record.attributes.approximate_receive_count,
        },
    )
    try:
        service.handle_lifecycle_job(message.to_request())
    except service.RestartInFlight:
        # Another restart of this workspace runs now: try again shortly, not after the full timeout.
        service.delay_redelivery(record.receipt_handle, RESTART_RETRY_SECONDS)
        raise
    except Exception:
        # The processor turns this into a batch item failure; the log says which job and why.
        logger.exception(
            "lifecycle job failed; SQS will redeliver it", extra={"workspace_id": str(message.workspace_id)}
        )
        raise


@logger.inject_lambda_context
@publishes_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(
        process_partial_response(event=event, record_handler=run_lifecycle_job, processor=processor, context=context)
    )
