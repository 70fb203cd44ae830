"""Hibernation sweep on EventBridge Scheduler: idle managed workspaces are hibernated (SPEC §5.5)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.lifecycle.service import run_hibernation_sweep
from molecule_core.platform.observability import count_each, logger, publishes_metrics


@logger.inject_lambda_context
@publishes_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    outcome = run_hibernation_sweep()
    count_each("HibernationSweep", outcome)
    logger.info("hibernation sweep", extra=outcome)
    return outcome
