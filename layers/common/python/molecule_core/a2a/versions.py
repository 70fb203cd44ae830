"""A2A protocol versions as data (SPEC §5.4 step 8): which version a request speaks, which versions
an agent's registered card offers, and the method names of each generation. Pure: no I/O.

Two generations are first-class: A2A 0.3 (`message/send`, parts with `kind`, roles `user|agent`)
and A2A 1.0 (`SendMessage`, proto-JSON parts without `kind`, `ROLE_USER`, the `A2A-Version: 1.0`
header). The pre-0.3 shapes (v0.2 `tasks/send`, `content`) belong to the 0.3 family: the
normaliser rewrites them into 0.3.

A request's version is its `A2A-Version` header when present (a2a-sdk 1.x sends it on every call,
its 0.3 compat transport sends `0.3`), else its method's family; a request that names neither is
0.3, as the A2A 1.0 specification prescribes for a missing header (the 0.3.x SDK sends none).
A header that contradicts its method is refused, never forwarded: the agent would refuse it too
(a 1.x agent answers -32009 or -32601), after the caller had been told nothing useful.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

ProtocolVersion = Literal["0.3", "1.0"]
V03: Final = "0.3"
V10: Final = "1.0"
SUPPORTED_VERSIONS: tuple[ProtocolVersion, ...] = (V03, V10)

# JSON-RPC code of A2A 1.0's VersionNotSupportedError (a2a-sdk answers it for a header it does not speak).
VERSION_NOT_SUPPORTED = -32009

# 0.3 method → the 1.0 method with the same meaning (A2A 1.0 renamed every method). `ListTasks`
# exists only in 1.0. The v0.2 names are listed with the 0.3 family; the normaliser renames them.
METHODS_03_TO_10: Mapping[str, str] = {
    "message/send": "SendMessage",
    "message/stream": "SendStreamingMessage",
    "tasks/get": "GetTask",
    "tasks/cancel": "CancelTask",
    "tasks/resubscribe": "SubscribeToTask",
    "tasks/pushNotificationConfig/set": "CreateTaskPushNotificationConfig",
    "tasks/pushNotificationConfig/get": "GetTaskPushNotificationConfig",
    "tasks/pushNotificationConfig/list": "ListTaskPushNotificationConfigs",
    "tasks/pushNotificationConfig/delete": "DeleteTaskPushNotificationConfig",
    "agent/getAuthenticatedExtendedCard": "GetExtendedAgentCard",
}
METHODS_10_TO_03: Mapping[str, str] = {v10: v03 for v03, v10 in METHODS_03_TO_10.items()}
LEGACY_03_METHODS = frozenset({"tasks/send", "tasks/sendSubscribe"})
METHODS_03 = frozenset(METHODS_03_TO_10) | LEGACY_03_METHODS
METHODS_10 = frozenset(METHODS_10_TO_03) | {"ListTasks"}

# Methods whose answer is a stream of Server-Sent Events (one JSON-RPC response per event).
STREAMING_METHODS = frozenset(
    {"message/stream", "tasks/sendSubscribe", "tasks/resubscribe", "SendStreamingMessage", "SubscribeToTask"}
)
# Methods that carry a new message (params.message): their messageId is the queue's idempotency key.
MESSAGE_METHODS = frozenset({"message/send", "message/stream", "SendMessage", "SendStreamingMessage"})


class VersionRefused(ValueError):
    """A version the proxy will not carry: unknown, or contradicted by the method."""


def parse_version(value: str) -> ProtocolVersion | None:
    """`1`, `1.0`, `1.0.0`, `1.2` → 1.0 (A2A compares major versions from 1 on); `0.3`, `0.3.0`
    → 0.3; the pre-0.3 `0.2.x` → 0.3 (its shapes are normalised into 0.3). Else None."""
    parts = value.strip().split(".")
    if not parts or not all(part.isdigit() for part in parts):
        return None
    major, minor = int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    if major == 1:
        return V10
    if major == 0 and minor in (2, 3):
        return V03
    return None


def method_version(method: str) -> ProtocolVersion | None:
    if method in METHODS_10:
        return V10
    if method in METHODS_03:
        return V03
    return None


def request_version(header: str | None, method: str) -> ProtocolVersion:
    """The version a request speaks (see the module docstring); VersionRefused when the header
    names no version the platform carries or contradicts the method's family."""
    by_method = method_version(method)
    if header is None or not header.strip():
        return by_method or V03
    by_header = parse_version(header)
    if by_header is None:
        supported = ", ".join(SUPPORTED_VERSIONS)
        raise VersionRefused(f"A2A version '{header.strip()[:32]}' is not supported (supported: {supported})")
    if by_method is not None and by_method != by_header:
        raise VersionRefused(f"A2A-Version {header.strip()[:32]} does not match {method}, an A2A {by_method} method")
    return by_header


def is_streaming_method(method: str) -> bool:
    return method in STREAMING_METHODS


def agent_versions(card: Any) -> frozenset[ProtocolVersion]:
    """The versions an agent's registered card offers over JSON-RPC: its 1.0 `supportedInterfaces`
    (each with `protocolVersion`), else the 0.3 fields (`protocolVersion`, defaulting to 0.3 when
    the card has a 0.3 `url`; `additionalInterfaces`). Empty when the card says nothing usable —
    the proxy then forwards as is."""
    if not isinstance(card, Mapping):
        return frozenset()
    found: set[ProtocolVersion] = set()
    interfaces = card.get("supportedInterfaces")
    if isinstance(interfaces, list):
        for interface in interfaces:
            if not isinstance(interface, Mapping):
                continue
            binding = interface.get("protocolBinding")
            version = interface.get("protocolVersion")
            is_jsonrpc = binding is None or str(binding).upper() == "JSONRPC"
            if is_jsonrpc and isinstance(version, str) and (parsed := parse_version(version)):
                found.add(parsed)
    legacy = card.get("protocolVersion")
    if isinstance(legacy, str) and (parsed := parse_version(legacy)):
        found.add(parsed)
    elif not found and isinstance(card.get("url"), str) and card.get("preferredTransport") in (None, "JSONRPC"):
        found.add(V03)  # a 0.3 card written without protocolVersion (the field defaults to 0.3)
    return frozenset(found)


def delivery_version(caller: ProtocolVersion, agent: frozenset[ProtocolVersion]) -> ProtocolVersion:
    """The version the agent receives: the caller's when the agent speaks it or is unknown (forward
    as is), else the one the agent speaks (bridged)."""
    if not agent or caller in agent:
        return caller
    return V10 if V10 in agent else V03


def outgoing_version_header(
    caller_header: str | None, caller: ProtocolVersion, delivered: ProtocolVersion
) -> str | None:
    """The `A2A-Version` the agent receives: the caller's own header unchanged when nothing is
    bridged (SPEC §5.4 step 3); `1.0` when the agent gets 1.0 without one (a 1.x agent reads a
    missing header as 0.3 and refuses every 1.0 method); `0.3` for a bridged 0.3 delivery (a 1.x
    agent in 0.3 compat mode refuses a 0.3 method that carries 1.0)."""
    if delivered == caller:
        if caller_header is not None and caller_header.strip():
            return caller_header.strip()
        return V10 if delivered == V10 else None
    return delivered


def preferred_version(agent: frozenset[ProtocolVersion]) -> ProtocolVersion:
    """The version the platform writes its own messages in (a delegated task): 1.0 when the agent
    offers it, else 0.3 — also for an agent whose card says nothing (0.3 is the default of a
    request that names no version)."""
    return V10 if V10 in agent else V03


def message_send(version: ProtocolVersion, text: str, message_id: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """A user's text message as the send request of `version`: `message/send` with 0.3 parts and
    roles, or `SendMessage` with 1.0's (no part `kind`, `ROLE_USER`). `message_id` is also the
    JSON-RPC id."""
    if version == V10:
        message: dict[str, Any] = {"role": "ROLE_USER", "parts": [{"text": text}]}
        method = METHODS_03_TO_10["message/send"]
    else:
        message = {"kind": "message", "role": "user", "parts": [{"kind": "text", "text": text}]}
        method = "message/send"
    message.update(messageId=message_id, metadata=dict(metadata))
    return {"jsonrpc": "2.0", "id": message_id, "method": method, "params": {"message": message}}
