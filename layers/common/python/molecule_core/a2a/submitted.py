"""The answer to a message the platform took in without an agent's answer — a poll-mode inbox row
or an A2A queue row (SPEC §5.4 steps 4, 5 and 8): a JSON-RPC response that standard A2A clients
parse, a Task in `submitted` state whose id is the inbox or queue id, shaped for the caller's
protocol version. The platform's own keys (`status`/`delivery_mode`/`method`, or
`queued`/`queue_id`/`queue_depth`/`message`) stay readable where Molecule's clients read them, at
the top level of the envelope (both a2a-sdk generations ignore extra envelope members), and are
repeated in the task's `metadata.molecule`. They cannot go inside a 0.3 Task itself: its `status`
is an object there. A 0.3 Task needs `contextId` (a2a-sdk 0.3 refuses one without). Pure."""

from __future__ import annotations

from typing import Any

from molecule_core.a2a.versions import V10, ProtocolVersion


def submitted_answer(
    request_id: str | int,
    task_id: str,
    context_id: str | None,
    protocol_version: ProtocolVersion,
    molecule: dict[str, Any],
) -> dict[str, Any]:
    task: dict[str, Any]
    if protocol_version == V10:
        task = {"id": task_id, "contextId": context_id or task_id, "status": {"state": "TASK_STATE_SUBMITTED"}}
        result: dict[str, Any] = {"task": {**task, "metadata": {"molecule": molecule}}}
    else:
        task = {"kind": "task", "id": task_id, "contextId": context_id or task_id, "status": {"state": "submitted"}}
        result = {**task, "metadata": {"molecule": molecule}}
    # The platform's keys first: readers that print the answer see them as before.
    return {**molecule, "jsonrpc": "2.0", "id": request_id, "result": result}
