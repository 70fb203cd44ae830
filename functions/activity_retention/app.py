"""Activity retention on EventBridge Scheduler: delete rows older than ACTIVITY_RETENTION_DAYS."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.activity.service import prune_activity
from molecule_core.platform.observability import logger


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    deleted = prune_activity()
    logger.info("activity retention", extra={"deleted": deleted})
    return {"deleted": deleted}
