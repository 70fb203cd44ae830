"""The local API Gateway: route matching as API Gateway does it, and v2 events as AWS builds them."""

from __future__ import annotations

import base64

from molecule_local.gateway import Route, RouteTable, build_http_event, response_from_lambda
from molecule_local.stack import route_table
from molecule_local.template import default_template


def test_most_specific_route_wins() -> None:
    table = RouteTable(
        [
            Route.build("GET", "/workspaces/{workspace_id}", "ByIdFunction"),
            Route.build("GET", "/workspaces/{workspace_id}/state", "StateFunction"),
            Route.build("ANY", "/workspaces/{proxy+}", "CatchAllFunction"),
            Route.build("GET", "/workspaces", "ListFunction"),
        ]
    )
    assert table.match("GET", "/workspaces")[0].function == "ListFunction"
    route, params = table.match("GET", "/workspaces/abc")
    assert (route.function, params) == ("ByIdFunction", {"workspace_id": "abc"})
    assert table.match("GET", "/workspaces/abc/state")[0].function == "StateFunction"
    assert table.match("POST", "/workspaces/abc/anything/else")[0].function == "CatchAllFunction"
    assert table.match("GET", "/elsewhere") is None


def test_root_route_matches_only_the_root_and_a_path_variable_stays_in_its_segment() -> None:
    table = RouteTable(
        [
            Route.build("GET", "/", "ConsoleFunction"),
            Route.build("GET", "/console/{path}", "ConsoleFunction"),
            Route.build("GET", "/health", "HealthFunction"),
        ]
    )
    assert table.match("GET", "/")[0].path == "/"
    assert table.match("GET", "/health")[0].function == "HealthFunction"
    assert table.match("GET", "/console/app.js")[1] == {"path": "app.js"}
    assert table.match("GET", "/console/a/b.js") is None
    assert table.match("GET", "/console/") is None
    assert table.match("GET", "/nothing") is None


def test_method_must_match_unless_any() -> None:
    table = RouteTable([Route.build("GET", "/health", "HealthFunction")])
    assert table.match("POST", "/health") is None
    assert table.match("get", "/health") is not None


def test_event_joins_repeated_headers_and_query_values() -> None:
    event = build_http_event(
        "GET",
        "/events",
        route_key="GET /events",
        query="limit=5&tag=a&tag=b",
        headers=[("Authorization", "Bearer one"), ("authorization", "Bearer two"), ("X-Thing", "1")],
    )
    assert event["headers"]["authorization"] == "Bearer one,Bearer two"
    assert event["headers"]["x-thing"] == "1"
    assert event["queryStringParameters"] == {"limit": "5", "tag": "a,b"}
    assert event["rawQueryString"] == "limit=5&tag=a&tag=b"
    assert event["requestContext"]["http"]["method"] == "GET"
    assert "body" not in event


def test_binary_body_is_base64_and_text_is_not() -> None:
    binary = build_http_event(
        "POST",
        "/x",
        route_key="POST /x",
        headers={"content-type": "application/octet-stream"},
        body=b"\x00\xff",
    )
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\x00\xff"
    text = build_http_event("POST", "/x", route_key="POST /x", headers={"content-type": "application/json"}, body=b"{}")
    assert (text["isBase64Encoded"], text["body"]) == (False, "{}")


def test_response_decoding() -> None:
    result = response_from_lambda(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "text/plain"},
            "body": "aGk=",
            "isBase64Encoded": True,
        }
    )
    assert (result.status, result.headers["content-type"], result.body) == (201, "text/plain", b"hi")


def test_a_route_whose_first_segment_is_a_parameter_is_tried_for_every_path_in_specificity_order() -> None:
    table = RouteTable(
        [
            Route.build("ANY", "/{proxy+}", "FallbackFunction"),
            Route.build("GET", "/{tenant}/health", "TenantHealthFunction"),
            Route.build("GET", "/health", "HealthFunction"),
        ]
    )
    assert table.match("GET", "/health")[0].function == "HealthFunction"
    assert table.match("GET", "/acme/health")[0].function == "TenantHealthFunction"
    assert table.match("GET", "/health/deep")[0].function == "FallbackFunction"
    assert table.match("DELETE", "/anything")[0].function == "FallbackFunction"


def test_every_template_route_matches_what_a_scan_of_all_routes_matches() -> None:
    table = route_table(default_template())
    for route in table.routes:
        path = route.path.replace("{proxy+}", "a/b").replace("{", "").replace("}", "")
        scanned = next(r for r in table.routes if r.pattern.match(path) and r.method in (route.method, "ANY"))
        assert table.match(route.method if route.method != "ANY" else "GET", path)[0] == scanned, route.route_key


def _scanned(table: RouteTable, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """What a scan of every route, most specific first, matches: the rule the index must keep."""
    for route in table.routes:
        found = route.pattern.match(path)
        if found and route.method in (method, "ANY"):
            return route, found.groupdict()
    return None


def test_the_shape_index_matches_what_a_scan_matches_for_any_method_and_path_length() -> None:
    table = RouteTable(
        [
            *route_table(default_template()).routes,
            Route.build("ANY", "/{proxy+}", "FallbackFunction"),
            Route.build("GET", "/files/{proxy+}", "FilesFunction"),
            Route.build("GET", "/{tenant}/health", "TenantHealthFunction"),
        ]
    )
    paths = {"/", "", "/unknown", "/unknown/a/b", "/files", "/files/a", "/files/a/b/c/d/e/f/g/h/i/j"}
    for route in table.routes:
        concrete = route.path.replace("{proxy+}", "a/b").replace("{", "").replace("}", "")
        paths |= {concrete, concrete + "/", concrete + "/x", concrete + "/x/y/z/w/v/u/t/s/r"}
    checked = 0
    for path in sorted(paths):
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
            assert table.match(method, path) == _scanned(table, method, path), (method, path)
            checked += 1
    assert checked > 1000
