"""The A2A queue's outbox sweep on EventBridge Scheduler (SPEC §5.5): queued messages past their
expiry become `expired`; messages whose publish failed (SQS down at enqueue) are published again."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.a2a import service as queue
from molecule_core.platform.observability import logger


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    expired = queue.expire_due()
    republished = queue.republish_unpublished()
    logger.info("a2a outbox sweep", extra={"expired": expired, "republished": republished})
    return {"expired": expired, "republished": republished}
