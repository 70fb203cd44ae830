"""GET /openapi.json (every function's routes merged into one OpenAPI 3.1 document) and GET /docs
(Swagger UI showing that same document). Built once per execution environment, on first request,
from the other functions' resolvers (platform.openapi.api_reference)."""

from functools import cache
from pathlib import Path
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.platform.http import APIGatewayHttpResolver, compact_json, serve
from molecule_core.platform.observability import logger
from molecule_core.platform.openapi import (
    PLATFORM,
    PUBLIC,
    REFERENCE_DESCRIPTION,
    answers,
    api_reference,
    security_schemes,
    swagger_page,
    tags,
)

app = APIGatewayHttpResolver()


@cache
def reference_json() -> str:
    """The merged document, built on the first request that needs it: finding and parsing every
    function's handler is no work for an import (it was most of this function's cold start)."""
    app.configure_openapi_merge(
        path=str(Path(__file__).resolve().parent.parent),  # functions/ (this function's CodeUri)
        pattern="app.py",
        recursive=True,
        exclude=["**/docs/**", "**/__pycache__/**"],
        title="Molecule control plane",
        version="1.0.0",
        description=REFERENCE_DESCRIPTION,
        tags=tags(),
        security_schemes=security_schemes(),
        on_conflict="error",
    )
    # this function's own routes are documented too: the merge reads the other functions only
    return compact_json(api_reference(app.get_openapi_merge_schema(), app.get_openapi_schema()))


@app.get(
    "/openapi.json",
    tags=[PLATFORM],
    summary="This API reference, as OpenAPI 3.1",
    description="Every route of every function, merged. The document `/docs` shows. No token needed.",
    security=PUBLIC,
    responses=answers(
        {200: {"description": "The OpenAPI document", "content": {"application/json": {"schema": {"type": "object"}}}}}
    ),
)
def openapi_json() -> Response[str]:
    return Response(200, content_types.APPLICATION_JSON, reference_json())


@app.get(
    "/docs",
    tags=[PLATFORM],
    summary="This API reference in Swagger UI",
    description="Browse and try every operation; **Authorize** takes a workspace, org or admin token. "
    "`?format=json` answers the document itself. No token needed.",
    security=PUBLIC,
    responses=answers(
        {
            200: {
                "description": "The Swagger UI page (or, with `format=json`, the OpenAPI document)",
                "content": {
                    "text/html": {"schema": {"type": "string"}},
                    "application/json": {"schema": {"type": "object"}},
                },
            }
        }
    ),
)
def docs(view: Annotated[str | None, Query(alias="format", max_length=16)] = None) -> Response[str]:
    if view == "json":  # what Swagger UI's own "download" link asks for
        return Response(200, content_types.APPLICATION_JSON, reference_json())
    return Response(200, "text/html; charset=utf-8", swagger_page(reference_json()))


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
