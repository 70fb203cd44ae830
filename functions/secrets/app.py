"""Secrets: workspace secrets, the workspace's model, its secret values for its own agent, and
global secrets under /settings/secrets and /admin/secrets (SPEC §5.12)."""

from uuid import UUID

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.auth.callers import AdminCaller, OwnWorkspaceCaller, WorkspaceCaller
from molecule_core.platform.http import APIGatewayHttpResolver
from molecule_core.platform.observability import logger
from molecule_core.secrets import service
from molecule_core.secrets.models import (
    ModelSetting,
    SecretDeleted,
    SecretEntry,
    SecretSaved,
    SetModelRequest,
    SetSecretRequest,
)

app = APIGatewayHttpResolver()


@app.get("/workspaces/<workspace_id>/secrets")
def list_workspace_secrets(workspace_id: UUID, caller: WorkspaceCaller) -> list[SecretEntry]:
    return service.list_workspace_secrets(workspace_id)


@app.post("/workspaces/<workspace_id>/secrets")
@app.put("/workspaces/<workspace_id>/secrets")
def set_workspace_secret(workspace_id: UUID, body: SetSecretRequest, caller: WorkspaceCaller) -> SecretSaved:
    return service.set_workspace_secret(workspace_id, body)


@app.delete("/workspaces/<workspace_id>/secrets/<key>")
def delete_workspace_secret(workspace_id: UUID, key: str, caller: WorkspaceCaller) -> SecretDeleted:
    return service.delete_workspace_secret(workspace_id, key)


@app.get("/workspaces/<workspace_id>/secrets/values")
def secret_values(workspace_id: UUID, caller: OwnWorkspaceCaller) -> dict[str, str]:
    return service.secret_values(workspace_id)


@app.get("/workspaces/<workspace_id>/model")
def get_model(workspace_id: UUID, caller: WorkspaceCaller) -> ModelSetting:
    return service.get_model(workspace_id)


@app.put("/workspaces/<workspace_id>/model")
def set_model(workspace_id: UUID, body: SetModelRequest, caller: WorkspaceCaller) -> SecretSaved:
    return service.set_model(workspace_id, body)


@app.get("/settings/secrets")
@app.get("/admin/secrets")
def list_global_secrets(caller: AdminCaller) -> list[SecretEntry]:
    return service.list_global_secrets()


@app.post("/settings/secrets")
@app.put("/settings/secrets")
@app.post("/admin/secrets")
@app.put("/admin/secrets")
def set_global_secret(body: SetSecretRequest, caller: AdminCaller) -> SecretSaved:
    return service.set_global_secret(body)


@app.delete("/settings/secrets/<key>")
@app.delete("/admin/secrets/<key>")
def delete_global_secret(key: str, caller: AdminCaller) -> SecretDeleted:
    return service.delete_global_secret(key)


# log_event=False, explicitly: POWERTOOLS_LOGGER_LOG_EVENT=true must never log these bodies.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
