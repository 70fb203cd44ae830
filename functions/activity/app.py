"""Activity: the feed and inbox (GET), agent self-reports (POST) and agent → user notes (notify)
(SPEC §5.6)."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.activity import service
from molecule_core.activity.models import DEFAULT_LIMIT, ActivityQuery, ActivityRow, LogActivityRequest, NotifyRequest
from molecule_core.auth.callers import PresentedWorkspaceCaller, WorkspaceCaller
from molecule_core.platform.http import APIGatewayHttpResolver, compact_json, serve
from molecule_core.platform.observability import logger
from molecule_core.platform.openapi import (
    ACTIVITY,
    BODY_TOO_LARGE,
    CURSOR_GONE,
    WORKSPACE_AUTH,
    WORKSPACE_CALLER,
    WORKSPACE_GONE,
    WORKSPACE_REFUSALS,
    Refusal,
    answers,
    example,
    json_answer,
)

app = APIGatewayHttpResolver()

# --- what the reference says about these routes (platform.openapi) ---------------------------------

LOG_EXAMPLES = {
    "task_update": example(
        "A task's progress",
        {"activity_type": "task_update", "summary": "Drafted the outline; starting section 2", "status": "ok"},
    ),
    "error": example(
        "An error the agent hit",
        {
            "activity_type": "error",
            "summary": "Search API timed out",
            "status": "error",
            "error_detail": "timeout after 30s",
        },
    ),
}
NOTIFY_EXAMPLES = {
    "text": example("A message to the user", {"message": "The Q3 incident summary is ready."}),
    "attachment": example(
        "With a file the user can download",
        {
            "message": "Here is the report.",
            "attachments": [
                {"uri": "workspace:/reports/q3.pdf", "name": "q3.pdf", "mimeType": "application/pdf", "size": 48213}
            ],
        },
    ),
}
BAD_TYPE = Refusal(
    400,
    "`activity_type` is not one of the known types, or `since_secs` is not a positive integer.",
    {
        "error": "invalid activity_type, must be one of: a2a_send, a2a_receive, task_update, agent_log, "
        "skill_promotion, memory_write, error, delegation",
        "field": "activity_type",
    },
)


@app.get(
    "/workspaces/<workspace_id>/activity",
    tags=[ACTIVITY],
    summary="Read a workspace's activity feed (and an agent's inbox)",
    description="Newest first by default; a poller passes the last row's id as `since_id` and reads "
    "oldest first from there. `type`, `source`, `peer_id`, `before_ts` and `since_secs` filter. A "
    "poll-mode agent reads its inbox here (`type=a2a_receive`). " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers(
        # the handler serialises the rows itself (no return type): the shape is documented here
        {200: {"description": "The rows", "content": {"application/json": {"model": list[ActivityRow]}}}},
        *WORKSPACE_REFUSALS,
        BAD_TYPE,
        WORKSPACE_GONE,
        CURSOR_GONE,
    ),
)
def list_activity(
    workspace_id: UUID,
    caller: PresentedWorkspaceCaller,
    type: Annotated[str | None, Query(max_length=64)] = None,
    source: Annotated[Literal["canvas", "agent"] | None, Query()] = None,
    peer_id: Annotated[UUID | None, Query()] = None,
    before_ts: Annotated[datetime | None, Query()] = None,
    since_secs: Annotated[str | None, Query(max_length=32)] = None,
    since_id: Annotated[str | None, Query(max_length=64)] = None,
    order: Annotated[Literal["asc", "desc"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1)] = DEFAULT_LIMIT,
):  # no return type: the rows are serialised once, here, not validated into models again
    # Rows come as plain data in the ActivityRow shape (documented above): validating a hundred of
    # them into models and dumping them again was most of a poll's cost.
    query = ActivityQuery(type, source, peer_id, before_ts, since_secs, since_id, order, limit)
    rows = service.list_activity(workspace_id, caller, query)
    return Response(200, content_types.APPLICATION_JSON, compact_json(rows))


@app.post(
    "/workspaces/<workspace_id>/activity",
    tags=[ACTIVITY],
    summary="Record an activity row (an agent's self-report)",
    description="No `source_id` means the caller itself; no `status` means `ok`. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers(
        {200: json_answer("Recorded", example={"status": "logged"})},
        *WORKSPACE_REFUSALS,
        BAD_TYPE,
        Refusal(403, "`source_id` is not the calling workspace.", {"error": "source_id must be the calling workspace"}),
        WORKSPACE_GONE,
        BODY_TOO_LARGE,
    ),
)
def log_activity(
    workspace_id: UUID,
    body: Annotated[LogActivityRequest, Body(openapi_examples=LOG_EXAMPLES)],
    caller: WorkspaceCaller,
) -> dict[str, str]:
    service.log_activity(workspace_id, body, caller)
    return {"status": "logged"}


@app.post(
    "/workspaces/<workspace_id>/notify",
    tags=[ACTIVITY],
    summary="Send the workspace's user a message",
    description="Stored as an outgoing activity row the console and the channel plugin show; "
    "attachments are file parts (a `platform:` URI must be a file staged for this workspace). " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers(
        {200: json_answer("Sent", example={"status": "sent"})},
        *WORKSPACE_REFUSALS,
        Refusal(
            400,
            "An attachment lacks `uri` or `name`, or names a platform file that is not this workspace's.",
            {"error": "attachment[0]: uri and name are required", "field": "attachments[0]"},
        ),
        WORKSPACE_GONE,
        BODY_TOO_LARGE,
    ),
)
def notify(
    workspace_id: UUID, body: Annotated[NotifyRequest, Body(openapi_examples=NOTIFY_EXAMPLES)], caller: WorkspaceCaller
) -> dict[str, str]:
    service.notify(workspace_id, body)
    return {"status": "sent"}


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
