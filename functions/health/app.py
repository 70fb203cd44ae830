"""GET /health — liveness; `?deep=true` also checks the database."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.platform.http import APIGatewayHttpResolver, serve
from molecule_core.platform.observability import logger
from molecule_core.platform.service import check_health

app = APIGatewayHttpResolver()


@app.get("/health")
def health(deep: Annotated[bool, Query()] = False) -> dict[str, str]:
    return check_health(deep=deep)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
