"""Delegations (SPEC §5.10): delegate a task to another workspace, list and read delegations, and
record or close the ones an agent dispatched itself. The result arrives through the A2A queue's
drain or the target's reply, never inside these requests."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
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

app = APIGatewayHttpResolver()

DelegationId = Annotated[str, Path(min_length=1, max_length=MAX_KEY_CHARS)]


@app.post("/workspaces/<workspace_id>/delegate")
def delegate(workspace_id: UUID, body: DelegateRequest, caller: DelegatorCaller) -> Response[DelegateAnswer]:
    answer = service.delegate(workspace_id, body, caller)
    return Response(200 if answer.idempotent_hit else 202, content_types.APPLICATION_JSON, answer)


@app.get("/workspaces/<workspace_id>/delegations")
def list_delegations(
    workspace_id: UUID,
    caller: WorkspaceCaller,
    status: Annotated[DelegationStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=LIST_MAX)] = LIST_DEFAULT,
) -> list[DelegationItem]:
    return service.list_delegations(workspace_id, status=status, limit=limit)


@app.get("/workspaces/<workspace_id>/delegations/<delegation_id>")
def get_delegation(workspace_id: UUID, delegation_id: DelegationId, caller: WorkspaceCaller) -> Delegation:
    return service.get_delegation(workspace_id, delegation_id)


@app.post("/workspaces/<workspace_id>/delegations/record")
def record_delegation(
    workspace_id: UUID, body: RecordDelegationRequest, caller: WorkspaceCaller
) -> Response[RecordedDelegation]:
    return Response(202, content_types.APPLICATION_JSON, service.record_delegation(workspace_id, body))


@app.post("/workspaces/<workspace_id>/delegations/<delegation_id>/update")
def update_delegation(
    workspace_id: UUID, delegation_id: DelegationId, body: UpdateDelegationRequest, caller: WorkspaceCaller
) -> UpdatedDelegation:
    return service.update_delegation(workspace_id, delegation_id, body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
