"""Who is calling, and the credentials that say so (SPEC §4.1, §5.9).

- WorkspaceAuth (`authorize_workspace`): ADMIN_TOKEN, a live org token, or a live token bound to
  the workspace in the path.
- AdminAuth (`authorize_admin`): ADMIN_TOKEN or a live org token. Outside production, with
  ADMIN_TOKEN unset, a fresh install (no live token anywhere) fails open and any live workspace
  token passes. Production never fails open.
- Development with ADMIN_TOKEN unset (the local stack): a request with *no* bearer passes;
  a bearer that is presented but invalid is still 401.
- Token administration: workspace tokens (list/mint/revoke), org tokens, the admin test-token.

Every function takes the bearer already parsed (`auth.callers` reads it from the request, once).
"""

from __future__ import annotations

from uuid import UUID

from molecule_core.auth import store
from molecule_core.auth.credentials import MintedToken, hash_token, mint_inbound_secret, mint_token, secrets_equal
from molecule_core.auth.models import (
    MAX_ORG_TOKEN_NAME,
    Caller,
    CreateOrgTokenRequest,
    MintedOrgToken,
    MintedWorkspaceToken,
    OrgToken,
    OrgTokenList,
    PresentedCaller,
    RevokedOrgToken,
    TestToken,
    TokenMatch,
    WorkspaceToken,
    WorkspaceTokenList,
)
from molecule_core.platform import aws, db
from molecule_core.platform.errors import (
    AccessDenied,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
    WorkspaceNotFound,
)
from molecule_core.platform.observability import note_caller
from molecule_core.platform.settings import get_settings

__all__ = ["MintedToken", "hash_token", "mint_inbound_secret", "mint_token"]  # for other domains

MAX_LIVE_WORKSPACE_TOKENS = 50
# SPEC §5.8: every 429 carries Retry-After. The limit lifts when a token is revoked, not with time;
# this only paces clients that retry 429s on their own.
TOKEN_LIMIT_RETRY_AFTER_SECONDS = 60
OWN_TOKEN_REFUSAL = "a caller workspace must present its own token"  # noqa: S105 - a message, not a secret
# Caller identities only the platform itself may claim (SPEC §4.3).
RESERVED_CALLER_PREFIXES = ("system:", "webhook:", "test:", "channel:", "platform:", "admin:")


def configured_admin_token() -> str | None:
    """ADMIN_TOKEN from the environment, else from Secrets Manager (ADMIN_TOKEN_SECRET_ARN)
    through Powertools Parameters, cached for five minutes."""
    settings = get_settings()
    if settings.admin_token:
        return settings.admin_token
    if settings.admin_token_secret_arn:
        return aws.secret_value(settings.admin_token_secret_arn).strip() or None
    return None


def identify(token: str) -> Caller | None:
    """The caller a presented bearer stands for, or None when it is not a live credential."""
    admin_token = configured_admin_token()
    if admin_token and secrets_equal(token, admin_token):
        return Caller("admin")
    token_hash = hash_token(token)
    match = db.single_statement(lambda conn: store.lookup_token_by_hash(conn, token_hash))
    if match is None:
        return None
    return Caller(match.kind, workspace_id=match.workspace_id, token_id=match.token_id)


def is_dev_fail_open() -> bool:
    settings = get_settings()
    return settings.is_development and configured_admin_token() is None


def authorize_workspace(bearer: str | None, workspace_id: UUID) -> Caller:
    """WorkspaceAuth for routes under /workspaces/{id}."""
    return look_up_workspace_caller(present_workspace_caller(bearer), workspace_id)


def look_up_workspace_caller(presented: PresentedCaller, workspace_id: UUID) -> Caller:
    """`settle_workspace_caller` after looking the bearer up on its own (one statement), for a
    route that meant to look it up in its own read but answers before making it."""
    token_hash = presented.token_hash
    match = None
    if token_hash is not None:
        match = db.single_statement(lambda conn: store.lookup_token_by_hash(conn, token_hash))
    return settle_workspace_caller(presented, match, workspace_id)


def present_workspace_caller(bearer: str | None) -> PresentedCaller:
    """WorkspaceAuth as far as it can be told without the database: no bearer (development
    fail-open only), the admin token; else the bearer's hash, for a lookup."""
    if bearer is None:
        if is_dev_fail_open():
            return PresentedCaller(Caller("anonymous"))
        raise Unauthorized("missing workspace auth token")
    admin_token = configured_admin_token()
    if admin_token and secrets_equal(bearer, admin_token):
        return PresentedCaller(Caller("admin"))
    return PresentedCaller(None, hash_token(bearer))


def settle_workspace_caller(presented: PresentedCaller, match: TokenMatch | None, workspace_id: UUID) -> Caller:
    """WorkspaceAuth once the bearer was looked up: a live org token, or a live token of the
    path's workspace (another workspace's token is as invalid as an unknown one). A caller known
    only now is noted for the request line (the dependency noted one decided without a lookup)."""
    if presented.decided is not None:
        return presented.decided
    if match is None:
        raise Unauthorized("invalid workspace auth token")
    caller = Caller(match.kind, workspace_id=match.workspace_id, token_id=match.token_id)
    if caller.kind == "workspace" and caller.workspace_id != workspace_id:
        raise Unauthorized("invalid workspace auth token")
    note_caller(caller.kind, caller.workspace_id)
    return caller


def authorize_admin(bearer: str | None) -> Caller:
    settings = get_settings()
    admin_token = configured_admin_token()
    bootstrap_allowed = not settings.is_production and admin_token is None
    if bearer is None:
        if bootstrap_allowed:
            if settings.is_development:
                return Caller("anonymous")
            if not db.single_statement(store.any_live_token_exists):
                return Caller("anonymous")
        raise Unauthorized("missing admin auth token")
    caller = identify(bearer)
    if caller is None:
        raise Unauthorized("invalid admin auth token")
    if caller.kind == "workspace" and not bootstrap_allowed:
        raise Unauthorized("invalid admin auth token")
    return caller


def authorize_any(bearer: str | None) -> Caller:
    """Any live credential (workspace, org, admin); routes decide what each may see. No bearer is
    401 except in dev fail-open (anonymous: a user)."""
    if bearer is None:
        if is_dev_fail_open():
            return Caller("anonymous")
        raise Unauthorized("missing auth token")
    caller = identify(bearer)
    if caller is None:
        raise Unauthorized("invalid auth token")
    return caller


def parse_claimed_workspace(claimed: str | None) -> UUID | None:
    """A caller header (`X-Workspace-ID` / `X-Source-Workspace-Id`) as a workspace id; reserved
    internal identities (`system:` …) are 403 from outside, anything else that is not an id 400."""
    if not claimed or not claimed.strip():
        return None
    claimed = claimed.strip()
    if claimed.lower().startswith(RESERVED_CALLER_PREFIXES):
        raise AccessDenied("reserved caller identity")
    try:
        return UUID(claimed)
    except ValueError:
        raise InvalidInput("X-Workspace-ID must be a workspace id", field="X-Workspace-ID") from None


def present_a2a_caller(bearer: str | None, claimed: str | None) -> PresentedCaller:
    """An A2A caller (SPEC §5.4 step 1) as far as it can be told without the database: a caller
    header naming a workspace (reserved identities 403), the admin token, no bearer (development
    fail-open only, and never with a caller header: it must come with that workspace's token)."""
    claimed_id = parse_claimed_workspace(claimed)
    if claimed_id is None:
        return present_workspace_caller(bearer)
    if bearer is None:  # a caller header comes with that workspace's token, even in development
        raise Unauthorized("missing workspace auth token")
    presented = present_workspace_caller(bearer)
    if presented.decided is not None:  # the admin token acts for users, never as a workspace
        raise Unauthorized(OWN_TOKEN_REFUSAL)
    return presented._replace(claimed_id=claimed_id)


def settle_a2a_caller(presented: PresentedCaller, match: TokenMatch | None) -> Caller:
    """The caller once its bearer was looked up: a workspace proving itself with its own token (the
    caller header, when there is one, must name that workspace), or a user (org token)."""
    if presented.decided is not None:
        return presented.decided
    if match is None:
        raise Unauthorized("invalid workspace auth token")
    caller = Caller(match.kind, workspace_id=match.workspace_id, token_id=match.token_id)
    if presented.claimed_id is not None and (caller.kind != "workspace" or caller.workspace_id != presented.claimed_id):
        raise Unauthorized(OWN_TOKEN_REFUSAL)
    return caller


def authorize_own_workspace(bearer: str | None, workspace_id: UUID, *, refusal: str = "") -> Caller:
    """Only a live token of `workspace_id` itself, in every mode — no admin or org token (they act
    for users, never as a workspace) and no dev fail-open. Two uses: a caller header naming a
    workspace (SPEC §4.3: a header alone would let anyone speak as any workspace) and a route that
    hands out the workspace's own secret values (SPEC §5.12). `refusal` is what any other live
    credential is told."""
    if bearer is None:
        raise Unauthorized("missing workspace auth token")
    caller = identify(bearer)
    if caller is None:
        raise Unauthorized("invalid workspace auth token")
    if caller.kind != "workspace" or caller.workspace_id != workspace_id:
        raise Unauthorized(refusal or OWN_TOKEN_REFUSAL)
    return caller


def authorize_delegator(bearer: str | None, claimed: str | None, workspace_id: UUID) -> Caller:
    """POST /workspaces/{id}/delegate (SPEC §5.10): WorkspaceAuth for the path's workspace, or —
    the SDK's form — a workspace named in the caller header that presents its own token (as every
    caller header must). Which workspace then delegates to which is the delegations domain's
    reading of the body: without a `target_id`, the path is the target."""
    claimed_id = parse_claimed_workspace(claimed)
    if claimed_id is None:
        return authorize_workspace(bearer, workspace_id)
    return authorize_own_workspace(bearer, claimed_id)


def authorize_claimed_workspace(bearer: str | None, claimed: str | None) -> Caller:
    """Discovery: the caller names itself in X-Workspace-ID (400 without a valid one) and proves it
    with that workspace's own token."""
    claimed_id = parse_claimed_workspace(claimed)
    if claimed_id is None:
        raise InvalidInput("X-Workspace-ID header is required", field="X-Workspace-ID")
    return authorize_own_workspace(bearer, claimed_id)


def authorize_workspace_state(bearer: str | None, workspace_id: UUID) -> Caller:
    """WorkspaceAuth for GET /workspaces/{id}/state, plus one truth for a deleted workspace's own
    (revoked) token: 404 `{"deleted":true}`, so its agent stops its loop instead of retrying a 401
    forever (SPEC §4.3). Every other route keeps answering that token 401/410."""
    try:
        return authorize_workspace(bearer, workspace_id)
    except Unauthorized:
        if bearer is not None:
            token_hash = hash_token(bearer)
            if db.single_statement(lambda conn: store.is_token_of_removed_workspace(conn, token_hash, workspace_id)):
                raise WorkspaceNotFound(deleted=True) from None
        raise


def authorize_test_token_issuer(bearer: str | None) -> None:
    """GET /admin/workspaces/{id}/test-token (SPEC §5.9): hidden (404) in production unless
    MOLECULE_ENABLE_TEST_TOKENS=1. With ADMIN_TOKEN set only that exact bearer passes — an org token
    does not (the history's cross-org IDOR fix); with it unset there is no auth."""
    settings = get_settings()
    if settings.is_production and not settings.enable_test_tokens:
        raise NotFound("not found")
    admin_token = configured_admin_token()
    if admin_token is not None:
        if bearer is None:
            raise Unauthorized("missing admin auth token")
        if not secrets_equal(bearer, admin_token):
            raise Unauthorized("invalid admin auth token")


# --- credentials other domains issue inside their own transactions ------------------------------


def issue_workspace_token(conn: db.Connection, workspace_id: UUID, *, origin: store.TokenOrigin) -> MintedToken:
    token = mint_token()
    store.insert_workspace_token(conn, workspace_id, token, origin=origin)
    return token


def revoke_workspace_tokens(conn: db.Connection, workspace_ids: list[UUID]) -> int:
    return store.revoke_all_workspace_tokens(conn, workspace_ids)


# --- token administration -----------------------------------------------------------------------


def _require_live_workspace(conn: db.Connection, workspace_id: UUID, *, lock: bool = False) -> UUID:
    if not store.live_workspace_exists(conn, workspace_id, lock=lock):
        raise WorkspaceNotFound()
    return workspace_id


def _token_not_found() -> NotFound:
    return NotFound("token not found or already revoked")


def list_workspace_tokens(workspace_id: UUID) -> WorkspaceTokenList:
    records = db.single_statement(lambda conn: store.list_live_workspace_tokens(conn, workspace_id))
    if records is None:
        raise WorkspaceNotFound()
    tokens = [WorkspaceToken(**t._asdict()) for t in records]
    return WorkspaceTokenList(tokens=tokens, count=len(tokens))


def mint_workspace_token(workspace_id: UUID) -> MintedWorkspaceToken:
    with db.transaction() as conn:
        # The row lock serialises mints of one workspace: two concurrent requests cannot both pass
        # the limit.
        live_id = _require_live_workspace(conn, workspace_id, lock=True)
        if store.count_live_workspace_tokens(conn, live_id) >= MAX_LIVE_WORKSPACE_TOKENS:
            raise TooManyRequests(
                f"maximum {MAX_LIVE_WORKSPACE_TOKENS} active tokens per workspace",
                retry_after=TOKEN_LIMIT_RETRY_AFTER_SECONDS,
            )
        token = mint_token()
        record = store.insert_workspace_token(conn, live_id, token, origin="api")
    return MintedWorkspaceToken(id=record.id, workspace_id=live_id, prefix=record.prefix, auth_token=token.plaintext)


def revoke_workspace_token(workspace_id: UUID, token_id: UUID) -> None:
    if not db.single_statement(lambda conn: store.revoke_workspace_token(conn, workspace_id, token_id)):
        raise _token_not_found()


def list_org_tokens() -> OrgTokenList:
    tokens = [OrgToken(**t._asdict()) for t in db.single_statement(store.list_live_org_tokens)]
    return OrgTokenList(tokens=tokens, count=len(tokens))


def mint_org_token(request: CreateOrgTokenRequest, caller: Caller) -> MintedOrgToken:
    if len(request.name) > MAX_ORG_TOKEN_NAME:
        raise InvalidInput(f"name too long (max {MAX_ORG_TOKEN_NAME} chars)", field="name")
    created_by = request.created_by or (str(caller.workspace_id) if caller.workspace_id else caller.kind)
    token = mint_token()
    record = db.single_statement(
        lambda conn: store.insert_org_token(
            conn, token, name=request.name, created_by=created_by, org_id=request.org_id
        ),
        idempotent=False,
    )
    return MintedOrgToken(id=record.id, prefix=record.prefix, name=record.name, auth_token=token.plaintext)


def revoke_org_token(token_id: UUID) -> RevokedOrgToken:
    if not db.single_statement(lambda conn: store.revoke_org_token(conn, token_id)):
        raise _token_not_found()
    return RevokedOrgToken(revoked=token_id)


def issue_test_token(workspace_id: UUID) -> TestToken:
    """A fresh workspace token for tests; other tokens of the workspace stay valid."""
    token = mint_token()
    record = db.single_statement(
        lambda conn: store.insert_live_workspace_token(conn, workspace_id, token, origin="test"), idempotent=False
    )
    if record is None:
        raise WorkspaceNotFound()
    return TestToken(auth_token=token.plaintext, workspace_id=workspace_id)
