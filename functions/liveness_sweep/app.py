"""Liveness sweep on EventBridge Scheduler (every minute): stale heartbeats and provisioning
timeouts (SPEC §5.3)."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.lifecycle.service import run_liveness_sweep
from molecule_core.platform.observability import logger, metrics


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    outcome = run_liveness_sweep()
    for name, value in outcome.items():
        metrics.add_metric(name=f"Sweep_{name}", unit=MetricUnit.Count, value=value)
    logger.info("liveness sweep", extra=outcome)
    return outcome
