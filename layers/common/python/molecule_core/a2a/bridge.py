"""Bridging between A2A 0.3 and 1.0 (SPEC §5.4 step 8) with a2a-sdk's own conversion code, its
`a2a.compat.v0_3.conversions` (methods, parts, roles, result wrappers, task states) — never a
hand-written translation.

The SDK is imported on this path only, when a caller and its agent speak different versions:
loading it costs ~0.2 s (protobuf, the 0.3 pydantic models), which the common path must not pay
(tests/unit/test_a2a_import_cost.py). It is an optional dependency of the platform: without it,
`can_bridge` says no and the proxy answers a clear JSON-RPC error instead of forwarding a request
the agent would refuse.

The conversions work on types, so each dict goes through the SDK's models: a 0.3 dict through its
pydantic model (`model_validate`), a 1.0 dict through its protobuf message (`ParseDict`), and back
(`model_dump(by_alias)` / `MessageToDict`, proto-JSON camelCase). Numbers inside `data` parts come
back as floats (a protobuf Struct holds doubles): a property of 1.0 itself.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from functools import cache
from types import ModuleType
from typing import Any

from molecule_core.a2a.versions import METHODS_03_TO_10, METHODS_10_TO_03, V10, ProtocolVersion

# The methods a bridge carries: a message and the task it starts (get, cancel, resubscribe).
BRIDGED_METHODS_03 = frozenset({"message/send", "message/stream", "tasks/get", "tasks/cancel", "tasks/resubscribe"})
BRIDGED_METHODS_10 = frozenset(METHODS_03_TO_10[method] for method in BRIDGED_METHODS_03)


class BridgeError(ValueError):
    """A request or answer the SDK's conversions could not carry to the other version."""


@cache
def is_sdk_installed() -> bool:
    """Whether a2a-sdk can be imported — asked without importing it."""
    try:
        return importlib.util.find_spec("a2a.compat.v0_3.conversions") is not None
    except ModuleNotFoundError:
        return False


def can_bridge(method: str) -> bool:
    return (method in BRIDGED_METHODS_03 or method in BRIDGED_METHODS_10) and is_sdk_installed()


def bridged_method(method: str, to_version: ProtocolVersion) -> str:
    return METHODS_03_TO_10[method] if to_version == V10 else METHODS_10_TO_03[method]


class _Sdk:
    """The SDK modules, imported on first use (see the module docstring)."""

    def __init__(self) -> None:
        self.conv: ModuleType = importlib.import_module("a2a.compat.v0_3.conversions")
        self.t03: ModuleType = importlib.import_module("a2a.compat.v0_3.types")
        self.pb: ModuleType = importlib.import_module("a2a.types.a2a_pb2")
        json_format = importlib.import_module("google.protobuf.json_format")
        self.parse_dict: Callable[..., Any] = json_format.ParseDict
        self.message_to_dict: Callable[..., Any] = json_format.MessageToDict

    def core(self, value: Any, proto_name: str) -> Any:
        return self.parse_dict(
            value if value is not None else {}, getattr(self.pb, proto_name)(), ignore_unknown_fields=True
        )

    def compat(self, value: Any, model_name: str) -> Any:
        return getattr(self.t03, model_name).model_validate(value)

    @staticmethod
    def dump03(model: Any) -> dict[str, Any]:
        dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
        return dumped


@cache
def _sdk() -> _Sdk:
    return _Sdk()


# 0.3 method → (0.3 request model, to_core request conversion, 1.0 request proto, to_compat conversion)
_REQUESTS = {
    "message/send": ("SendMessageRequest", "send_message_request", "SendMessageRequest"),
    "message/stream": ("SendStreamingMessageRequest", "send_message_request", "SendMessageRequest"),
    "tasks/get": ("GetTaskRequest", "get_task_request", "GetTaskRequest"),
    "tasks/cancel": ("CancelTaskRequest", "cancel_task_request", "CancelTaskRequest"),
    "tasks/resubscribe": ("TaskResubscriptionRequest", "subscribe_to_task_request", "SubscribeToTaskRequest"),
}


def bridge_request(payload: dict[str, Any], to_version: ProtocolVersion) -> dict[str, Any]:
    """A JSON-RPC request of one version as the same request of the other (same id)."""
    method = str(payload.get("method"))
    request_id = payload.get("id")
    sdk = _sdk()
    try:
        if to_version == V10:
            model, conversion, _ = _REQUESTS[method]
            core = getattr(sdk.conv, f"to_core_{conversion}")(sdk.compat(payload, model))
            return {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": METHODS_03_TO_10[method],
                "params": sdk.message_to_dict(core),
            }
        method_03 = METHODS_10_TO_03[method]
        _, conversion, proto = _REQUESTS[method_03]
        compat = getattr(sdk.conv, f"to_compat_{conversion}")(sdk.core(payload.get("params"), proto), request_id)
        return {**sdk.dump03(compat), "jsonrpc": "2.0", "id": request_id, "method": method_03}
    except Exception as exc:  # pydantic's ValidationError, protobuf's ParseError, a missing field alike
        raise BridgeError(f"{method} could not be translated to A2A {to_version}: {_reason(exc)}") from exc


def bridge_response(response: Any, caller_method: str, to_version: ProtocolVersion) -> Any:
    """An agent's JSON-RPC response (to the bridged request) as the caller's version expects it.
    `caller_method` is the method the caller sent. Errors have the same envelope in both versions
    and pass unchanged."""
    if not isinstance(response, dict) or "result" not in response:
        return response
    request_id = response.get("id")
    sdk = _sdk()
    try:
        if to_version == V10:
            return {"jsonrpc": "2.0", "id": request_id, "result": _result_to_10(sdk, response, caller_method)}
        return _response_to_03(sdk, response, caller_method)
    except Exception as exc:
        raise BridgeError(f"the agent's answer could not be translated to A2A {to_version}: {_reason(exc)}") from exc


def _result_to_10(sdk: _Sdk, response: dict[str, Any], method_10: str) -> Any:
    if method_10 == "SendMessage":
        core = sdk.conv.to_core_send_message_response(sdk.compat(response, "SendMessageResponse"))
    elif method_10 in ("SendStreamingMessage", "SubscribeToTask"):
        core = sdk.conv.to_core_stream_response(sdk.compat(response, "SendStreamingMessageSuccessResponse"))
    else:  # GetTask, CancelTask: a Task
        core = sdk.conv.to_core_task(sdk.compat(response["result"], "Task"))
    return sdk.message_to_dict(core)


def _response_to_03(sdk: _Sdk, response: dict[str, Any], method_03: str) -> dict[str, Any]:
    request_id = response.get("id")
    result = response["result"]
    if method_03 == "message/send":
        core = sdk.core(result, "SendMessageResponse")
        if core.WhichOneof("payload") is None:
            # to_compat_send_message_response would invent an empty agent message.
            raise BridgeError("the answer has neither a task nor a message")
        return sdk.dump03(sdk.conv.to_compat_send_message_response(core, request_id))
    if method_03 in ("message/stream", "tasks/resubscribe"):
        return sdk.dump03(sdk.conv.to_compat_stream_response(sdk.core(result, "StreamResponse"), request_id))
    task = sdk.dump03(sdk.conv.to_compat_task(sdk.core(result, "Task")))
    return {"jsonrpc": "2.0", "id": request_id, "result": task}


def _reason(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]
