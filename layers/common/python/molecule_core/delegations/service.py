"""Delegations (SPEC §5.10): a workspace hands a task to another and tracks it to a result.

The request never waits for the target. `delegate` records the delegation (`pending`), hands the
task to the A2A domain as a send in the target agent's version (`a2a.service.enqueue_message`:
the A2A queue for a push target → `dispatched`, the inbox of a poll target → `queued`) and answers
202. The result arrives later, by one of three paths, whichever comes first:
- the drain delivered the task and read the agent's answer (`record_delivery`, called by the drain);
- the target replied through the proxy with the same `delegation_id` in its metadata
  (`record_reply`; how a poll-mode target answers) — only the target, to its delegator;
- the delegator's agent reports it (`update_delegation`; for delegations it dispatched itself and
  recorded with `record_delegation`).
Statuses: pending → dispatched → (queued) → completed | failed. Every change is one statement that
also writes the `delegation` activity row and the structural event (`store.py`); a final status is
never left again.
"""

from __future__ import annotations

import uuid
from typing import Any, get_args
from uuid import UUID

from molecule_core.a2a import service as a2a
from molecule_core.auth.models import Caller
from molecule_core.delegations import store
from molecule_core.delegations.intake import parse_target_id, require_task, resolve_parties
from molecule_core.delegations.models import (
    LIST_MAX,
    OPEN_STATUSES,
    DelegateAnswer,
    DelegateRequest,
    Delegation,
    DelegationItem,
    DelegationStatus,
    RecordDelegationRequest,
    RecordedDelegation,
    UpdatedDelegation,
    UpdateDelegationRequest,
)
from molecule_core.delegations.replies import Reading, clean_text, read_answer
from molecule_core.platform import db
from molecule_core.platform.errors import (
    AccessDenied,
    Conflict,
    DatastoreUnavailable,
    DomainError,
    InvalidInput,
    NotFound,
    WorkspaceNotFound,
)
from molecule_core.platform.observability import count, logger
from molecule_core.registry.models import lineages_from_json
from molecule_core.registry.service import is_access_allowed

EVENT_BY_STATUS: dict[DelegationStatus, str] = {
    "pending": "DELEGATION_SENT",
    "dispatched": "DELEGATION_STATUS",
    "queued": "DELEGATION_STATUS",
    "completed": "DELEGATION_COMPLETE",
    "failed": "DELEGATION_FAILED",
}
# EMF counts (namespace Molecule): delegations made, and how they ended.
METRIC_BY_STATUS: dict[DelegationStatus, str] = {
    "completed": "DelegationsCompleted",
    "failed": "DelegationsFailed",
}


def _not_found() -> NotFound:
    return NotFound("delegation not found")


def _sent_record(target_id: UUID, task: str, *, event_type: str = "DELEGATION_SENT") -> store.Record:
    return store.Record(
        method="delegate",
        summary=f"Delegating to {target_id}: {task[:160]}",
        event_type=event_type,
        request_extra={"task": task},
        event_extra={"task_preview": task[:100]},
    )


def _result_record(status: DelegationStatus, *, text: str | None = None, error: str | None = None) -> store.Record:
    """How a change to `status` after the delegation was sent is recorded."""
    event_type = EVENT_BY_STATUS[status]
    if status == "completed":
        preview = (text or "")[:200]
        summary = f"Delegation completed ({preview[:80]})"
        return store.Record("delegate_result", summary, event_type, {}, {"response_preview": preview})
    if status == "failed":
        reason = (error or "")[:500]
        return store.Record("delegate_result", f"Delegation failed: {reason[:160]}", event_type, {}, {"error": reason})
    summary = "Delegation dispatched" if status == "dispatched" else "Delegation queued for the target to answer"
    return store.Record("delegate_status", summary, event_type, {}, {})


def _move(
    delegator_id: UUID,
    delegation_id: str,
    to_status: DelegationStatus,
    *,
    target_id: UUID | None = None,
    from_statuses: tuple[DelegationStatus, ...] = OPEN_STATUSES,
    text: str | None = None,
    error: str | None = None,
    queue_id: UUID | None = None,
) -> bool:
    record = _result_record(to_status, text=text, error=error)
    moved = db.single_statement(
        lambda conn: store.transition(
            conn,
            source_id=delegator_id,
            delegation_id=delegation_id,
            target_id=target_id,
            from_statuses=from_statuses,
            to_status=to_status,
            record=record,
            result=text if to_status == "completed" else None,
            error=error if to_status == "failed" else None,
            queue_id=queue_id,
        ),
        idempotent=False,
    )
    if moved and to_status in METRIC_BY_STATUS:
        count(METRIC_BY_STATUS[to_status])
    return moved


# --- POST /workspaces/{id}/delegate ----------------------------------------------------------------


def _hit(context: store.DelegateContext) -> DelegateAnswer:
    assert context.existing_delegation_id is not None and context.existing_target_id is not None
    count("DelegationsIdempotentHits")
    return DelegateAnswer(
        delegation_id=context.existing_delegation_id,
        status=str(context.existing_status),
        target_id=context.existing_target_id,
        idempotent_hit=True,
    )


def delegate(workspace_id: UUID, request: DelegateRequest, caller: Caller) -> DelegateAnswer:
    """`workspace_id`: the path's workspace — the delegator, or in the SDK's form the target
    (`intake.resolve_parties`). Answers the new delegation (202), or the live one with the same
    idempotency key (200, `idempotent_hit`)."""
    parties = resolve_parties(workspace_id, caller, request.target_id)
    task = require_task(request.task)
    key = request.idempotency_key or None
    delegator_id, target_id = parties.delegator_id, parties.target_id

    def load() -> store.DelegateContext:
        return db.single_statement(lambda conn: store.load_delegate_context(conn, delegator_id, target_id, key))

    context = load()
    lineages = lineages_from_json(context.lineages)
    delegator, target = lineages.get(delegator_id), lineages.get(target_id)
    if delegator is None or delegator.removed:
        raise WorkspaceNotFound()
    if context.existing_delegation_id is not None:
        return _hit(context)
    if target is None or target.removed:
        raise WorkspaceNotFound("target workspace not found")
    if not is_access_allowed(delegator, target):
        raise AccessDenied("this workspace may not delegate to the target (the access rule: self, siblings, lineage)")

    row_id = uuid.uuid4()
    new = store.NewDelegation(
        id=row_id,
        delegation_id=str(row_id),
        source_id=delegator_id,
        target_id=target_id,
        task=task,
        status="pending",
        origin="platform",
        idempotency_key=key,
    )
    inserted = db.single_statement(
        lambda conn: store.insert_delegation(conn, new, _sent_record(target_id, task)), idempotent=False
    )
    if inserted == "no_delegator":  # removed a moment ago
        raise WorkspaceNotFound()
    if inserted == "taken":  # a concurrent request with the same key won: its delegation is the answer
        context = load()
        if context.existing_delegation_id is None:  # …and has failed since: this request may try again
            raise Conflict("a request with this idempotency_key was handled concurrently; send it again")
        return _hit(context)
    count("DelegationsCreated")
    _hand_over(new)
    return DelegateAnswer(delegation_id=new.delegation_id, status="delegated", target_id=target_id)


def _hand_over(new: store.NewDelegation) -> None:
    """The task to the A2A domain (never dispatched inside this request), then `dispatched` (on
    the A2A queue) or `queued` (in a poll target's inbox). A refusal there (the target was removed
    a moment ago) fails the delegation and reaches the caller; a database outage leaves it
    `pending` and answers 503."""
    try:
        handed = a2a.enqueue_message(
            new.target_id,
            new.source_id,
            new.task,
            message_id=new.delegation_id,
            metadata={"delegation_id": new.delegation_id},
        )
    except DatastoreUnavailable:
        raise
    except DomainError as exc:
        _move(new.source_id, new.delegation_id, "failed", error=f"not handed to the target: {exc.message}")
        raise
    if handed.route == "queue":
        _move(new.source_id, new.delegation_id, "dispatched", from_statuses=("pending",), queue_id=handed.id)
    else:
        _move(new.source_id, new.delegation_id, "queued", from_statuses=("pending",))


# --- results ---------------------------------------------------------------------------------------


def _apply(reading: Reading, delegator_id: UUID, delegation_id: str, target_id: UUID) -> bool:
    if reading.status == "queued":
        # Not a result (a task still under way, or taken into an inbox): wait for the reply.
        return _move(
            delegator_id, delegation_id, "queued", target_id=target_id, from_statuses=("pending", "dispatched")
        )
    return _move(
        delegator_id, delegation_id, reading.status, target_id=target_id, text=reading.text, error=reading.error
    )


def record_delivery(
    delegation_id: str, *, delegator_id: UUID, target_id: UUID, response: Any, error: str | None
) -> bool:
    """The A2A queue's drain is done with a delegated task (SPEC §5.10): `response` is the agent's
    answer (the caller's version), `error` why it failed or was never delivered. Whether the
    delegation moved."""
    reading = Reading("failed", error=clean_text(error, 2000)) if error is not None else read_answer(response)
    moved = _apply(reading, delegator_id, delegation_id, target_id)
    logger.info(
        "delegation delivery read",
        extra={"delegation_id": delegation_id[:255], "reading": reading.status, "moved": moved},
    )
    return moved


def record_reply(delegation_id: str, *, replier_id: UUID, delegator_id: UUID, text: str) -> bool:
    """A message through the proxy that carries `delegation_id`: it completes the delegation only
    when it comes from that delegation's target and goes to its delegator (the statement's
    condition); from anyone else it changes nothing. Whether the delegation moved."""
    return _move(delegator_id, delegation_id, "completed", target_id=replier_id, text=clean_text(text))


def fail_undelivered() -> dict[str, int]:
    """The outbox sweep's part for delegations: a task whose queue message ended without an answer
    (expired, dropped by an operator, failed while the drain could not close the delegation) fails
    its delegation, which nothing else would ever close. How many, by the message's fate."""
    return {queue_status: _fail_undelivered(queue_status) for queue_status in get_args(store.UndeliveredStatus)}


def _fail_undelivered(queue_status: store.UndeliveredStatus) -> int:
    reason = f"never answered: its A2A queue message {queue_status}"
    record = _result_record("failed", error=reason)
    return db.single_statement(lambda conn: store.fail_undelivered(conn, queue_status, reason, record))


# --- record and update (delegations the agent dispatched itself) -----------------------------------


def record_delegation(workspace_id: UUID, request: RecordDelegationRequest) -> RecordedDelegation:
    """Idempotent on `delegation_id`: recording it again changes nothing and answers the same."""
    target_id = parse_target_id(request.target_id)
    task = require_task(request.task)
    if target_id == workspace_id:
        raise InvalidInput("self-delegation not permitted", field="target_id")
    new = store.NewDelegation(
        id=uuid.uuid4(),
        delegation_id=request.delegation_id,
        source_id=workspace_id,
        target_id=target_id,
        task=task,
        status="dispatched",
        origin="agent",
    )
    inserted = db.single_statement(
        lambda conn: store.insert_delegation(conn, new, _sent_record(target_id, task)), idempotent=False
    )
    if inserted == "no_delegator":
        raise WorkspaceNotFound()
    if inserted == "inserted":
        count("DelegationsRecorded")
    return RecordedDelegation(delegation_id=request.delegation_id)


def update_delegation(workspace_id: UUID, delegation_id: str, request: UpdateDelegationRequest) -> UpdatedDelegation:
    """The delegator's agent closes a delegation. A final status stays: the same one again is
    answered as done, another one is 409."""
    text = request.response_preview if request.status == "completed" else None
    if not _move(workspace_id, delegation_id, request.status, text=text, error=request.error or None):
        current = db.single_statement(lambda conn: store.get_status(conn, workspace_id, delegation_id))
        if current is None:
            raise _not_found()
        if current != request.status:
            raise Conflict(f"delegation is already {current}", status=current)
    return UpdatedDelegation(status=request.status, delegation_id=delegation_id)


# --- reading -------------------------------------------------------------------------------------


def list_delegations(workspace_id: UUID, *, status: DelegationStatus | None, limit: int) -> list[DelegationItem]:
    bounded = max(1, min(limit, LIST_MAX))
    listed = db.single_statement(lambda conn: store.list_delegations(conn, workspace_id, status=status, limit=bounded))
    if not listed.workspace_exists:
        raise WorkspaceNotFound()
    return [DelegationItem.model_validate(row) for row in listed.rows]


def get_delegation(workspace_id: UUID, delegation_id: str) -> Delegation:
    row = db.single_statement(lambda conn: store.get_delegation(conn, workspace_id, delegation_id))
    if row is None:
        raise _not_found()
    return Delegation.model_validate(row)
