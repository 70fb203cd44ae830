"""What a delegate request asks for (SPEC §5.10): who delegates to whom, and the task. Pure.

The delegator and the target come from the path, the caller and the body, in one of two forms:
- `{target_id, task}` sent to the delegator's own path, `POST /workspaces/{delegator}/delegate`
  (the channel plugin, the CLI, the console);
- the SDK's: `POST /workspaces/{target}/delegate` with no `target_id`, the delegator naming itself in
  `X-Workspace-ID` and proving it with its own token (`auth.callers.DelegatorCaller` checked that):
  the path is the target, the caller the delegator.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from uuid import UUID

from molecule_core.auth.models import Caller
from molecule_core.platform.errors import InvalidInput, Unauthorized

TARGET_ID_REFUSAL = "target_id must be a valid UUID"


class Parties(NamedTuple):
    delegator_id: UUID
    target_id: UUID


def parse_target_id(raw: Any) -> UUID:
    if isinstance(raw, str):
        try:
            return UUID(raw.strip())
        except ValueError:
            pass
    raise InvalidInput(TARGET_ID_REFUSAL, field="target_id")


def resolve_parties(path_id: UUID, caller: Caller, raw_target: Any) -> Parties:
    """The delegator and the target; self-delegation is refused (a workspace waiting on itself)."""
    if caller.kind == "workspace" and caller.workspace_id is not None and caller.workspace_id != path_id:
        # Only the SDK's form lets a workspace's own token in on another workspace's path.
        if raw_target is not None and raw_target != "" and parse_target_id(raw_target) != path_id:
            raise Unauthorized(
                "this token is X-Workspace-ID's own: send no target_id (the path is then the target), "
                "or delegate from that workspace's own path"
            )
        parties = Parties(caller.workspace_id, path_id)
    else:
        parties = Parties(path_id, parse_target_id(raw_target))
    if parties.delegator_id == parties.target_id:
        raise InvalidInput("self-delegation not permitted", field="target_id")
    return parties


def require_task(task: str | None) -> str:
    if task is None:
        raise InvalidInput("task is required", field="task")
    if not task.strip():
        raise InvalidInput("task must not be empty", field="task")
    return task
