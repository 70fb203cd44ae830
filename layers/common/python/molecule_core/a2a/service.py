"""The A2A proxy, POST /workspaces/{id}/a2a (SPEC §5.4), as one flow, and the A2A queue's entry
points (SPEC §5.5) for the functions that serve it:

1. who calls — a workspace proving itself with its own token, or a user (`auth.callers.A2ACaller`);
2. the target and the access rule (403), the budget (402) — one round trip;
3. the payload checked and normalised within its A2A version (`normalize`, `versions`; a refusal
   is a JSON-RPC error body);
4. poll-mode targets: the message goes to the target's inbox (activity) instead of a socket;
5./6. push: dispatch over HTTP in the version the agent speaks (`delivery`, bridged by `bridge`
   when it differs), and read dead / busy / slow agents for what they are; streamed answers (SSE)
   are relayed event by event within their budget;
7. every outcome leaves an a2a_receive row (`receipt.open_receipt`), its status read from the
   answer's body too (`outcome`: a JSON-RPC error inside HTTP 200 is an error).

A workspace's message that carries a `delegation_id` in its metadata is also offered to the
delegations domain, which closes that delegation when the message is its target's reply (SPEC
§5.10). `enqueue_message` is the other direction: a message the platform itself writes (a delegated
task), handed to its target's inbox or the queue, never dispatched in the request.

Refusals are raised (domain errors carry status, body and Retry-After); what is answered is an
`A2AAnswer`: the agent's bytes unchanged (or translated for the caller's version), or, for the inbox
and the queue, a JSON-RPC response standard clients parse (`submitted`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any
from uuid import UUID

from molecule_core.a2a import bridge, queue
from molecule_core.a2a import store as a2a_store
from molecule_core.a2a.card import proxy_card
from molecule_core.a2a.classify import is_upstream_dead_status
from molecule_core.a2a.delivery import VERSION_HEADER, Delivery, answer_for_caller, forwarded_headers, plan_delivery
from molecule_core.a2a.models import A2AAnswer, HandedMessage
from molecule_core.a2a.normalize import NormalizedA2A, normalize_a2a_payload, normalize_a2a_request
from molecule_core.a2a.outcome import outcome_of, stream_outcome
from molecule_core.a2a.queue import (
    QUEUE_PAGE_DEFAULT,
    QUEUE_PAGE_MAX,
    DrainRetry,
    backoff_seconds,
    delay_redelivery,
    delegation_id,
    drain_record,
    drop_stale,
    expire_due,
    list_queue,
    prune_finished,
    queue_status,
    recover_after_restart,
    republish_unpublished,
    rescue_dead_letters,
)
from molecule_core.a2a.receipt import ProxyFailure, Receipt, open_receipt, refuse_unstorable
from molecule_core.a2a.sse import CONTENT_TYPE as SSE_CONTENT_TYPE
from molecule_core.a2a.sse import SseEvent, SseReader, format_event
from molecule_core.a2a.submitted import submitted_answer
from molecule_core.a2a.versions import (
    SUPPORTED_VERSIONS,
    V10,
    ProtocolVersion,
    agent_versions,
    is_streaming_method,
    message_send,
    preferred_version,
)
from molecule_core.agents import service as agent_client
from molecule_core.agents.models import AgentResponse
from molecule_core.auth import service as auth
from molecule_core.auth.models import Caller, PresentedCaller, TokenMatch
from molecule_core.lifecycle import service as lifecycle
from molecule_core.lifecycle.models import LifecycleRequest
from molecule_core.platform import db
from molecule_core.platform.errors import AccessDenied, NotFound, PaymentRequired, WorkspaceNotFound
from molecule_core.platform.observability import logger, note_caller
from molecule_core.platform.settings import get_settings
from molecule_core.registry.models import lineages_from_json
from molecule_core.registry.service import is_access_allowed
from molecule_core.workspaces.models import is_http_url, resolve_delivery_mode

# The queue's entry points, for the drain, the outbox sweep and the queue routes.
__all__ = [
    "QUEUE_PAGE_DEFAULT",
    "QUEUE_PAGE_MAX",
    "DrainRetry",
    "backoff_seconds",
    "delay_redelivery",
    "drain_record",
    "drop_stale",
    "enqueue_message",
    "expire_due",
    "list_queue",
    "proxy_a2a",
    "prune_finished",
    "queue_status",
    "recover_after_restart",
    "republish_unpublished",
    "rescue_dead_letters",
    "workspace_agent_card",
]

RETRY_AFTER_SECONDS = 15
AGENT_BUSY = "agent busy"  # why a message is queued when its agent hung up without answering
# Events of a relayed stream kept in its a2a_receive row (the row is a record, not a transcript).
MAX_RECORDED_EVENTS = 50


def _load_target(target_id: UUID, presented: PresentedCaller) -> tuple[Caller, a2a_store.DispatchContext]:
    """Who calls (401), the target (404) and the access rule (403) — one round trip: the caller's
    bearer is looked up in the statement that loads the target."""
    token_hash = presented.token_hash
    decided_id = presented.decided.workspace_id if presented.decided is not None else None
    loaded = db.single_statement(lambda conn: a2a_store.load_dispatch(conn, target_id, token_hash, decided_id))
    match = TokenMatch.found(loaded.bearer_kind, loaded.bearer_token_id, loaded.bearer_workspace_id)
    caller = auth.settle_a2a_caller(presented, match)
    context = loaded.target
    if context is None or context.status == "removed":
        raise WorkspaceNotFound()
    if caller.kind == "workspace" and caller.workspace_id is not None:
        lineages = lineages_from_json(context.lineages)
        if not is_access_allowed(lineages.get(caller.workspace_id), lineages.get(context.id)):
            raise AccessDenied("caller may not talk to this workspace")
    return caller, context


def proxy_a2a(
    target_id: UUID,
    presented: PresentedCaller,
    raw: bytes,
    *,
    headers: Mapping[str, str | None],
    respond_async: bool,
    budget_seconds: float,
    stream_budget_seconds: float | None = None,
) -> A2AAnswer:
    """`headers`: the A2A request headers the caller sent (`A2A-Version`, extensions), carried to
    the agent. `stream_budget_seconds`: how long a streamed answer may be relayed (default: the
    blocking budget — a buffered invocation must answer within it)."""
    caller, context = _load_target(target_id, presented)
    note_caller(caller.kind, caller.workspace_id)  # for the request line: the bearer was looked up here
    caller_id = caller.workspace_id if caller.kind == "workspace" else None
    if context.budget_limit is not None and context.monthly_spend >= context.budget_limit:
        raise PaymentRequired(
            "workspace budget exhausted", monthly_spend=context.monthly_spend, budget_limit=context.budget_limit
        )
    caller_headers = forwarded_headers(headers)
    message = normalize_a2a_payload(raw, caller_headers.get(VERSION_HEADER))
    refuse_unstorable(message)
    if caller_id is not None and (replied_to := delegation_id(message.payload)) is not None:
        _close_replied_delegation(replied_to, caller_id, context.id, message.text)

    with open_receipt(context, caller_id, message, raw) as receipt:
        mode = resolve_delivery_mode(None, context.delivery_mode, context.runtime, context.url)
        if mode == "poll":
            inbox_id = receipt.record("queued", is_delivery=True)
            molecule = {"status": "queued", "delivery_mode": "poll", "method": message.method}
            return _submitted(200, message, str(inbox_id), molecule)
        if context.status == "hibernated":
            lifecycle.request_lifecycle([LifecycleRequest("wake", context.id, "a2a_message")])
            raise ProxyFailure(
                503,
                "workspace is hibernated; waking it",
                log_detail="target hibernated",
                retry_after=RETRY_AFTER_SECONDS,
                outcome="restarting",
                waking=True,
            )
        if not is_http_url(context.url):
            raise ProxyFailure(
                503, "workspace has no URL to deliver to", log_detail="no agent URL", status=context.status
            )
        # Planned before anything is queued: a request that cannot reach this agent in a version it
        # speaks is refused now, not failed later by the drain.
        delivery = plan_delivery(
            message.payload,
            message.method,
            message.protocol_version,
            caller_headers,
            context.agent_card,
            inbound_secret=context.platform_inbound_secret,
            caller_id=caller_id,
            unchanged_raw=None if message.changed else raw,
        )
        if respond_async or context.active_tasks >= context.max_concurrent_tasks:
            return _enqueue(
                receipt, "respond-async requested" if respond_async else "target at capacity", caller_headers
            )
        budget = (stream_budget_seconds or budget_seconds) if delivery.streaming else budget_seconds
        return _dispatch(receipt, delivery, budget, caller_headers)


def _close_replied_delegation(replied_to: str, replier_id: UUID, recipient_id: UUID, text: str) -> None:
    """A workspace's message carrying a `delegation_id` (SPEC §5.10): when it is the target of that
    delegation answering its delegator, the delegation completes with the message's text (how a
    poll-mode target answers). Anyone else's message is delivered and changes nothing. Imported
    here, on this path only: delegations uses this service (an import cycle otherwise)."""
    from molecule_core.delegations import service as delegations

    try:
        delegations.record_reply(replied_to, replier_id=replier_id, delegator_id=recipient_id, text=text)
    except Exception:  # the message itself is delivered either way
        logger.exception("delegation reply not recorded", extra={"delegation_id": replied_to[:255]})


def enqueue_message(
    target_id: UUID, caller_id: UUID, text: str, *, message_id: str, metadata: dict[str, Any]
) -> HandedMessage:
    """A message the platform writes for a workspace (a delegated task, SPEC §5.10) and hands to
    its target without dispatching it here: a send request in the version the target's agent
    speaks (its registered card; `preferred_version`), with `message_id` as its messageId and id.
    A poll-mode target gets it in its inbox, as the proxy would put it there; a push target through
    the A2A queue (one row per active messageId), so it survives busy agents and restarts. The
    same refusals as the proxy: unknown target 404, the access rule 403."""
    _, context = _load_target(target_id, PresentedCaller(Caller("workspace", workspace_id=caller_id)))
    version = preferred_version(agent_versions(context.agent_card))
    request = message_send(version, text, message_id, metadata)
    message = normalize_a2a_request(request, version)
    if resolve_delivery_mode(None, context.delivery_mode, context.runtime, context.url) == "poll":
        raw = json.dumps(request, separators=(",", ":")).encode()
        inbox_id = Receipt(context, caller_id, message, raw).record("queued", is_delivery=True)
        assert inbox_id is not None  # an inbox write raises rather than answer None
        return HandedMessage("inbox", inbox_id)
    queued = queue.enqueue(
        context.id,
        caller_id,
        message.payload,
        message.method,
        message.message_id,
        None,
        protocol_version=version,
        forwarded_headers={VERSION_HEADER: V10} if version == V10 else {},
    )
    return HandedMessage("queue", queued.queue_id)


def _submitted(status: int, message: NormalizedA2A, task_id: str, molecule: dict[str, Any]) -> A2AAnswer:
    """The platform's answer for a message it took in (inbox, queue): a submitted Task in the
    caller's version — one SSE event for a streaming call (a2a-sdk 0.3 insists on SSE there)."""
    answer = submitted_answer(message.request_id, task_id, message.context_id, message.protocol_version, molecule)
    if is_streaming_method(message.method):
        return A2AAnswer.sse(status, iter([format_event(answer)]))
    return A2AAnswer.json(status, answer)


def _enqueue(receipt: Receipt, reason: str, caller_headers: dict[str, str]) -> A2AAnswer:
    """Hand the message to the A2A queue (SQS FIFO, one group per target): 202 with its queue id.
    The row is written before the publish, so a failed publish is republished by the outbox sweep.
    It keeps the caller's version and headers: the drain delivers it as this call would have."""
    message = receipt.message
    result = queue.enqueue(
        receipt.context.id,
        receipt.caller_id,
        message.payload,
        message.method,
        message.message_id,
        queue.expires_in_seconds(message.payload),
        protocol_version=message.protocol_version,
        forwarded_headers=caller_headers,
    )
    molecule = {
        "queued": True,
        "queue_id": str(result.queue_id),
        "queue_depth": result.queue_depth,
        "message": f"{reason}: the message is queued and will be delivered in order",
    }
    receipt.record("queued", response=molecule, outcome="busy" if reason == AGENT_BUSY else "queued")
    return _submitted(202, message, str(result.queue_id), molecule)


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
        outcome="restarting",
        restarting=True,
    )


def _is_agent_dead(receipt: Receipt) -> bool:
    """Asked only when a delivery failed; provisioning (~15 ms of a cold start) is loaded then."""
    from molecule_core.provisioning import service as provisioning

    context = receipt.context
    return provisioning.is_agent_dead(context.id, context.instance_id, external=context.external)


def _unreachable(receipt: Receipt, exc: agent_client.AgentUnreachable) -> ProxyFailure:
    if _is_agent_dead(receipt):
        return _restart_dead_agent(receipt, f"connection failed: {exc}")
    return ProxyFailure(502, "agent unreachable", log_detail=f"connection failed: {exc}", detail=str(exc)[:300])


def _timed_out(budget_seconds: float) -> ProxyFailure:
    message = (
        f"agent did not answer within {budget_seconds:.0f}s; the message was delivered and is not re-sent "
        "(send Prefer: respond-async for long work)"
    )
    return ProxyFailure(504, message, log_detail="timeout", outcome="timeout", timeout=True)


def _dispatch(receipt: Receipt, delivery: Delivery, budget_seconds: float, caller_headers: dict[str, str]) -> A2AAnswer:
    """Deliver to the agent and relay its answer. A streaming call (`message/stream`,
    `SendStreamingMessage`, …) relays the answer's events as the agent sends them."""
    url = str(receipt.context.url)
    answer: AgentResponse | agent_client.AgentStream
    try:
        if delivery.streaming:
            answer = agent_client.open_stream(url, delivery.body, delivery.headers, budget_seconds=budget_seconds)
        else:
            answer = agent_client.post_json(url, delivery.body, delivery.headers, budget_seconds=budget_seconds)
    except agent_client.AgentUnreachable as exc:
        raise _unreachable(receipt, exc) from exc
    except agent_client.AgentAddressRefused as exc:
        # the URL passed at register; its host now resolves somewhere the platform does not call
        raise ProxyFailure(
            502, "agent unreachable: its host resolves to an address the platform does not call", log_detail=str(exc)
        ) from exc
    except agent_client.AgentBusy:
        # The agent took the request and hung up without answering: it is busy. Queue the same
        # message (same messageId, so a retry by the caller finds the same queue row).
        return _enqueue(receipt, AGENT_BUSY, caller_headers)
    except agent_client.AgentTimeout as exc:
        raise _timed_out(budget_seconds) from exc
    if isinstance(answer, agent_client.AgentStream):
        return _relay_stream(receipt, delivery, answer, budget_seconds)
    return _relay_answer(receipt, delivery, answer.status, answer.headers, answer.body)


def _relay_answer(
    receipt: Receipt, delivery: Delivery, status: int, headers: Mapping[str, str], raw: bytes
) -> A2AAnswer:
    """A whole answer: a dead agent's status is read as such; the rest goes back to the caller —
    the agent's bytes unchanged, or translated when the call was bridged — and its outcome is
    recorded from the status and the body."""
    if is_upstream_dead_status(status) and _is_agent_dead(receipt):
        raise _restart_dead_agent(receipt, f"upstream {status}")
    content_type = headers.get("content-type", "application/json")
    body = agent_client.response_json(raw)  # the record repairs what it cannot store, after the answer
    if delivery.bridged and status < 400:
        body = answer_for_caller(delivery, body)
        raw = json.dumps(body, separators=(",", ":")).encode()
        content_type = "application/json"
    result = outcome_of(status, body)
    receipt.record("ok" if result.ok else "error", response=body, error=result.error)
    if delivery.streaming and status < 400 and not content_type.startswith(SSE_CONTENT_TYPE):
        # One JSON-RPC answer to a streaming call (an agent refusing it before its stream starts):
        # relayed as the one event of a stream, which a2a-sdk 0.3 requires.
        return A2AAnswer.sse(status, iter([format_event(body)]))
    return A2AAnswer(status, raw, content_type)


def _relay_stream(
    receipt: Receipt, delivery: Delivery, stream: agent_client.AgentStream, budget_seconds: float
) -> A2AAnswer:
    """An SSE answer goes on event by event, each translated when bridged, until the agent ends
    the stream or the budget runs out — then a JSON-RPC error event ends it (SPEC §5.4 step 8).
    Any other answer (an error, one JSON-RPC response) is read whole."""
    if stream.status >= 300 or not stream.headers.get("content-type", "").startswith(SSE_CONTENT_TYPE):
        try:
            raw = stream.read()
        except agent_client.AgentTimeout as exc:
            raise _timed_out(budget_seconds) from exc
        except agent_client.AgentCallError as exc:
            raise ProxyFailure(502, "agent answer broken off", log_detail=f"read failed: {exc}") from exc
        return _relay_answer(receipt, delivery, stream.status, stream.headers, raw)
    return A2AAnswer.sse(stream.status, _relay_events(receipt, delivery, stream, budget_seconds))


def _relay_events(
    receipt: Receipt, delivery: Delivery, stream: agent_client.AgentStream, budget_seconds: float
) -> Iterator[bytes]:
    reader = SseReader()
    recorded: list[Any] = []
    ended_by: str | None = None

    def relay(event: SseEvent) -> bytes:
        parsed = event.json()
        if len(recorded) < MAX_RECORDED_EVENTS:
            recorded.append(parsed if parsed is not None else event.data[:1000])
        if not delivery.bridged or parsed is None:
            return event.raw
        return format_event(answer_for_caller(delivery, parsed), event.event)

    try:
        for chunk in stream.chunks():
            for event in reader.feed(chunk):
                yield relay(event)
        for event in reader.close():
            yield relay(event)
    except agent_client.AgentTimeout:
        ended_by = f"stream outlived its budget of {budget_seconds:.0f}s"
    except agent_client.AgentCallError as exc:
        ended_by = f"agent broke the stream off: {str(exc)[:300]}"
    finally:
        if ended_by is None:
            result = stream_outcome(stream.status, recorded)
            receipt.record("ok" if result.ok else "error", response={"events": recorded}, error=result.error)
        else:
            receipt.record("error", response={"events": recorded}, error=ended_by)
    if ended_by is not None:
        error = {
            "code": -32603,
            "message": f"the proxy ended the stream: {ended_by}",
            "data": {"timeout": "budget" in ended_by},
        }
        yield format_event({"jsonrpc": "2.0", "id": receipt.message.request_id, "error": error}, "error")


def workspace_agent_card(workspace_id: UUID, presented: PresentedCaller) -> dict[str, Any]:
    """GET /workspaces/{id}/.well-known/agent-card.json: the card the workspace's agent registered,
    pointing at the proxy (`card.proxy_card`); 404 until it registered one. The same who-may-talk-
    to-whom rule as the proxy: a card is how a caller starts talking."""
    caller, context = _load_target(workspace_id, presented)
    note_caller(caller.kind, caller.workspace_id)
    if not isinstance(context.agent_card, dict) or not context.agent_card:
        raise NotFound("this workspace's agent has not registered an agent card yet")
    settings = get_settings()
    base = (settings.a2a_endpoint_url or settings.platform_url).rstrip("/")
    spoken = agent_versions(context.agent_card)
    # The proxy carries both versions when it can bridge them, or when it cannot tell what the
    # agent speaks (it then forwards as is); else only what the agent speaks.
    offered: frozenset[ProtocolVersion] = frozenset(SUPPORTED_VERSIONS)
    if spoken and not bridge.is_sdk_installed():
        offered = spoken
    return proxy_card(context.agent_card, f"{base}/workspaces/{workspace_id}/a2a", offered)
