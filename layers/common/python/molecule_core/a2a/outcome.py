"""What an agent's answer means for the message (SPEC §5.4 step 7, §5.5): read from the body, not
only the HTTP status. A2A agents answer JSON-RPC errors inside HTTP 200 (a2a-sdk always does), so
an `error` member is an error outcome for the activity row; for the queue, an error the same request
can never get past (the agent does not know the method or the version, the params are invalid)
ends the row `failed`, while the others (an internal error, an unknown code) are retried. Pure.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

# JSON-RPC and A2A codes that a redelivery of the same request would meet again.
PERMANENT_ERROR_CODES = frozenset(
    {
        -32700,  # parse error
        -32600,  # invalid request
        -32601,  # method not found
        -32602,  # invalid params
        -32001,  # task not found
        -32002,  # task not cancelable
        -32003,  # push notifications not supported
        -32004,  # unsupported operation
        -32005,  # content type not supported
        -32007,  # extended agent card not configured
        -32008,  # extension support required
        -32009,  # version not supported
    }
)
MAX_ERROR_TEXT = 500


class Outcome(NamedTuple):
    ok: bool
    error: str | None = None  # for error_detail / last_error
    permanent: bool = False  # no redelivery can succeed


def jsonrpc_error(body: Any) -> dict[str, Any] | None:
    """The `error` member of a JSON-RPC response, when it is one."""
    error = body.get("error") if isinstance(body, dict) and "result" not in body else None
    return error if isinstance(error, dict) else None


def describe_error(error: dict[str, Any]) -> str:
    return f"agent answered JSON-RPC error {error.get('code')}: {str(error.get('message', ''))[:MAX_ERROR_TEXT]}"


def outcome_of(status: int, body: Any) -> Outcome:
    """`body`: the answer's JSON (None when it is not JSON)."""
    if status >= 400:
        return Outcome(ok=False, error=f"agent answered {status}")
    error = jsonrpc_error(body)
    if error is None:
        return Outcome(ok=True)
    code = error.get("code")
    permanent = isinstance(code, int) and not isinstance(code, bool) and code in PERMANENT_ERROR_CODES
    return Outcome(ok=False, error=describe_error(error), permanent=permanent)


def stream_outcome(status: int, events: list[Any]) -> Outcome:
    """A stream's outcome: the first event that is a JSON-RPC error decides it."""
    for event in events:
        found = outcome_of(status, event)
        if not found.ok:
            return found
    return outcome_of(status, None)


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None
