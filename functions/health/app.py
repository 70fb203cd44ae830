"""GET /health — liveness; `?deep=true` also checks the database."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.platform.http import APIGatewayHttpResolver, serve
from molecule_core.platform.observability import logger
from molecule_core.platform.openapi import DATASTORE_DOWN, PLATFORM, PUBLIC, answers, json_answer
from molecule_core.platform.service import check_health

app = APIGatewayHttpResolver()


@app.get(
    "/health",
    tags=[PLATFORM],
    summary="Whether the API is up (and, with `deep=true`, its database)",
    description="A load balancer's probe: answers without touching anything; `deep=true` also asks the "
    "database (503 when it does not answer). No token needed.",
    security=PUBLIC,
    responses=answers(
        {
            200: json_answer(
                "Up",
                schema={"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
                example={"status": "ok", "database": "ok"},
            )
        },
        DATASTORE_DOWN,
    ),
)
def health(deep: Annotated[bool, Query(description="also check the database")] = False) -> dict[str, str]:
    return check_health(deep=deep)


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
