"""The A2A queue's HTTP side (SPEC §5.5): a queued message's status, and the operator's drop-stale."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.a2a import service
from molecule_core.a2a.models import A2aQueueItem, A2aQueueStatus, DropStaleResult, QueueStatus
from molecule_core.auth.callers import AdminCaller, AnyCaller, WorkspaceCaller
from molecule_core.platform.http import APIGatewayHttpResolver, serve
from molecule_core.platform.observability import logger
from molecule_core.platform.openapi import (
    A2A,
    ADMIN,
    ADMIN_AUTH,
    ADMIN_CALLER,
    ADMIN_REFUSALS,
    ANY_TOKEN_AUTH,
    DATASTORE_DOWN,
    RATE_LIMITED,
    WORKSPACE_AUTH,
    WORKSPACE_CALLER,
    WORKSPACE_REFUSALS,
    Refusal,
    answers,
)

app = APIGatewayHttpResolver()
DEFAULT_MAX_AGE_MINUTES = 60


PageLimit = Annotated[int, Query(ge=1, le=service.QUEUE_PAGE_MAX)]
StatusFilter = Annotated[QueueStatus | None, Query()]

QUEUED_MESSAGE_NOT_FOUND = Refusal(
    404,
    "No queued message with this id for this workspace — or one the caller may not see (not its caller "
    "or target): the same answer, so existence does not leak.",
    {"error": "queued message not found"},
)
ANY_TOKEN_UNAUTHORIZED = Refusal(401, "No bearer token, or not a live one.", {"error": "missing auth token"})


@app.get(
    "/workspaces/<workspace_id>/a2a/queue",
    tags=[A2A],
    summary="List the messages queued for a workspace",
    description="Newest first, `status` filters; where each message is, never its body. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({200: "Its queue rows"}, *WORKSPACE_REFUSALS),
)
def list_workspace_queue(
    workspace_id: UUID,
    caller: WorkspaceCaller,
    status: StatusFilter = None,
    limit: PageLimit = service.QUEUE_PAGE_DEFAULT,
) -> list[A2aQueueItem]:
    return [A2aQueueItem.model_validate(row) for row in service.list_queue(workspace_id, status, limit)]


@app.get(
    "/admin/a2a-queue",
    tags=[ADMIN],
    summary="List queued A2A messages across the fleet",
    description="Newest first, `status` filters; where each message is, never its body. " + ADMIN_CALLER,
    security=ADMIN_AUTH,
    responses=answers({200: "Queue rows"}, *ADMIN_REFUSALS),
)
def list_fleet_queue(
    caller: AdminCaller, status: StatusFilter = None, limit: PageLimit = service.QUEUE_PAGE_DEFAULT
) -> list[A2aQueueItem]:
    return [A2aQueueItem.model_validate(row) for row in service.list_queue(None, status, limit)]


@app.get(
    "/workspaces/<workspace_id>/a2a/queue/<queue_id>",
    tags=[A2A],
    summary="Follow a queued A2A message, and read its answer",
    description="Where the message a 202 named is (`queued`, `dispatched`, `completed`, …); once "
    "completed, the agent's answer in `response_status` and `response_body`. **Caller:** the message's "
    "caller or target workspace (its own token), an org token or the admin token.",
    security=ANY_TOKEN_AUTH,
    responses=answers(
        {200: "The message's state"}, ANY_TOKEN_UNAUTHORIZED, RATE_LIMITED, DATASTORE_DOWN, QUEUED_MESSAGE_NOT_FOUND
    ),
)
def queue_status(workspace_id: UUID, queue_id: UUID, caller: AnyCaller) -> A2aQueueStatus:
    return A2aQueueStatus.model_validate(service.queue_status(workspace_id, queue_id, caller))


@app.post(
    "/admin/a2a-queue/drop-stale",
    tags=[ADMIN],
    summary="Drop queued A2A messages older than a limit",
    description="Messages still `queued` after `max_age_minutes` become `dropped` and are never "
    "delivered. " + ADMIN_CALLER,
    security=ADMIN_AUTH,
    responses=answers({200: "How many were dropped"}, *ADMIN_REFUSALS),
)
def drop_stale(
    caller: AdminCaller, max_age_minutes: Annotated[int, Query(ge=1, le=525_600)] = DEFAULT_MAX_AGE_MINUTES
) -> DropStaleResult:
    dropped = service.drop_stale(max_age_minutes)
    logger.info("a2a queue drop-stale", extra={"dropped": dropped, "max_age_minutes": max_age_minutes})
    return DropStaleResult(dropped=dropped)


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
