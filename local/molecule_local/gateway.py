"""API Gateway HTTP API (payload format 2.0) in miniature: match a request against the routes of
template.yaml, build the exact event API Gateway would send, invoke the function's handler and turn
its response back into HTTP. Tests use `build_http_event`/`invoke_http` too, so what they exercise
is what the local server and AWS send."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from molecule_local.lambdas import FunctionRegistry, LocalContext

_TEXT_TYPES = ("application/json", "text/", "application/xml", "application/x-www-form-urlencoded")


@dataclass(frozen=True)
class Route:
    method: str  # upper-case, or "ANY"
    path: str  # template form: /workspaces/{workspace_id}
    function: str  # logical id in template.yaml
    pattern: re.Pattern[str] = field(compare=False, repr=False, default=re.compile(""))

    @classmethod
    def build(cls, method: str, path: str, function: str) -> Route:
        regex = "^"
        for segment in _template_segments(path):
            if segment.startswith("{") and segment.endswith("+}"):
                regex += f"/(?P<{segment[1:-2]}>.+)"
            elif segment.startswith("{") and segment.endswith("}"):
                regex += f"/(?P<{segment[1:-1]}>[^/]+)"
            else:
                regex += "/" + re.escape(segment)
        regex += "/?$" if path != "/" else "/$"
        return cls(method.upper(), path, function, re.compile(regex))

    @property
    def segments(self) -> int:
        return len(_template_segments(self.path))

    @property
    def greedy(self) -> bool:
        return self.path.endswith("+}")

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def specificity(self) -> tuple[int, int, int]:
        """API Gateway prefers the most specific route: more literal segments, no greedy proxy,
        an exact method over ANY."""
        segments = self.path.strip("/").split("/")
        literal = sum(1 for s in segments if not s.startswith("{"))
        greedy = sum(1 for s in segments if s.endswith("+}"))
        return (literal, -greedy, 0 if self.method == "ANY" else 1)


class RouteTable:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = sorted(routes, key=lambda r: r.specificity, reverse=True)
        # Only routes of the path's shape can match it: its first segment (that literal, or a
        # parameter), its number of slashes and whether it ends with one (`_fits`). A request tries
        # the patterns of its shape's routes, a handful, in `routes`' order.
        self._most_slashes = max((r.segments for r in self.routes), default=0) + 2  # beyond: greedy ones only
        firsts = {_first_segment(r.path) for r in self.routes if not _first_segment(r.path).startswith("{")}
        self._by_shape = {
            (first, slashes, trailing): [r for r in self.routes if _fits(r, first, slashes, trailing)]
            for first in (*firsts, None)
            for slashes in range(self._most_slashes + 1)
            for trailing in (False, True)
        }

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        method = method.upper()
        shape = (min(path.count("/"), self._most_slashes), path.endswith("/"))
        shaped = self._by_shape.get((_first_segment(path), *shape)) or self._by_shape[(None, *shape)]
        for route in shaped:
            if route.method != method and route.method != "ANY":
                continue
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
        return None

    def allows_path(self, path: str) -> bool:
        return any(r.pattern.match(path) for r in self.routes)


def _template_segments(path: str) -> list[str]:
    """A route's path template in segments (the root has none)."""
    return path.strip("/").split("/") if path != "/" else []


def _fits(route: Route, first: str | None, slashes: int, trailing: bool) -> bool:
    """Whether `route` can match a path whose first segment is `first` (None: no route's literal),
    which has `slashes` slashes and ends with one if `trailing`: one slash per segment of the
    route, and one more at the end (a greedy last segment may hold any number more)."""
    route_first = _first_segment(route.path)
    if not route_first.startswith("{") and route_first != first:
        return False
    return slashes >= route.segments if route.greedy else slashes == route.segments + trailing


def _first_segment(path: str) -> str:
    return path.lstrip("/").split("/", 1)[0]


def _is_text(content_type: str | None) -> bool:
    return not content_type or any(content_type.startswith(t) for t in _TEXT_TYPES) or "json" in content_type


def build_http_event(
    method: str,
    raw_path: str,
    *,
    route_key: str,
    path_parameters: Mapping[str, str] | None = None,
    query: str = "",
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    body: bytes | str | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """An API Gateway HTTP API v2 event, as AWS builds it: header names lower-cased and repeated
    headers joined with commas; repeated query parameters joined with commas; binary bodies
    base64-encoded."""
    joined: dict[str, str] = {}
    items = headers.items() if isinstance(headers, Mapping) else (headers or [])
    for name, value in items:
        key = name.lower()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    query_params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        query_params[name] = f"{query_params[name]},{value}" if name in query_params else value
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": joined,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": joined.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method.upper(),
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if query_params:
        event["queryStringParameters"] = query_params
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if body is not None and body != b"" and body != "":
        if isinstance(body, str):
            event["body"] = body
        elif _is_text(joined.get("content-type")):
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(body).decode("ascii")
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes
    # A streamed answer (a function in response-streaming mode): the body as it comes, unread.
    chunks: Iterator[bytes] | None = None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def response_from_lambda(result: Any) -> HttpResult:
    """API Gateway's reading of a v2 handler result."""
    if not isinstance(result, dict) or "statusCode" not in result:
        body = json.dumps(result).encode()
        return HttpResult(200, {"content-type": "application/json"}, body)
    headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[str(name).lower()] = ",".join(str(v) for v in values)
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode("utf-8")
    return HttpResult(int(result["statusCode"]), headers, body)


class Gateway:
    """Routes HTTP requests to function handlers, in process."""

    def __init__(self, routes: RouteTable, functions: FunctionRegistry) -> None:
        self.routes = routes
        self.functions = functions

    def handle(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        body: bytes | str | None = None,
        *,
        stream: bool = False,
    ) -> HttpResult:
        """`stream`: hand a streaming function's body over unread in `chunks` (the HTTP server
        relays it as it comes); otherwise it is read into `body`, as a buffered caller gets it."""
        parts = urlsplit(target)
        path = parts.path or "/"
        matched = self.routes.match(method, path)
        if matched is None:
            # API Gateway's own answer for an unknown route
            return HttpResult(404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
        route, params = matched
        event = build_http_event(
            method,
            path,
            route_key=route.route_key,
            path_parameters=params,
            query=parts.query,
            headers=headers,
            body=body,
        )
        spec = self.functions.spec(route.function)
        context = LocalContext(route.function, spec.timeout)
        try:
            if spec.streams:
                streamed = self.functions.stream_handler(route.function)(event, context)
                result = HttpResult(streamed.status_code, dict(streamed.headers), b"", streamed.body)
                if not stream or streamed.whole:  # a whole answer goes out in one write, with its length
                    result.body, result.chunks = b"".join(streamed.body), None
                return result
            return response_from_lambda(self.functions.handler(route.function)(event, context))
        except Exception:
            # What API Gateway answers when the function itself crashes.
            return HttpResult(500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}')
