"""What an agent's answer to a delegated task means for the delegation (SPEC §5.10), in A2A 0.3
and 1.0 alike. Pure.

- A JSON-RPC error, or a task that failed, was canceled or rejected: `failed`.
- A task still under way (submitted, working, waiting for input), the platform's own answer for a
  message it took into a poll target's inbox among them: not a result. The delegation waits
  (`queued`) for the target's later reply.
- Anything else: `completed`, with the text of the reply — a message's text parts, or a task's
  artifacts' text parts (else the text of its status message).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal, NamedTuple

from molecule_core.delegations.models import MAX_RESULT_CHARS

COMPLETED_STATES = frozenset({"completed", "TASK_STATE_COMPLETED"})
FAILED_STATES = frozenset(
    {
        "failed",
        "canceled",
        "cancelled",
        "rejected",
        "TASK_STATE_FAILED",
        "TASK_STATE_CANCELED",
        "TASK_STATE_CANCELLED",
        "TASK_STATE_REJECTED",
    }
)
MAX_ERROR_CHARS = 2000


class Reading(NamedTuple):
    status: Literal["completed", "failed", "queued"]
    text: str | None = None
    error: str | None = None


def clean_text(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    """Stored as text: no NUL (PostgreSQL refuses it), and bounded."""
    return text.replace("\x00", "")[:limit]


def _is_text_part(part: Any) -> bool:
    """0.3 `{"kind": "text", "text"}` (older senders write `type`), 1.0 `{"text"}` without one."""
    if not isinstance(part, Mapping) or not isinstance(part.get("text"), str):
        return False
    kind = part.get("kind") or part.get("type")
    return kind is None or kind == "text"


def parts_text(parts: Any) -> str:
    if not isinstance(parts, list):
        return ""
    return "\n".join(str(part["text"]) for part in parts if _is_text_part(part))


def _artifacts_text(artifacts: Any) -> str:
    if not isinstance(artifacts, list):
        return ""
    texts: Iterable[str] = (parts_text(a.get("parts")) for a in artifacts if isinstance(a, Mapping))
    return "\n".join(text for text in texts if text)


def _task_or_message(result: Mapping[str, Any]) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    """(task, message) of a JSON-RPC result: 1.0 wraps them (`{"task": …}`, `{"message": …}`), 0.3
    tells them apart by `kind` (or by their members when a sender left it out)."""
    for key in ("task", "message"):
        if isinstance(result.get(key), Mapping):
            return (result[key], None) if key == "task" else (None, result[key])
    kind = result.get("kind")
    if kind == "task" or (kind is None and isinstance(result.get("status"), Mapping)):
        return result, None
    if kind == "message" or "parts" in result:
        return None, result
    return None, None


def _error_text(error: Mapping[str, Any]) -> str:
    return clean_text(f"agent answered JSON-RPC error {error.get('code')}: {error.get('message', '')}", MAX_ERROR_CHARS)


def read_answer(body: Any) -> Reading:
    """`body`: the agent's JSON-RPC response as the drain stored it (None when it was not JSON)."""
    if not isinstance(body, Mapping):
        return Reading("completed", text="" if body is None else clean_text(json.dumps(body)))
    error = body.get("error") if "result" not in body else None
    if isinstance(error, Mapping):
        return Reading("failed", error=_error_text(error))
    result = body.get("result")
    if not isinstance(result, Mapping):
        return Reading("completed", text=clean_text(result if isinstance(result, str) else json.dumps(body)))
    task, message = _task_or_message(result)
    if message is not None:
        return Reading("completed", text=clean_text(parts_text(message.get("parts"))))
    if task is None:
        return Reading("completed", text=clean_text(json.dumps(result)))
    status = task.get("status")
    state = status.get("state") if isinstance(status, Mapping) else None
    said_message = status.get("message") if isinstance(status, Mapping) else None
    said = parts_text(said_message.get("parts")) if isinstance(said_message, Mapping) else ""
    if state in COMPLETED_STATES:
        return Reading("completed", text=clean_text(_artifacts_text(task.get("artifacts")) or said))
    if state in FAILED_STATES:
        return Reading("failed", error=clean_text(said or f"the agent's task ended {state}", MAX_ERROR_CHARS))
    return Reading("queued")
