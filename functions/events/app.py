"""Structural events: GET /events (fleet, Admin) and GET /events/{workspace_id} (Workspace)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.auth.callers import AdminCaller, WorkspaceCaller
from molecule_core.events import service
from molecule_core.events.models import StructureEvent
from molecule_core.platform.http import APIGatewayHttpResolver, serve
from molecule_core.platform.observability import logger
from molecule_core.platform.openapi import (
    ADMIN_AUTH,
    ADMIN_CALLER,
    ADMIN_REFUSALS,
    CURSOR_GONE,
    EVENTS,
    WORKSPACE_AUTH,
    WORKSPACE_CALLER,
    WORKSPACE_REFUSALS,
    answers,
)

app = APIGatewayHttpResolver()

Limit = Annotated[int, Query(ge=1, le=service.MAX_LIMIT)]
SinceId = Annotated[str | None, Query()]


@app.get(
    "/events",
    tags=[EVENTS],
    summary="Read the fleet's structural events",
    description="Workspaces provisioning, online, offline, removed…, newest first; a poller passes the "
    "last event's id as `since_id` and reads what came after. " + ADMIN_CALLER,
    security=ADMIN_AUTH,
    responses=answers({200: "The events"}, *ADMIN_REFUSALS, CURSOR_GONE),
)
def list_events(
    caller: AdminCaller, since_id: SinceId = None, limit: Limit = service.DEFAULT_LIMIT
) -> list[StructureEvent]:
    return service.list_events(workspace_id=None, since_id=since_id, limit=limit)


@app.get(
    "/events/<workspace_id>",
    tags=[EVENTS],
    summary="Read one workspace's structural events",
    description="Its own events, as `GET /events` pages them. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({200: "The events"}, *WORKSPACE_REFUSALS, CURSOR_GONE),
)
def list_workspace_events(
    workspace_id: UUID, caller: WorkspaceCaller, since_id: SinceId = None, limit: Limit = service.DEFAULT_LIMIT
) -> list[StructureEvent]:
    return service.list_events(workspace_id=workspace_id, since_id=since_id, limit=limit)


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
