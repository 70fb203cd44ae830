"""A2A over JSON-RPC 2.0, the agent's side: parse a request, answer `message/send` with an echo,
build error bodies, and build the `message/send` the agent sends when it replies through the
platform in poll mode — carrying the `delegation_id` of a delegated task, which is how the
platform closes the delegation with the reply (SPEC §5.10). Pure functions over dicts; no I/O."""

from __future__ import annotations

import json
import uuid
from typing import Any

from reference_agent import __version__

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

ECHO_PREFIX = "echo: "


class JsonRpcError(Exception):
    def __init__(self, code: int, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id

    def response(self) -> dict[str, Any]:
        return error_response(self.request_id, self.code, self.message)


def error_response(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def parse_request(body: bytes) -> dict[str, Any]:
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise JsonRpcError(PARSE_ERROR, f"parse error: {exc}") from exc
    if not isinstance(request, dict) or not isinstance(request.get("method"), str):
        request_id = request.get("id") if isinstance(request, dict) else None
        raise JsonRpcError(INVALID_REQUEST, "invalid request: expected an object with a method", request_id)
    return request


def message_text(message: dict[str, Any]) -> str:
    """The text parts of an A2A message joined with a space (parts may say `type` instead of `kind`)."""
    parts = message.get("parts")
    if not isinstance(parts, list):
        content = message.get("content")
        return content if isinstance(content, str) else ""
    texts = [
        part["text"]
        for part in parts
        if isinstance(part, dict)
        and (part.get("kind") or part.get("type")) == "text"
        and isinstance(part.get("text"), str)
    ]
    return " ".join(texts)


def file_parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The `file` objects of an A2A message's file parts that carry a `uri` (parts may say `type`
    instead of `kind`)."""
    parts = message.get("parts")
    if not isinstance(parts, list):
        return []
    return [
        part["file"]
        for part in parts
        if isinstance(part, dict)
        and (part.get("kind") or part.get("type")) == "file"
        and isinstance(part.get("file"), dict)
        and isinstance(part["file"].get("uri"), str)
    ]


def is_echo(text: str) -> bool:
    """Whether a text is already an echo. Such messages are never answered through the platform:
    two reference agents in poll mode would otherwise echo each other forever."""
    return text.startswith(ECHO_PREFIX)


def echo_message(text: str, context_id: Any = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "kind": "message",
        "messageId": str(uuid.uuid4()),
        "role": "agent",
        "parts": [{"kind": "text", "text": ECHO_PREFIX + text}],
    }
    if context_id is not None:
        message["contextId"] = context_id
    return message


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """The JSON-RPC response to a parsed request (errors included; never raises)."""
    request_id = request.get("id")
    if request["method"] != "message/send":
        return error_response(request_id, METHOD_NOT_FOUND, f"method not found: {request['method']}")
    params = request.get("params")
    message = params.get("message") if isinstance(params, dict) else None
    if not isinstance(message, dict):
        return error_response(request_id, INVALID_PARAMS, "invalid params: params.message is required")
    result = echo_message(message_text(message), message.get("contextId"))
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def request_message(request: Any) -> dict[str, Any]:
    """`params.message` of a JSON-RPC request, or an empty message."""
    params = request.get("params") if isinstance(request, dict) else None
    message = params.get("message") if isinstance(params, dict) else None
    return message if isinstance(message, dict) else {}


def delegation_metadata(message: dict[str, Any]) -> dict[str, Any] | None:
    """`{"delegation_id": …}` when the message is a delegated task (its metadata says so)."""
    metadata = message.get("metadata")
    found = metadata.get("delegation_id") if isinstance(metadata, dict) else None
    return {"delegation_id": found} if isinstance(found, str) and found else None


def echo_request(text: str, context_id: Any = None, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `message/send` that carries an echo to a peer through the platform's A2A proxy; with
    `metadata` (a delegated task's `delegation_id`) the echo is that delegation's result."""
    message = echo_message(text, context_id)
    if metadata:
        message["metadata"] = metadata
    return {"jsonrpc": "2.0", "id": str(uuid.uuid4()), "method": "message/send", "params": {"message": message}}


def agent_card(name: str, url: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": "Molecule reference agent: answers every message with 'echo: ' and its text.",
        "url": url,
        "version": __version__,
        "protocolVersion": "0.3.0",
        "preferredTransport": "JSONRPC",
        "capabilities": {"streaming": False, "pushNotifications": False, "stateTransitionHistory": False},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [
            {
                "id": "echo",
                "name": "Echo",
                "description": "Replies with the message's text parts, prefixed with 'echo: '.",
                "tags": ["echo", "test"],
            }
        ],
    }
