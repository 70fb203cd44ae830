"""The A2A queue's HTTP side (SPEC §5.5): a queued message's status, and the operator's drop-stale."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.a2a import service
from molecule_core.a2a.models import A2aQueueItem, A2aQueueStatus, DropStaleResult, QueueStatus
from molecule_core.auth.callers import AdminCaller, AnyCaller, WorkspaceCaller
from molecule_core.platform.http import APIGatewayHttpResolver, serve
from molecule_core.platform.observability import logger

app = APIGatewayHttpResolver()
DEFAULT_MAX_AGE_MINUTES = 60


PageLimit = Annotated[int, Query(ge=1, le=service.QUEUE_PAGE_MAX)]
StatusFilter = Annotated[QueueStatus | None, Query()]


@app.get("/workspaces/<workspace_id>/a2a/queue")
def list_workspace_queue(
    workspace_id: UUID,
    caller: WorkspaceCaller,
    status: StatusFilter = None,
    limit: PageLimit = service.QUEUE_PAGE_DEFAULT,
) -> list[A2aQueueItem]:
    return [A2aQueueItem.model_validate(row) for row in service.list_queue(workspace_id, status, limit)]


@app.get("/admin/a2a-queue")
def list_fleet_queue(
    caller: AdminCaller, status: StatusFilter = None, limit: PageLimit = service.QUEUE_PAGE_DEFAULT
) -> list[A2aQueueItem]:
    return [A2aQueueItem.model_validate(row) for row in service.list_queue(None, status, limit)]


@app.get("/workspaces/<workspace_id>/a2a/queue/<queue_id>")
def queue_status(workspace_id: UUID, queue_id: UUID, caller: AnyCaller) -> A2aQueueStatus:
    return A2aQueueStatus.model_validate(service.queue_status(workspace_id, queue_id, caller))


@app.post("/admin/a2a-queue/drop-stale")
def drop_stale(
    caller: AdminCaller, max_age_minutes: Annotated[int, Query(ge=1, le=525_600)] = DEFAULT_MAX_AGE_MINUTES
) -> DropStaleResult:
    dropped = service.drop_stale(max_age_minutes)
    logger.info("a2a queue drop-stale", extra={"dropped": dropped, "max_age_minutes": max_age_minutes})
    return DropStaleResult(dropped=dropped)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
