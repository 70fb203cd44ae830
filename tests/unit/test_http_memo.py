"""`platform.http.memoise_route_analysis`: what Powertools works out about a route on every request
(its `Depends()` tree, whether each query and header parameter is a scalar) is worked out once; and
`HttpApiEvent`: a request's case-insensitive headers are built once. The answers themselves are
Powertools' — every route test runs through both."""

from __future__ import annotations

import typing
from typing import Annotated, Any

import pytest
from aws_lambda_powertools.event_handler import depends
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi import compat
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.utilities.data_classes import common
from molecule_core.platform import http
from molecule_local.gateway import build_http_event
from molecule_local.lambdas import LocalContext


def _who(request: Request) -> str:
    return str(request.resolved_event.headers.get("x-who") or "nobody")


def _app() -> http.APIGatewayHttpResolver:
    app = http.APIGatewayHttpResolver()

    @app.get("/things")
    def things(
        who: Annotated[str, Depends(_who)],
        colour: Annotated[str | None, Query(max_length=8)] = None,
        size: Annotated[int, Query(ge=1)] = 1,
        tag: Annotated[str | None, Header(alias="x-tag")] = None,
    ) -> dict[str, Any]:
        agent = app.current_event.headers.get("User-Agent")  # a route reads the same headers
        return {"who": who, "colour": colour, "size": size, "tag": tag, "agent": agent}

    return app


def _get(app: http.APIGatewayHttpResolver, query: str, headers: dict[str, str]) -> dict[str, Any]:
    event = build_http_event("GET", "/things", route_key="GET /things", query=query, headers=headers)
    return app.resolve(event, LocalContext("Test", 3))


def test_the_memo_is_in_place_once_a_validating_resolver_exists() -> None:
    _app()
    assert getattr(depends.build_dependency_tree, "memoised", False), "Powertools changed: see memoise_route_analysis"
    assert getattr(depends.get_type_hints, "memoised", False), "Powertools changed: see memoise_route_analysis"
    assert http.memoise_route_analysis() is False  # once is enough: not wrapped twice


def test_a_route_is_analysed_once_and_answers_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"annotation reads": 0, "scalar checks": 0, "type hints": 0}
    read_annotation, is_scalar = depends._get_depends_from_annotation, compat.field_annotation_is_scalar
    type_hints = typing.get_type_hints

    def counted_hints(*args: Any, **kwargs: Any) -> Any:  # also what calling a dependency does per request
        calls["type hints"] += 1
        return type_hints(*args, **kwargs)

    def counted_read(*args: Any, **kwargs: Any) -> Any:  # what building a dependency tree does per parameter
        calls["annotation reads"] += 1
        return read_annotation(*args, **kwargs)

    def counted_is_scalar(*args: Any, **kwargs: Any) -> Any:
        calls["scalar checks"] += 1
        return is_scalar(*args, **kwargs)

    monkeypatch.setattr(depends, "_get_depends_from_annotation", counted_read)
    monkeypatch.setattr(compat, "field_annotation_is_scalar", counted_is_scalar)
    monkeypatch.setattr(typing, "get_type_hints", counted_hints)
    app = _app()

    first = _get(app, "colour=red&size=3", {"x-who": "ann", "x-tag": "t1"})
    after_first = dict(calls)
    answers = [_get(app, f"colour=c{i}&size={i + 1}", {"x-who": f"w{i}", "x-tag": f"t{i}"}) for i in range(5)]

    assert first["statusCode"] == 200 and '"who":"ann"' in first["body"] and '"size":3' in first["body"]
    assert [a["statusCode"] for a in answers] == [200] * 5
    assert '"who":"w4"' in answers[-1]["body"] and '"tag":"t4"' in answers[-1]["body"]
    assert all(after_first.values()), after_first  # the first request worked them out
    assert calls == after_first  # and no request after it did again


def test_a_bad_parameter_is_still_refused_through_the_memo() -> None:
    app = _app()

    too_long = _get(app, "colour=ultraviolet", {})
    too_small = _get(app, "size=0", {})

    assert (too_long["statusCode"], too_small["statusCode"]) == (400, 400)
    assert '"field":"colour"' in too_long["body"] and '"field":"size"' in too_small["body"]


def test_a_request_builds_its_case_insensitive_headers_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built = {"header dicts": 0}
    build = common.CaseInsensitiveDict.__init__

    def counted_build(self: Any, *args: Any, **kwargs: Any) -> None:
        built["header dicts"] += 1
        build(self, *args, **kwargs)

    app = _app()
    _get(app, "", {"x-who": "warm-up"})  # the memo's first request
    monkeypatch.setattr(common.CaseInsensitiveDict, "__init__", counted_build)

    answer = _get(app, "colour=red", {"X-Who": "ann", "X-Tag": "t1"})

    assert answer["statusCode"] == 200 and '"who":"ann"' in answer["body"] and '"tag":"t1"' in answer["body"]
    assert type(app.current_event) is http.HttpApiEvent, "Powertools changed: see HttpApiEvent"
    # One: the request's headers, read by the dependency, the header parameter's validation and the
    # route. The validation builds two of its own (`resolved_headers_field`, and one over the
    # multi-value headers HTTP API events do not have).
    assert built["header dicts"] == 3
