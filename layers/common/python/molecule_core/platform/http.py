"""HTTP plumbing shared by every API function: compact JSON and the one error mapping. Handlers stay
thin: a route reads its typed input (path ids as `UUID`, bodies as models, the caller as a
dependency from `auth.callers`), calls one service function and returns; everything that goes
wrong is a domain exception mapped here.

- Domain errors → their status, body and headers (`Retry-After` included).
- A malformed path id → 404, once, here: it cannot name anything that exists.
- Other request validation → 400 naming the field (Powertools' default is 422).
- Datastore down → 503 `platform_unavailable`, on every route.
- Anything else → 500 `{"error":"internal error"}`; the stack trace goes to the log only.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic_core import to_jsonable_python

from molecule_core.platform.errors import DatastoreUnavailable, DomainError
from molecule_core.platform.observability import logger

# What a malformed path id is reported as (it cannot exist): the noun of each path parameter.
_PATH_NOUNS = {"file_id": "file", "queue_id": "queued message", "token_id": "token", "workspace_id": "workspace"}


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=to_jsonable_python)


def json_response(status_code: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status_code,
        content_type=content_types.APPLICATION_JSON,
        body=compact_json(body),
        headers=headers or None,
    )


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


def _malformed_path_id(errors: list[Any]) -> str | None:
    """The noun of the first malformed path parameter, if a path parameter is what failed."""
    for error in errors:
        location = tuple(error.get("loc", ()))
        if len(location) == 2 and location[0] == "path":
            return _PATH_NOUNS.get(str(location[1]), "resource")
    return None


def install_error_handlers(app: APIGatewayHttpResolver) -> None:
    """Map every failure to the platform's error shape; call once per resolver."""

    @app.exception_handler(RequestValidationError)
    def _invalid_request(exc: RequestValidationError) -> Response[str]:
        errors = list(exc.errors())
        noun = _malformed_path_id(errors)
        if noun is not None:
            return json_response(404, {"error": f"{noun} not found"})
        field, message = _validation_message(dict(errors[0])) if errors else ("", "invalid request")
        body: dict[str, Any] = {"error": message}
        if field:
            body["field"] = field
        return json_response(400, body)

    @app.exception_handler(DatastoreUnavailable)
    def _datastore_down(exc: DatastoreUnavailable) -> Response[str]:
        logger.error("datastore unavailable", extra={"cause": exc.cause[:500]})
        return json_response(exc.status_code, exc.body(), exc.headers)

    @app.exception_handler(DomainError)
    def _domain_error(exc: DomainError) -> Response[str]:
        return json_response(exc.status_code, exc.body(), exc.headers)

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return json_response(500, {"error": "internal error"})

    @app.not_found
    def _not_found(exc: Exception) -> Response[str]:
        return json_response(404, {"error": "not found"})
