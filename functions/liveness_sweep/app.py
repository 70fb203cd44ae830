"""Liveness sweep on EventBridge Scheduler (every minute): stale heartbeats and provisioning
timeouts (SPEC §5.3)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.lifecycle.service import run_liveness_sweep
from molecule_core.platform.observability import count_each, logger, publishes_metrics


@logger.inject_lambda_context
@publishes_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    outcome = run_liveness_sweep()
    count_each("LivenessSweep", outcome)
    logger.info("liveness sweep", extra=outcome)
    return outcome
