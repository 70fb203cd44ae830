"""The smallest handler written the way SPEC §2 asks (resolver with validation, a query parameter,
a pydantic body, Logger, the database driver): what any HTTP function pays before the platform's
own code. The
coldstart benchmark measures it beside the floor and the real functions, so the share of the
framework and the share of molecule_core can be told apart."""

from typing import Annotated, Any

import psycopg  # noqa: F401 - loaded by every function that touches the database
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

app = APIGatewayHttpResolver(enable_validation=True)
logger = Logger(service="reference")


class Thing(BaseModel):
    name: str


@app.get("/things")
def list_things(deep: Annotated[bool, Query()] = False) -> list[Thing]:
    return []


@app.post("/things")
def create_thing(body: Thing) -> Thing:
    return body


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
