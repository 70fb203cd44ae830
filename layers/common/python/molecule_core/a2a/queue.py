"""The A2A queue (SPEC §5.4 step 5, §5.5): messages for a busy or long-running target wait in the
`a2a_queue` table and travel through an SQS FIFO queue (message group = target workspace, so each
target gets its messages in order while targets drain in parallel; deduplication id = row id).

- `enqueue` inserts the row first (one statement, idempotent on the message id while the row is
  active), then publishes; a failed publish is logged and left to the outbox sweep
  (`republish_unpublished`), so nothing is lost when SQS is down.
- `drain_record` is one SQS record: claim (one conditional UPDATE), deliver, store the answer and
  log activity; a failure puts the row back and raises so SQS retries; after the attempt limit the
  row is `failed`. A record whose row is already final is acknowledged, never delivered twice.

Nothing acknowledged is stranded (SPEC §5.5). `published_at` says whether a row has a live SQS
message: set when one is sent, NULL when none is known to exist. SQS counts every receive, so a
message that kept meeting a row leased by another drain (the drain that delivered it lost the
database before its bookkeeping, or died) would spend its five receives before the lease ends and
land in the dead-letter queue. Instead, such a record is acknowledged and the row marked NULL in
the same statement that saw the lease; the outbox sweep (`republish_unpublished`) publishes every
`queued` row, and every `dispatched` row past its lease, that has none — and first takes back what
did reach the dead-letter queue (`rescue_dead_letters`: a database outage spends receives too). The
redelivery carries the same messageId (agents deduplicate on it); `attempts` counts it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple
from uuid import UUID

from molecule_core.a2a import store
from molecule_core.a2a.delivery import VERSION_HEADER, Delivery, answer_for_caller, plan_delivery
from molecule_core.a2a.normalize import A2AError
from molecule_core.a2a.outcome import Outcome, outcome_of
from molecule_core.a2a.versions import VersionRefused, request_version
from molecule_core.activity import service as activity
from molecule_core.activity.models import NewActivity
from molecule_core.agents import service as agent_client
from molecule_core.auth.models import Caller
from molecule_core.lifecycle import service as lifecycle
from molecule_core.lifecycle.models import LifecycleRequest
from molecule_core.platform import aws, db
from molecule_core.platform.errors import DomainError, InvalidInput, NotFound
from molecule_core.platform.observability import count, logger, record_milliseconds
from molecule_core.platform.settings import get_settings
from molecule_core.workspaces.models import is_http_url

# SQS keeps a message at most this long (the queue's MessageRetentionPeriod): a later expiry
# would outlive its message.
QUEUE_RETENTION_SECONDS = 4 * 86400
# A claim older than the drain's timeout plus this margin belongs to a drain that died.
LEASE_MARGIN_SECONDS = 60
# Kept back from the drain's timeout for the bookkeeping after a delivery.
DELIVERY_MARGIN_SECONDS = 30
SQS_BATCH_LIMIT = 10
REPUBLISH_BATCH = 100
REPUBLISH_MAX_BATCHES = 20
# Target statuses a message waits out (queued again, retried later) instead of being delivered.
WAIT_STATUSES = ("offline", "hibernated", "hibernating", "paused", "provisioning", "failed")


class DrainRetry(Exception):
    """The record could not be delivered now; SQS should bring it back later."""


class EnqueueResult(NamedTuple):
    queue_id: UUID
    queue_depth: int
    created: bool


# --- SQS -----------------------------------------------------------------------------------------


def _sqs() -> Any:
    # boto3 only on this path (SPEC §2: hot functions that never queue don't pay its import).
    return aws.client("sqs")


def _message(queue_id: UUID, target_id: UUID) -> dict[str, str]:
    return {
        "MessageBody": json.dumps({"queue_id": str(queue_id)}),
        "MessageGroupId": str(target_id),
        "MessageDeduplicationId": str(queue_id),
    }


def _publish(queue_id: UUID, target_id: UUID) -> bool:
    """Send one message; False (logged) when it could not be sent: the outbox sweep retries."""
    queue_url = get_settings().a2a_queue_url
    if not queue_url:
        logger.error("A2A_QUEUE_URL is not set; queued message left for the outbox sweep", extra={"id": str(queue_id)})
        return False
    try:
        _sqs().send_message(QueueUrl=queue_url, **_message(queue_id, target_id))
    except Exception as exc:  # botocore's errors, a missing region, a closed endpoint alike
        logger.error(
            "a2a queue publish failed; the outbox sweep will republish",
            extra={"queue_id": str(queue_id), "error": repr(exc)[:500]},
        )
        return False
    return True


def _publish_batch(rows: Sequence[store.Unpublished]) -> list[UUID]:
    """Send rows ten per SendMessageBatch; the ids that were accepted."""
    queue_url = get_settings().a2a_queue_url
    if not queue_url:
        return []
    sent: list[UUID] = []
    for start in range(0, len(rows), SQS_BATCH_LIMIT):
        chunk = rows[start : start + SQS_BATCH_LIMIT]
        entries = [{"Id": str(i), **_message(row.id, row.workspace_id)} for i, row in enumerate(chunk)]
        try:
            response = _sqs().send_message_batch(QueueUrl=queue_url, Entries=entries)
        except Exception as exc:
            logger.error("a2a queue republish failed", extra={"error": repr(exc)[:500], "count": len(chunk)})
            break
        sent += [chunk[int(ok["Id"])].id for ok in response.get("Successful", [])]
        for failure in response.get("Failed", []):
            logger.error("a2a queue republish refused", extra={"queue_id": str(chunk[int(failure["Id"])].id)})
    return sent


def delay_redelivery(receipt_handles: Sequence[str], seconds: int) -> None:
    """Bring failed records back after `seconds` instead of the queue's long visibility timeout
    (the back-off between delivery attempts)."""
    queue_url = get_settings().a2a_queue_url
    if not queue_url or not receipt_handles:
        return
    for start in range(0, len(receipt_handles), SQS_BATCH_LIMIT):
        entries = [
            {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
            for i, handle in enumerate(receipt_handles[start : start + SQS_BATCH_LIMIT])
        ]
        try:
            _sqs().change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
        except Exception as exc:  # the records still come back, only later
            logger.warning("could not shorten a2a queue visibility", extra={"error": repr(exc)[:500]})


def backoff_seconds(receive_count: int) -> int:
    """15 s, 30 s, 60 s, … capped at 15 minutes."""
    return int(min(900, 15 * 2 ** max(0, receive_count - 1)))


# --- enqueue -------------------------------------------------------------------------------------


def expires_in_seconds(payload: Mapping[str, Any]) -> int | None:
    """`params.expires_in_seconds`: a positive int; 0 or absent → None (the default TTL)."""
    params = payload.get("params")
    if not isinstance(params, Mapping) or params.get("expires_in_seconds") is None:
        return None
    value = params["expires_in_seconds"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput("params.expires_in_seconds must be a positive integer", field="expires_in_seconds")
    return value or None


def enqueue(
    target_id: UUID,
    caller_id: UUID | None,
    payload: dict[str, Any],
    method: str,
    message_id: str | None,
    expires_in_seconds: int | None,
    *,
    protocol_version: str | None = None,
    forwarded_headers: dict[str, str] | None = None,
) -> EnqueueResult:
    """Queue `payload` (the normalised A2A request) for `target_id`. The same active
    (target, message_id) answers the existing row and is not published again. `protocol_version`
    and `forwarded_headers` (A2A-Version, extensions) are what the drain delivers it with."""
    settings = get_settings()
    ttl = min(expires_in_seconds or settings.a2a_queue_default_ttl_seconds, QUEUE_RETENTION_SECONDS)

    def insert(conn: db.Connection) -> store.Enqueued | None:
        return store.insert_queued(
            conn,
            target_id=target_id,
            caller_id=caller_id,
            body=payload,
            method=method,
            idempotency_key=message_id,
            ttl_seconds=ttl,
            protocol_version=protocol_version,
            forwarded_headers=forwarded_headers,
        )

    row = db.single_statement(insert, idempotent=False)
    if row is None:  # a concurrent enqueue of the same message id won; now it is visible
        row = db.single_statement(insert, idempotent=False)
    if row is None:
        raise DomainError("could not queue the message")
    if row.created and _publish(row.id, target_id):
        try:
            _mark_published([row.id])
        except DomainError:
            # The row is written and its message sent: that is the truth the caller gets (202). A
            # 503 here would make it send again — a second row once this one completed. Left
            # unmarked, the row is published once more by the outbox sweep (a duplicate message
            # the conditional claim absorbs).
            logger.warning("a2a queue publish not recorded", extra={"queue_id": str(row.id)})
    logger.info(
        "a2a message queued",
        extra={"queue_id": str(row.id), "target_id": str(target_id), "new_row": row.created, "depth": row.queue_depth},
    )
    count("A2AQueueDepth", row.queue_depth)  # the target's active rows; its Maximum is the peak
    return EnqueueResult(queue_id=row.id, queue_depth=row.queue_depth, created=row.created)


def _mark_published(ids: list[UUID]) -> None:
    db.single_statement(lambda conn: store.mark_published(conn, ids))


def lease_seconds() -> int:
    """How long a claim holds a row: longer than the drain's timeout, so only a drain that died
    (or lost the database) leaves one to lapse."""
    return get_settings().a2a_drain_timeout_seconds + LEASE_MARGIN_SECONDS


def republish_unpublished(older_than_seconds: int = 30) -> int:
    """The outbox sweep: every active row without a live message — never published (SQS was down at
    enqueue), acknowledged while leased, or rescued from the dead-letter queue — is published now
    (`dispatched` ones once their lease has passed)."""
    lease = lease_seconds()
    total = 0
    for _ in range(REPUBLISH_MAX_BATCHES):
        rows = db.single_statement(
            lambda conn: store.list_unpublished(conn, older_than_seconds, lease, REPUBLISH_BATCH)
        )
        if not rows:
            break
        sent = _publish_batch(rows)
        if sent:
            _mark_published(sent)
        total += len(sent)
        if len(sent) < len(rows) or len(rows) < REPUBLISH_BATCH:
            break
    return total


def recover_after_restart() -> int:
    """For a platform whose queue lost its messages wholesale and whose drains all died with it (the
    local stack's in-memory SQS after Ctrl-C or kill -9): every lease is released — a delivery cut
    short is made again, with the same messageId — and every active row published again."""
    released = db.single_statement(store.release_all_leases)
    if released:
        logger.warning("a2a deliveries interrupted by a restart are queued again", extra={"count": released})
    return republish_active()


def republish_active() -> int:
    """Publish every active row again, whatever its `published_at`. Duplicates are harmless: the
    claim is conditional, and a message meeting a leased row is acknowledged."""
    total, after = 0, None
    while True:
        rows = db.single_statement(partial(store.list_active, after=after, limit=REPUBLISH_BATCH))
        if not rows:
            return total
        sent = _publish_batch(rows)
        if sent:
            _mark_published(sent)
        total += len(sent)
        if len(sent) < len(rows):
            logger.error("a2a queue republish incomplete", extra={"sent": total})
            return total
        after = rows[-1].id


DEAD_LETTER_BATCHES = 10


def rescue_dead_letters() -> int:
    """Messages that reached the dead-letter queue while their row is still active (their receives
    were spent while the database was down) are taken back: the row is marked as having no live
    message, for `republish_unpublished`; messages of rows already final are dropped with them.
    Returns how many active rows were rescued."""
    queue_url = get_settings().a2a_dead_letter_queue_url
    if not queue_url:
        return 0
    rescued = 0
    for _ in range(DEAD_LETTER_BATCHES):
        messages = (
            _sqs()
            .receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=SQS_BATCH_LIMIT, WaitTimeSeconds=0, VisibilityTimeout=60
            )
            .get("Messages", [])
        )
        if not messages:
            break
        ids = []
        for message in messages:
            try:
                ids.append(UUID(json.loads(message["Body"])["queue_id"]))
            except (ValueError, KeyError, TypeError):
                logger.error("unreadable a2a dead letter dropped", extra={"message_id": message.get("MessageId")})
        forgotten = db.single_statement(partial(store.forget_messages, queue_ids=ids)) if ids else []
        for queue_id in forgotten:
            logger.warning("a2a message rescued from the dead-letter queue", extra={"queue_id": str(queue_id)})
        rescued += len(forgotten)
        # deleted only once the rows are marked: a failure above leaves them to come back
        _sqs().delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
    return rescued


def expire_due() -> int:
    return db.single_statement(store.expire_due)


def prune_finished() -> int:
    """The retention sweep's part for the queue: rows of ended messages older than the activity
    retention (ACTIVITY_RETENTION_DAYS) go; the activity log keeps their outcome."""
    return db.single_statement(
        lambda conn: store.delete_finished_older_than(conn, get_settings().activity_retention_days)
    )


def drop_stale(max_age_minutes: int) -> int:
    return db.single_statement(lambda conn: store.drop_stale(conn, max_age_minutes))


# --- drain ---------------------------------------------------------------------------------------


def _give_up_or_retry(claim: store.Claim, error: str) -> None:
    """Back to `queued` and raise (SQS retries), or `failed` once the attempts are used up."""
    queue_id = claim.id
    assert queue_id is not None
    if claim.attempts >= get_settings().a2a_queue_max_attempts:
        count("A2AQueueFailed")
        db.single_statement(lambda conn: store.fail(conn, queue_id, error))
        logger.error("a2a queued message failed for good", extra={"queue_id": str(queue_id), "error": error})
        _close_delegation(claim, None, f"not delivered: {error}")
        return
    count("A2AQueueRetried")
    db.single_statement(lambda conn: store.release(conn, queue_id, error))
    raise DrainRetry(error)


def _record_activity(
    claim: store.Claim, status: str, response: Any, error: str | None, started: float, version: str | None = None
) -> None:
    assert claim.workspace_id is not None
    message = (claim.body or {}).get("params", {}).get("message", {}) if isinstance(claim.body, dict) else {}
    row = NewActivity(
        workspace_id=claim.workspace_id,
        activity_type="a2a_receive",
        source_id=claim.caller_id,
        target_id=claim.workspace_id,
        method=claim.method,
        request_body=claim.body,
        response_body=response,
        duration_ms=int((time.monotonic() - started) * 1000),
        status=status,
        error_detail=error,
        idempotency_key=message.get("messageId") if isinstance(message, dict) else None,
        protocol_version=version,
    )
    try:
        activity.record_activity(row, touch_workspace=True)
    except Exception:
        logger.exception("a2a_receive of a queued message not recorded", extra={"queue_id": str(claim.id)})


def drain_record(queue_id: UUID) -> None:
    """Deliver one queued message. Returns when the record is done (delivered, final, expired or
    failed for good); raises `DrainRetry` when SQS should bring it back later."""
    settings = get_settings()
    lease = lease_seconds()
    # Not re-run on a dropped connection: a claim that did commit would count an attempt twice.
    claim = db.single_statement(lambda conn: store.claim(conn, queue_id, lease), idempotent=False)
    if not claim.claimed:
        if claim.leased:
            # Another drain's lease runs. Failing this record would spend one of its receives each
            # time it came back; acknowledged instead, with the row marked as having no live
            # message in the same statement: the lease holder finishes it, or the outbox sweep
            # publishes it again once the lease has passed.
            logger.info("a2a queue record acknowledged while leased", extra={"queue_id": str(queue_id)})
            return
        logger.info("a2a queue record acknowledged", extra={"queue_id": str(queue_id), "status": claim.previous_status})
        return
    if claim.status == "expired":
        count("A2AQueueExpired")
        logger.info("a2a queued message expired before delivery", extra={"queue_id": str(queue_id)})
        _close_delegation(claim, None, "expired before delivery")
        return
    assert claim.workspace_id is not None
    if claim.target_status in (None, "removed"):
        count("A2AQueueFailed")
        db.single_statement(lambda conn: store.fail(conn, queue_id, "target workspace removed"))
        _close_delegation(claim, None, "target workspace removed")
        return
    if claim.target_status in WAIT_STATUSES or not is_http_url(claim.target_url):
        if claim.target_status == "hibernated":
            lifecycle.request_lifecycle([LifecycleRequest("wake", claim.workspace_id, "a2a_queue")])
        _give_up_or_retry(claim, f"target not reachable: status {claim.target_status}, url {bool(claim.target_url)}")
        return

    started = time.monotonic()
    try:
        delivery = _plan(claim)
    except A2AError as exc:  # e.g. the agent now speaks a version this request cannot be bridged to
        _fail_answered(claim, exc.status, exc.body(), Outcome(ok=False, error=exc.message, permanent=True), started)
        return
    budget = max(1.0, settings.a2a_drain_timeout_seconds - DELIVERY_MARGIN_SECONDS)
    try:
        answer = agent_client.post_json(str(claim.target_url), delivery.body, delivery.headers, budget_seconds=budget)
    except agent_client.AgentCallError as exc:
        kind = type(exc).__name__.removeprefix("Agent").lower()
        _give_up_or_retry(claim, f"{kind}: {str(exc)[:500]}")
        return
    if answer.status >= 500:
        _give_up_or_retry(claim, f"agent answered {answer.status}")
        return
    response = agent_client.stored_response_body(answer.body)
    if answer.status < 400:
        response = answer_for_caller(delivery, response)
    outcome = outcome_of(answer.status, response)
    if outcome.permanent:
        _fail_answered(claim, answer.status, response, outcome, started, delivery)
        return
    if not outcome.ok and answer.status < 400:
        # A JSON-RPC error a later delivery may get past (an internal error, an unknown code).
        _give_up_or_retry(claim, outcome.error or "agent answered a JSON-RPC error")
        return
    db.single_statement(lambda conn: store.complete(conn, queue_id, answer.status, response))
    count("A2AQueueDelivered")
    # from the enqueue to the agent's answer: what a queued message waits, retries included
    record_milliseconds("A2AQueueLatency", claim.queued_ms + (time.monotonic() - started) * 1000)
    _record_activity(claim, "ok" if outcome.ok else "error", response, outcome.error, started, delivery.caller_version)
    _close_delegation(claim, response, None if outcome.ok else outcome.error)


def _plan(claim: store.Claim) -> Delivery:
    """The delivery of a queued request as its caller made it: the version and headers it came
    with (a row queued before versions were kept reads its version from its method)."""
    headers = dict(claim.forwarded_headers or {})
    version = claim.protocol_version
    if version not in ("0.3", "1.0"):
        try:
            version = request_version(headers.get(VERSION_HEADER), claim.method or "")
        except VersionRefused:
            version = "0.3"
    return plan_delivery(
        claim.body,
        claim.method or "",
        "1.0" if version == "1.0" else "0.3",
        headers,
        claim.agent_card,
        inbound_secret=claim.inbound_secret,
        caller_id=claim.caller_id,
    )


def _fail_answered(
    claim: store.Claim,
    status: int,
    response: Any,
    outcome: Outcome,
    started: float,
    delivery: Delivery | None = None,
) -> None:
    """An answer no redelivery gets past (method not found, version not supported, invalid
    params): the row ends `failed` with the error and the answer, the activity row says error."""
    queue_id = claim.id
    assert queue_id is not None
    error = outcome.error or "agent refused the message"
    count("A2AQueueFailed")
    db.single_statement(lambda conn: store.fail_answered(conn, queue_id, status, response, error))
    logger.error("a2a queued message refused by its agent", extra={"queue_id": str(queue_id), "error": error})
    version = delivery.caller_version if delivery else claim.protocol_version
    _record_activity(claim, "error", response, error, started, version)
    _close_delegation(claim, response, error)


def delegation_id(body: Any) -> str | None:
    """The `delegation_id` an A2A request carries in its message's metadata (or its params'), in
    either version: what ties a delegated task and its answers to their delegation (SPEC §5.10)."""
    params = body.get("params") if isinstance(body, dict) else None
    if not isinstance(params, dict):
        return None
    message = params.get("message")
    for metadata in (message.get("metadata") if isinstance(message, dict) else None, params.get("metadata")):
        value = metadata.get("delegation_id") if isinstance(metadata, dict) else None
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def _close_delegation(claim: store.Claim, response: Any, error: str | None) -> None:
    """A delegated task's delivery ended: its answer (or why there is none) goes to the delegation
    it belongs to, which the delegations domain reads and closes (SPEC §5.10). Imported here, on
    this path only: delegations uses the A2A service (an import cycle otherwise), and a drain that
    carries no delegation never loads it."""
    found = delegation_id(claim.body)
    if found is None or claim.caller_id is None or claim.workspace_id is None:
        return
    from molecule_core.delegations import service as delegations

    try:
        delegations.record_delivery(
            found, delegator_id=claim.caller_id, target_id=claim.workspace_id, response=response, error=error
        )
    except Exception:  # the message's own fate is already recorded; the delegation is the delegator's view
        logger.exception("delegation not closed", extra={"queue_id": str(claim.id), "delegation_id": found[:255]})


# --- status --------------------------------------------------------------------------------------

STATUS_FIELDS = (
    "status",
    "attempts",
    "last_error",
    "enqueued_at",
    "published_at",
    "dispatched_at",
    "completed_at",
    "expires_at",
)


def queue_status(workspace_id: UUID, queue_id: UUID, viewer: Caller) -> dict[str, Any]:
    """One queued message, for its caller, its target, an org token or the admin. Any other
    workspace gets 404 like an unknown id (no 403: existence is not leaked)."""
    not_found = NotFound("queued message not found")
    row = db.single_statement(lambda conn: store.get(conn, queue_id))
    if row is None or row["workspace_id"] != workspace_id:
        raise not_found
    if viewer.kind == "workspace" and viewer.workspace_id not in (row["workspace_id"], row["caller_id"]):
        raise not_found
    result: dict[str, Any] = {"queue_id": str(row["id"]), **{name: row[name] for name in STATUS_FIELDS}}
    if row["status"] == "completed" or (row["status"] == "failed" and row["response_status"] is not None):
        result["response_status"] = row["response_status"]
        result["response_body"] = row["response_body"]
    return result


QUEUE_PAGE_DEFAULT = 50
QUEUE_PAGE_MAX = 200


def list_queue(workspace_id: UUID | None, status: str | None, limit: int) -> list[dict[str, Any]]:
    """A bounded page of queue rows, newest first: one target's, or (None) the whole fleet's."""
    bounded = max(1, min(limit, QUEUE_PAGE_MAX))
    return db.single_statement(
        lambda conn: store.list_rows(conn, workspace_id=workspace_id, status=status, limit=bounded)
    )
