"""The one provision pipeline (SPEC §5.5). Every code path that starts an agent calls
`provision_workspace`: load config → decrypt the workspace's secrets (SPEC §5.12) → mint the
workspace token and the platform inbound secret → build the agent's environment (secrets as
variables, the platform's own variables over them) → start → on failure mark the workspace
`failed` with a readable `last_sample_error` and a WORKSPACE_PROVISION_FAILED event. Also the other
questions for the backend: stop an agent, and whether one runs."""

from __future__ import annotations

from uuid import UUID

from molecule_core.auth import service as auth
from molecule_core.events import service as events
from molecule_core.platform import db
from molecule_core.platform.observability import logger
from molecule_core.platform.settings import get_settings
from molecule_core.provisioning import store
from molecule_core.provisioning.backends import AgentSpec, NoBackendError, ProvisionError, get_provisioner
from molecule_core.provisioning.models import ProvisionOutcome, WorkspaceSecrets
from molecule_core.secrets.models import SECRET_NAMES_ENV


def mint_workspace_secrets(conn: db.Connection, workspace_id: UUID) -> WorkspaceSecrets:
    """Rotate the agent's credentials: previous tokens are revoked (the agent being started is the
    only holder), a fresh token and inbound secret are stored. Runs before any backend starts."""
    auth.revoke_workspace_tokens(conn, [workspace_id])
    token = auth.issue_workspace_token(conn, workspace_id, origin="provision")
    secret = auth.mint_inbound_secret()
    store.set_inbound_secret(conn, workspace_id, secret)
    return WorkspaceSecrets(token.plaintext, secret)


def build_agent_env(
    workspace_id: UUID,
    parent_id: UUID | None,
    secrets: WorkspaceSecrets,
    operator_secrets: dict[str, str] | None = None,
) -> dict[str, str]:
    """The agent's environment: the operator's secrets (globals overlaid by the workspace's own),
    their names in MOLECULE_SECRET_NAMES, and the platform's identity and credentials over them."""
    env = dict(operator_secrets or {})
    env[SECRET_NAMES_ENV] = ",".join(sorted(operator_secrets or {}))
    env |= {
        "WORKSPACE_ID": str(workspace_id),
        "PLATFORM_URL": get_settings().platform_url,
        "MOLECULE_AUTH_TOKEN": secrets.auth_token,
        "PLATFORM_INBOUND_SECRET": secrets.inbound_secret,
    }
    if parent_id:  # never an empty PARENT_ID: agents read its presence as "I have a parent"
        env["PARENT_ID"] = str(parent_id)
    return env


def provision_workspace(workspace_id: UUID) -> ProvisionOutcome:
    # Imported here: secrets (and its cryptography) load only on this path, and secrets requests
    # restarts through lifecycle, which imports this module: a module-level import would be a cycle.
    from molecule_core.secrets import service as secrets_service

    provisioner = get_provisioner()
    if not _is_provisionable(db.single_statement(lambda conn: store.provision_config(conn, workspace_id))):
        return ProvisionOutcome(False, error="workspace not found")
    try:
        operator_secrets = secrets_service.agent_secrets(workspace_id)
    except (secrets_service.SecretsUndecryptable, secrets_service.SecretsUnavailable) as exc:
        return _fail_provision(workspace_id, provisioner.name, exc.message)
    with db.transaction() as conn:
        config = store.provision_config(conn, workspace_id)
        if not _is_provisionable(config):
            return ProvisionOutcome(False, error="workspace not found")
        assert config is not None
        credentials = mint_workspace_secrets(conn, workspace_id)
    spec = AgentSpec(
        workspace_id=config.id,
        name=config.name,
        runtime=config.runtime,
        tier=config.tier,
        env=build_agent_env(config.id, config.parent_id, credentials, operator_secrets),
    )
    try:
        instance_id = provisioner.start(spec)
    except ProvisionError as exc:
        return _fail_provision(workspace_id, provisioner.name, str(exc))
    with db.transaction() as conn:
        store.set_instance_id(conn, workspace_id, instance_id)
    return ProvisionOutcome(True, instance_id=instance_id)


def _is_provisionable(config: store.ProvisionConfig | None) -> bool:
    return config is not None and config.status != "removed"


def _fail_provision(workspace_id: UUID, backend: str, reason: str) -> ProvisionOutcome:
    """Mark the workspace `failed` with a message an operator can act on, and record the event."""
    message = f"provisioning failed: {reason}"
    logger.warning("provision failed", extra={"workspace_id": str(workspace_id), "error": reason})
    with db.transaction() as conn:
        store.mark_failed(conn, workspace_id, message)
        events.record_event(conn, "WORKSPACE_PROVISION_FAILED", workspace_id, {"error": message, "backend": backend})
    return ProvisionOutcome(False, error=message)


def stop_agent(workspace_id: UUID, instance_id: str | None) -> bool:
    """Best-effort stop; True when the backend stopped it (or there was nothing of ours to stop)."""
    try:
        get_provisioner().stop(workspace_id, instance_id)
    except NoBackendError:
        return True  # nothing was started by us, nothing to stop
    except ProvisionError as exc:
        logger.warning("agent stop failed", extra={"workspace_id": str(workspace_id), "error": str(exc)})
        return False
    return True


def is_agent_dead(workspace_id: UUID, instance_id: str | None, *, external: bool) -> bool:
    """Ask the backend whether the agent runs. External workspaces, and deployments without a
    backend, have nobody to ask: then the agent is presumed alive (its answer passes through)."""
    if external:
        return False
    try:
        return not get_provisioner().is_running(workspace_id, instance_id)
    except ProvisionError:
        return False
