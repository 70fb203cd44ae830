"""The A2A proxy, POST /workspaces/{id}/a2a (SPEC §5.4), as one flow:

1. who calls (a workspace proving itself with its own token, or a user: admin/org token, or no
   bearer in dev fail-open);  2. the target and the access rule (403), the budget (402) — one
   round trip;  3. the payload normalised to A2A v0.3;  4. poll-mode targets: the message goes to
   the target's inbox (activity) instead of a socket;  5./6. push: dispatch over HTTP, and read
   dead / busy / slow agents for what they are;  7. every outcome leaves an a2a_receive row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from molecule_core import db
from molecule_core.a2a import queue as a2a_queue
from molecule_core.a2a.classify import is_upstream_dead_status
from molecule_core.a2a.normalize import A2AError, NormalizedA2A, normalize_a2a_payload
from molecule_core.access import is_access_allowed
from molecule_core.agents import client as agent_client
from molecule_core.auth.guards import bearer_from_headers, identify, is_dev_fail_open
from molecule_core.delivery import is_http_url, resolve_delivery_mode
from molecule_core.errors import AccessDenied, DomainError, InvalidInput, Unauthorized, WorkspaceNotFound
from molecule_core.lifecycle import LifecycleRequest, request_lifecycle
from molecule_core.observability import logger
from molecule_core.provisioner import ProvisionError, get_provisioner
from molecule_core.store import a2a as a2a_store
from molecule_core.store import activity as activity_store
from molecule_core.store.a2a import DispatchContext
from molecule_core.store.activity import NewActivity

RETRY_AFTER_SECONDS = "15"
RESERVED_CALLER_PREFIXES = ("system:", "platform:", "admin:")
# Headers that carry the caller's claimed identity (SDKs and the channel plugin use either).
CALLER_HEADERS = ("x-workspace-id", "x-source-workspace-id")
FORWARDED_HEADERS = ("a2a-version",)


@dataclass(frozen=True)
class ProxyResult:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass(frozen=True)
class A2ACaller:
    workspace_id: UUID | None  # None: a user (canvas, CLI, admin/org token)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    return next((v for k, v in (headers or {}).items() if k.lower() == name), None)


def _json(status: int, body: dict[str, Any], **headers: str) -> ProxyResult:
    return ProxyResult(status, json.dumps(body, separators=(",", ":")).encode(), dict(headers))


def resolve_caller(headers: Mapping[str, str] | None) -> A2ACaller:
    claimed_raw = next((value for name in CALLER_HEADERS if (value := _header(headers, name))), None)
    claimed: UUID | None = None
    if claimed_raw:
        claimed_raw = claimed_raw.strip()
        if claimed_raw.lower().startswith(RESERVED_CALLER_PREFIXES):
            raise AccessDenied("reserved caller identity")
        try:
            claimed = UUID(claimed_raw)
        except ValueError:
            raise InvalidInput("X-Workspace-ID must be a workspace id", field="X-Workspace-ID") from None
    bearer = bearer_from_headers(headers)
    if bearer is None:
        if is_dev_fail_open():
            return A2ACaller(claimed)  # laptop stack only: the header is trusted
        raise Unauthorized("missing workspace auth token")
    caller = identify(bearer)
    if caller is None:
        raise Unauthorized("invalid workspace auth token")
    if caller.kind == "workspace":
        if claimed is not None and claimed != caller.workspace_id:
            raise Unauthorized("a caller workspace must present its own token")
        return A2ACaller(caller.workspace_id)
    return A2ACaller(None)  # admin or org token: a user, no access check


@dataclass
class _Receipt:
    """The a2a_receive row of this call, filled in as the outcome becomes known."""

    context: DispatchContext
    caller: A2ACaller
    message: NormalizedA2A
    raw: bytes
    started: float = field(default_factory=time.monotonic)

    def record(self, status: str, *, response: Any = None, error: str | None = None, raw_request: bool = False) -> None:
        row = NewActivity(
            workspace_id=self.context.id,
            activity_type="a2a_receive",
            source_id=self.caller.workspace_id,
            target_id=self.context.id,
            method=self.message.method,
            summary=self.message.text[:200] or None,
            request_body=self.message.payload,
            request_raw=self.raw.decode("utf-8", errors="replace") if raw_request and self.message.changed else None,
            response_body=response,
            duration_ms=int((time.monotonic() - self.started) * 1000),
            status=status,
            error_detail=error,
            idempotency_key=self.message.message_id,
        )
        try:
            db.single_statement(
                lambda conn: activity_store.insert_activity(conn, row, touch_workspace=True), idempotent=False
            )
        except DomainError:
            # The message's fate is already decided; a lost log row must not change the answer.
            logger.exception("a2a_receive not recorded", extra={"workspace_id": str(self.context.id)})


def _fail(
    receipt: _Receipt, status: int, body: dict[str, Any], detail: str, *, retry_after: bool = False
) -> ProxyResult:
    """Record the failed delivery and answer it in the platform's error shape."""
    receipt.record("error", response=body, error=detail)
    return _json(status, body, **({"Retry-After": RETRY_AFTER_SECONDS} if retry_after else {}))


def _agent_is_dead(context: DispatchContext) -> bool:
    """Ask the provisioner. External workspaces, and deployments without a backend, have nobody to
    ask: then the agent is presumed alive and its answer passes through."""
    if context.external:
        return False
    try:
        return not get_provisioner().is_running(context.id, context.instance_id)
    except ProvisionError:
        return False


def _restart_dead_agent(receipt: _Receipt, detail: str) -> ProxyResult:
    context = receipt.context
    with db.transaction() as conn:
        a2a_store.mark_dead_agent_offline(conn, context.id, "dead_agent")
    request_lifecycle([LifecycleRequest("restart", context.id, "dead_agent")])
    body = {"error": "agent is not running; it is being restarted", "restarting": True}
    return _fail(receipt, 503, body, detail, retry_after=True)


def proxy_a2a(
    target_id: UUID | None, headers: Mapping[str, str] | None, raw: bytes, *, budget_seconds: float
) -> ProxyResult:
    caller = resolve_caller(headers)
    if target_id is None:
        raise WorkspaceNotFound()
    caller_id = caller.workspace_id
    context = db.single_statement(lambda conn: a2a_store.load_dispatch_context(conn, target_id, caller_id))
    if context is None or context.status == "removed":
        raise WorkspaceNotFound()
    if caller.workspace_id is not None and not is_access_allowed(
        context.lineages.get(caller.workspace_id), context.lineages.get(context.id)
    ):
        raise AccessDenied("caller may not talk to this workspace")
    if context.budget_limit is not None and context.monthly_spend >= context.budget_limit:
        return _json(
            402,
            {
                "error": "workspace budget exhausted",
                "monthly_spend": context.monthly_spend,
                "budget_limit": context.budget_limit,
            },
        )
    try:
        message = normalize_a2a_payload(raw)
    except A2AError as exc:
        return _json(exc.status, exc.body())
    receipt = _Receipt(context, caller, message, raw)

    mode = resolve_delivery_mode(None, context.delivery_mode, context.runtime, context.url)
    if mode == "poll":
        receipt.record("queued", raw_request=True)
        return _json(200, {"status": "queued", "delivery_mode": "poll", "method": message.method})

    if context.status == "hibernated":
        request_lifecycle([LifecycleRequest("wake", context.id, "a2a_message")])
        waking = {"error": "workspace is hibernated; waking it", "waking": True}
        return _fail(receipt, 503, waking, "target hibernated", retry_after=True)
    if not is_http_url(context.url):
        no_url = {"error": "workspace has no URL to deliver to", "status": context.status}
        return _fail(receipt, 503, no_url, "no agent URL")
    if _wants_async(headers) or context.active_tasks >= context.max_concurrent_tasks:
        reason = "respond-async requested" if _wants_async(headers) else "target at capacity"
        return _enqueue(receipt, reason)
    return _dispatch(receipt, headers, budget_seconds)


def _wants_async(headers: Mapping[str, str] | None) -> bool:
    return "respond-async" in (_header(headers, "prefer") or "").lower()


def _enqueue(receipt: _Receipt, reason: str) -> ProxyResult:
    """Hand the message to the A2A queue (SQS FIFO, one group per target): 202 with its queue id.
    The row is written before the publish, so a failed publish is republished by the outbox sweep."""
    result = a2a_queue.enqueue(
        receipt.context.id,
        receipt.caller.workspace_id,
        receipt.message.payload,
        receipt.message.method,
        receipt.message.message_id,
        a2a_queue.expires_in_seconds(receipt.message.payload),
    )
    body = {
        "queued": True,
        "queue_id": str(result.queue_id),
        "queue_depth": result.queue_depth,
        "message": f"{reason}: the message is queued and will be delivered in order",
    }
    receipt.record("queued", response=body)
    return _json(202, body)


def _dispatch(receipt: _Receipt, headers: Mapping[str, str] | None, budget_seconds: float) -> ProxyResult:
    context = receipt.context
    outgoing = {"Content-Type": "application/json", "Accept": "application/json"}
    for name in FORWARDED_HEADERS:
        if (value := _header(headers, name)) is not None:
            outgoing[name] = value
    if context.platform_inbound_secret:
        outgoing["Authorization"] = f"Bearer {context.platform_inbound_secret}"
    if receipt.caller.workspace_id is not None:
        outgoing["X-Source-Workspace-Id"] = str(receipt.caller.workspace_id)
    body = json.dumps(receipt.message.payload, separators=(",", ":")).encode()
    try:
        answer = agent_client.post_json(str(context.url), body, outgoing, budget_seconds=budget_seconds)
    except agent_client.AgentUnreachable as exc:
        if _agent_is_dead(context):
            return _restart_dead_agent(receipt, f"connection failed: {exc}")
        return _fail(
            receipt, 502, {"error": "agent unreachable", "detail": str(exc)[:300]}, f"connection failed: {exc}"
        )
    except agent_client.AgentBusy:
        # The agent took the request and hung up without answering: it is busy. Queue the same
        # message (same messageId, so a retry by the caller finds the same queue row).
        return _enqueue(receipt, "agent busy")
    except agent_client.AgentTimeout:
        message = (
            f"agent did not answer within {budget_seconds:.0f}s; the message was delivered and is not re-sent "
            "(send Prefer: respond-async for long work)"
        )
        return _fail(receipt, 504, {"error": message, "timeout": True}, "timeout")
    if is_upstream_dead_status(answer.status) and _agent_is_dead(context):
        return _restart_dead_agent(receipt, f"upstream {answer.status}")
    receipt.record(
        "ok" if answer.status < 400 else "error",
        response=agent_client.stored_response_body(answer.body),
        error=None if answer.status < 400 else f"agent answered {answer.status}",
    )
    return ProxyResult(
        answer.status,
        answer.body,
        content_type=answer.headers.get("content-type", "application/json"),
    )
