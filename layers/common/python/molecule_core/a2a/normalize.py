"""The A2A proxy's payload normaliser (SPEC §5.4 steps 3 and 8): request bytes (and the caller's
`A2A-Version` header) in, the request checked and normalised within its protocol version out, or an
A2AError carrying the JSON-RPC error the caller gets back.

- A2A 0.3 (and the older shapes of its family): rewritten into canonical v0.3, as below.
- A2A 1.0: checked, never rewritten — its senders are SDKs that write the shape exactly, and an
  agent of that version expects it byte for byte. A body the agent would refuse (the v0.3 `content`
  shape under `SendMessage`, no parts, a 0.3 role) is refused here, to its sender.

Agents run a2a-sdk 0.3, whose validator is strict about `params.message.parts` and rejects the
older shapes three client generations still send. A rejection inside the agent lands in the agent's
logs while the sender already got its 200 — the v0.2 → v0.3 silent drop (history #2349). So every
shape is converted here, once, for every workspace, and whatever cannot be converted is refused
loudly to the real sender. tests/a2a_corpus holds the shapes this must keep accepting and refusing.

Pure: no I/O, and the parsed request is never modified — the proxy stores the verbatim body too.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, NamedTuple, NoReturn

from molecule_core.a2a.versions import (
    MESSAGE_METHODS,
    V10,
    VERSION_NOT_SUPPORTED,
    ProtocolVersion,
    VersionRefused,
    request_version,
)
from molecule_core.platform.errors import DomainError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602

# Pre-0.2.x method names: same semantics, renamed by the A2A spec.
LEGACY_METHODS = {"tasks/send": "message/send", "tasks/sendSubscribe": "message/stream"}
# A 1.0 Part carries exactly one of these (proto `oneof content`).
PART_CONTENT_10 = ("text", "raw", "url", "data")
ROLES_10 = frozenset({"ROLE_USER", "ROLE_AGENT"})
# v0.3 roles are user | agent; "assistant" comes from clients speaking chat-completion vocabulary.
ROLE_ALIASES = {"assistant": "agent"}


class A2AError(DomainError):
    """A payload the proxy refuses, with the HTTP status and JSON-RPC error its sender receives."""

    def __init__(self, code: int, message: str, request_id: str | int | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.status_code = status
        self.code = code
        self.request_id = request_id

    @property
    def status(self) -> int:
        return self.status_code

    def body(self) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": self.request_id, "error": {"code": self.code, "message": self.message}}


class NormalizedA2A(NamedTuple):
    payload: dict[str, Any]  # the canonical JSON-RPC 2.0 request, ready to forward
    method: str
    request_id: str | int
    message_id: str | None  # params.message.messageId of message methods, else None
    text: str  # the message's text parts joined with "\n" ("" when none)
    changed: bool  # whether payload differs from the request as parsed
    protocol_version: ProtocolVersion = "0.3"
    context_id: str | None = None  # params.message.contextId, when the sender gave one


def normalize_a2a_payload(raw: bytes, a2a_version: str | None = None) -> NormalizedA2A:
    if not raw.strip():
        raise A2AError(PARSE_ERROR, "empty request body")
    try:
        request = json.loads(raw, parse_constant=_reject_non_json_constant)
    except ValueError as exc:  # includes JSONDecodeError and bodies that are not UTF-8/16/32
        raise A2AError(PARSE_ERROR, "request body is not valid JSON") from exc
    except RecursionError as exc:  # a hostile nesting depth must be a 400, not a crashed function
        raise A2AError(PARSE_ERROR, "request body is nested too deeply") from exc
    return normalize_a2a_request(request, a2a_version)


def normalize_a2a_request(request: Any, a2a_version: str | None = None) -> NormalizedA2A:
    """The same normalisation over an already parsed JSON value. `request` is left untouched; the
    payload shares the sub-objects it did not rewrite with it (cheap for large bodies)."""
    if not isinstance(request, dict):
        raise A2AError(INVALID_REQUEST, "request must be a JSON object")
    request_id = _request_id(request)
    known_id = request.get("id")  # only an id the sender wrote may be echoed in an error
    method = request.get("method")
    if not isinstance(method, str) or not method:
        raise A2AError(INVALID_REQUEST, "method is required", known_id)
    try:
        version = request_version(a2a_version, method)
    except VersionRefused as exc:
        raise A2AError(VERSION_NOT_SUPPORTED, str(exc), known_id) from None
    if version == V10:
        payload, message = _check_v10(request, request_id, known_id, method)
    else:
        method = LEGACY_METHODS.get(method, method)
        payload, message = _normalize_v03(request, request_id, known_id, method)
    return NormalizedA2A(
        payload=payload,
        method=method,
        request_id=request_id,
        message_id=str(message.get("messageId") or message.get("message_id")) if message else None,
        # 0.3 text parts (normalised: each has a kind) and 1.0 ones (no kind) alike
        text="\n".join(
            part["text"]
            for part in (message or {}).get("parts", [])
            if isinstance(part.get("text"), str) and part.get("kind", "text") == "text"
        ),
        # Unchanged sub-objects are shared with `request`, so this compares little beyond what was rewritten.
        changed=payload != request,
        protocol_version=version,
        context_id=_context_id(message) if message else None,
    )


def _enveloped(request: dict[str, Any], request_id: str | int, method: str) -> dict[str, Any]:
    """The JSON-RPC envelope completed: senders without one write only {method, params}; other
    top-level keys are kept."""
    envelope = {"jsonrpc": "2.0", "id": request_id, "method": method}
    return {**envelope, **{key: value for key, value in request.items() if key not in envelope}}


def _normalize_v03(
    request: dict[str, Any], request_id: str | int, known_id: Any, method: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A 0.3-family request as canonical v0.3: the payload, and its message (message methods)."""
    payload = _enveloped(request, request_id, method)
    if method not in MESSAGE_METHODS:
        return payload, None
    params = request.get("params")
    if not isinstance(params, dict):
        raise A2AError(INVALID_PARAMS, "params must be an object", known_id)
    try:
        message = _normalize_message(params.get("message"))
    except _InvalidParams as exc:
        raise A2AError(INVALID_PARAMS, str(exc), known_id) from None
    payload["params"] = {**params, "message": message}
    return payload, message


def _check_v10(
    request: dict[str, Any], request_id: str | int, known_id: Any, method: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A 1.0 request: the envelope completed like any other (jsonrpc, an id), the message of
    `SendMessage`/`SendStreamingMessage` checked the way a2a-sdk's server validates it (required
    messageId and role, parts each with exactly one content), nothing else touched."""
    payload = _enveloped(request, request_id, method)
    params = request.get("params")
    if params is not None and not isinstance(params, dict):
        raise A2AError(INVALID_PARAMS, "params must be an object", known_id)
    if method not in MESSAGE_METHODS:
        return payload, None
    try:
        return payload, _check_message_10((params or {}).get("message"))
    except _InvalidParams as exc:
        raise A2AError(INVALID_PARAMS, str(exc), known_id) from None


def _check_message_10(message: Any) -> dict[str, Any]:
    if not isinstance(message, dict):
        _invalid("params.message is required")
    if "content" in message and "parts" not in message:
        _invalid("params.message.parts is required (A2A 1.0 has no `content`; send parts)")
    message_id = message.get("messageId", message.get("message_id"))
    if not isinstance(message_id, str) or not message_id:
        _invalid("params.message.messageId is required (a non-empty string)")
    role = message.get("role")
    if role not in ROLES_10:
        _invalid("params.message.role must be ROLE_USER or ROLE_AGENT (A2A 1.0)")
    parts = message.get("parts")
    if not isinstance(parts, list) or not parts:
        _invalid("params.message.parts must be a non-empty list")
    for index, part in enumerate(parts):
        where = f"params.message.parts[{index}]"
        if not isinstance(part, dict):
            _invalid(f"{where} must be an object")
        contents = [name for name in PART_CONTENT_10 if name in part]
        if len(contents) != 1:
            _invalid(f"{where} must have exactly one of text, raw, url, data (A2A 1.0 parts have no `kind`)")
        if contents[0] in ("text", "raw", "url") and not isinstance(part[contents[0]], str):
            _invalid(f"{where}.{contents[0]} must be a string")
    return message


def _context_id(message: dict[str, Any]) -> str | None:
    value = message.get("contextId", message.get("context_id"))
    return value if isinstance(value, str) and value else None


class _InvalidParams(Exception):
    """Internal: a -32602 message, given its request id by normalize_a2a_request."""


def _invalid(message: str) -> NoReturn:
    raise _InvalidParams(message)


def _reject_non_json_constant(name: str) -> NoReturn:
    # Python accepts NaN/Infinity; JSON does not, and forwarding them would break the agent's parser.
    raise ValueError(f"{name} is not JSON")


def _request_id(request: dict[str, Any]) -> str | int:
    request_id = request.get("id")
    if request_id is None:
        # JSON-RPC treats an id-less request as a notification, but an A2A sender always awaits an
        # answer: give it an id so the agent's reply has something to correlate with.
        return str(uuid.uuid4())
    # bool is an int to Python but not a JSON-RPC id; a fractional id is discouraged by JSON-RPC and
    # a2a-sdk only types ids as str | int.
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        raise A2AError(INVALID_REQUEST, "id must be a string or an integer")
    return request_id


def _normalize_message(message: Any) -> dict[str, Any]:
    if not isinstance(message, dict):
        _invalid("params.message is required")
    normalized = {key: value for key, value in message.items() if key != "content"}
    parts = message.get("parts")
    if isinstance(parts, list):
        normalized["parts"] = _normalize_parts(parts, "params.message.parts")
    elif parts is not None:
        _invalid("params.message.parts must be a list")
    elif "content" in message:
        # v0.2 senders (history #2349) put the message under `content`: a string, or a part list
        # under the wrong name.
        content = message["content"]
        if isinstance(content, str):
            normalized["parts"] = [{"kind": "text", "text": content}]
        elif isinstance(content, list):
            # Some v0.2 lists hold bare strings where parts belong.
            parts = [{"kind": "text", "text": part} if isinstance(part, str) else part for part in content]
            normalized["parts"] = _normalize_parts(parts, "params.message.content")
        else:
            _invalid("params.message.content must be a string or a list of parts")
    else:
        _invalid("params.message must have parts (or v0.2 content)")

    role = message.get("role")
    if role is None:
        normalized["role"] = "user"  # the sender is the one asking; a2a-sdk requires a role
    elif isinstance(role, str):
        normalized["role"] = ROLE_ALIASES.get(role, role)
    else:
        _invalid("params.message.role must be a string")
    message_id = message.get("messageId")
    if message_id is None or message_id == "":
        # a2a-sdk requires it, and the proxy uses it as the queue's idempotency key.
        normalized["messageId"] = str(uuid.uuid4())
    elif not isinstance(message_id, str):
        _invalid("params.message.messageId must be a string")
    normalized.setdefault("kind", "message")
    return normalized


def _normalize_parts(parts: list[Any], where: str) -> list[Any]:
    if not parts:
        _invalid(f"{where} must not be empty")
    return [_normalize_part(part, f"{where}[{index}]") for index, part in enumerate(parts)]


def _normalize_part(part: Any, where: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        _invalid(f"{where} must be an object")
    normalized = part
    if "kind" not in part and "type" in part:
        # Older clients name the part discriminator `type` (SPEC §5.8); v0.3 rejects it.
        normalized = {("kind" if key == "type" else key): value for key, value in part.items()}
    kind = normalized.get("kind")
    if not isinstance(kind, str):
        _invalid(f"{where}.kind must be a string")
    # Known kinds are checked so the agent never gets a part its validator drops; unknown kinds
    # (extensions, later spec versions) pass through for the agent to judge.
    if kind == "text" and not isinstance(normalized.get("text"), str):
        _invalid(f"{where}.text must be a string")
    if kind == "file" and not isinstance(normalized.get("file"), dict):
        _invalid(f"{where}.file must be an object")
    if kind == "data" and not isinstance(normalized.get("data"), dict):
        _invalid(f"{where}.data must be an object")
    return normalized
