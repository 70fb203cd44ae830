"""The one provision pipeline (SPEC §5.5). Every code path that starts an agent calls
`provision_workspace`: load config → mint the workspace token and the platform inbound secret →
build the agent's environment → start → on failure mark the workspace `failed` with a readable
`last_sample_error` and a WORKSPACE_PROVISION_FAILED event."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from molecule_core import db
from molecule_core.auth.tokens import mint_inbound_secret, mint_token
from molecule_core.observability import logger
from molecule_core.provisioner import AgentSpec, ProvisionError, get_provisioner
from molecule_core.settings import get_settings
from molecule_core.store import events as event_store
from molecule_core.store import tokens as token_store
from molecule_core.store import workspaces as workspace_store


@dataclass(frozen=True)
class WorkspaceSecrets:
    auth_token: str
    inbound_secret: str


@dataclass(frozen=True)
class ProvisionOutcome:
    started: bool
    instance_id: str | None = None
    error: str | None = None


def mint_workspace_secrets(conn: db.Connection, workspace_id: UUID) -> WorkspaceSecrets:
    """Rotate the agent's credentials: previous tokens are revoked (the agent being started is the
    only holder), a fresh token and inbound secret are stored. Runs before any backend starts."""
    token_store.revoke_all_workspace_tokens(conn, [workspace_id])
    token = mint_token()
    token_store.insert_workspace_token(conn, workspace_id, token, origin="provision")
    secret = mint_inbound_secret()
    workspace_store.set_inbound_secret(conn, workspace_id, secret)
    return WorkspaceSecrets(token.plaintext, secret)


def build_agent_env(workspace_id: UUID, parent_id: UUID | None, secrets: WorkspaceSecrets) -> dict[str, str]:
    env = {
        "WORKSPACE_ID": str(workspace_id),
        "PLATFORM_URL": get_settings().platform_url,
        "MOLECULE_AUTH_TOKEN": secrets.auth_token,
        "PLATFORM_INBOUND_SECRET": secrets.inbound_secret,
    }
    if parent_id:  # never an empty PARENT_ID: agents read its presence as "I have a parent"
        env["PARENT_ID"] = str(parent_id)
    return env


def provision_workspace(workspace_id: UUID) -> ProvisionOutcome:
    with db.transaction() as conn:
        config = workspace_store.provision_config(conn, workspace_id)
        if config is None or config.status == "removed":
            return ProvisionOutcome(False, error="workspace not found")
        secrets = mint_workspace_secrets(conn, workspace_id)
    spec = AgentSpec(
        workspace_id=config.id,
        name=config.name,
        runtime=config.runtime,
        tier=config.tier,
        env=build_agent_env(config.id, config.parent_id, secrets),
    )
    provisioner = get_provisioner()
    try:
        instance_id = provisioner.start(spec)
    except ProvisionError as exc:
        message = f"provisioning failed: {exc}"
        logger.warning("provision failed", extra={"workspace_id": str(workspace_id), "error": str(exc)})
        with db.transaction() as conn:
            workspace_store.mark_failed(conn, workspace_id, message)
            event_store.record_event(
                conn,
                "WORKSPACE_PROVISION_FAILED",
                workspace_id,
                {"error": message, "backend": provisioner.name},
            )
        return ProvisionOutcome(False, error=message)
    with db.transaction() as conn:
        workspace_store.set_instance_id(conn, workspace_id, instance_id)
    return ProvisionOutcome(True, instance_id=instance_id)
