"""Retention on EventBridge Scheduler: delete activity older than ACTIVITY_RETENTION_DAYS, the A2A
queue rows of messages that ended before then (their outcome is in the activity log), key-value
memory whose TTL has passed and the rows of staged files past their expiry (both already
invisible; this reclaims the rows)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.a2a.service import prune_finished
from molecule_core.activity.service import prune_activity
from molecule_core.files.service import prune_expired_files
from molecule_core.memories.service import sweep_expired_memory
from molecule_core.platform.observability import count_each, logger, publishes_metrics


@logger.inject_lambda_context
@publishes_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    outcome = {
        "deleted": prune_activity(),
        "queue_rows": prune_finished(),
        "expired_memory": sweep_expired_memory(),
        "expired_files": prune_expired_files(),
    }
    count_each("RetentionSweep", outcome)
    logger.info("activity retention", extra=outcome)
    return outcome
