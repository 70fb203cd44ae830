"""Credentials administration: workspace tokens, org tokens, admin test-token (SPEC §4.2, §5.9)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
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
from molecule_core.platform.openapi import (
    ADMIN,
    ADMIN_AUTH,
    ADMIN_CALLER,
    ADMIN_REFUSALS,
    ADMIN_TOKEN_AUTH,
    ADMIN_UNAUTHORIZED,
    BODY_TOO_LARGE,
    DATASTORE_DOWN,
    TOKENS,
    WORKSPACE_AUTH,
    WORKSPACE_CALLER,
    WORKSPACE_NOT_FOUND,
    WORKSPACE_REFUSALS,
    Refusal,
    answers,
    example,
    json_answer,
)

app = APIGatewayHttpResolver()

# --- what the reference says about these routes (platform.openapi) ---------------------------------

TOKEN_NOT_FOUND = Refusal(
    404, "No live token has this id (or it is revoked already).", {"error": "token not found or already revoked"}
)
TOO_MANY_TOKENS = Refusal(
    429,
    "The workspace has 50 live tokens: revoke one first.",
    {"error": "maximum 50 active tokens per workspace"},
    retry_after="always",
)
ORG_TOKEN_EXAMPLES = {
    "ci": example("A token for a CI pipeline", {"name": "CI pipeline", "created_by": "ops@example.com"})
}


@app.get(
    "/workspaces/<workspace_id>/tokens",
    tags=[TOKENS],
    summary="List a workspace's live tokens",
    description="Their ids and prefixes, never the tokens. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({200: "The tokens and their count"}, *WORKSPACE_REFUSALS),
)
def list_workspace_tokens(workspace_id: UUID, caller: WorkspaceCaller) -> WorkspaceTokenList:
    return service.list_workspace_tokens(workspace_id)


@app.post(
    "/workspaces/<workspace_id>/tokens",
    tags=[TOKENS],
    summary="Mint a workspace token",
    description="The token is in `auth_token`, this once: it cannot be retrieved again. At most 50 live "
    "tokens per workspace. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({201: "The new token"}, *WORKSPACE_REFUSALS, TOO_MANY_TOKENS),
)
def mint_workspace_token(workspace_id: UUID, caller: WorkspaceCaller) -> Response[MintedWorkspaceToken]:
    return Response(201, content_types.APPLICATION_JSON, service.mint_workspace_token(workspace_id))


@app.delete(
    "/workspaces/<workspace_id>/tokens/<token_id>",
    tags=[TOKENS],
    summary="Revoke a workspace token",
    description="At once: the token is refused from the next request on. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers(
        {200: json_answer("Revoked", example={"status": "revoked"})}, *WORKSPACE_REFUSALS, TOKEN_NOT_FOUND
    ),
)
def revoke_workspace_token(workspace_id: UUID, token_id: UUID, caller: WorkspaceCaller) -> dict[str, str]:
    service.revoke_workspace_token(workspace_id, token_id)
    return {"status": "revoked"}


@app.get(
    "/org/tokens",
    tags=[TOKENS],
    summary="List the live org tokens",
    description="Their ids, prefixes and names, never the tokens. " + ADMIN_CALLER,
    security=ADMIN_AUTH,
    responses=answers({200: "The tokens and their count"}, *ADMIN_REFUSALS),
)
def list_org_tokens(caller: AdminCaller) -> OrgTokenList:
    return service.list_org_tokens()


@app.post(
    "/org/tokens",
    tags=[TOKENS],
    summary="Mint an org token",
    description="A token that acts for users on every workspace; it is in `auth_token`, this once. " + ADMIN_CALLER,
    security=ADMIN_AUTH,
    responses=answers(
        {201: "The new token"},
        *ADMIN_REFUSALS,
        Refusal(
            400, "`name` is longer than 100 characters.", {"error": "name too long (max 100 chars)", "field": "name"}
        ),
        BODY_TOO_LARGE,
    ),
)
def mint_org_token(
    body: Annotated[CreateOrgTokenRequest, Body(openapi_examples=ORG_TOKEN_EXAMPLES)], caller: AdminCaller
) -> Response[MintedOrgToken]:
    return Response(201, content_types.APPLICATION_JSON, service.mint_org_token(body, caller))


@app.delete(
    "/org/tokens/<token_id>",
    tags=[TOKENS],
    summary="Revoke an org token",
    description="At once: the token is refused from the next request on. " + ADMIN_CALLER,
    security=ADMIN_AUTH,
    responses=answers({200: "Revoked"}, *ADMIN_REFUSALS, TOKEN_NOT_FOUND),
)
def revoke_org_token(token_id: UUID, caller: AdminCaller) -> RevokedOrgToken:
    return service.revoke_org_token(token_id)


@app.get(
    "/admin/workspaces/<workspace_id>/test-token",
    tags=[ADMIN],
    summary="Mint a workspace token for tests",
    description="A fresh token of the workspace; its other tokens stay valid. Not found in production "
    "unless test tokens are enabled. **Caller:** the admin token itself (no token when none is set).",
    security=ADMIN_TOKEN_AUTH,
    responses=answers(
        {200: "The token"},
        ADMIN_UNAUTHORIZED,
        WORKSPACE_NOT_FOUND,
        Refusal(404, "Test tokens are disabled (production).", {"error": "not found"}),
        DATASTORE_DOWN,
    ),
)
def issue_test_token(workspace_id: UUID, issuer: TestTokenIssuer) -> TestToken:
    return service.issue_test_token(workspace_id)


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
