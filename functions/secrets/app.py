"""Secrets: workspace secrets, the workspace's model, its secret values for its own agent, and
global secrets under /settings/secrets and /admin/secrets (SPEC §5.12)."""

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.auth.callers import AdminCaller, OwnWorkspaceCaller, WorkspaceCaller
from molecule_core.platform.http import APIGatewayHttpResolver, serve
from molecule_core.platform.observability import logger
from molecule_core.platform.openapi import (
    ADMIN,
    ADMIN_AUTH,
    ADMIN_CALLER,
    ADMIN_REFUSALS,
    BODY_TOO_LARGE,
    CALLER_REFUSALS,
    OWN_WORKSPACE_AUTH,
    SECRETS,
    WORKSPACE_AUTH,
    WORKSPACE_CALLER,
    WORKSPACE_GONE,
    WORKSPACE_NOT_FOUND,
    WORKSPACE_REFUSALS,
    Refusal,
    answers,
    example,
)
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

# --- what the reference says about these routes (platform.openapi) ---------------------------------

SECRET_EXAMPLES = {
    "api_key": example(
        "An API key the agent reads from its environment",
        {"key": "SEARCH_API_KEY", "value": "sk-example-not-a-real-key"},
    )
}
MODEL_EXAMPLES = {"model": example("The model the agent runs", {"model": "anthropic:claude-sonnet-4"})}
BAD_SECRET = Refusal(
    400,
    "`key` is not an environment variable name (`^[A-Za-z_][A-Za-z0-9_]{0,127}$`) or is one the platform "
    "sets itself, or the value is empty or contains NUL.",
    {"error": "key: must match ^[A-Za-z_][A-Za-z0-9_]{0,127}$", "field": "key"},
)
VALUE_TOO_LARGE = Refusal(
    413, "The value is larger than 64 KiB.", {"error": "value: at most 65536 bytes (70000 given)", "field": "value"}
)
SECRETS_UNAVAILABLE = Refusal(
    503,
    "The platform's secrets key cannot be used (not configured, or its key service did not answer).",
    {"error": "secrets are unavailable: no encryption key source is configured. …", "code": "secrets_unavailable"},
)
UNDECRYPTABLE = Refusal(
    500,
    "Stored values that no longer decrypt (their key was lost): `failed_keys` names them; set them again.",
    {
        "error": "secrets cannot be decrypted: workspace:SEARCH_API_KEY; set them again (or restore the key "
        "that sealed them)",
        "failed_keys": ["workspace:SEARCH_API_KEY"],
    },
)
SECRET_NOT_FOUND = Refusal(404, "No secret has this key.", {"error": "secret not found", "key": "SEARCH_API_KEY"})
# What every workspace secrets route may answer: the workspace unknown or removed, the caller refused.
WORKSPACE_SECRET_REFUSALS = (*WORKSPACE_REFUSALS, WORKSPACE_GONE)
SAVED = "Saved; `restarts_requested` counts the agents restarted to pick it up"
DELETED = "Deleted; `restarts_requested` counts the agents restarted"
GLOBAL_LIST: dict[str, Any] = {
    "summary": "List the global secrets' names",
    "description": "Global secrets reach every agent unless its workspace sets the same key. " + ADMIN_CALLER,
    "security": ADMIN_AUTH,
    "responses": answers({200: "Their names"}, *ADMIN_REFUSALS),
}
GLOBAL_SET: dict[str, Any] = {
    "summary": "Set a global secret",
    "description": "Every running agent that inherits it is restarted to pick it up. " + ADMIN_CALLER,
    "security": ADMIN_AUTH,
    "responses": answers(
        {200: SAVED}, *ADMIN_REFUSALS, BAD_SECRET, VALUE_TOO_LARGE, BODY_TOO_LARGE, SECRETS_UNAVAILABLE
    ),
}
GLOBAL_DELETE: dict[str, Any] = {
    "summary": "Delete a global secret",
    "description": "Every running agent that inherited it is restarted. " + ADMIN_CALLER,
    "security": ADMIN_AUTH,
    "responses": answers({200: DELETED}, *ADMIN_REFUSALS, BAD_SECRET, SECRET_NOT_FOUND),
}


@app.get(
    "/workspaces/<workspace_id>/secrets",
    tags=[SECRETS],
    summary="List the names of a workspace's secrets",
    description="Its own and the global ones it inherits (`scope`), names only — never values. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({200: "Their names"}, *WORKSPACE_SECRET_REFUSALS),
)
def list_workspace_secrets(workspace_id: UUID, caller: WorkspaceCaller) -> list[SecretEntry]:
    return service.list_workspace_secrets(workspace_id)


WORKSPACE_SET: dict[str, Any] = {
    "tags": [SECRETS],
    "summary": "Set a workspace secret",
    "description": "Stored encrypted; the agent gets it as an environment variable and is restarted to pick "
    "it up. " + WORKSPACE_CALLER,
    "security": WORKSPACE_AUTH,
    "responses": answers(
        {200: SAVED}, *WORKSPACE_SECRET_REFUSALS, BAD_SECRET, VALUE_TOO_LARGE, BODY_TOO_LARGE, SECRETS_UNAVAILABLE
    ),
}


@app.post("/workspaces/<workspace_id>/secrets", **WORKSPACE_SET)
@app.put("/workspaces/<workspace_id>/secrets", **WORKSPACE_SET)
def set_workspace_secret(
    workspace_id: UUID,
    body: Annotated[SetSecretRequest, Body(openapi_examples=SECRET_EXAMPLES)],
    caller: WorkspaceCaller,
) -> SecretSaved:
    return service.set_workspace_secret(workspace_id, body)


@app.delete(
    "/workspaces/<workspace_id>/secrets/<key>",
    tags=[SECRETS],
    summary="Delete a workspace secret",
    description="The agent is restarted without it (or with the global secret of that key). " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({200: DELETED}, *WORKSPACE_SECRET_REFUSALS, BAD_SECRET, SECRET_NOT_FOUND),
)
def delete_workspace_secret(workspace_id: UUID, key: str, caller: WorkspaceCaller) -> SecretDeleted:
    return service.delete_workspace_secret(workspace_id, key)


@app.get(
    "/workspaces/<workspace_id>/secrets/values",
    tags=[SECRETS],
    summary="Read a workspace's secret values (its agent only)",
    description="The flat map the agent runs with: global secrets overlaid by the workspace's own. "
    "**Caller:** the workspace's own token only — not an org or admin token.",
    security=OWN_WORKSPACE_AUTH,
    responses=answers(
        {200: "Key → value"},
        Refusal(
            401,
            "No bearer token, or not this workspace's own token (admin and org tokens are refused too).",
            {
                "error": "this route takes the workspace's own token; admin, org and other workspaces' tokens "
                "are not accepted"
            },
        ),
        *CALLER_REFUSALS[1:],
        WORKSPACE_NOT_FOUND,
        WORKSPACE_GONE,
        UNDECRYPTABLE,
        SECRETS_UNAVAILABLE,
    ),
)
def secret_values(workspace_id: UUID, caller: OwnWorkspaceCaller) -> dict[str, str]:
    return service.secret_values(workspace_id)


@app.get(
    "/workspaces/<workspace_id>/model",
    tags=[SECRETS],
    summary="Get the model a workspace's agent runs",
    description="Its `MODEL_PROVIDER` secret, and where it comes from (`workspace_secrets`, `global_secrets` "
    "or `default`). " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers({200: "The model"}, *WORKSPACE_SECRET_REFUSALS, UNDECRYPTABLE, SECRETS_UNAVAILABLE),
)
def get_model(workspace_id: UUID, caller: WorkspaceCaller) -> ModelSetting:
    return service.get_model(workspace_id)


@app.put(
    "/workspaces/<workspace_id>/model",
    tags=[SECRETS],
    summary="Set the model a workspace's agent runs",
    description="Saved as its `MODEL_PROVIDER` secret; the agent is restarted to pick it up. " + WORKSPACE_CALLER,
    security=WORKSPACE_AUTH,
    responses=answers(
        {200: SAVED}, *WORKSPACE_SECRET_REFUSALS, BAD_SECRET, VALUE_TOO_LARGE, BODY_TOO_LARGE, SECRETS_UNAVAILABLE
    ),
)
def set_model(
    workspace_id: UUID, body: Annotated[SetModelRequest, Body(openapi_examples=MODEL_EXAMPLES)], caller: WorkspaceCaller
) -> SecretSaved:
    return service.set_model(workspace_id, body)


@app.get("/settings/secrets", tags=[SECRETS], **GLOBAL_LIST)
@app.get("/admin/secrets", tags=[ADMIN], **GLOBAL_LIST)
def list_global_secrets(caller: AdminCaller) -> list[SecretEntry]:
    return service.list_global_secrets()


@app.post("/settings/secrets", tags=[SECRETS], **GLOBAL_SET)
@app.put("/settings/secrets", tags=[SECRETS], **GLOBAL_SET)
@app.post("/admin/secrets", tags=[ADMIN], **GLOBAL_SET)
@app.put("/admin/secrets", tags=[ADMIN], **GLOBAL_SET)
def set_global_secret(
    body: Annotated[SetSecretRequest, Body(openapi_examples=SECRET_EXAMPLES)], caller: AdminCaller
) -> SecretSaved:
    return service.set_global_secret(body)


@app.delete("/settings/secrets/<key>", tags=[SECRETS], **GLOBAL_DELETE)
@app.delete("/admin/secrets/<key>", tags=[ADMIN], **GLOBAL_DELETE)
def delete_global_secret(key: str, caller: AdminCaller) -> SecretDeleted:
    return service.delete_global_secret(key)


# log_event=False, explicitly: POWERTOOLS_LOGGER_LOG_EVENT=true must never log these bodies.
@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
