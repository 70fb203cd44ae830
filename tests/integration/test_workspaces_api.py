"""Workspaces: create (external with/without URL, managed without a backend), list, get, state,
patch, delete (cascade, confirm, purge) — SPEC §5.1 and §4.2, against real PostgreSQL."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.conftest import ApiClient, create_workspace, set_env


def _db_row(database: str, workspace_id: str) -> dict | None:
    with psycopg.connect(database) as conn:
        cur = conn.execute(
            "SELECT status::text, platform_inbound_secret, last_sample_error, removed_at FROM workspaces WHERE id = %s",
            (workspace_id,),
        )
        row = cur.fetchone()
    return None if row is None else dict(zip(["status", "secret", "error", "removed_at"], row, strict=True))


def _live_tokens(database: str, workspace_id: str) -> int:
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT count(*) FROM workspace_auth_tokens WHERE workspace_id = %s AND revoked_at IS NULL",
            (workspace_id,),
        ).fetchone()
    return int(row[0]) if row else 0


def _event_types(api: ApiClient, admin: str, workspace_id: str) -> list[str]:
    return [e["event_type"] for e in api.get(f"/events/{workspace_id}", token=admin).json()]


# --- create ---------------------------------------------------------------------------------------


def test_external_without_url_awaits_agent_and_returns_connection_block(api: ApiClient, admin: str) -> None:
    result = api.post("/workspaces", json_body={"name": "laptop", "external": True}, token=admin)
    assert result.status == 201
    body = result.json()
    assert body["status"] == "awaiting_agent"
    assert body["runtime"] == "external"
    connection = body["connection"]
    assert set(connection) == {
        "workspace_id",
        "platform_url",
        "auth_token",
        "registry_endpoint",
        "heartbeat_endpoint",
        "curl_register_template",
        "python_snippet",
        "claude_code_channel_snippet",
    }
    token = connection["auth_token"]
    assert len(token) == 43
    assert connection["registry_endpoint"] == "http://127.0.0.1:8080/registry/register"
    for snippet in ("curl_register_template", "python_snippet", "claude_code_channel_snippet"):
        assert token in connection[snippet]
        assert body["id"] in connection[snippet]
    # the minted token really authenticates as this workspace
    assert api.get(f"/workspaces/{body['id']}", token=token).status == 200
    assert "platform_inbound_secret" not in body


def _env_lines(snippet: str) -> dict[str, str]:
    """KEY=value lines as a dotenv reader (the channel plugin's .env) sees them; comments skipped."""
    pairs = (line.split("=", 1) for line in snippet.splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def test_channel_snippet_configures_the_plugin_with_the_variables_it_reads(api: ApiClient, admin: str) -> None:
    body = create_workspace(api, admin, name="claude", external=True)
    snippet = body["connection"]["claude_code_channel_snippet"]
    env = _env_lines(snippet)
    # The plugin reads comma-separated lists and exits 1 without them (MOLECULE_WORKSPACE_ID and
    # MOLECULE_AUTH_TOKEN are not its variables).
    assert env == {
        "MOLECULE_PLATFORM_URL": "http://127.0.0.1:8080",
        "MOLECULE_WORKSPACE_IDS": body["id"],
        "MOLECULE_WORKSPACE_TOKENS": body["connection"]["auth_token"],
    }
    assert len(env["MOLECULE_WORKSPACE_IDS"].split(",")) == len(env["MOLECULE_WORKSPACE_TOKENS"].split(","))
    # Installed as its README says: a Claude Code plugin from its marketplace, run with bun — never
    # through an npm package name (none exists).
    assert "/plugin marketplace add Molecule-AI/molecule-mcp-claude-channel" in snippet
    assert "/plugin install molecule-channel@molecule-mcp-claude-channel" in snippet
    assert "~/.claude/channels/molecule/.env" in snippet
    assert "bun" in snippet
    assert "npx" not in snippet and "npm" not in snippet


def test_python_snippet_is_valid_python(api: ApiClient, admin: str) -> None:
    body = create_workspace(api, admin, name='quote " name', external=True)
    compile(body["connection"]["python_snippet"], "<snippet>", "exec")


def test_platform_url_setting_shapes_the_connection_block(
    api: ApiClient, admin: str, platform_env: pytest.MonkeyPatch
) -> None:
    set_env(platform_env, PLATFORM_URL="https://molecule.example.com/")
    connection = create_workspace(api, admin, name="x", external=True)["connection"]
    assert connection["platform_url"] == "https://molecule.example.com"
    assert connection["heartbeat_endpoint"] == "https://molecule.example.com/registry/heartbeat"


def test_external_with_url_is_online_without_connection_block(
    api: ApiClient, admin: str, platform_env: pytest.MonkeyPatch
) -> None:
    body = create_workspace(api, admin, name="remote", external=True, url="https://93.184.216.34/agent")
    assert body["status"] == "online"
    assert body["url"] == "https://93.184.216.34/agent"
    assert body["connection"] is None


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9000", "http://169.254.169.254/latest", "ftp://93.184.216.34", "http://10.0.0.5"],
)
def test_external_with_unsafe_url_is_400_and_creates_nothing(api: ApiClient, admin: str, url: str) -> None:
    result = api.post("/workspaces", json_body={"name": "bad", "external": True, "url": url}, token=admin)
    assert result.status == 400
    assert "invalid agent url" in result.json()["error"]
    assert api.get("/workspaces", token=admin).json() == []


def test_runtime_external_implies_external(api: ApiClient, admin: str) -> None:
    body = create_workspace(api, admin, name="cli", runtime="external")
    assert body["external"] is True
    assert body["status"] == "awaiting_agent"


def test_managed_workspace_without_backend_fails_with_readable_error(api: ApiClient, admin: str, database: str) -> None:
    body = create_workspace(api, admin, name="managed", runtime="langgraph")
    assert body["status"] == "failed"
    assert "no provisioner backend is configured" in body["last_sample_error"]
    row = _db_row(database, body["id"])
    assert row is not None and row["status"] == "failed"
    # secrets were minted before the backend was asked to start anything
    assert row["secret"] and len(row["secret"]) == 43
    assert _live_tokens(database, body["id"]) == 1
    assert _event_types(api, admin, body["id"]) == ["WORKSPACE_PROVISION_FAILED", "WORKSPACE_PROVISIONING"]


def test_managed_workspace_with_unavailable_backend_names_it(
    api: ApiClient, admin: str, platform_env: pytest.MonkeyPatch
) -> None:
    set_env(platform_env, PROVISIONER_BACKEND="ecs")
    body = create_workspace(api, admin, name="managed")
    assert body["status"] == "failed"
    assert "'ecs'" in body["last_sample_error"]


def test_url_is_refused_for_managed_workspaces(api: ApiClient, admin: str) -> None:
    result = api.post("/workspaces", json_body={"name": "m", "url": "https://93.184.216.34"}, token=admin)
    assert result.status == 400


def test_create_defaults(api: ApiClient, admin: str) -> None:
    body = create_workspace(api, admin, name="defaults", external=True, tier=0)
    assert body["tier"] == 3
    assert body["max_concurrent_tasks"] == 1
    assert body["agent_card"] is None
    assert body["parent_id"] is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": "bad\nname"}, "name"),
        ({"name": "ok", "tier": 9}, "tier"),
        ({"name": "ok", "max_concurrent_tasks": 0}, "max_concurrent_tasks"),
        ({"name": "ok", "delivery_mode": "carrier-pigeon"}, "delivery_mode"),
        ({"name": "ok", "parent_id": "not-a-uuid"}, "parent_id"),
        ({"name": "ok", "runtime": "Bad Runtime!"}, "runtime"),
        ({"name": "ok", "role": "r" * 256}, "role"),
        ({"name": "ok", "role": "bad\x07role"}, "role"),
        ({"name": "ok", "role": "two\nlines"}, "role"),
    ],
)
def test_invalid_create_is_400_naming_the_field(api: ApiClient, admin: str, payload: dict, field: str) -> None:
    result = api.post("/workspaces", json_body=payload, token=admin)
    assert result.status == 400
    body = result.json()
    assert body["field"] == field
    assert body["error"].startswith(f"{field}:")
    assert api.get("/workspaces", token=admin).json() == []


def test_malformed_json_is_400(api: ApiClient, admin: str) -> None:
    result = api.post("/workspaces", body="{not json", headers={"content-type": "application/json"}, token=admin)
    assert result.status == 400
    assert "error" in result.json()


def test_parent_must_exist_and_not_be_removed(api: ApiClient, admin: str) -> None:
    missing = api.post(
        "/workspaces", json_body={"name": "c", "external": True, "parent_id": str(uuid.uuid4())}, token=admin
    )
    assert missing.status == 400
    assert missing.json()["field"] == "parent_id"
    parent = create_workspace(api, admin, name="p", external=True)
    assert api.delete(f"/workspaces/{parent['id']}", token=admin).status == 200
    removed = api.post("/workspaces", json_body={"name": "c", "external": True, "parent_id": parent["id"]}, token=admin)
    assert removed.status == 400


# --- list / get / state ----------------------------------------------------------------------------


def test_list_is_oldest_first_and_skips_removed(api: ApiClient, admin: str) -> None:
    assert api.get("/workspaces", token=admin).json() == []
    ids = [create_workspace(api, admin, name=f"w{i}", external=True)["id"] for i in range(3)]
    api.delete(f"/workspaces/{ids[1]}", token=admin)
    assert [w["id"] for w in api.get("/workspaces", token=admin).json()] == [ids[0], ids[2]]


def test_get_unknown_or_malformed_id_is_404(api: ApiClient, admin: str) -> None:
    assert api.get(f"/workspaces/{uuid.uuid4()}", token=admin).status == 404
    assert api.get("/workspaces/not-a-uuid", token=admin).json() == {"error": "workspace not found"}


def test_get_removed_workspace_is_410_with_hint(api: ApiClient, admin: str) -> None:
    workspace_id = create_workspace(api, admin, name="gone", external=True)["id"]
    api.delete(f"/workspaces/{workspace_id}", token=admin)
    result = api.get(f"/workspaces/{workspace_id}", token=admin)
    assert result.status == 410
    body = result.json()
    assert body["id"] == workspace_id
    assert body["removed_at"]
    assert body["hint"]


def test_state(api: ApiClient, admin: str) -> None:
    workspace_id = create_workspace(api, admin, name="s", external=True)["id"]
    assert api.get(f"/workspaces/{workspace_id}/state", token=admin).json() == {
        "workspace_id": workspace_id,
        "status": "awaiting_agent",
        "paused": False,
        "deleted": False,
    }
    api.delete(f"/workspaces/{workspace_id}", token=admin)
    gone = api.get(f"/workspaces/{workspace_id}/state", token=admin)
    assert gone.status == 404
    assert gone.json()["deleted"] is True


# --- patch ------------------------------------------------------------------------------------------


def test_patch_changes_only_the_fields_sent(api: ApiClient, admin: str) -> None:
    created = create_workspace(api, admin, name="before", external=True, role="writer", budget_limit=500)
    result = api.patch(
        f"/workspaces/{created['id']}",
        json_body={
            "name": "after",
            "x": 10.5,
            "collapsed": True,
            "budget_limit": None,
            "delivery_mode": "poll",
        },
        token=admin,
    )
    assert result.status == 200
    assert result.json() == {"status": "updated"}
    after = api.get(f"/workspaces/{created['id']}", token=admin).json()
    assert (after["name"], after["x"], after["collapsed"], after["budget_limit"], after["delivery_mode"]) == (
        "after",
        10.5,
        True,
        None,
        "poll",
    )
    assert after["role"] == "writer"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"status": "online"},
        {"name": None},
        {"max_concurrent_tasks": 0},
        {"delivery_mode": "x"},
        {"tier": 7},
    ],
)
def test_invalid_patch_is_400_and_changes_nothing(api: ApiClient, admin: str, payload: dict) -> None:
    created = create_workspace(api, admin, name="keep", external=True)
    result = api.patch(f"/workspaces/{created['id']}", json_body=payload, token=admin)
    assert result.status == 400
    assert api.get(f"/workspaces/{created['id']}", token=admin).json()["updated_at"] == created["updated_at"]


@pytest.mark.parametrize("role", ["r" * 256, "tab\there", "nul\x00"])
def test_patch_refuses_a_bad_role_naming_it(api: ApiClient, admin: str, role: str) -> None:
    created = create_workspace(api, admin, name="keep", external=True, role="writer")
    result = api.patch(f"/workspaces/{created['id']}", json_body={"role": role}, token=admin)
    assert result.status == 400
    assert result.json()["field"] == "role"
    assert result.json()["error"].startswith("role:")
    assert api.get(f"/workspaces/{created['id']}", token=admin).json()["role"] == "writer"
    assert api.patch(f"/workspaces/{created['id']}", json_body={"role": "r" * 255}, token=admin).status == 200


def test_patch_by_the_workspace_itself(api: ApiClient, admin: str) -> None:
    created = create_workspace(api, admin, name="self", external=True)
    token = created["connection"]["auth_token"]
    assert api.patch(f"/workspaces/{created['id']}", json_body={"x": 1}, token=token).status == 200


def test_patch_unknown_is_404_and_removed_is_410(api: ApiClient, admin: str) -> None:
    assert api.patch(f"/workspaces/{uuid.uuid4()}", json_body={"x": 1}, token=admin).status == 404
    created = create_workspace(api, admin, name="r", external=True)
    api.delete(f"/workspaces/{created['id']}", token=admin)
    assert api.patch(f"/workspaces/{created['id']}", json_body={"name": "zombie"}, token=admin).status == 410
    assert api.get(f"/workspaces/{created['id']}", token=admin).json()["id"] == created["id"]


# --- delete -----------------------------------------------------------------------------------------


def _tree(api: ApiClient, admin: str) -> dict[str, str]:
    root = create_workspace(api, admin, name="root", external=True)["id"]
    child = create_workspace(api, admin, name="child", external=True, parent_id=root)["id"]
    grandchild = create_workspace(api, admin, name="grandchild", external=True, parent_id=child)["id"]
    return {"root": root, "child": child, "grandchild": grandchild}


def test_delete_with_children_needs_confirm(api: ApiClient, admin: str, database: str) -> None:
    tree = _tree(api, admin)
    result = api.delete(f"/workspaces/{tree['root']}", token=admin)
    assert result.status == 409
    children = result.json()["children"]
    assert {c["id"] for c in children} == {tree["child"], tree["grandchild"]}
    assert all(_db_row(database, i)["status"] == "awaiting_agent" for i in tree.values())


def test_delete_with_confirm_cascades(api: ApiClient, admin: str, database: str) -> None:
    tree = _tree(api, admin)
    result = api.delete(f"/workspaces/{tree['root']}?confirm=true", token=admin)
    assert result.status == 200
    assert result.json() == {"status": "removed", "cascade_deleted": 2, "purged": False}
    for workspace_id in tree.values():
        row = _db_row(database, workspace_id)
        assert row["status"] == "removed" and row["removed_at"] is not None
        assert _live_tokens(database, workspace_id) == 0
        assert "WORKSPACE_REMOVED" in _event_types(api, admin, workspace_id)


def test_delete_leaf_needs_no_confirm(api: ApiClient, admin: str) -> None:
    tree = _tree(api, admin)
    result = api.delete(f"/workspaces/{tree['grandchild']}", token=admin)
    assert result.json()["cascade_deleted"] == 0
    # the parent now has no live children
    assert api.delete(f"/workspaces/{tree['child']}", token=admin).status == 200


def test_purge_hard_deletes(api: ApiClient, admin: str, database: str) -> None:
    tree = _tree(api, admin)
    result = api.delete(f"/workspaces/{tree['root']}?confirm=true&purge=true", token=admin)
    assert result.status == 200
    assert result.json()["purged"] is True
    assert all(_db_row(database, i) is None for i in tree.values())
    assert api.get(f"/workspaces/{tree['root']}", token=admin).status == 404


def test_delete_unknown_is_404_and_needs_admin(api: ApiClient, admin: str) -> None:
    assert api.delete(f"/workspaces/{uuid.uuid4()}", token=admin).status == 404
    created = create_workspace(api, admin, name="mine", external=True)
    token = created["connection"]["auth_token"]
    assert api.delete(f"/workspaces/{created['id']}", token=token).status == 401


def test_delete_is_idempotent_on_a_removed_workspace(api: ApiClient, admin: str) -> None:
    created = create_workspace(api, admin, name="twice", external=True)
    assert api.delete(f"/workspaces/{created['id']}", token=admin).status == 200
    again = api.delete(f"/workspaces/{created['id']}", token=admin)
    assert again.status == 200
    assert again.json()["cascade_deleted"] == 0
