"""The A2A queue's outbox sweep on EventBridge Scheduler (SPEC §5.5): queued messages past their
expiry become `expired`; messages of active rows found in the dead-letter queue are taken back;
every active row without a live message (publish failed, acknowledged while leased, rescued) is
published again; a delegation whose task's message ended unanswered (expired, dropped, failed) fails."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.a2a import service as queue
from molecule_core.delegations import service as delegations
from molecule_core.platform.observability import count_each, logger, publishes_metrics


@logger.inject_lambda_context
@publishes_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    outcome = {
        "expired": queue.expire_due(),
        "rescued": queue.rescue_dead_letters(),
        "republished": queue.republish_unpublished(),
    }
    undelivered = delegations.fail_undelivered()
    outcome["delegations_failed"] = sum(undelivered.values())
    count_each("A2AOutboxSweep", outcome)
    logger.info("a2a outbox sweep", extra=outcome)
    return outcome
