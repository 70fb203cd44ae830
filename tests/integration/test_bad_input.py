"""Bad input is a 400 naming the field, never a 5xx (SPEC §4, §8): bodies that are not UTF-8,
NaN/Infinity, numbers beyond the column's range, NUL characters and unpaired surrogates, nesting
deeper than the limit and oversized bodies — on every route that takes a JSON body (the list comes
from /openapi.json, so a route added later is covered without editing this file)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from molecule_core.platform.openapi import RAW_BODY_EXTENSION
from molecule_core.platform.validation import INT32_MAX, INT64_MAX, MAX_JSON_BODY_BYTES, MAX_JSON_DEPTH

from tests.conftest import ApiClient, RecordingDispatcher, create_workspace

JSON = {"content-type": "application/json"}


def json_body_operations(api: ApiClient) -> list[tuple[str, str]]:
    """(method, path template) of every documented operation whose JSON body the edge parses (all
    but the A2A proxy's, which its normaliser reads: it answers JSON-RPC errors, tested below)."""
    spec = api.get("/openapi.json").json()
    return sorted(
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
        and not operation["requestBody"].get(RAW_BODY_EXTENSION)
    )


def concrete(path: str, workspace_id: str) -> str:
    return path.replace("{workspace_id}", workspace_id).replace("{token_id}", str(uuid.uuid4()))


@pytest.fixture
def workspace(api: ApiClient, dev: str, dispatcher: RecordingDispatcher) -> dict[str, Any]:
    return create_workspace(api, dev, name="target", external=True)


def send_raw(api: ApiClient, method: str, path: str, body: bytes | str, token: str) -> Any:
    return api.request(method, path, body=body, headers=JSON, token=token)


def send_case(
    api: ApiClient, workspace: dict[str, Any], admin: str, method: str, path: str, body: dict[str, Any]
) -> Any:
    """`body` to `path` ({id} = the workspace), as the workspace's agent for registry routes."""
    wire = json.dumps(body).replace("{id}", workspace["id"])
    token = admin if "registry" not in path else workspace["connection"]["auth_token"]
    return send_raw(api, method, path.replace("{id}", workspace["id"]), wire, token)


def test_the_schema_documents_invalid_input_as_the_400_it_is(api: ApiClient, dev: str) -> None:
    spec = api.get("/openapi.json").json()
    operations = json_body_operations(api)

    # the edge checks below run on each of these; the list must not silently be empty
    assert ("POST", "/workspaces") in operations and ("PATCH", "/workspaces/{workspace_id}") in operations
    assert ("POST", "/registry/heartbeat") in operations and len(operations) >= 10
    documented = {
        f"{method.upper()} {path}": sorted(operation["responses"])
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    }
    assert [name for name, statuses in documented.items() if "422" in statuses] == []
    assert all("400" in documented[f"{method} {path}"] for method, path in operations)
    assert spec["components"]["schemas"]["Error"]["required"] == ["error"]


@pytest.mark.parametrize(
    ("label", "body", "message"),
    [
        ("invalid UTF-8", b'{"name":"\xff\xfe"}', "request body is not valid UTF-8"),
        (
            "nesting beyond the limit",
            '{"name":"n","agent_card":' + "[" * 200 + "]" * 200 + "}",
            f"agent_card: nested deeper than {MAX_JSON_DEPTH} levels",
        ),
        ("nesting that breaks the parser", "[" * 100_000 + "]" * 100_000, "request body: nested deeper"),
        ("NaN", '{"name":"n","x":NaN}', "x: must be a finite number"),
        ("a NUL character", '{"name":"n","zzz":"a\\u0000"}', "zzz: NUL characters are not allowed"),
    ],
)
def test_every_json_route_refuses_a_bad_body_with_400(
    api: ApiClient, workspace: dict[str, Any], dev: str, label: str, body: bytes | str, message: str
) -> None:
    failures = {}
    for method, path in json_body_operations(api):
        result = send_raw(api, method, concrete(path, workspace["id"]), body, dev)
        if result.status != 400 or not result.json()["error"].startswith(message):
            failures[f"{method} {path}"] = (result.status, result.text[:200])

    assert failures == {}, label


def test_every_json_route_refuses_an_oversized_body_with_413(
    api: ApiClient, workspace: dict[str, Any], dev: str
) -> None:
    body = '{"name":"' + "x" * MAX_JSON_BODY_BYTES + '"}'
    failures = {}
    for method, path in json_body_operations(api):
        result = send_raw(api, method, concrete(path, workspace["id"]), body, dev)
        if result.status != 413:
            failures[f"{method} {path}"] = (result.status, result.text[:200])

    assert failures == {}


def test_a_body_of_exactly_the_depth_limit_is_accepted(api: ApiClient, workspace: dict[str, Any]) -> None:
    token = workspace["connection"]["auth_token"]
    card: Any = "leaf"
    for _ in range(MAX_JSON_DEPTH - 1):
        card = {"k": card}

    result = api.post(
        "/registry/update-card", json_body={"workspace_id": workspace["id"], "agent_card": card}, token=token
    )

    assert result.status == 200, result.text


def test_a2a_refuses_invalid_utf8_and_deep_nesting_with_a_json_rpc_error(
    api: ApiClient, workspace: dict[str, Any], dev: str
) -> None:
    path = f"/workspaces/{workspace['id']}/a2a"
    deep = {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": {"parts": []}}}
    nested: Any = "x"
    for _ in range(MAX_JSON_DEPTH + 5):
        nested = [nested]
    deep["params"]["message"]["parts"] = [{"kind": "data", "data": {"deep": nested}}]

    not_utf8 = send_raw(api, "POST", path, b'{"jsonrpc":"2.0","id":1,"method":"message/send","x":"\xff"}', dev)
    too_deep = api.post(path, json_body=deep, token=dev)

    assert not_utf8.status == 400 and not_utf8.json()["error"]["code"] == -32700
    assert too_deep.status == 400 and too_deep.json()["error"]["code"] == -32602
    assert too_deep.json()["error"]["message"] == f"params: nested deeper than {MAX_JSON_DEPTH} levels"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/workspaces", {"name": "n", "role": "a\u0000"}, "role"),
        ("POST", "/workspaces", {"name": "a\u0000"}, "name"),
        ("PATCH", "/workspaces/{id}", {"role": "\u0000"}, "role"),
        ("POST", "/registry/heartbeat", {"workspace_id": "{id}", "current_task": "\u0000"}, "current_task"),
        ("POST", "/registry/heartbeat", {"workspace_id": "{id}", "sample_error": "\u0000"}, "sample_error"),
        ("POST", "/registry/heartbeat", {"workspace_id": "{id}", "runtime_state": "\u0000"}, "runtime_state"),
        ("POST", "/registry/register", {"id": "{id}", "url": "remote://\u0000", "agent_card": {}}, "url"),
        ("POST", "/registry/register", {"id": "{id}", "agent_card": {"name": "\u0000"}}, "agent_card.name"),
        ("POST", "/registry/update-card", {"workspace_id": "{id}", "agent_card": {"s": ["\u0000"]}}, "agent_card.s[0]"),
        ("POST", "/workspaces/{id}/activity", {"activity_type": "agent_log", "summary": "\u0000"}, "summary"),
        ("POST", "/workspaces/{id}/activity", {"activity_type": "agent_log", "method": "\u0000"}, "method"),
        ("POST", "/workspaces/{id}/activity", {"activity_type": "agent_log", "status": "\u0000"}, "status"),
        ("POST", "/workspaces/{id}/activity", {"activity_type": "agent_log", "error_detail": "\u0000"}, "error_detail"),
        (
            "POST",
            "/workspaces/{id}/activity",
            {"activity_type": "agent_log", "request_body": {"a": "\u0000"}},
            "request_body.a",
        ),
        (
            "POST",
            "/workspaces/{id}/activity",
            {"activity_type": "agent_log", "tool_trace": ["\u0000"]},
            "tool_trace[0]",
        ),
        (
            "POST",
            "/workspaces/{id}/activity",
            {"activity_type": "agent_log", "idempotency_key": "\u0000"},
            "idempotency_key",
        ),
        ("POST", "/workspaces/{id}/notify", {"message": "hi\u0000"}, "message"),
        (
            "POST",
            "/workspaces/{id}/notify",
            {"message": "hi", "attachments": [{"uri": "\u0000", "name": "n"}]},
            "attachments[0].uri",
        ),
        ("POST", "/workspaces/{id}/expand", {"children": [{"name": "c", "role": "\u0000"}]}, "children[0].role"),
        ("POST", "/org/tokens", {"name": "ops", "created_by": "\u0000"}, "created_by"),
    ],
)
def test_a_nul_character_in_any_stored_field_is_a_400_naming_it(
    api: ApiClient, workspace: dict[str, Any], dev: str, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    result = send_case(api, workspace, dev, method, path, body)

    assert result.status == 400, result.text
    assert result.json() == {"error": f"{field}: NUL characters are not allowed", "field": field}


def test_an_unpaired_surrogate_is_a_400_naming_the_field(api: ApiClient, workspace: dict[str, Any], dev: str) -> None:
    path = f"/workspaces/{workspace['id']}/activity"

    result = send_raw(api, "POST", path, '{"activity_type":"agent_log","response_body":{"t":"\\ud800"}}', dev)

    assert result.status == 400
    assert result.json() == {
        "error": "response_body.t: invalid Unicode (unpaired surrogate)",
        "field": "response_body.t",
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "field", "limit"),
    [
        ("PATCH", "/workspaces/{id}", {"budget_limit": INT64_MAX + 1}, "budget_limit", INT64_MAX),
        (
            "PATCH",
            "/workspaces/{id}",
            {"hibernation_idle_minutes": INT32_MAX + 1},
            "hibernation_idle_minutes",
            INT32_MAX,
        ),
        ("POST", "/workspaces", {"name": "n", "budget_limit": 2**70}, "budget_limit", INT64_MAX),
        (
            "POST",
            "/registry/heartbeat",
            {"workspace_id": "{id}", "active_tasks": INT32_MAX + 1},
            "active_tasks",
            INT32_MAX,
        ),
        (
            "POST",
            "/registry/heartbeat",
            {"workspace_id": "{id}", "uptime_seconds": INT64_MAX + 1},
            "uptime_seconds",
            INT64_MAX,
        ),
        (
            "POST",
            "/registry/heartbeat",
            {"workspace_id": "{id}", "monthly_spend": INT64_MAX + 1},
            "monthly_spend",
            INT64_MAX,
        ),
        (
            "POST",
            "/workspaces/{id}/activity",
            {"activity_type": "agent_log", "duration_ms": INT32_MAX + 1},
            "duration_ms",
            INT32_MAX,
        ),
        (
            "POST",
            "/workspaces/{id}/expand",
            {"children": [{"name": "c", "hibernation_idle_minutes": 2**40}]},
            "children[0].hibernation_idle_minutes",
            INT32_MAX,
        ),
    ],
)
def test_an_integer_beyond_the_columns_range_is_a_400_naming_the_field(
    api: ApiClient,
    workspace: dict[str, Any],
    dev: str,
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
    limit: int,
) -> None:
    result = send_case(api, workspace, dev, method, path, body)

    assert result.status == 400, result.text
    assert result.json() == {"error": f"{field}: Input should be less than or equal to {limit}", "field": field}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused_so_the_fleet_listing_stays_json(
    api: ApiClient, workspace: dict[str, Any], dev: str, literal: str
) -> None:
    patched = send_raw(api, "PATCH", f"/workspaces/{workspace['id']}", f'{{"x":{literal}}}', dev)
    created = send_raw(api, "POST", "/workspaces", f'{{"name":"n","external":true,"y":{literal}}}', dev)
    heartbeat = send_raw(
        api,
        "POST",
        "/registry/heartbeat",
        f'{{"workspace_id":"{workspace["id"]}","error_rate":{literal}}}',
        workspace["connection"]["auth_token"],
    )

    assert (patched.status, patched.json()) == (400, {"error": "x: must be a finite number", "field": "x"})
    assert (created.status, created.json()) == (400, {"error": "y: must be a finite number", "field": "y"})
    assert heartbeat.status == 400 and heartbeat.json()["field"] == "error_rate"
    listing = api.get("/workspaces", token=dev)
    json.loads(listing.body, parse_constant=lambda name: pytest.fail(f"{name} in GET /workspaces"))


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/registry/{id}/peers?q=%00", "q"),
        ("/workspaces/{id}/activity?since_id=%00", "since_id"),
        ("/workspaces/{id}/activity?type=a%00", "type"),
        ("/workspaces/{id}/chat/download?path=/workspace/a%00", "path"),
        ("/events?since_id=%00", "since_id"),
    ],
)
def test_a_nul_in_a_query_parameter_is_a_400_naming_it(
    api: ApiClient, workspace: dict[str, Any], dev: str, path: str, parameter: str
) -> None:
    result = api.get(path.replace("{id}", workspace["id"]), token=dev)

    assert result.status == 400, result.text
    assert result.json()["field"] == parameter and "NUL" in result.json()["error"]


def test_a_removed_workspaces_activity_feed_is_410_like_its_other_routes(
    api: ApiClient, workspace: dict[str, Any], dev: str
) -> None:
    assert api.delete(f"/workspaces/{workspace['id']}", token=dev).status == 200
    feed = f"/workspaces/{workspace['id']}/activity"

    assert api.get(f"/workspaces/{workspace['id']}", token=dev).status == 410
    assert api.get(feed, token=dev).status == 410
    assert api.post(feed, json_body={"activity_type": "agent_log"}, token=dev).status == 410
    assert api.post(f"/workspaces/{workspace['id']}/notify", json_body={"message": "hi"}, token=dev).status == 410
    assert api.get(f"/workspaces/{uuid.uuid4()}/activity", token=dev).status == 404
