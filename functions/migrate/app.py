"""Schema migrations, invoked on deploy (CloudFormation custom resource) or directly with
`{"action": "up" | "down" | "status"}`. On deploy the secrets key source is checked too: a stack
whose functions could not decrypt secrets fails its deploy rather than taking traffic. The
operator's secrets key operations run here as well (`{"action": "secrets_check" |
"secrets_rotate" | "secrets_reencrypt"}`): this function holds the key grant and one connection."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.platform.observability import logger
from molecule_core.platform.service import handle_custom_resource, is_custom_resource_event, run_migrations
from molecule_core.secrets import service as secrets


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_custom_resource_event(event):
        return handle_custom_resource(event, checks=[secrets.check_key_source])
    action = event.get("action", "up")
    if isinstance(action, str) and action.startswith("secrets_"):
        return {"action": action, **secrets.run_key_operation(action.removeprefix("secrets_"))}
    return run_migrations(action)
