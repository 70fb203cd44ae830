"""HTTP plumbing shared by every API function: error mapping in one place, auth dependencies,
id parsing. Handlers stay thin: a route reads its typed input, calls one logic function and
returns; everything that goes wrong is a domain exception mapped here.

- Domain errors → their status with `{"error": …, …extra}`.
- Request validation → 400 naming the field (Powertools' default is 422).
- Datastore down → 503 `platform_unavailable`, on every route.
- Anything else → 500 `{"error":"internal error"}`; the stack trace goes to the log only.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.request import Request
from pydantic_core import to_jsonable_python

from molecule_core.auth.guards import Caller, authorize_admin, authorize_workspace
from molecule_core.errors import DatastoreUnavailable, DomainError
from molecule_core.observability import logger


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=to_jsonable_python)


def json_response(status_code: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status_code,
        content_type=content_types.APPLICATION_JSON,
        body=compact_json(body),
        headers=headers,
    )


def parse_uuid(value: str | None) -> UUID | None:
    """A path id as a UUID, or None when it is malformed (callers answer 404: it cannot exist)."""
    if not value:
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


def _workspace_caller(request: Request) -> Caller:
    return authorize_workspace(request.headers, parse_uuid(request.path_parameters.get("workspace_id")))


def _admin_caller(request: Request) -> Caller:
    return authorize_admin(request.headers)


WorkspaceCaller = Annotated[Caller, Depends(_workspace_caller)]
AdminCaller = Annotated[Caller, Depends(_admin_caller)]


def _field_name(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(parts)


def _validation_message(error: dict[str, Any]) -> tuple[str, str]:
    field = _field_name(tuple(error.get("loc", ())))
    kind = str(error.get("type", ""))
    if kind == "json_invalid":
        return "", "request body is not valid JSON"
    message = str(error.get("msg", "invalid value"))
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind == "missing":
        message = "field required"
    return field, f"{field}: {message}" if field else message


def install_error_handlers(app: APIGatewayHttpResolver) -> None:
    """Map every failure to the platform's error shape; call once per resolver."""

    @app.exception_handler(RequestValidationError)
    def _invalid_request(exc: RequestValidationError) -> Response[str]:
        errors = exc.errors()
        field, message = _validation_message(dict(errors[0])) if errors else ("", "invalid request")
        body: dict[str, Any] = {"error": message}
        if field:
            body["field"] = field
        return json_response(400, body)

    @app.exception_handler(DatastoreUnavailable)
    def _datastore_down(exc: DatastoreUnavailable) -> Response[str]:
        logger.error("datastore unavailable", extra={"cause": exc.cause[:500]})
        return json_response(exc.status_code, exc.body(), {"Retry-After": "5"})

    @app.exception_handler(DomainError)
    def _domain_error(exc: DomainError) -> Response[str]:
        return json_response(exc.status_code, exc.body())

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return json_response(500, {"error": "internal error"})

    @app.not_found
    def _not_found(exc: Exception) -> Response[str]:
        return json_response(404, {"error": "not found"})
