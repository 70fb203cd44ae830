"""Who is calling: WorkspaceAuth and AdminAuth (SPEC §4.1).

- WorkspaceAuth (`authorize_workspace`): ADMIN_TOKEN, a live org token, or a live token bound to
  the workspace in the path.
- AdminAuth (`authorize_admin`): ADMIN_TOKEN or a live org token. Outside production, with
  ADMIN_TOKEN unset, a fresh install (no live token anywhere) fails open and any live workspace
  token passes. Production never fails open.
- Development with ADMIN_TOKEN unset (the local stack): a request with *no* bearer passes both
  guards; a bearer that is presented but invalid is still 401.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from molecule_core import db
from molecule_core.auth.tokens import hash_token, secrets_equal
from molecule_core.errors import Unauthorized
from molecule_core.settings import get_settings
from molecule_core.store import tokens as token_store

CallerKind = Literal["admin", "org", "workspace", "anonymous"]


@dataclass(frozen=True)
class Caller:
    """An authenticated (or, in fail-open modes, anonymous) caller."""

    kind: CallerKind
    workspace_id: UUID | None = None
    token_id: UUID | None = None

    @property
    def is_user(self) -> bool:
        """Admin, org and fail-open callers act for a user, not for a workspace."""
        return self.kind != "workspace"


def bearer_from_headers(headers: Mapping[str, str] | None) -> str | None:
    """The bearer token of `Authorization: Bearer <token>`; the scheme is case-insensitive and,
    when several Authorization values arrive joined by commas, the first wins."""
    if not headers:
        return None
    raw = next((value for key, value in headers.items() if key.lower() == "authorization"), None)
    if not raw:
        return None
    first = raw.split(",", 1)[0].strip()
    scheme, _, token = first.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def configured_admin_token() -> str | None:
    """ADMIN_TOKEN from the environment, else from Secrets Manager (ADMIN_TOKEN_SECRET_ARN)
    through Powertools Parameters, cached for five minutes."""
    settings = get_settings()
    if settings.admin_token:
        return settings.admin_token
    if settings.admin_token_secret_arn:
        from aws_lambda_powertools.utilities import parameters  # boto3 only on this path

        value = parameters.get_secret(settings.admin_token_secret_arn, max_age=300)
        return str(value).strip() or None
    return None


def identify(token: str) -> Caller | None:
    """The caller a presented bearer stands for, or None when it is not a live credential."""
    admin_token = configured_admin_token()
    if admin_token and secrets_equal(token, admin_token):
        return Caller("admin")
    token_hash = hash_token(token)
    match = db.single_statement(lambda conn: token_store.lookup_token_by_hash(conn, token_hash))
    if match is None:
        return None
    return Caller(match.kind, workspace_id=match.workspace_id, token_id=match.token_id)


def is_dev_fail_open() -> bool:
    settings = get_settings()
    return settings.is_development and configured_admin_token() is None


def authorize_workspace(headers: Mapping[str, str] | None, workspace_id: UUID | None) -> Caller:
    """WorkspaceAuth for routes under /workspaces/{id}. `workspace_id` is None when the path id is
    malformed: only admin and org callers can pass then (the route answers 404 next)."""
    token = bearer_from_headers(headers)
    if token is None:
        if is_dev_fail_open():
            return Caller("anonymous")
        raise Unauthorized("missing workspace auth token")
    caller = identify(token)
    if caller is None:
        raise Unauthorized("invalid workspace auth token")
    if caller.kind == "workspace" and caller.workspace_id != workspace_id:
        raise Unauthorized("invalid workspace auth token")
    return caller


def authorize_admin(headers: Mapping[str, str] | None) -> Caller:
    settings = get_settings()
    token = bearer_from_headers(headers)
    admin_token = configured_admin_token()
    bootstrap_allowed = not settings.is_production and admin_token is None
    if token is None:
        if bootstrap_allowed:
            if settings.is_development:
                return Caller("anonymous")
            with db.transaction() as conn:
                if not token_store.any_live_token_exists(conn):
                    return Caller("anonymous")
        raise Unauthorized("missing admin auth token")
    caller = identify(token)
    if caller is None:
        raise Unauthorized("invalid admin auth token")
    if caller.kind == "workspace" and not bootstrap_allowed:
        raise Unauthorized("invalid admin auth token")
    return caller
