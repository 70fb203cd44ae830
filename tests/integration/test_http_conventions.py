"""Platform-wide HTTP conventions (SPEC §4): health, docs, compact JSON errors, never a trace."""

from __future__ import annotations

import json

import pytest
from molecule_core.platform.http import compact_json
from molecule_core.workspaces import service as workspaces
from molecule_local.template import default_template

from tests.conftest import ApiClient


def test_health_and_deep_health(api: ApiClient) -> None:
    assert api.get("/health").body == b'{"status":"ok"}'
    deep = api.get("/health?deep=true")
    assert deep.status == 200
    assert deep.json() == {"status": "ok", "database": "ok"}


def test_openapi_merges_every_templated_route(api: ApiClient) -> None:
    result = api.get("/openapi.json")
    assert result.status == 200
    document = result.json()
    assert document["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    templated = {(route.method, route.path) for spec in default_template().functions.values() for route in spec.routes}
    assert templated <= documented, templated - documented
    assert result.body == compact_json(document).encode()


def test_swagger_ui_is_served(api: ApiClient) -> None:
    result = api.get("/docs")
    assert result.status == 200
    assert result.headers["content-type"].startswith("text/html")
    assert b"swagger" in result.body.lower()


def test_swagger_ui_shows_the_document_openapi_json_serves(api: ApiClient) -> None:
    served = api.get("/openapi.json").json()

    page = api.get("/docs").text
    embedded = page[page.index("spec: ") + len("spec: ") : page.index(",\n    presets:")]

    assert json.loads(embedded) == served  # 400 not 422, the security schemes: one document
    assert api.get("/docs?format=json").json() == served
    assert "persistAuthorization: true" in page


def test_unknown_route_is_404_json(api: ApiClient) -> None:
    result = api.get("/no/such/route")
    assert result.status == 404
    assert result.json()


def test_responses_are_compact_json(api: ApiClient, admin: str) -> None:
    result = api.post("/workspaces", json_body={}, token=admin)
    assert result.headers["content-type"] == "application/json"
    assert result.body == b'{"error":"name: field required","field":"name"}'


def test_unexpected_error_is_500_without_a_trace(api: ApiClient, admin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode() -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(workspaces, "list_workspaces", explode)
    result = api.get("/workspaces", token=admin)
    assert result.status == 500
    assert result.json() == {"error": "internal error"}
    assert b"secret internal detail" not in result.body
    assert b"Traceback" not in result.body


def test_a_form_body_is_a_400_naming_what_is_missing(api: ApiClient, admin: str) -> None:
    # Bodies are JSON: a client that forgets Content-Type gets a clear 400, nothing is created.
    result = api.post(
        "/workspaces", body='{"name":"x"}', headers={"content-type": "application/x-www-form-urlencoded"}, token=admin
    )
    assert result.status == 400
    assert result.json()["field"] == "name"
    assert api.get("/workspaces", token=admin).json() == []
