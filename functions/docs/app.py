"""GET /openapi.json (every function's routes merged into one OpenAPI 3.1 document) and GET /docs
(Swagger UI). The schema is built from the other functions' resolvers on first request."""

from pathlib import Path

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from molecule_core.platform.http import APIGatewayHttpResolver, compact_json, document_request_errors, serve
from molecule_core.platform.observability import logger

app = APIGatewayHttpResolver()
app.configure_openapi_merge(
    path=str(Path(__file__).resolve().parent.parent),  # functions/ (this function's CodeUri)
    pattern="app.py",
    recursive=True,
    exclude=["**/docs/**", "**/__pycache__/**"],
    title="Molecule control plane",
    version="1.0.0",
    description="Registry, A2A proxy, activity and lifecycle of agent workspaces.",
    on_conflict="error",
)
app.enable_swagger(path="/docs", title="Molecule control plane")


@app.get("/openapi.json", include_in_schema=False)
def openapi_json() -> Response[str]:
    # validation failures are documented as the 400 they are (not Powertools' default 422)
    schema = document_request_errors(app.get_openapi_merge_schema())
    return Response(200, content_types.APPLICATION_JSON, compact_json(schema))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return serve(app, event, context)
