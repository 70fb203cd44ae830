"""Who is calling, as Powertools dependencies: the one way a route learns its caller. Each reads
the request once (Powertools' headers are case-insensitive) and asks `auth.service`;
a refusal raises a domain error that the one error mapping answers (401/403/404).

- `WorkspaceCaller`: WorkspaceAuth for the `{workspace_id}` in the path.
- `PresentedWorkspaceCaller`: the same, with the bearer looked up in the route's own statement
  (auth and the read in one round trip: GET /workspaces/{id}/files/{file_id}, the activity
  feed and inbox).
- `WorkspaceStateCaller`: WorkspaceAuth for GET /workspaces/{id}/state, where a deleted
  workspace's own revoked token learns 404 `{"deleted":true}` instead of 401.
- `OwnWorkspaceCaller`: only that workspace's own token (admin and org tokens are 401).
- `AdminCaller`: AdminAuth (fleet-wide routes).
- `AnyCaller`: any live credential (routes that show each caller what is theirs).
- `A2ACaller`: the A2A proxy's caller as presented (its bearer is looked up in the proxy's own
  statement) — a workspace with its own token, or a user.
- `DelegatorCaller`: POST /workspaces/{id}/delegate — WorkspaceAuth for the path, or a workspace
  naming itself in the caller header with its own token (the SDK's form, SPEC §5.10).
- `DiscoveryCaller`: a workspace naming itself in X-Workspace-ID and proving it with its own token.
- `AgentBearerDep`: the bearer an agent presents to the registry (checked against the body's id).
- `TestTokenIssuer`: the admin test-token rule (SPEC §5.9).

No `from __future__ import annotations` here: Powertools reads a dependency's annotations on every
request (`get_type_hints`), and string annotations are compiled each time (~15 µs a request).
"""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.request import Request

from molecule_core.auth import service
from molecule_core.auth.credentials import hash_token, parse_bearer
from molecule_core.auth.models import AgentBearer, Caller, PresentedCaller
from molecule_core.platform.observability import note_caller
from molecule_core.platform.ratelimit import check_rate

# Headers a caller workspace names itself by (SDKs and the channel plugin use either).
CALLER_HEADERS = ("x-workspace-id", "x-source-workspace-id")


def _header(request: Request, name: str) -> str | None:
    value = request.resolved_event.headers.get(name)  # Powertools' headers are case-insensitive
    return str(value) if value is not None else None


def request_bearer(request: Request) -> str | None:
    return parse_bearer(_header(request, "authorization"))


def _path_workspace_id(request: Request) -> UUID:
    # The route's own validation turned a malformed id into 404 before dependencies run.
    return UUID(str(request.path_parameters["workspace_id"]))


def _noted(caller: Caller) -> Caller:
    """Every identified caller: noted for the request line, and counted against its rate limit
    (per credential; anonymous development callers are not limited)."""
    note_caller(caller.kind, caller.workspace_id)
    if caller.kind != "anonymous":
        check_rate(str(caller.token_id or caller.workspace_id or caller.kind))
    return caller


def _workspace_caller(request: Request) -> Caller:
    return _noted(service.authorize_workspace(request_bearer(request), _path_workspace_id(request)))


def _presented_workspace_caller(request: Request) -> PresentedCaller:
    """WorkspaceAuth whose bearer the route looks up in its own statement (`auth.service.
    settle_workspace_caller` decides, and notes the caller it settled on)."""
    presented = service.present_workspace_caller(request_bearer(request))
    if presented.decided is not None:
        _noted(presented.decided)
    elif presented.token_hash is not None:
        check_rate(presented.token_hash.hex())  # keyed by a digest: the limiter never holds a credential
    return presented


def _workspace_state_caller(request: Request) -> Caller:
    return _noted(service.authorize_workspace_state(request_bearer(request), _path_workspace_id(request)))


def _own_workspace_caller(request: Request) -> Caller:
    refusal = "this route takes the workspace's own token; admin, org and other workspaces' tokens are not accepted"
    return _noted(
        service.authorize_own_workspace(request_bearer(request), _path_workspace_id(request), refusal=refusal)
    )


def _admin_caller(request: Request) -> Caller:
    return _noted(service.authorize_admin(request_bearer(request)))


def _any_caller(request: Request) -> Caller:
    return _noted(service.authorize_any(request_bearer(request)))


def _claimed_caller(request: Request) -> str | None:
    return next((value for name in CALLER_HEADERS if (value := _header(request, name))), None)


def _a2a_caller(request: Request) -> PresentedCaller:
    """The A2A proxy's caller as presented: its bearer is looked up by the proxy itself, in the
    statement that loads the target (one round trip before dispatch); the proxy notes the caller."""
    presented = service.present_a2a_caller(request_bearer(request), _claimed_caller(request))
    if presented.decided is not None:
        _noted(presented.decided)
    elif presented.token_hash is not None:
        check_rate(presented.token_hash.hex())  # keyed by a digest: the limiter never holds a credential
    return presented


def _delegator_caller(request: Request) -> Caller:
    return _noted(
        service.authorize_delegator(request_bearer(request), _claimed_caller(request), _path_workspace_id(request))
    )


def _discovery_caller(request: Request) -> Caller:
    return _noted(service.authorize_claimed_workspace(request_bearer(request), _header(request, "x-workspace-id")))


def _agent_bearer(request: Request) -> AgentBearer:
    bearer = AgentBearer(request_bearer(request))
    note_caller("agent" if bearer.token else "anonymous", None)
    if bearer.token:
        # keyed by a digest: the limiter never holds a credential
        check_rate(hash_token(bearer.token).hex())
    return bearer


def _test_token_issuer(request: Request) -> None:
    service.authorize_test_token_issuer(request_bearer(request))
    note_caller("admin", None)


WorkspaceCaller = Annotated[Caller, Depends(_workspace_caller)]
PresentedWorkspaceCaller = Annotated[PresentedCaller, Depends(_presented_workspace_caller)]
WorkspaceStateCaller = Annotated[Caller, Depends(_workspace_state_caller)]
OwnWorkspaceCaller = Annotated[Caller, Depends(_own_workspace_caller)]
AdminCaller = Annotated[Caller, Depends(_admin_caller)]
AnyCaller = Annotated[Caller, Depends(_any_caller)]
A2ACaller = Annotated[PresentedCaller, Depends(_a2a_caller)]
DelegatorCaller = Annotated[Caller, Depends(_delegator_caller)]
DiscoveryCaller = Annotated[Caller, Depends(_discovery_caller)]
AgentBearerDep = Annotated[AgentBearer, Depends(_agent_bearer)]
TestTokenIssuer = Annotated[None, Depends(_test_token_issuer)]
