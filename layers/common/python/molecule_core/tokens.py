"""Token administration: workspace tokens (list/mint/revoke), org tokens, and the admin
test-token endpoint (SPEC §5.9)."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from molecule_core import db
from molecule_core.auth.guards import Caller, bearer_from_headers, configured_admin_token
from molecule_core.auth.tokens import mint_token, secrets_equal
from molecule_core.errors import NotFound, TooManyTokens, Unauthorized, WorkspaceNotFound
from molecule_core.models import (
    CreateOrgTokenRequest,
    MintedOrgToken,
    MintedWorkspaceToken,
    OrgToken,
    TestToken,
    WorkspaceToken,
)
from molecule_core.settings import get_settings
from molecule_core.store import tokens as token_store
from molecule_core.store import workspaces as workspace_store

MAX_LIVE_WORKSPACE_TOKENS = 50


def _require_live_workspace(conn: db.Connection, workspace_id: UUID | None) -> UUID:
    if workspace_id is None:
        raise WorkspaceNotFound()
    workspace = workspace_store.get(conn, workspace_id)
    if workspace is None or workspace.status == "removed":
        raise WorkspaceNotFound()
    return workspace_id


def list_workspace_tokens(workspace_id: UUID | None) -> list[WorkspaceToken]:
    with db.transaction() as conn:
        live_id = _require_live_workspace(conn, workspace_id)
        return [WorkspaceToken(**vars(t)) for t in token_store.list_live_workspace_tokens(conn, live_id)]


def mint_workspace_token(workspace_id: UUID | None) -> MintedWorkspaceToken:
    with db.transaction() as conn:
        live_id = _require_live_workspace(conn, workspace_id)
        # Serialise mints of one workspace so two concurrent requests cannot both pass the limit.
        workspace_store.lock(conn, live_id)
        if token_store.count_live_workspace_tokens(conn, live_id) >= MAX_LIVE_WORKSPACE_TOKENS:
            raise TooManyTokens(f"workspace already has {MAX_LIVE_WORKSPACE_TOKENS} live tokens; revoke one first")
        token = mint_token()
        record = token_store.insert_workspace_token(conn, live_id, token, origin="api")
    return MintedWorkspaceToken(id=record.id, workspace_id=live_id, prefix=record.prefix, auth_token=token.plaintext)


def revoke_workspace_token(workspace_id: UUID | None, token_id: UUID | None) -> None:
    if workspace_id is None or token_id is None:
        raise NotFound("token not found")
    with db.transaction() as conn:
        if not token_store.revoke_workspace_token(conn, workspace_id, token_id):
            raise NotFound("token not found")


def list_org_tokens() -> list[OrgToken]:
    with db.transaction() as conn:
        return [OrgToken(**vars(t)) for t in token_store.list_live_org_tokens(conn)]


def mint_org_token(request: CreateOrgTokenRequest, caller: Caller) -> MintedOrgToken:
    created_by = request.created_by or (str(caller.workspace_id) if caller.workspace_id else caller.kind)
    token = mint_token()
    with db.transaction() as conn:
        record = token_store.insert_org_token(
            conn, token, name=request.name, created_by=created_by, org_id=request.org_id
        )
    return MintedOrgToken(**vars(record), token=token.plaintext)


def revoke_org_token(token_id: UUID | None) -> None:
    if token_id is None:
        raise NotFound("token not found")
    with db.transaction() as conn:
        if not token_store.revoke_org_token(conn, token_id):
            raise NotFound("token not found")


def issue_test_token(workspace_id: UUID | None, headers: Mapping[str, str] | None) -> TestToken:
    """GET /admin/workspaces/{id}/test-token. Hidden (404) in production unless
    MOLECULE_ENABLE_TEST_TOKENS=1. With ADMIN_TOKEN set, only that exact bearer passes — an org
    token does not (the history's cross-org IDOR fix); with it unset there is no auth. Other tokens
    of the workspace stay valid."""
    settings = get_settings()
    if settings.is_production and not settings.enable_test_tokens:
        raise NotFound("not found")
    admin_token = configured_admin_token()
    if admin_token is not None:
        bearer = bearer_from_headers(headers)
        if bearer is None:
            raise Unauthorized("missing admin auth token")
        if not secrets_equal(bearer, admin_token):
            raise Unauthorized("invalid admin auth token")
    token = mint_token()
    with db.transaction() as conn:
        live_id = _require_live_workspace(conn, workspace_id)
        token_store.insert_workspace_token(conn, live_id, token, origin="test")
    return TestToken(auth_token=token.plaintext, workspace_id=live_id)
