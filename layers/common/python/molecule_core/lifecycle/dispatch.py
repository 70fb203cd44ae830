"""Lifecycle requests (restart, wake, hibernate, stop). Callers ask here; how a request reaches a
backend is the dispatcher's business. Before dispatch, callers record the request on the row
(`restart_requested_at`, set by their own statement), so the database stays the truth: with
LIFECYCLE_QUEUE_URL set, requests become `LifecycleMessage`s on the lifecycle queue for the
lifecycle function; without it they are only logged, and nothing is kept in process memory."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from molecule_core.lifecycle.models import LifecycleMessage, LifecycleRequest
from molecule_core.platform import aws
from molecule_core.platform.observability import logger
from molecule_core.platform.settings import get_settings

# SendMessageBatch takes at most 10 entries per call.
SQS_BATCH_LIMIT = 10


class LifecycleDispatcher(Protocol):
    def dispatch(self, requests: Sequence[LifecycleRequest]) -> None: ...


class LoggingDispatcher:
    """No lifecycle queue configured, so requests stay recorded on their rows."""

    def dispatch(self, requests: Sequence[LifecycleRequest]) -> None:
        for request in requests:
            logger.info(
                "lifecycle request recorded; no lifecycle queue configured",
                extra={
                    "action": request.action,
                    "workspace_id": str(request.workspace_id),
                    "reason": request.reason,
                },
            )


class SqsLifecycleDispatcher:
    """Sends each request as a `LifecycleMessage` to the lifecycle queue, ten per SendMessageBatch.

    A send that fails is logged with its workspace ids and not raised: the caller has already
    recorded the request on the row (`restart_requested_at`), and raising would fail a sweep or an
    A2A call for a side job. The row stays pending, so the next sweep (or the caller's next retry)
    requests it again; the lifecycle job's claim makes a duplicate harmless."""

    def __init__(self, queue_url: str, client: Any = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else aws.client("sqs")

    def dispatch(self, requests: Sequence[LifecycleRequest]) -> None:
        requested_at = datetime.now(UTC)
        messages = [LifecycleMessage.from_request(request, requested_at) for request in requests]
        for start in range(0, len(messages), SQS_BATCH_LIMIT):
            self._send_batch(messages[start : start + SQS_BATCH_LIMIT])

    def _send_batch(self, messages: Sequence[LifecycleMessage]) -> None:
        entries = [{"Id": str(index), "MessageBody": message.to_json()} for index, message in enumerate(messages)]
        try:
            response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except Exception as exc:  # botocore's errors (and a missing region/credentials) alike
            self._log_unsent(messages, repr(exc))
            return
        for failure in response.get("Failed", []):
            self._log_unsent([messages[int(failure["Id"])]], f"{failure.get('Code')}: {failure.get('Message')}")

    def _log_unsent(self, messages: Sequence[LifecycleMessage], error: str) -> None:
        logger.error(
            "lifecycle request not queued; it stays recorded on the row for the next sweep",
            extra={
                "queue_url": self.queue_url,
                "error": error,
                "requests": [
                    {"action": m.action, "workspace_id": str(m.workspace_id), "reason": m.reason} for m in messages
                ],
            },
        )


_override: LifecycleDispatcher | None = None
_sqs_dispatcher: SqsLifecycleDispatcher | None = None
_sqs_lock = threading.Lock()


def current_dispatcher() -> LifecycleDispatcher:
    """`use_dispatcher`'s override, else SQS when LIFECYCLE_QUEUE_URL is set, else logging. Resolved
    per call so a changed environment (after `reset_settings()`) takes effect; the SQS dispatcher
    (and its client) is reused while the queue URL stays the same."""
    global _sqs_dispatcher
    if _override is not None:
        return _override
    queue_url = get_settings().lifecycle_queue_url
    if not queue_url:
        return LoggingDispatcher()
    with _sqs_lock:
        if _sqs_dispatcher is None or _sqs_dispatcher.queue_url != queue_url:
            _sqs_dispatcher = SqsLifecycleDispatcher(queue_url)
        return _sqs_dispatcher


def delay_redelivery(receipt_handle: str, seconds: int) -> None:
    """Bring a lifecycle message back after `seconds` instead of the queue's long visibility
    timeout (a restart waiting for another restart of the same workspace need not wait 30 minutes)."""
    dispatcher = current_dispatcher()
    if not isinstance(dispatcher, SqsLifecycleDispatcher):
        return
    try:
        dispatcher.client.change_message_visibility(
            QueueUrl=dispatcher.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )
    except Exception as exc:  # the message still comes back, only later
        logger.warning("could not shorten a lifecycle message's visibility", extra={"error": repr(exc)})


def request_lifecycle(requests: Sequence[LifecycleRequest]) -> None:
    if requests:
        current_dispatcher().dispatch(requests)


def use_dispatcher(dispatcher: LifecycleDispatcher | None) -> None:
    """Override the dispatcher (tests); None goes back to the configured one."""
    global _override
    _override = dispatcher
