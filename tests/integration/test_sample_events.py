"""The sample events in events/ (what `sam local invoke -e` and these tests feed the handlers) are
real API Gateway v2 events that the functions answer correctly."""

from __future__ import annotations

import json
from pathlib import Path

from molecule_local.gateway import response_from_lambda
from molecule_local.lambdas import FunctionRegistry

from tests.conftest import ADMIN

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _load(name: str) -> dict:
    event = json.loads((EVENTS / name).read_text())
    if "authorization" in event.get("headers", {}):
        event["headers"]["authorization"] = f"Bearer {ADMIN}"
    return event


def test_health_event(database: str, functions: FunctionRegistry) -> None:
    result = response_from_lambda(functions.invoke("HealthFunction", _load("http_get_health.json")))
    assert result.status == 200
    assert result.json() == {"status": "ok", "database": "ok"}


def test_create_and_list_events(database: str, functions: FunctionRegistry, admin: str) -> None:
    created = response_from_lambda(functions.invoke("WorkspacesFunction", _load("http_post_workspace_external.json")))
    assert created.status == 201
    assert created.json()["name"] == "laptop agent"
    listed = response_from_lambda(functions.invoke("WorkspacesFunction", _load("http_get_workspaces.json")))
    assert [w["id"] for w in listed.json()] == [created.json()["id"]]


def test_every_http_sample_event_has_a_templated_route(functions: FunctionRegistry) -> None:
    routes = {f"{r.method} {r.path}" for spec in functions.template.functions.values() for r in spec.routes}
    for path in EVENTS.glob("http_*.json"):
        event = json.loads(path.read_text())
        assert event["version"] == "2.0"
        assert event["routeKey"] in routes, f"{path.name}: {event['routeKey']} is not in template.yaml"
