"""The A2A proxy, POST /workspaces/{id}/a2a (SPEC §5.4), as one flow, and the A2A queue's entry
points (SPEC §5.5) for the functions that serve it:

1. who calls — a workspace proving itself with its own token, or a user (`auth.callers.A2ACaller`);
2. the target and the access rule (403), the budget (402) — one round trip;
3. the payload normalised to A2A v0.3 (`normalize`; a refusal is a JSON-RPC error body);
4. poll-mode targets: the message goes to the target's inbox (activity) instead of a socket;
5./6. push: dispatch over HTTP, and read dead / busy / slow agents for what they are;
7. every outcome leaves an a2a_receive row (`receipt.open_receipt`).

Refusals are raised (domain errors carry status, body and Retry-After); what is answered is an
`A2AAnswer`: the agent's bytes unchanged, or the platform's JSON for the inbox and the queue.
"""

from __future__ import annotations

import json
from uuid import UUID

from molecule_core.a2a import queue
from molecule_core.a2a import store as a2a_store
from molecule_core.a2a.classify import is_upstream_dead_status
from molecule_core.a2a.models import A2AAnswer
from molecule_core.a2a.normalize import normalize_a2a_payload
from molecule_core.a2a.queue import (
    DrainRetry,
    backoff_seconds,
    delay_redelivery,
    drain_record,
    drop_stale,
    expire_due,
    queue_status,
    recover_after_restart,
    republish_unpublished,
    rescue_dead_letters,
)
from molecule_core.a2a.receipt import ProxyFailure, Receipt, open_receipt, refuse_unstorable
from molecule_core.agents import service as agent_client
from molecule_core.auth.models import Caller
from molecule_core.lifecycle import service as lifecycle
from molecule_core.lifecycle.models import LifecycleRequest
from molecule_core.platform import db
from molecule_core.platform.errors import AccessDenied, PaymentRequired, WorkspaceNotFound
from molecule_core.provisioning import service as provisioning
from molecule_core.registry.models import lineages_from_json
from molecule_core.registry.service import is_access_allowed
from molecule_core.workspaces.models import is_http_url, resolve_delivery_mode

# The queue's entry points, for the drain, the outbox sweep and the queue routes.
__all__ = [
    "DrainRetry",
    "backoff_seconds",
    "delay_redelivery",
    "drain_record",
    "drop_stale",
    "expire_due",
    "proxy_a2a",
    "queue_status",
    "recover_after_restart",
    "republish_unpublished",
    "rescue_dead_letters",
]

RETRY_AFTER_SECONDS = 15


def proxy_a2a(
    target_id: UUID,
    caller: Caller,
    raw: bytes,
    *,
    a2a_version: str | None,
    respond_async: bool,
    budget_seconds: float,
) -> A2AAnswer:
    caller_id = caller.workspace_id if caller.kind == "workspace" else None
    context = db.single_statement(lambda conn: a2a_store.load_dispatch_context(conn, target_id, caller_id))
    if context is None or context.status == "removed":
        raise WorkspaceNotFound()
    if caller_id is not None:
        lineages = lineages_from_json(context.lineages)
        if not is_access_allowed(lineages.get(caller_id), lineages.get(context.id)):
            raise AccessDenied("caller may not talk to this workspace")
    if context.budget_limit is not None and context.monthly_spend >= context.budget_limit:
        raise PaymentRequired(
            "workspace budget exhausted", monthly_spend=context.monthly_spend, budget_limit=context.budget_limit
        )
    message = normalize_a2a_payload(raw)
    refuse_unstorable(message)

    with open_receipt(context, caller_id, message, raw) as receipt:
        mode = resolve_delivery_mode(None, context.delivery_mode, context.runtime, context.url)
        if mode == "poll":
            receipt.record("queued", raw_request=True, is_delivery=True)
            return A2AAnswer.json(200, {"status": "queued", "delivery_mode": "poll", "method": message.method})
        if context.status == "hibernated":
            lifecycle.request_lifecycle([LifecycleRequest("wake", context.id, "a2a_message")])
            raise ProxyFailure(
                503,
                "workspace is hibernated; waking it",
                log_detail="target hibernated",
                retry_after=RETRY_AFTER_SECONDS,
                waking=True,
            )
        if not is_http_url(context.url):
            raise ProxyFailure(
                503, "workspace has no URL to deliver to", log_detail="no agent URL", status=context.status
            )
        if respond_async or context.active_tasks >= context.max_concurrent_tasks:
            return _enqueue(receipt, "respond-async requested" if respond_async else "target at capacity")
        return _dispatch(receipt, a2a_version, budget_seconds)


def _enqueue(receipt: Receipt, reason: str) -> A2AAnswer:
    """Hand the message to the A2A queue (SQS FIFO, one group per target): 202 with its queue id.
    The row is written before the publish, so a failed publish is republished by the outbox sweep."""
    result = queue.enqueue(
        receipt.context.id,
        receipt.caller_id,
        receipt.message.payload,
        receipt.message.method,
        receipt.message.message_id,
        queue.expires_in_seconds(receipt.message.payload),
    )
    body = {
        "queued": True,
        "queue_id": str(result.queue_id),
        "queue_depth": result.queue_depth,
        "message": f"{reason}: the message is queued and will be delivered in order",
    }
    receipt.record("queued", response=body)
    return A2AAnswer.json(202, body)


def _restart_dead_agent(receipt: Receipt, detail: str) -> ProxyFailure:
    context = receipt.context
    with db.transaction() as conn:
        a2a_store.mark_dead_agent_offline(conn, context.id, "dead_agent")
    lifecycle.request_lifecycle([LifecycleRequest("restart", context.id, "dead_agent")])
    return ProxyFailure(
        503,
        "agent is not running; it is being restarted",
        log_detail=detail,
        retry_after=RETRY_AFTER_SECONDS,
        restarting=True,
    )


def _is_agent_dead(receipt: Receipt) -> bool:
    context = receipt.context
    return provisioning.is_agent_dead(context.id, context.instance_id, external=context.external)


def _dispatch(receipt: Receipt, a2a_version: str | None, budget_seconds: float) -> A2AAnswer:
    context = receipt.context
    outgoing = {"Content-Type": "application/json", "Accept": "application/json"}
    if a2a_version is not None:
        outgoing["A2A-Version"] = a2a_version
    if context.platform_inbound_secret:
        outgoing["Authorization"] = f"Bearer {context.platform_inbound_secret}"
    if receipt.caller_id is not None:
        outgoing["X-Source-Workspace-Id"] = str(receipt.caller_id)
    body = json.dumps(receipt.message.payload, separators=(",", ":")).encode()
    try:
        answer = agent_client.post_json(str(context.url), body, outgoing, budget_seconds=budget_seconds)
    except agent_client.AgentUnreachable as exc:
        if _is_agent_dead(receipt):
            raise _restart_dead_agent(receipt, f"connection failed: {exc}") from exc
        raise ProxyFailure(
            502, "agent unreachable", log_detail=f"connection failed: {exc}", detail=str(exc)[:300]
        ) from exc
    except agent_client.AgentAddressRefused as exc:
        # the URL passed at register; its host now resolves somewhere the platform does not call
        raise ProxyFailure(
            502, "agent unreachable: its host resolves to an address the platform does not call", log_detail=str(exc)
        ) from exc
    except agent_client.AgentBusy:
        # The agent took the request and hung up without answering: it is busy. Queue the same
        # message (same messageId, so a retry by the caller finds the same queue row).
        return _enqueue(receipt, "agent busy")
    except agent_client.AgentTimeout as exc:
        message = (
            f"agent did not answer within {budget_seconds:.0f}s; the message was delivered and is not re-sent "
            "(send Prefer: respond-async for long work)"
        )
        raise ProxyFailure(504, message, log_detail="timeout", timeout=True) from exc
    if is_upstream_dead_status(answer.status) and _is_agent_dead(receipt):
        raise _restart_dead_agent(receipt, f"upstream {answer.status}")
    receipt.record(
        "ok" if answer.status < 400 else "error",
        response=agent_client.stored_response_body(answer.body),
        error=None if answer.status < 400 else f"agent answered {answer.status}",
    )
    return A2AAnswer(answer.status, answer.body, answer.headers.get("content-type", "application/json"))
