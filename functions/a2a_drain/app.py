"""The A2A queue's drain (SPEC §5.5): each SQS FIFO record names one `a2a_queue` row, delivered by
`drain_record`. SqsFifoPartialProcessor keeps each target's order: once a record fails, the rest of
its message group in this batch is reported failed too (skip_group_on_error), so nothing overtakes
it, while other targets' records in the batch go on. Failed records come back after a back-off."""

import json
from typing import Any
from uuid import UUID

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.a2a import service as queue
from molecule_core.agents import service as agents
from molecule_core.platform.observability import logger, publishes_metrics

# Every record is delivered to an agent: its HTTP client loads with the function, not on the first message.
agents.load_client()

processor = SqsFifoPartialProcessor(skip_group_on_error=True)
# A batch whose records all failed is reported like any partial failure (every record listed), not
# raised: raising would skip the back-off below and count as a function error.
processor.raise_on_entire_batch_failure = False


def drain(record: SQSRecord) -> None:
    queue_id = UUID(json.loads(record.body)["queue_id"])
    try:
        queue.drain_record(queue_id)
    except queue.DrainRetry as exc:
        logger.info("a2a queued message not delivered yet", extra={"queue_id": str(queue_id), "reason": str(exc)})
        raise
    except Exception:
        logger.exception("a2a drain failed; SQS will redeliver", extra={"queue_id": str(queue_id)})
        raise


@logger.inject_lambda_context
@publishes_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = dict(process_partial_response(event=event, record_handler=drain, processor=processor, context=context))
    failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
    if failed:
        records = [r for r in event.get("Records", []) if r.get("messageId") in failed]
        receive_count = max(int(r.get("attributes", {}).get("ApproximateReceiveCount", 1)) for r in records)
        queue.delay_redelivery([r["receiptHandle"] for r in records], queue.backoff_seconds(receive_count))
    return result
