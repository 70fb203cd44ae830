"""One delivery of an A2A request to its agent, as the proxy and the queue's drain both make it
(SPEC §5.4 steps 6 and 8, §5.5): the version the agent receives, the body (bridged when the caller
and the agent speak different versions), the headers, and the agent's answer translated back for
the caller. Pure: the HTTP call itself belongs to `agents.service`.

The agent's version comes from its registered card; an agent whose card says nothing gets the
request as the caller wrote it. Streaming calls ask for `text/event-stream` (a2a-sdk's agents answer
SSE only then), the others for JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from molecule_core.a2a import bridge
from molecule_core.a2a.normalize import INVALID_PARAMS, A2AError
from molecule_core.a2a.sse import CONTENT_TYPE as SSE_CONTENT_TYPE
from molecule_core.a2a.versions import (
    VERSION_NOT_SUPPORTED,
    ProtocolVersion,
    agent_versions,
    delivery_version,
    is_streaming_method,
    outgoing_version_header,
)

VERSION_HEADER = "A2A-Version"
# Request headers the proxy carries to the agent unchanged (and the queue keeps for its drain):
# the protocol version and the extensions the caller asks for (1.0 name, 0.3 name).
FORWARDED_HEADERS = (VERSION_HEADER, "A2A-Extensions", "X-A2A-Extensions")


@dataclass(frozen=True)
class Delivery:
    caller_method: str
    caller_version: ProtocolVersion
    agent_version: ProtocolVersion  # what the agent receives
    payload: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    # the caller's bytes, when they are exactly what the agent receives (nothing normalised or
    # bridged): sent as they came instead of serialised again
    raw: bytes | None = None

    @property
    def bridged(self) -> bool:
        return self.agent_version != self.caller_version

    @property
    def streaming(self) -> bool:
        return is_streaming_method(self.caller_method)

    @property
    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.payload, separators=(",", ":")).encode()


def forwarded_headers(values: Mapping[str, str | None]) -> dict[str, str]:
    """The caller's headers worth carrying (by their canonical names), without the empty ones."""
    by_name = {name.lower(): name for name in FORWARDED_HEADERS}
    return {by_name[name.lower()]: value for name, value in values.items() if value and name.lower() in by_name}


def plan_delivery(
    payload: dict[str, Any],
    method: str,
    caller_version: ProtocolVersion,
    caller_headers: Mapping[str, str],
    agent_card: Any,
    *,
    inbound_secret: str | None,
    caller_id: UUID | None,
    unchanged_raw: bytes | None = None,
) -> Delivery:
    """Raises A2AError (a JSON-RPC error for the caller) when the request cannot reach the agent
    in a version it speaks. `unchanged_raw`: the request's bytes when normalising changed nothing;
    sent as they are unless the request is bridged."""
    delivered = delivery_version(caller_version, agent_versions(agent_card))
    body = payload
    if delivered != caller_version:
        if not bridge.can_bridge(method):
            why = "" if bridge.is_sdk_installed() else " (this platform has no A2A bridge installed)"
            raise A2AError(
                VERSION_NOT_SUPPORTED,
                f"the agent speaks A2A {delivered}, the request A2A {caller_version}; {method} cannot be bridged{why}",
                payload.get("id"),
            )
        try:
            body = bridge.bridge_request(payload, delivered)
        except bridge.BridgeError as exc:
            raise A2AError(INVALID_PARAMS, str(exc), payload.get("id")) from None
    headers = {
        "Content-Type": "application/json",
        "Accept": SSE_CONTENT_TYPE if is_streaming_method(method) else "application/json",
    }
    version = outgoing_version_header(caller_headers.get(VERSION_HEADER), caller_version, delivered)
    if version is not None:
        headers[VERSION_HEADER] = version
    headers.update({name: value for name, value in caller_headers.items() if name != VERSION_HEADER})
    if inbound_secret:
        headers["Authorization"] = f"Bearer {inbound_secret}"
    if caller_id is not None:
        headers["X-Source-Workspace-Id"] = str(caller_id)
    raw = unchanged_raw if delivered == caller_version else None
    return Delivery(method, caller_version, delivered, body, headers, raw)


def answer_for_caller(delivery: Delivery, answer: Any) -> Any:
    """The agent's JSON-RPC response (one response, or one stream event) in the caller's version.
    An answer that cannot be translated becomes a JSON-RPC internal error naming why."""
    if not delivery.bridged:
        return answer
    try:
        return bridge.bridge_response(answer, delivery.caller_method, delivery.caller_version)
    except bridge.BridgeError as exc:
        request_id = answer.get("id") if isinstance(answer, dict) else None
        return {"jsonrpc": "2.0", "id": request_id, "error": {"code": -32603, "message": str(exc)}}
