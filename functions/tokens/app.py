"""Credentials administration: workspace tokens, org tokens, admin test-token (SPEC §4.2, §5.9)."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core import tokens
from molecule_core.api import AdminCaller, WorkspaceCaller, compact_json, install_error_handlers, parse_uuid
from molecule_core.models import (
    CreateOrgTokenRequest,
    MintedOrgToken,
    MintedWorkspaceToken,
    OrgToken,
    TestToken,
    WorkspaceToken,
)
from molecule_core.observability import logger

app = APIGatewayHttpResolver(enable_validation=True, serializer=compact_json)
install_error_handlers(app)


@app.get("/workspaces/<workspace_id>/tokens")
def list_workspace_tokens(workspace_id: str, caller: WorkspaceCaller) -> list[WorkspaceToken]:
    return tokens.list_workspace_tokens(parse_uuid(workspace_id))


@app.post("/workspaces/<workspace_id>/tokens")
def mint_workspace_token(workspace_id: str, caller: WorkspaceCaller) -> Response[MintedWorkspaceToken]:
    return Response(201, content_types.APPLICATION_JSON, tokens.mint_workspace_token(parse_uuid(workspace_id)))


@app.delete("/workspaces/<workspace_id>/tokens/<token_id>")
def revoke_workspace_token(workspace_id: str, token_id: str, caller: WorkspaceCaller) -> dict[str, str]:
    tokens.revoke_workspace_token(parse_uuid(workspace_id), parse_uuid(token_id))
    return {"status": "revoked"}


@app.get("/org/tokens")
def list_org_tokens(caller: AdminCaller) -> list[OrgToken]:
    return tokens.list_org_tokens()


@app.post("/org/tokens")
def mint_org_token(body: CreateOrgTokenRequest, caller: AdminCaller) -> Response[MintedOrgToken]:
    return Response(201, content_types.APPLICATION_JSON, tokens.mint_org_token(body, caller))


@app.delete("/org/tokens/<token_id>")
def revoke_org_token(token_id: str, caller: AdminCaller) -> dict[str, str]:
    tokens.revoke_org_token(parse_uuid(token_id))
    return {"status": "revoked"}


@app.get("/admin/workspaces/<workspace_id>/test-token")
def issue_test_token(workspace_id: str) -> TestToken:
    return tokens.issue_test_token(parse_uuid(workspace_id), app.current_event.headers)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
