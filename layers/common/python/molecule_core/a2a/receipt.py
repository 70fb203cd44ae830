"""The a2a_receive row of one proxied call (SPEC §5.4 step 7): every outcome leaves exactly one.

`open_receipt` is a context manager around the part of the flow that runs once the message is
accepted for its target. The flow records the outcomes it knows (delivered, queued, inbox); any
exception that leaves the block — a refusal (`ProxyFailure` and other domain errors) or something
unexpected — is recorded as an error on the way out, so no path can skip the row. Recording itself
never changes the caller's answer: the message's fate is already decided, so a failed write is
logged, not raised (a delivered message must not turn into a 5xx the caller would retry).

Every receipt also counts its outcome, once, as an EMF metric (`OUTCOME_METRICS`): what an on-call
engineer graphs to see whether messages arrive.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from molecule_core.a2a.normalize import INVALID_PARAMS, A2AError, NormalizedA2A
from molecule_core.a2a.store import DispatchContext
from molecule_core.activity import service as activity
from molecule_core.activity.models import NewActivity
from molecule_core.platform import deferred
from molecule_core.platform.errors import DomainError
from molecule_core.platform.observability import count, logger
from molecule_core.platform.validation import json_problem, storable_json


def refuse_unstorable(message: NormalizedA2A) -> None:
    """The request is kept as it was sent (the receipt's request_body, a queue row's body: jsonb),
    so text PostgreSQL cannot store — a NUL, an unpaired surrogate — is refused before delivery,
    with a JSON-RPC invalid-params error naming where it is, instead of reaching the agent and then
    leaving no receipt. (An agent's answer cannot be refused once delivered: its receipt stores it with
    those characters replaced, `Receipt._row`.)"""
    problem = json_problem(message.payload)
    if problem:
        path, reason = problem
        raise A2AError(INVALID_PARAMS, f"{path}: {reason}", message.request_id)


# The outcome of a proxied message → its metric (namespace Molecule). `delivered`: the agent
# answered; `inbox`: a poll-mode target's inbox row; `queued`: queued for the drain (at capacity or
# respond-async); `busy`: the agent hung up unanswered, so it was queued; `restarting`: the agent
# was dead or hibernated and is being brought back (503); `timeout`: no answer within the budget
# (504); `failed`: every other error after the target was known.
OUTCOME_METRICS = {
    "delivered": "A2ADelivered",
    "inbox": "A2AInbox",
    "queued": "A2AQueued",
    "busy": "A2ABusy",
    "restarting": "A2ARestarting",
    "timeout": "A2ATimeout",
    "failed": "A2AFailed",
}


class ProxyFailure(DomainError):
    """A delivery that failed after the message was accepted for its target: the status and body
    the caller gets, the detail the activity row keeps, and the outcome it counts as."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        log_detail: str,
        retry_after: int | None = None,
        outcome: str = "failed",
        **extra: Any,
    ) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)} if retry_after else None, **extra)
        self.status_code = status_code
        self.log_detail = log_detail
        self.outcome = outcome


@dataclass
class Receipt:
    context: DispatchContext
    caller_id: UUID | None
    message: NormalizedA2A
    raw: bytes
    started: float = field(default_factory=time.monotonic)
    recorded: bool = False

    def record(
        self,
        status: str,
        *,
        response: Any = None,
        error: str | None = None,
        is_delivery: bool = False,
        outcome: str | None = None,
    ) -> UUID | None:
        """`is_delivery`: this row *is* the message (a poll-mode inbox), so a failed write raises
        (the caller must not be told it was delivered), and it keeps the body exactly as received
        beside the normalised one (SPEC §5.6: inbox readers decode what the sender wrote);
        otherwise it is a log, written after the answer where it can be, that never raises. The
        inbox row's id (None for a log).
        `outcome`: what it counts as (`OUTCOME_METRICS`); by default read from the status."""
        self.recorded = True
        default = {"ok": "delivered", "queued": "inbox" if is_delivery else "queued"}.get(status, "failed")
        deferred.defer(lambda: count(OUTCOME_METRICS[outcome or default]))  # published after the answer
        duration_ms = int((time.monotonic() - self.started) * 1000)
        if is_delivery:
            return activity.record_activity(self._row(status, response, error, duration_ms, True), touch_workspace=True)
        # A record of what happened to a message whose fate is decided, unlike the inbox row above,
        # which is the message: built and written after the answer is sent where the runtime can
        # (platform/deferred.py), without waiting for the disk.
        deferred.defer(lambda: self._write_log(status, response, error, duration_ms))
        return None

    def _write_log(self, status: str, response: Any, error: str | None, duration_ms: int) -> None:
        try:
            row = self._row(status, response, error, duration_ms, False)
            activity.record_activity(row, touch_workspace=True, durable=False)
        except Exception:
            logger.exception("a2a_receive not recorded", extra={"workspace_id": str(self.context.id)})

    def _row(self, status: str, response: Any, error: str | None, duration_ms: int, is_delivery: bool) -> NewActivity:
        """The a2a_receive row; `response` as the agent (or the platform) answered, stored with
        unstorable characters replaced (`storable_json`)."""
        return NewActivity(
            workspace_id=self.context.id,
            activity_type="a2a_receive",
            source_id=self.caller_id,
            target_id=self.context.id,
            method=self.message.method,
            summary=self.message.text[:200] or None,
            # The normaliser already parsed (and accepted) these bytes, so parsing again cannot fail.
            request_body=json.loads(self.raw) if is_delivery else self.message.payload,
            request_normalized=self.message.payload if is_delivery else None,
            response_body=storable_json(response),
            duration_ms=duration_ms,
            status=status,
            error_detail=error,
            idempotency_key=self.message.message_id,
            protocol_version=self.message.protocol_version,
        )


@contextmanager
def open_receipt(
    context: DispatchContext, caller_id: UUID | None, message: NormalizedA2A, raw: bytes
) -> Iterator[Receipt]:
    receipt = Receipt(context, caller_id, message, raw)
    try:
        yield receipt
    except ProxyFailure as exc:
        if not receipt.recorded:
            receipt.record("error", response=exc.body(), error=exc.log_detail, outcome=exc.outcome)
        raise
    except DomainError as exc:
        if not receipt.recorded:
            receipt.record("error", response=exc.body(), error=exc.message)
        raise
    except Exception as exc:
        if not receipt.recorded:
            receipt.record("error", error=f"internal error: {type(exc).__name__}")
        raise
