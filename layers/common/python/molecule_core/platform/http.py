"""HTTP plumbing shared by every API function: compact JSON and the one error mapping. Handlers stay
thin: a route reads its typed input (path ids as `UUID`, bodies as models, the caller as a
dependency from `auth.callers`), calls one service function and returns; everything that goes
wrong is a domain exception mapped here.

- The edge (SPEC §8): every JSON body is parsed by `validation.parse_json_body` (size, depth,
  NaN/Infinity, NUL and unpaired surrogates → 400/413 naming the field), a body that is not UTF-8
  is a 400, and a NUL in a query or path parameter is a 400 naming it — before any logic runs.
- Domain errors → their status, body and headers (`Retry-After` included).
- A malformed path id → 404, once, here: it cannot name anything that exists.
- Other request validation → 400 naming the field (Powertools' default is 422).
- Datastore down → 503 `platform_unavailable`, on every route.
- Anything else → 500 `{"error":"internal error"}`; the stack trace goes to the log only.

Streamed answers (SSE relayed as it comes): a route returns `stream_response(...)`. Invoked the
usual way (API Gateway, buffered) its chunks are joined into one body; invoked through
`resolve_streaming` (a function URL in response-streaming mode, or the local stack) they go out
one by one — the route is written once and serves both.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable, Iterator
from functools import cache, cached_property
from typing import Any, NamedTuple

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver as PowertoolsHttpResolver
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.data_classes.common import CaseInsensitiveDict
from pydantic_core import to_json

from molecule_core.platform import deferred, observability
from molecule_core.platform.errors import DatastoreUnavailable, DomainError, InvalidInput
from molecule_core.platform.observability import logger
from molecule_core.platform.openapi import security_schemes
from molecule_core.platform.validation import parse_json_body, unstorable_reason

# What a malformed path id is reported as (it cannot exist): the noun of each path parameter.
_PATH_NOUNS = {
    "file_id": "file",
    "memory_id": "memory",
    "queue_id": "queued message",
    "token_id": "token",
    "workspace_id": "workspace",
}


# The value of a header the platform carries on to an agent (`Header(pattern=FORWARDABLE_HEADER)`):
# printable ASCII, what an HTTP client puts on the wire. Any other character cannot be sent (httpx
# encodes header values as ASCII, http.client as Latin-1): refused at the edge with a 400 naming the
# header, not failed on the way out.
FORWARDABLE_HEADER = r"^[\x20-\x7e]*$"


def compact_json(value: Any) -> str:
    """Compact JSON, UTF-8 as is, UUIDs and datetimes as pydantic writes them — by pydantic-core's
    serializer, ~4× faster than `json.dumps(default=to_jsonable_python)` on a page of activity rows
    (0.43 ms against 1.7 ms for 100 rows) with the same output."""
    return to_json(value).decode()


def _answer_body(value: Any) -> str | bytes:
    """The resolvers' serializer of a JSON answer's body: compact JSON — except bytes, which are
    the answer already (an agent's, relayed as it came) and which Powertools then base64-encodes."""
    return value if isinstance(value, bytes) else compact_json(value)


def json_response(status_code: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status_code,
        content_type=content_types.APPLICATION_JSON,
        body=compact_json(body),
        headers=headers or None,
    )


def _field_name(location: tuple[Any, ...]) -> str:
    """A validation error's location as the edge's body check names it: `children[0].role`."""
    name = ""
    for part in location:
        if part in ("body", "query", "path", "header"):
            continue
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


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


def serve(app: PowertoolsHttpResolver, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Resolve one API Gateway event: the route's answer, one structured line for the request, and
    the invocation's metrics published — after the answer is sent where the runtime can
    (platform/deferred.py: ~50 µs of Powertools' work a request that no answer waits for). Every
    HTTP function's handler is this call."""
    facts = observability.begin_request(event)
    response: dict[str, Any] = app.resolve(event, context)
    observability.log_request(event, response, facts)
    deferred.defer(observability.flush_metrics, last=True)
    return response


def _is_invalid_utf8_body(app: PowertoolsHttpResolver) -> bool:
    event = app.current_event
    if not event.is_base64_encoded or not event.body:
        return False
    try:
        base64.b64decode(event.body).decode("utf-8")
    except (UnicodeDecodeError, binascii.Error):
        return True
    return False


def _check_parameters(app: PowertoolsHttpResolver, next_middleware: Callable[..., Response[Any]]) -> Response[Any]:
    """A NUL in a query or path parameter would reach PostgreSQL as an unstorable string."""
    event = app.current_event
    for kind, values in (("query", event.query_string_parameters), ("path", event.path_parameters)):
        for name, value in (values or {}).items():
            reason = unstorable_reason(str(value))
            if reason:
                raise InvalidInput(f"{name}: {reason}", field=name, location=kind)
    return next_middleware(app)


def _internal_error() -> Response[str]:
    logger.exception("unhandled error")  # the stack trace goes to the log, never to the client
    return json_response(500, {"error": "internal error"})


def memoise_route_analysis() -> bool:
    """Powertools (3.37) works out three facts on every request that depend only on the route: the
    tree of its `Depends()` parameters (`depends.build_dependency_tree`, which calls
    `typing.get_type_hints` on the route and on each dependency), each dependency's type hints again
    when it is called (`depends.solve_dependencies`, to find a `Request` parameter), and whether
    each query and header parameter is a scalar (`openapi_validation.is_scalar_field`, a walk over
    its annotation). Each is worked out once here, then remembered: per function object, per
    parameter field — both live as long as their resolver, and the caches hold them, so an id is
    never reused. Measured on the A2A proxy's route with its service stubbed out: 0.48 ms a request
    through the gateway, 0.32 ms with the tree and the scalars remembered. Done by the first
    validating resolver (the modules are the validation's, which a function without it never
    loads). False (nothing changed) when already done, or when Powertools no longer has one of them
    — tests/unit/test_http_memo.py then fails, so an upgrade is noticed."""
    import typing

    from aws_lambda_powertools.event_handler import depends
    from aws_lambda_powertools.event_handler.middlewares import openapi_validation

    build_tree = getattr(depends, "build_dependency_tree", None)
    is_scalar = getattr(openapi_validation, "is_scalar_field", None)
    if (
        build_tree is None
        or is_scalar is None
        or getattr(depends, "get_type_hints", None) is not typing.get_type_hints
        or getattr(build_tree, "memoised", False)
    ):
        return False
    trees: dict[Any, Any] = {}
    hints: dict[tuple[Any, bool], dict[str, Any]] = {}
    scalars: dict[Any, bool] = {}

    def remembered_tree(func: Any) -> Any:
        tree = trees.get(func)
        if tree is None:
            tree = trees[func] = build_tree(func)
        return tree

    def remembered_hints(func: Any, globalns: None = None, localns: None = None, include_extras: bool = False) -> Any:
        found = hints.get((func, include_extras))
        if found is None:
            found = hints[(func, include_extras)] = typing.get_type_hints(func, include_extras=include_extras)
        return found

    def remembered_is_scalar(field: Any) -> bool:
        scalar = scalars.get(field)
        if scalar is None:
            scalar = scalars[field] = bool(is_scalar(field))
        return scalar

    remembered_tree.memoised = remembered_hints.memoised = True  # type: ignore[attr-defined]
    depends.build_dependency_tree = remembered_tree
    depends.get_type_hints = remembered_hints  # type: ignore[attr-defined,assignment]  # imported there
    openapi_validation.is_scalar_field = remembered_is_scalar  # type: ignore[attr-defined]  # imported there
    return True


def bytes_pass_through(validation: Any) -> Any:
    """Powertools' response validation, except for a body that already is bytes — what the
    platform relays as it came (an agent's answer, a file): nothing to validate, and Powertools
    base64-encodes it when it builds the answer. Validating it ran the bytes through pydantic's
    JSON mode (or `jsonable_encoder`, for a route without a return type), which decodes them as
    UTF-8: an agent's answer that was not UTF-8 became a 500 after its message was delivered."""
    passing = _bytes_pass_through_class()()
    passing.__dict__.update(validation.__dict__)  # the resolver's serializer and error settings
    return passing


@cache
def _bytes_pass_through_class() -> type[Any]:
    # The validation's module, which a function without validation (the console) never loads.
    from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
        OpenAPIResponseValidationMiddleware,
    )

    class BytesPassThrough(OpenAPIResponseValidationMiddleware):
        def _handle_response(self, *, route: Any, response: Response[Any]) -> Response[Any]:
            if isinstance(response.body, bytes):
                return response
            handled: Response[Any] = super()._handle_response(route=route, response=response)
            return handled

    return BytesPassThrough


class DocumentedHttpResolver(PowertoolsHttpResolver):
    """Powertools' resolver, whose reference knows the platform's security schemes: routes declare
    who may call them (`security=`, platform.openapi) and Powertools checks each declaration against
    the schemes its resolver knows — given when a reference is built, not at import (the schemes are
    Powertools' OpenAPI models: ~55 ms of every cold start). The console serves files with it."""

    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        if not self.openapi_config.security_schemes:
            self.configure_openapi(security_schemes=security_schemes())
        return super().get_openapi_schema(*args, **kwargs)


class HttpApiEvent(APIGatewayProxyEventV2):
    """Powertools' HTTP API event, whose case-insensitive `headers` are built once a request:
    Powertools builds them anew on every read, and a proxied message read them six times (the
    caller's bearer and workspace headers, the validated header parameters, the route)."""

    @cached_property
    def headers(self) -> dict[str, str]:
        return CaseInsensitiveDict(self.get("headers"))  # type: ignore[no-untyped-call]  # Powertools' own


class APIGatewayHttpResolver(DocumentedHttpResolver):
    """Every HTTP function's resolver: Powertools' with the platform's settings — request
    validation, compact JSON, the edge's body parser (tests/integration/test_bad_input.py sends every
    documented JSON route the bodies it must refuse) and the one error mapping. It keeps Powertools'
    class name on purpose: the docs function's OpenAPI merge finds each function's resolver by
    that name (`app = APIGatewayHttpResolver()`)."""

    def __init__(self) -> None:
        super().__init__(
            enable_validation=True,
            serializer=_answer_body,  # type: ignore[arg-type]  # bytes go on to be base64-encoded
            json_body_deserializer=parse_json_body,
        )
        memoise_route_analysis()
        self._response_validation_middleware = bytes_pass_through(self._response_validation_middleware)
        install_error_handlers(self)

    def _to_proxy_event(self, event: dict[str, Any]) -> HttpApiEvent:
        """Every request's event is an `HttpApiEvent` (Powertools converts each one here)."""
        return HttpApiEvent(event, self._json_body_deserializer)


def install_error_handlers(app: PowertoolsHttpResolver) -> None:
    """The edge checks and the one error mapping (every APIGatewayHttpResolver has them)."""
    app.use([_check_parameters])

    @app.exception_handler(UnicodeDecodeError)
    def _invalid_utf8(exc: UnicodeDecodeError) -> Response[str]:
        if not _is_invalid_utf8_body(app):
            return _internal_error()
        return json_response(400, {"error": "request body is not valid UTF-8", "field": "body"})

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
        return _internal_error()

    @app.not_found
    def _not_found(exc: Exception) -> Response[str]:
        return json_response(404, {"error": "not found"})


# --- streamed responses ---------------------------------------------------------------------------

_invocation = threading.local()


class StreamedResponse(NamedTuple):
    """What a streaming invocation answers: status and headers first, then the body as it comes."""

    status_code: int
    headers: dict[str, str]
    body: Iterator[bytes]
    # The answer was not streamed: `body` is its one chunk, whole before the head is sent (a
    # server may answer it with a Content-Length, as any buffered answer).
    whole: bool = False


def is_streaming_invocation() -> bool:
    """Whether this invocation relays streamed answers as they come (else they are buffered, and
    must fit the buffered caller's time limit — API Gateway's 30 s)."""
    return bool(getattr(_invocation, "streaming", False))


def stream_response(
    status_code: int, content_type: str, chunks: Iterator[bytes], headers: dict[str, str] | None = None
) -> Response[bytes]:
    if is_streaming_invocation():
        _invocation.chunks = chunks
        return Response(status_code=status_code, content_type=content_type, body=b"", headers=headers or None)
    return Response(status_code=status_code, content_type=content_type, body=b"".join(chunks), headers=headers or None)


def serve_streaming(app: PowertoolsHttpResolver, event: dict[str, Any], context: Any) -> StreamedResponse:
    """`serve` for a streaming invocation: the same request line (status known before the first
    chunk; the duration is the time to the answer's head) and metrics, around `resolve_streaming`."""
    facts = observability.begin_request(event)
    streamed = resolve_streaming(app, event, context)
    observability.log_request(event, {"statusCode": streamed.status_code}, facts)
    deferred.defer(observability.flush_metrics, last=True)  # also what a stream's receipt counts
    return streamed


def resolve_streaming(app: PowertoolsHttpResolver, event: dict[str, Any], context: Any) -> StreamedResponse:
    """Resolve `event` with `app` for a streaming invocation: a route's `stream_response` chunks
    are handed over unread; any other answer becomes a one-chunk body."""
    _invocation.streaming, _invocation.chunks = True, None
    try:
        result = app.resolve(event, context)
        chunks: Iterator[bytes] | None = _invocation.chunks
    finally:
        _invocation.streaming, _invocation.chunks = False, None
    headers = {str(name).lower(): str(value) for name, value in (result.get("headers") or {}).items()}
    if chunks is None:
        raw = result.get("body") or ""
        body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode("utf-8")
        return StreamedResponse(int(result["statusCode"]), headers, iter([body]), whole=True)
    return StreamedResponse(int(result["statusCode"]), headers, chunks)
