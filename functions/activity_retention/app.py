"""Retention on EventBridge Scheduler: delete activity older than ACTIVITY_RETENTION_DAYS, and
key-value memory whose TTL has passed (already invisible; this reclaims the rows)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.activity.service import prune_activity
from molecule_core.memories.service import sweep_expired_memory
from molecule_core.platform.observability import count_each, logger, publishes_metrics


@logger.inject_lambda_context
@publishes_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    outcome = {"deleted": prune_activity(), "expired_memory": sweep_expired_memory()}
    count_each("RetentionSweep", outcome)
    logger.info("activity retention", extra=outcome)
    return outcome
