"""Delegations (SPEC §5.10): delegate a task to another workspace, list and read delegations, and
record or close the ones an agent dispatched itself. The result arrives through the A2A queue's
drain or the target's reply, never inside these requests."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.auth.callers import DelegatorCaller, WorkspaceCaller
from molecule_core.delegations import service
from molecule_core.delegations.models import (
    LIST_DEFAULT,
    LIST_MAX,
    MAX_KEY_CHARS,
    DelegateAnswer,
    DelegateRequest,
    Delegation,
    DelegationItem,
    DelegationStatus,
    RecordDelegationRequest,
    RecordedDelegation,
    UpdatedDelegation,
    UpdateDelegationRequest,
)
from molecule_core.platform.http import APIGatewayHttpResolver, serve
from molecule_core.platform.observability import logger
from molecule_core.platform.openapi import (
    BODY_TOO_LARGE,
    CALLER_WORKSPACE_HEADER,
    DELEGATIONS,
    WORKSPACE_AUTH,
    WORKSPACE_CALLER,
    WORKSPACE_REFUSALS,
    Refusal,
    answers,
    example,
    header_parameters,
)

app = APIGatewayHttpResolver()

DelegationId = Annotated[str, Path(min_length=1, max_length=MAX_KEY_CHARS)]

# --- what the reference says about these routes (platform.openapi) ---------------------------------

TARGET_ID = "8b1d2f4e-5c6a-4b7d-9e0f-1a2b3c4d5e6f"
DELEGATE_EXAMPLES = {
    "delegator": example(
        "From the delegator's own path: `target_id` names the target (the channel plugin, the CLI, the console)",
        {
            "target_id": TARGET_ID,
            "task": "Summarise the Q3 incident reports in five bullet points.",
            "idempotency_key": "q3-summary-1",
        },
    ),
    "sdk": example(
        "The SDK's form: sent to the target's path with `X-Workspace-ID: <delegator>` and the delegator's "
        "own token, no `target_id`",
        {"task": "Translate the release notes into German."},
    ),
}
RECORD_EXAMPLES = {
    "dispatched": example(
        "A task the agent sent the target itself, under its own id",
        {"target_id": TARGET_ID, "task": "Check the staging deploy.", "delegation_id": "task-7f3"},
    )
}
UPDATE_EXAMPLES = {
    "completed": example(
        "Done, with what the target answered", {"status": "completed", "response_preview": "Deployed."}
    ),
    "failed": example(
        "It failed, and why", {"status": "failed", "error": "the target did not answer within 10 minutes"}
    ),
}
DELEGATOR_HEADERS = header_parameters(
    {
        **CALLER_WORKSPACE_HEADER,
        "description": "The SDK's form: the delegating workspace's id (the path is then the target); the "
        "bearer must be that workspace's own token.",
    },
    {**CALLER_WORKSPACE_HEADER, "name": "X-Source-Workspace-Id", "description": "Same as `X-Workspace-ID`."},
)
DELEGATOR_CALLER = (
    "**Caller:** the delegator's own token, an org token or the admin token on the delegator's path; or, "
    "in the SDK's form, the delegator's own token with `X-Workspace-ID` naming it."
)
BAD_DELEGATION = Refusal(
    400,
    "`target_id` missing or not a workspace id, `task` missing or blank, the delegator and the target the "
    "same workspace, or `X-Workspace-ID` not a workspace id.",
    {"error": "target_id must be a valid UUID", "field": "target_id"},
)
SDK_MISMATCH = Refusal(
    401,
    "In the SDK's form, a `target_id` other than the path's workspace.",
    {
        "error": "this token is X-Workspace-ID's own: send no target_id (the path is then the target), or "
        "delegate from that workspace's own path"
    },
)
NOT_ALLOWED = Refusal(
    403,
    "The delegator may not talk to the target (only self, siblings, ancestors and descendants may), or "
    "the caller header names a reserved identity (`system:`, …).",
    {"error": "this workspace may not delegate to the target (the access rule: self, siblings, lineage)"},
)
TARGET_NOT_FOUND = Refusal(
    404, "No workspace is the target (or it was removed).", {"error": "target workspace not found"}
)
KEY_RACED = Refusal(
    409,
    "A concurrent request with the same `idempotency_key` won, and its delegation has failed since: send it again.",
    {"error": "a request with this idempotency_key was handled concurrently; send it again"},
)
BAD_RECORD = Refusal(
    400,
    "`target_id` missing or not a workspace id, `task` or `delegation_id` missing, or the target the delegator.",
    {"error": "delegation_id: field required", "field": "delegation_id"},
)
DELEGATION_NOT_FOUND = Refusal(
    404, "This workspace delegated nothing under this id.", {"error": "delegation not found"}
)
ALREADY_CLOSED = Refusal(
    409,
    "The delegation already ended with the other final status (`status` says which); the same one again is a 200.",
    {"error": "delegation is already failed", "status": "failed"},
)


@app.post(
    "/workspaces/<workspace_id>/delegate",
    tags=[DELEGATIONS],
    summary="Delegate a task to another workspace",
    description="Records the delegation and hands the task to the target's agent (through the A2A queue, "
    "or a poll-mode target's inbox) without waiting for it: 202 with its `delegation_id`; follow it with "
    "`GET …/delegations/{delegation_id}`. The same live `idempotency_key` answers that delegation (200, "
    "`idempotent_hit`). " + DELEGATOR_CALLER,
    security=WORKSPACE_AUTH,
    openapi_extensions=DELEGATOR_HEADERS,
    responses=answers(
        {
            202: "Delegated: the task is on its way to the target",
            200: "The live delegation with this `idempotency_key` (`idempotent_hit: true`)",
        },
        BAD_DELEGATION,
        *WORKSPACE_REFUSALS,
        SDK_MISMATCH,
        NOT_ALLOWED,
        TARGET_NOT_FOUND,
        KEY_RACED,
        BODY_TOO_LARGE,
    ),
)
def delegate(
    workspace_id: UUID,
    body: Annotated[DelegateRequest, Body(openapi_examples=DELEGATE_EXAMPLES)],
    caller: DelegatorCaller,
) -> Response[DelegateAnswer]:
    answer = service.delegate(workspace_id, body, caller)
    return Response(200 if answer.idempotent_hit else 202, content_types.APPLICATION_JSON, answer)


@app.get(
    "/workspaces/<workspace_id>/delegations",
    tags=[DELEGATIONS],
    summary="List the delegations a workspace made",
    description="Newest first, optionally only those in one `status`; each with a preview of its result "
    "or its error once it has one. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({200: "Its delegations"}, *WORKSPACE_REFUSALS),
)
def list_delegations(
    workspace_id: UUID,
    caller: WorkspaceCaller,
    status: Annotated[DelegationStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=LIST_MAX)] = LIST_DEFAULT,
) -> list[DelegationItem]:
    return service.list_delegations(workspace_id, status=status, limit=limit)


@app.get(
    "/workspaces/<workspace_id>/delegations/<delegation_id>",
    tags=[DELEGATIONS],
    summary="Read one delegation with its task and full result",
    description="Only on its delegator's path: the target's path answers 404. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({200: "The delegation"}, *WORKSPACE_REFUSALS, DELEGATION_NOT_FOUND),
)
def get_delegation(workspace_id: UUID, delegation_id: DelegationId, caller: WorkspaceCaller) -> Delegation:
    return service.get_delegation(workspace_id, delegation_id)


@app.post(
    "/workspaces/<workspace_id>/delegations/record",
    tags=[DELEGATIONS],
    summary="Record a delegation the agent dispatched itself",
    description="So it shows in the list and the feed; close it with `POST …/delegations/{delegation_id}/update`. "
    "Recording the same `delegation_id` again changes nothing. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({202: "Recorded"}, BAD_RECORD, *WORKSPACE_REFUSALS, BODY_TOO_LARGE),
)
def record_delegation(
    workspace_id: UUID,
    body: Annotated[RecordDelegationRequest, Body(openapi_examples=RECORD_EXAMPLES)],
    caller: WorkspaceCaller,
) -> Response[RecordedDelegation]:
    return Response(202, content_types.APPLICATION_JSON, service.record_delegation(workspace_id, body))


@app.post(
    "/workspaces/<workspace_id>/delegations/<delegation_id>/update",
    tags=[DELEGATIONS],
    summary="Close a delegation: completed or failed",
    description="The delegator's agent reports how a delegation ended (one it recorded, or one whose "
    "answer reached it another way). A final status stays: the same one again is answered as done. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({200: "Closed"}, *WORKSPACE_REFUSALS, DELEGATION_NOT_FOUND, ALREADY_CLOSED, BODY_TOO_LARGE),
)
def update_delegation(
    workspace_id: UUID,
    delegation_id: DelegationId,
    body: Annotated[UpdateDelegationRequest, Body(openapi_examples=UPDATE_EXAMPLES)],
    caller: WorkspaceCaller,
) -> UpdatedDelegation:
    return service.update_delegation(workspace_id, delegation_id, body)


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
