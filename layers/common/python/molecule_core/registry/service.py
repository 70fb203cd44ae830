"""The registry agents talk to (SPEC §5.2, §5.3): register, heartbeat, update-card, discovery and
peers. Token rule for the agent-facing calls: once a workspace has a live token, the bearer must be
one of *its* tokens; a workspace without any may register and receives one."""

from __future__ import annotations

from uuid import UUID

from molecule_core.auth.models import Caller
from molecule_core.auth.service import hash_token, mint_token
from molecule_core.platform import db
from molecule_core.platform.errors import AccessDenied, Gone, InvalidInput, Unauthorized, WorkspaceNotFound
from molecule_core.registry import store as registry_store
from molecule_core.registry.access import can_communicate, is_access_allowed
from molecule_core.registry.inbound_secret import InboundSecret, read_or_heal_inbound_secret
from molecule_core.registry.models import (
    DiscoveredWorkspace,
    HeartbeatRequest,
    Peer,
    RegisterRequest,
    RegisterResponse,
    UpdateCardRequest,
)
from molecule_core.registry.url_safety import UnsafeAgentAddress, check_agent_url, resolve_agent_host
from molecule_core.workspaces.models import is_http_url, resolve_delivery_mode

# For other domains: the access rule, the URL-safety rule (at register/create, and per connection)
# and the inbound-secret heal exist once.
__all__ = [
    "InboundSecret",
    "UnsafeAgentAddress",
    "can_communicate",
    "check_agent_url",
    "is_access_allowed",
    "read_or_heal_inbound_secret",
    "resolve_agent_host",
]

DEGRADED_ERROR_RATE = 0.5
WEDGED_RUNTIME_STATE = "wedged"


def _removed() -> Gone:
    return Gone("workspace removed; it cannot register again — create a new workspace")


# Said to an agent that registers without a bearer while its workspace has a token (SPEC §4.3): a
# restarted agent that lost its token file otherwise sees a bare 401 and cannot tell what to do.
MISSING_TOKEN_HINT = "this workspace already has a token: send it as Authorization: Bearer <token>"  # noqa: S105


def _refuse_bearer(bearer: str | None) -> Unauthorized:
    if bearer is None:
        return Unauthorized("missing workspace auth token", hint=MISSING_TOKEN_HINT)
    return Unauthorized("invalid workspace auth token")


def _check_target(target: registry_store.RegisterTarget | None, bearer: str | None) -> registry_store.RegisterTarget:
    if target is None:
        raise WorkspaceNotFound()
    if target.status == "removed":
        raise _removed()
    if target.has_live_token and not target.bearer_matches:
        raise _refuse_bearer(bearer)
    return target


def register(request: RegisterRequest, bearer: str | None) -> RegisterResponse:
    bearer_hash = hash_token(bearer) if bearer else None
    target = _check_target(
        db.single_statement(lambda conn: registry_store.load_register_target(conn, request.id, bearer_hash)), bearer
    )
    url = request.url if request.url is not None else target.url
    mode = resolve_delivery_mode(request.delivery_mode, target.delivery_mode, target.runtime, url)
    if mode == "push" and not is_http_url(url):
        raise InvalidInput("url: an http(s) URL is required for push delivery", field="url")
    if is_http_url(request.url):
        # Checked even in poll mode: a later switch to push must never call an unchecked URL.
        # (Non-http URLs such as remote://no-inbound are stored for display and never called.)
        check_agent_url(str(request.url))
    token = None if target.has_live_token else mint_token()
    registered = db.single_statement(
        lambda conn: registry_store.mark_registered(
            conn,
            request.id,
            bearer_hash=bearer_hash,
            url=request.url,
            agent_card=request.agent_card,
            delivery_mode=mode,
            token_hash=token.token_hash if token else None,
            token_prefix=token.prefix if token else None,
        )
    )
    if registered is None:
        raise _removed()
    if not registered.accepted:
        # another register minted the first token between the check above and the row lock
        raise _refuse_bearer(bearer)
    inbound = read_or_heal_inbound_secret(request.id, known=target.platform_inbound_secret)
    return RegisterResponse(
        workspace_id=request.id,
        delivery_mode=mode,
        auth_token=token.plaintext if token is not None and registered.minted_token else None,
        platform_inbound_secret=inbound.secret,
    )


def is_degraded(request: HeartbeatRequest) -> bool:
    return (request.error_rate or 0.0) >= DEGRADED_ERROR_RATE or request.runtime_state == WEDGED_RUNTIME_STATE


def heartbeat(request: HeartbeatRequest, bearer: str | None) -> None:
    bearer_hash = hash_token(bearer) if bearer else None
    outcome = db.single_statement(
        lambda conn: registry_store.record_heartbeat(conn, request, bearer_hash, is_degraded=is_degraded(request))
    )
    if outcome is None:
        # Only the refusal path pays a second round trip, to say why.
        with db.transaction() as conn:
            _check_target(registry_store.load_register_target(conn, request.workspace_id, bearer_hash), bearer)
        raise _refuse_bearer(bearer)


def update_card(request: UpdateCardRequest, bearer: str | None) -> None:
    bearer_hash = hash_token(bearer) if bearer else None
    with db.transaction() as conn:
        _check_target(registry_store.load_register_target(conn, request.workspace_id, bearer_hash), bearer)
        if not registry_store.update_agent_card(conn, request.workspace_id, request.agent_card):
            raise _removed()


def discover(target_id: UUID, caller: Caller) -> DiscoveredWorkspace:
    """`caller` proved it is the workspace named in X-Workspace-ID (auth.callers.DiscoveryCaller)."""
    caller_id = caller.workspace_id
    assert caller_id is not None
    target, lineages = db.single_statement(lambda conn: registry_store.load_discovery(conn, target_id, caller_id))
    if target is None or target.status == "removed":
        raise WorkspaceNotFound()
    if not is_access_allowed(lineages.get(caller_id), lineages.get(target_id)):
        raise AccessDenied("caller may not talk to this workspace")
    return DiscoveredWorkspace(id=target.id, url=target.url, name=target.name)


def peers(workspace_id: UUID, query: str | None) -> list[Peer]:
    rows = db.single_statement(lambda conn: registry_store.list_peers(conn, workspace_id, query or None))
    if rows is None:
        raise WorkspaceNotFound()
    return [Peer.model_validate(row) for row in rows]


def check_access(caller_id: UUID, target_id: UUID) -> bool:
    return can_communicate(caller_id, target_id)
