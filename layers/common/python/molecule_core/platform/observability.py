"""The platform's Powertools Logger and Metrics, one of each per execution environment, and the one
structured line per request (SPEC §5.15): method, route, status, duration, caller kind and the
workspace ids involved — never a credential, a body or a query string.

The caller is known only once a route's caller dependency has run (`auth.callers`), so it notes
who called in a per-request context variable (`note_caller`) that the request line reads."""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="molecule")
metrics = Metrics(namespace="Molecule", service="molecule")

T = TypeVar("T")


@dataclass
class RequestFacts:
    started: float = field(default_factory=time.perf_counter)
    caller_kind: str | None = None
    caller_workspace_id: str | None = None


_request: ContextVar[RequestFacts | None] = ContextVar("molecule_request", default=None)


def begin_request(event: dict[str, Any]) -> RequestFacts:
    """A request begins: its facts start, and its request id becomes the Logger's correlation id
    (what `inject_lambda_context(correlation_id_path=API_GATEWAY_HTTP)` sets, read here without a
    JMESPath search: half of that decorator's cost on every request)."""
    logger.set_correlation_id((event.get("requestContext") or {}).get("requestId"))
    facts = RequestFacts()
    _request.set(facts)
    return facts


def note_caller(kind: str, workspace_id: object | None) -> None:
    """Called by the caller dependencies: who this request turned out to be."""
    facts = _request.get()
    if facts is not None:
        facts.caller_kind = kind
        facts.caller_workspace_id = str(workspace_id) if workspace_id is not None else None


def log_request(event: dict[str, Any], response: dict[str, Any], facts: RequestFacts) -> None:
    """The request line: the same JSON the platform's Logger writes (its level, service and Lambda
    context keys — function, request id, correlation id, cold start), written directly. Through the
    logging machinery (a LogRecord, the caller's frame for `location`, Powertools' formatter) this
    one line cost ~110 µs, as much as resolving a whole route."""
    if logger.log_level > logging.INFO:
        return
    context = event.get("requestContext") or {}
    path_parameters = event.get("pathParameters") or {}
    line = {
        "level": "INFO",
        "message": "request",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        **{key: value for key, value in logger.get_current_keys().items() if _is_set(value)},
        "method": (context.get("http") or {}).get("method"),
        "route": event.get("routeKey"),
        "status": response.get("statusCode"),
        "duration_ms": round((time.perf_counter() - facts.started) * 1000, 2),
        "caller_kind": facts.caller_kind,
        "caller_workspace_id": facts.caller_workspace_id,
        "workspace_id": path_parameters.get("workspace_id"),
    }
    sys.stdout.write(json.dumps(line, separators=(",", ":"), default=str) + "\n")


def _is_set(value: Any) -> bool:
    # the formatter's own placeholders ("%(levelname)s", …) are filled per record; not here
    return value is not None and not (isinstance(value, str) and value.startswith("%("))


def count(name: str, value: float = 1) -> None:
    """One EMF count (namespace Molecule, dimension service=molecule), flushed at the end of the
    invocation."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def count_each(prefix: str, counts: dict[str, int]) -> None:
    """One count per entry of a sweep's outcome, named `<prefix><Entry>` (`awaiting_agent` →
    `AwaitingAgent`): `count_each("LivenessSweep", {"offline": 2})` counts LivenessSweepOffline 2."""
    for name, value in counts.items():
        count(prefix + "".join(part.capitalize() for part in name.split("_")), value)


def record_milliseconds(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)


def flush_metrics() -> None:
    """Publish what this invocation counted (nothing, silently, when it counted nothing), and forget
    it: with POWERTOOLS_METRICS_DISABLED (`make run`) Powertools prints nothing but keeps the values,
    and would dump them in one line at its 100th."""
    if metrics.metric_set:
        metrics.flush_metrics()
        metrics.clear_metrics()


def publishes_metrics(handler: Callable[[Any, Any], T]) -> Callable[[Any, Any], T]:
    """A non-HTTP handler whose invocation's metrics are published when it ends (`flush_metrics`)."""

    @functools.wraps(handler)
    def publishing(event: Any, context: Any) -> T:
        try:
            return handler(event, context)
        finally:
            flush_metrics()

    return publishing
