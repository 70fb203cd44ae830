"""The API reference tells a client author what every route is and what it answers (issue 20).

Gate: every route in template.yaml is in /openapi.json's document with one domain tag, a one-line
summary of its own, a description, a security declaration (`{}` for none) naming known schemes,
and its refusals: at least one documented error, never Powertools' 422; 401/429/503 wherever a
token is checked; 404 wherever a path names something by id; 413 wherever the edge parses a JSON
body; `Retry-After` on 429 and 503. The declarations live in each route's decorator
(platform.openapi's vocabulary); a new function or route only needs its decorator arguments, and
this test says which ones are missing."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver as PowertoolsHttpResolver
from molecule_core.a2a.normalize import A2AError, normalize_a2a_payload
from molecule_core.platform.http import APIGatewayHttpResolver
from molecule_core.platform.openapi import (
    PUBLIC,
    SECURITY_SCHEME_NAMES,
    TAG_NAMES,
    WORKSPACE_AUTH,
    WORKSPACE_REFUSALS,
    Refusal,
    answers,
    api_reference,
)
from molecule_local.lambdas import FunctionRegistry, module_name_for
from molecule_local.template import default_template
from pydantic import BaseModel, TypeAdapter, ValidationError

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
MAX_SUMMARY = 80
# Statuses every route that checks a token can answer: the token refused, the database it is looked
# up in down. (429 too, where the caller dependency counts the token: the bundles carry it.)
TOKEN_STATUSES = ("401", "503")


def _resolvers() -> dict[str, PowertoolsHttpResolver]:
    registry = FunctionRegistry()
    found = {}
    for spec in default_template().functions.values():
        if spec.routes:
            registry.handler(spec.logical_id)
            found[spec.logical_id] = sys.modules[module_name_for(spec)].app
    return found


@pytest.fixture(scope="module")
def resolvers() -> dict[str, PowertoolsHttpResolver]:
    return _resolvers()


@pytest.fixture(scope="module")
def document(resolvers: dict[str, PowertoolsHttpResolver]) -> dict[str, Any]:
    docs = sys.modules[module_name_for(default_template().functions["DocsFunction"])]
    return dict(json.loads(docs.reference_json()))


def _json_body_routes(resolvers: dict[str, PowertoolsHttpResolver]) -> set[tuple[str, str]]:
    """Routes whose body the edge parses as JSON (a body parameter): they can answer its 413."""
    return {
        (route.method.lower(), route.openapi_path)
        for app in resolvers.values()
        for route in app._static_routes + app._dynamic_routes
        if route.include_in_schema and route.body_field is not None
    }


def operation_violations(
    document: dict[str, Any], method: str, path: str, *, parses_json_body: bool = False
) -> list[str]:
    """What the operation `method path` of `document` lacks, each said as what to add."""
    operation = document.get("paths", {}).get(path, {}).get(method)
    if operation is None:
        return ["not in the document (include_in_schema=False?)"]
    found = []
    tags = operation.get("tags") or []
    if len(tags) != 1 or tags[0] not in TAG_NAMES:
        found.append(f"tags={tags}: give it exactly one of {sorted(TAG_NAMES)} (tags=[openapi.<TAG>])")
    summary = str(operation.get("summary") or "")
    if not summary or summary == f"{method.upper()} {path}":
        found.append("no summary: summary='<what it does, in one line>'")
    elif "\n" in summary or len(summary) > MAX_SUMMARY:
        found.append(f"summary is not one line of at most {MAX_SUMMARY} characters")
    if not str(operation.get("description") or "").strip():
        found.append("no description: description='<what it does; who may call it>'")
    security = operation.get("security")
    if security is None:
        found.append("no security declaration: security=openapi.<WORKSPACE_AUTH|ADMIN_AUTH|…|PUBLIC>")
        security = []
    known = set(document.get("components", {}).get("securitySchemes", {}))
    unknown = {name for requirement in security for name in requirement} - known
    if unknown:
        found.append(f"security names unknown schemes {sorted(unknown)}")
    responses = {str(status): response for status, response in (operation.get("responses") or {}).items()}
    if "422" in responses:
        found.append("documents 422, which the API never answers (its validation failures are 400)")
    errors = [status for status in responses if status[0] in "45" and status != "422"]
    if not errors:
        found.append("documents no error response: responses=openapi.answers({...}, <refusals>)")
    for status in errors:
        content = responses[status].get("content") or {}
        if not responses[status].get("description") or not any("schema" in media for media in content.values()):
            found.append(f"{status} has no description or no body schema")
    checks_a_token = any(requirement for requirement in security)
    if checks_a_token:
        missing = [status for status in TOKEN_STATUSES if status not in responses]
        if missing:
            found.append(f"checks a token but does not document {missing} (openapi.CALLER_REFUSALS or ADMIN_REFUSALS)")
    if "{" in path and "404" not in responses:
        found.append("names something by id in its path but does not document 404")
    if parses_json_body and "413" not in responses:
        found.append("parses a JSON body but does not document its 413 (openapi.JSON_BODY_REFUSALS)")
    for status in ("429", "503"):
        if status in responses and "Retry-After" not in (responses[status].get("headers") or {}):
            found.append(f"{status} does not document its Retry-After header")
    return found


def test_every_templated_route_is_documented_with_tag_summary_security_and_refusals(
    document: dict[str, Any], resolvers: dict[str, PowertoolsHttpResolver]
) -> None:
    json_bodies = _json_body_routes(resolvers)
    report = []
    for spec in default_template().functions.values():
        for route in spec.routes:
            method = route.method.lower()
            lacks = operation_violations(
                document, method, route.path, parses_json_body=(method, route.path) in json_bodies
            )
            report += [f"{spec.logical_id} {route.method} {route.path}: {what}" for what in lacks]
    assert report == [], "\n".join(report)


def test_the_document_declares_the_bearer_schemes_and_the_tags_in_order(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert set(schemes) == set(SECURITY_SCHEME_NAMES)
    assert all(
        scheme == {"type": "http", "scheme": "bearer", "description": scheme["description"]}
        for scheme in schemes.values()
    )
    assert [tag["name"] for tag in document["tags"]][:3] == ["workspaces", "registry", "a2a"]
    used = {tag for item in document["paths"].values() for op in item.values() for tag in op.get("tags", [])}
    assert used <= TAG_NAMES
    assert "HTTPValidationError" not in document["components"]["schemas"]


# The bodies clients write by hand (issue 20): their operations show examples to copy.
HAND_WRITTEN_BODIES = {
    ("post", "/workspaces"),
    ("post", "/registry/register"),
    ("post", "/registry/heartbeat"),
    ("post", "/workspaces/{workspace_id}/a2a"),
    ("post", "/workspaces/{workspace_id}/notify"),
    ("post", "/workspaces/{workspace_id}/delegate"),
    ("post", "/workspaces/{workspace_id}/memories"),
    ("post", "/workspaces/{workspace_id}/memory"),
    ("post", "/workspaces/{workspace_id}/secrets"),
    ("put", "/workspaces/{workspace_id}/secrets"),
    ("post", "/settings/secrets"),
}


def test_the_bodies_clients_write_by_hand_have_examples(document: dict[str, Any]) -> None:
    templated = {(r.method.lower(), r.path) for spec in default_template().functions.values() for r in spec.routes}
    assert sorted(HAND_WRITTEN_BODIES - templated) == [], "listed here but not a route in template.yaml (renamed?)"
    lacking = []
    for method, path in sorted(HAND_WRITTEN_BODIES):
        content = document["paths"][path][method].get("requestBody", {}).get("content", {})
        if not content.get("application/json", {}).get("examples"):
            lacking.append(f"{method.upper()} {path}: Body(openapi_examples={{...}}) on its body parameter")
    assert lacking == [], "\n".join(lacking)
    a2a = document["paths"]["/workspaces/{workspace_id}/a2a"]["post"]["requestBody"]["content"]["application/json"]
    methods = {example["value"]["method"] for example in a2a["examples"].values()}
    assert {"message/send", "message/stream", "tasks/send", "SendMessage"} <= methods  # 0.3, legacy, 1.0
    delegate = document["paths"]["/workspaces/{workspace_id}/delegate"]["post"]["requestBody"]["content"]
    forms = {"target_id" in example["value"] for example in delegate["application/json"]["examples"].values()}
    assert forms == {True, False}  # from the delegator's path, and the SDK's form (the path is the target)


def test_every_request_example_is_a_body_its_route_accepts(
    document: dict[str, Any], resolvers: dict[str, PowertoolsHttpResolver]
) -> None:
    refused, checked = [], 0
    for app in resolvers.values():
        for route in app._static_routes + app._dynamic_routes:
            body = route.body_field
            for name, shown in ((body.field_info.openapi_examples or {}) if body else {}).items():
                checked += 1
                try:
                    TypeAdapter(body.type_).validate_python(shown["value"])
                except ValidationError as exc:
                    refused.append(f"{route.method} {route.path} example {name}: {exc.errors()[0]['msg']}")
    a2a = document["paths"]["/workspaces/{workspace_id}/a2a"]["post"]["requestBody"]["content"]["application/json"]
    for name, shown in a2a["examples"].items():
        try:
            normalize_a2a_payload(json.dumps(shown["value"]).encode())
        except A2AError as exc:
            refused.append(f"POST /workspaces/{{workspace_id}}/a2a example {name}: {exc.message}")
    assert refused == [], "\n".join(refused)
    assert checked >= 20


class _Thing(BaseModel):
    name: str


def _violations_of(app: PowertoolsHttpResolver, method: str, path: str, **kwargs: Any) -> list[str]:
    document = api_reference(app.get_openapi_schema())
    return operation_violations(document, method, path, **kwargs)


def test_the_gate_names_what_an_undocumented_route_lacks() -> None:
    # Given: a route as a new function would write it before documenting it
    app = APIGatewayHttpResolver()

    @app.post("/workspaces/<workspace_id>/things")
    def add_thing(workspace_id: str, body: _Thing) -> dict[str, str]:
        return {}

    # When / Then: the gate says what to add, one line each
    lacks = _violations_of(app, "post", "/workspaces/{workspace_id}/things", parses_json_body=True)
    assert any(line.startswith("tags=[]") for line in lacks)
    assert any(line.startswith("no summary") for line in lacks)
    assert any(line.startswith("no description") for line in lacks)
    assert any(line.startswith("no security declaration") for line in lacks)
    assert any("does not document 404" in line for line in lacks)
    assert any("413" in line for line in lacks)


def _workspace_route(*refusals: Refusal) -> list[str]:
    """What the gate says of a documented GET /workspaces/{workspace_id}/things with `refusals`."""
    app = APIGatewayHttpResolver()

    @app.get(
        "/workspaces/<workspace_id>/things",
        tags=["workspaces"],
        summary="List things",
        description="Things. Caller: the workspace's token.",
        security=WORKSPACE_AUTH,
        responses=answers({200: "The things"}, *refusals),
    )
    def list_things(workspace_id: str) -> list[str]:
        return []

    return _violations_of(app, "get", "/workspaces/{workspace_id}/things")


def test_the_gate_wants_the_token_refusals_wherever_a_token_is_checked() -> None:
    lacks = _workspace_route(Refusal(404, "No such workspace", {"error": "workspace not found"}))

    assert lacks == ["checks a token but does not document ['401', '503'] (openapi.CALLER_REFUSALS or ADMIN_REFUSALS)"]


def test_a_route_documented_with_the_vocabulary_passes_the_gate() -> None:
    assert _workspace_route(*WORKSPACE_REFUSALS) == []


def test_the_edges_400_is_the_error_every_validating_route_documents() -> None:
    app = APIGatewayHttpResolver()

    @app.get("/ping", tags=["platform"], summary="Ping", description="Pong.", security=PUBLIC)
    def ping() -> dict[str, str]:
        return {}

    assert _violations_of(app, "get", "/ping") == []
    assert "400" in api_reference(app.get_openapi_schema())["paths"]["/ping"]["get"]["responses"]
