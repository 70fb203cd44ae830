"""Credentials administration: workspace tokens, org tokens, admin test-token (SPEC §4.2, §5.9)."""

from uuid import UUID

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.auth import service
from molecule_core.auth.callers import AdminCaller, TestTokenIssuer, WorkspaceCaller
from molecule_core.auth.models import (
    CreateOrgTokenRequest,
    MintedOrgToken,
    MintedWorkspaceToken,
    OrgTokenList,
    RevokedOrgToken,
    TestToken,
    WorkspaceTokenList,
)
from molecule_core.platform.http import APIGatewayHttpResolver, serve
from molecule_core.platform.observability import logger

app = APIGatewayHttpResolver()


@app.get("/workspaces/<workspace_id>/tokens")
def list_workspace_tokens(workspace_id: UUID, caller: WorkspaceCaller) -> WorkspaceTokenList:
    return service.list_workspace_tokens(workspace_id)


@app.post("/workspaces/<workspace_id>/tokens")
def mint_workspace_token(workspace_id: UUID, caller: WorkspaceCaller) -> Response[MintedWorkspaceToken]:
    return Response(201, content_types.APPLICATION_JSON, service.mint_workspace_token(workspace_id))


@app.delete("/workspaces/<workspace_id>/tokens/<token_id>")
def revoke_workspace_token(workspace_id: UUID, token_id: UUID, caller: WorkspaceCaller) -> dict[str, str]:
    service.revoke_workspace_token(workspace_id, token_id)
    return {"status": "revoked"}


@app.get("/org/tokens")
def list_org_tokens(caller: AdminCaller) -> OrgTokenList:
    return service.list_org_tokens()


@app.post("/org/tokens")
def mint_org_token(body: CreateOrgTokenRequest, caller: AdminCaller) -> Response[MintedOrgToken]:
    return Response(201, content_types.APPLICATION_JSON, service.mint_org_token(body, caller))


@app.delete("/org/tokens/<token_id>")
def revoke_org_token(token_id: UUID, caller: AdminCaller) -> RevokedOrgToken:
    return service.revoke_org_token(token_id)


@app.get("/admin/workspaces/<workspace_id>/test-token")
def issue_test_token(workspace_id: UUID, issuer: TestTokenIssuer) -> TestToken:
    return service.issue_test_token(workspace_id)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
