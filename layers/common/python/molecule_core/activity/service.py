"""The activity log (SPEC §5.6): the feed UIs read, the inbox poll-mode agents follow with a
since_id cursor, agents' self-reports and their notes to users."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from molecule_core.activity import store
from molecule_core.activity.models import (
    ACTIVITY_TYPES,
    ActivityQuery,
    LogActivityRequest,
    NewActivity,
    NotifyRequest,
)
from molecule_core.activity.store import ActivityFilter
from molecule_core.auth import service as auth
from molecule_core.auth.models import Caller, PresentedCaller, TokenMatch
from molecule_core.platform import db
from molecule_core.platform.errors import AccessDenied, Gone, InvalidInput, WorkspaceNotFound
from molecule_core.platform.settings import get_settings

MAX_LIMIT = 500
MAX_SINCE_SECONDS = 30 * 24 * 3600  # a wider window is clamped: no multi-month scans on a typo


# The cursor of a malformed since_id: the nil UUID, which no row has (a 410 like any unknown cursor).
NO_SUCH_ROW = UUID(int=0)


def invalid_activity_type() -> InvalidInput:
    return InvalidInput(f"invalid activity_type, must be one of: {', '.join(ACTIVITY_TYPES)}", field="activity_type")


def cursor_gone() -> Gone:
    # Unknown, pruned, malformed and foreign cursors answer the same: nothing tells them apart.
    return Gone("cursor not found; restart without since_id", code="cursor_gone")


def _require_live_workspace(conn: db.Connection, workspace_id: UUID) -> None:
    """404 for an unknown workspace; 410 for a removed one, like every other route of it."""
    status = store.workspace_status(conn, workspace_id)
    if status is None:
        raise WorkspaceNotFound()
    if status == "removed":
        raise Gone("workspace removed", id=str(workspace_id))


def parse_since_seconds(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        seconds = int(raw.strip())
    except ValueError:
        raise InvalidInput("since_secs must be a positive integer", field="since_secs") from None
    if seconds <= 0:
        raise InvalidInput("since_secs must be a positive integer", field="since_secs")
    return min(seconds, MAX_SINCE_SECONDS)


def message_text(body: Any) -> str:
    """The text parts of a JSON-RPC message (request or result) flattened, for inbox readers."""
    if not isinstance(body, dict):
        return ""
    if isinstance(body.get("result"), str):  # notify rows: {"result": message, "parts": [files]}
        return str(body["result"])
    result = body.get("result") if isinstance(body.get("result"), dict) else None
    candidates = [
        (body.get("params") or {}).get("message") if isinstance(body.get("params"), dict) else None,
        result,
        result.get("message") if result else None,  # an A2A 1.0 result wraps it: {"message": {...}}
        body,
    ]
    for candidate in candidates:
        if isinstance(candidate, dict) and isinstance(candidate.get("parts"), list):
            return "\n".join(str(part["text"]) for part in candidate["parts"] if _is_text_part(part))
    return ""


def _is_text_part(part: Any) -> bool:
    """A text part of either A2A generation: 0.3 `{"kind": "text", "text"}` (older clients write
    `type`), 1.0 `{"text"}` with no discriminator."""
    if not isinstance(part, dict) or not isinstance(part.get("text"), str):
        return False
    kind = part.get("kind") or part.get("type")
    return kind is None or kind == "text"


def _row(record: dict[str, Any], base_url: str) -> dict[str, Any]:
    """One feed row as clients read it (the ActivityRow shape), built as plain data: a poll of a
    hundred rows is serialised once, not validated into models and dumped again."""
    peer_id = record["source_id"]
    # The normalised form first: the verbatim body of a poll-mode message may be in any shape the
    # proxy accepts (v0.2 `content`, bare {method, params}).
    text = (
        message_text(record["request_normalized"])
        or message_text(record["request_body"])
        or message_text(record["response_body"])
    )
    peer_name, peer_role = record.pop("peer_name"), record.pop("peer_role")
    record["type"] = record["activity_type"]
    record["ts"] = record["created_at"]
    record["data"] = {
        "source": "peer_agent" if peer_id else "canvas_user",
        "kind": record["method"] or record["activity_type"],
        "text": text,
        "peer_id": peer_id,
        "activity_id": record["id"],
        "peer_name": peer_name,
        "peer_role": peer_role,
        "agent_card_url": f"{base_url}/registry/discover/{peer_id}" if peer_id else None,
    }
    return record


def list_activity(workspace_id: UUID, presented: PresentedCaller, query: ActivityQuery) -> list[dict[str, Any]]:
    """The feed (newest first) or, with a cursor or a time window, the inbox (oldest first), as
    ActivityRow-shaped data, in one round trip: WorkspaceAuth's lookup of the caller's bearer is
    part of the read (an inbox poll is the request a poll-mode fleet sends most). A refused caller
    learns nothing: 401 comes before 404/410 and before a bad filter's 400."""
    try:
        where, ascending = _activity_filter(query)
    except InvalidInput:
        auth.look_up_workspace_caller(presented, workspace_id)  # who is asking comes first
        raise
    token_hash = presented.token_hash
    page = db.single_statement(
        lambda conn: store.list_activity(
            conn,
            workspace_id,
            where,
            ascending=ascending,
            limit=max(1, min(query.limit, MAX_LIMIT)),
            token_hash=token_hash,
        )
    )
    match = TokenMatch.found(page.bearer_kind, page.bearer_token_id, page.bearer_workspace_id)
    auth.settle_workspace_caller(presented, match, workspace_id)
    if page.workspace_status is None:
        raise WorkspaceNotFound()
    if page.workspace_status == "removed":
        raise Gone("workspace removed", id=str(workspace_id))
    if not page.cursor_found:
        raise cursor_gone()
    base_url = get_settings().platform_url.rstrip("/")
    return [_row(record, base_url) for record in page.rows]


def _activity_filter(query: ActivityQuery) -> tuple[ActivityFilter, bool]:
    """The read's filter and its order (True: oldest first); InvalidInput for a bad one."""
    if query.activity_type is not None and query.activity_type not in ACTIVITY_TYPES:
        raise invalid_activity_type()
    since_seconds = parse_since_seconds(query.since_secs)
    cursor_id = None
    if query.since_id is not None:
        try:
            cursor_id = UUID(query.since_id)
        except ValueError:
            cursor_id = NO_SUCH_ROW  # malformed: answered like an unknown cursor, after the 404 check
    # Pollers (cursor or time window) read oldest first and take the last row as next cursor.
    ascending = query.order == "asc" if query.order else (cursor_id is not None or since_seconds is not None)
    where = ActivityFilter(query.activity_type, query.source, query.peer_id, query.before, since_seconds, cursor_id)
    return where, ascending


def log_activity(workspace_id: UUID, request: LogActivityRequest, caller: Caller) -> None:
    """An agent's self-report. No `source_id` means the caller itself (a user caller has none: the
    row is the canvas's), no `status` means `ok` — as the original server records them, which is
    what `?source=agent|canvas` then tells apart (SPEC §4.3)."""
    if request.activity_type not in ACTIVITY_TYPES:
        raise invalid_activity_type()
    if request.source_id is not None and request.source_id != caller.workspace_id:
        raise AccessDenied("source_id must be the calling workspace")
    row = request.model_dump()
    row["source_id"] = request.source_id or caller.workspace_id
    row["status"] = request.status or "ok"
    with db.transaction() as conn:
        _require_live_workspace(conn, workspace_id)
        store.insert_activity(conn, NewActivity(workspace_id=workspace_id, **row))


def notify(workspace_id: UUID, request: NotifyRequest) -> None:
    """An agent's message to its user (SPEC §5.6): an outbound `a2a_send` row with method "notify",
    no source or target, and `response_body {"result": message}` plus `"parts": [file parts]` when
    there are attachments. Outbound, so it never shows in the agent's own a2a_receive inbox: an
    inbox reader that answers every row would otherwise answer its own reply, forever. The files
    domain is imported here, on this path only: it brings registry, workspaces and provisioning
    (~35 ms of the cold start of every function that records activity, the A2A proxy's included)."""
    from molecule_core.files import service as files

    file_parts = []
    for index, attachment in enumerate(request.attachments or []):
        uri, name = attachment.get("uri"), attachment.get("name")
        if not isinstance(uri, str) or not uri or not isinstance(name, str) or not name:
            raise InvalidInput(f"attachment[{index}]: uri and name are required", field=f"attachments[{index}]")
        files.check_notify_attachment(workspace_id, index, uri)  # a platform: URI must be its own file
        file_part: dict[str, Any] = {"uri": uri, "name": name}
        for optional in ("mimeType", "size"):
            if attachment.get(optional) is not None:
                file_part[optional] = attachment[optional]
        file_parts.append({"kind": "file", "file": file_part})
    with db.transaction() as conn:
        _require_live_workspace(conn, workspace_id)
        store.insert_activity(
            conn,
            NewActivity(
                workspace_id=workspace_id,
                activity_type="a2a_send",
                method="notify",
                summary=request.message[:200],
                response_body={"result": request.message, **({"parts": file_parts} if file_parts else {})},
                status="ok",
            ),
        )


def prune_activity() -> int:
    with db.transaction() as conn:
        return store.delete_older_than(conn, get_settings().activity_retention_days)


def record_activity(row: NewActivity, *, touch_workspace: bool = False, durable: bool = True) -> UUID:
    """Record one row in its own statement (one round trip; never re-run on a dropped connection,
    so a row is not written twice); its id. With `touch_workspace` the same statement marks the
    workspace active (an A2A message is activity: no hibernation). `durable=False`: a record of
    something already done, committed without waiting for the disk (store.insert_activity)."""
    return db.single_statement(
        lambda conn: store.insert_activity(conn, row, touch_workspace=touch_workspace, durable=durable),
        idempotent=False,
    )


def record_activity_in(conn: db.Connection, row: NewActivity) -> None:
    """Record one row inside the caller's transaction."""
    store.insert_activity(conn, row)
