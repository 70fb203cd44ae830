"""Workspace lifecycle: restart, pause, resume, hibernate, team expand (SPEC §5.5)."""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.auth.callers import WorkspaceCaller
from molecule_core.lifecycle import service
from molecule_core.lifecycle.models import ExpandRequest, ExpandResult
from molecule_core.platform.http import APIGatewayHttpResolver, serve
from molecule_core.platform.observability import logger
from molecule_core.platform.openapi import (
    BODY_TOO_LARGE,
    LIFECYCLE,
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

WORKSPACE_ID = "3f0c1c9e-8a53-4a55-9d1b-6f2a9a3b7c10"
# What every lifecycle route may answer: the workspace unknown or removed, the caller refused.
LIFECYCLE_REFUSALS = (*WORKSPACE_REFUSALS, WORKSPACE_GONE)
UNDER_PAUSED_ANCESTOR = Refusal(
    409,
    "An ancestor workspace is paused: resume it first.",
    {
        "error": "cannot resume: an ancestor workspace is paused; resume it first",
        "paused_ancestor": "0d6c1f0a-1a9e-4f8e-8f7e-2b8f0f4f7f11",
    },
)
EXPAND_EXAMPLES = {
    "team": example(
        "Two children under this workspace",
        {
            "children": [
                {"name": "Analyst", "role": "Reads the sources"},
                {"name": "Writer", "role": "Drafts the report", "runtime": "langgraph"},
            ]
        },
    )
}


@app.post(
    "/workspaces/<workspace_id>/restart",
    tags=[LIFECYCLE],
    summary="Restart a workspace's agent",
    description="Queued: the agent is stopped and started again with fresh credentials shortly after. "
    "Not for a paused workspace (resume it) nor an external one (its operator restarts it). " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers(
        {202: json_answer("Requested", example={"status": "restart_requested", "workspace_id": WORKSPACE_ID})},
        *LIFECYCLE_REFUSALS,
        Refusal(
            409,
            "The workspace is paused, external, or under a paused ancestor.",
            {"error": "workspace is paused; resume it instead"},
        ),
        UNDER_PAUSED_ANCESTOR,
    ),
)
def restart(workspace_id: UUID, caller: WorkspaceCaller) -> Response[dict[str, Any]]:
    return Response(202, content_types.APPLICATION_JSON, service.restart_workspace(workspace_id))


@app.post(
    "/workspaces/<workspace_id>/pause",
    tags=[LIFECYCLE],
    summary="Pause a workspace and its descendants",
    description="Their agents are stopped and they take no messages until resumed; `paused` counts the "
    "workspaces paused. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({200: json_answer("Paused", example={"status": "paused", "paused": 3})}, *LIFECYCLE_REFUSALS),
)
def pause(workspace_id: UUID, caller: WorkspaceCaller) -> dict[str, Any]:
    return service.pause_workspace(workspace_id)


@app.post(
    "/workspaces/<workspace_id>/resume",
    tags=[LIFECYCLE],
    summary="Resume a paused workspace and its descendants",
    description="Their managed agents are started again; `resumed` counts the workspaces resumed. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers(
        {200: json_answer("Resumed", example={"status": "resumed", "resumed": 3})},
        *LIFECYCLE_REFUSALS,
        Refusal(
            409,
            "The workspace is not paused.",
            {"error": "workspace is not paused (status online)", "status": "online"},
        ),
        UNDER_PAUSED_ANCESTOR,
    ),
)
def resume(workspace_id: UUID, caller: WorkspaceCaller) -> dict[str, Any]:
    return service.resume_workspace(workspace_id)


@app.post(
    "/workspaces/<workspace_id>/hibernate",
    tags=[LIFECYCLE],
    summary="Hibernate a workspace: stop its agent until a message wakes it",
    description="Refused while it has active tasks unless `force=true`; a message to a hibernated "
    "workspace wakes it (the A2A proxy answers 503 with `Retry-After` meanwhile). Not for an external "
    "workspace. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers(
        {200: json_answer("Hibernated", example={"status": "hibernated", "workspace_id": WORKSPACE_ID})},
        *LIFECYCLE_REFUSALS,
        Refusal(
            409,
            "The workspace has active tasks (pass `force=true`), is external, or is in a status that cannot hibernate.",
            {
                "error": "workspace has 2 active task(s); pass ?force=true to hibernate anyway",
                "active_tasks": 2,
            },
        ),
        Refusal(
            502,
            "The agent could not be stopped; the workspace stays online.",
            {"error": "the agent could not be stopped; the workspace stays online"},
        ),
    ),
)
def hibernate(workspace_id: UUID, caller: WorkspaceCaller, force: Annotated[bool, Query()] = False) -> dict[str, Any]:
    return service.hibernate_workspace(workspace_id, force=force)


@app.post(
    "/workspaces/<workspace_id>/expand",
    tags=[LIFECYCLE],
    summary="Expand a workspace into a team: create child workspaces",
    description="Each child is created and provisioned as `POST /workspaces` would, with this workspace "
    "as its parent (at most 20 at once). " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers(
        {201: "The children created"},
        *LIFECYCLE_REFUSALS,
        Refusal(
            400,
            "A child is invalid (`field` names it, as `children[0].role`).",
            {"error": "children[0].role: role must not contain control characters", "field": "children[0].role"},
        ),
        BODY_TOO_LARGE,
    ),
)
def expand(
    workspace_id: UUID, body: Annotated[ExpandRequest, Body(openapi_examples=EXPAND_EXAMPLES)], caller: WorkspaceCaller
) -> Response[ExpandResult]:
    return Response(201, content_types.APPLICATION_JSON, service.expand_team(workspace_id, body))


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
