"""Register, heartbeat, update-card, discover, peers, check-access (SPEC §5.2, §5.3, §5.8) against
real PostgreSQL through the registry function."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from tests.conftest import ApiClient, create_workspace, set_env

PUBLIC_URL = "https://93.184.216.34/agent"


def _row(database: str, workspace_id: str) -> dict[str, Any]:
    with psycopg.connect(database) as conn:
        cur = conn.execute(
            "SELECT status::text AS status, url, delivery_mode, agent_card, last_heartbeat_at, active_tasks,"
            " last_error_rate, current_task, platform_inbound_secret FROM workspaces WHERE id = %s",
            (workspace_id,),
        )
        names = [d.name for d in cur.description or []]
        row = cur.fetchone()
    assert row is not None
    return dict(zip(names, row, strict=True))


def _live_tokens(database: str, workspace_id: str) -> int:
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT count(*) FROM workspace_auth_tokens WHERE workspace_id = %s AND revoked_at IS NULL",
            (workspace_id,),
        ).fetchone()
    return int(row[0]) if row else 0


def _events(database: str, workspace_id: str) -> list[tuple[str, dict]]:
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT event_type, payload FROM structure_events WHERE workspace_id = %s ORDER BY seq",
            (workspace_id,),
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def _tokenless_workspace(database: str, admin: str, api: ApiClient, **fields: Any) -> str:
    """An external workspace whose creation token was revoked: it has no live token."""
    created = create_workspace(api, admin, name=fields.pop("name", "agent"), external=True, **fields)
    with psycopg.connect(database) as conn:
        conn.execute("UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = %s", (created["id"],))
    return str(created["id"])


# --- register: token rule ------------------------------------------------------------------------------


def test_first_register_of_tokenless_workspace_returns_a_token_once(api: ApiClient, admin: str, database: str) -> None:
    workspace_id = _tokenless_workspace(database, admin, api)
    first = api.post("/registry/register", json_body={"id": workspace_id, "url": "remote://no-inbound"})
    assert first.status == 200
    body = first.json()
    assert body["status"] == "registered"
    token = body["auth_token"]
    assert len(token) == 43
    assert _live_tokens(database, workspace_id) == 1
    # the new token is now required, and re-register never mints a second one
    assert api.post("/registry/register", json_body={"id": workspace_id}).status == 401
    again = api.post("/registry/register", json_body={"id": workspace_id}, token=token)
    assert again.status == 200
    assert "auth_token" not in again.json()
    assert _live_tokens(database, workspace_id) == 1


def test_register_with_another_workspaces_token_is_401(api: ApiClient, admin: str) -> None:
    first = create_workspace(api, admin, name="a", external=True)
    second = create_workspace(api, admin, name="b", external=True)
    result = api.post("/registry/register", json_body={"id": first["id"]}, token=second["connection"]["auth_token"])
    assert result.status == 401
    assert result.json() == {"error": "invalid workspace auth token"}


def test_register_without_token_when_workspace_has_one_is_401(api: ApiClient, admin: str) -> None:
    created = create_workspace(api, admin, name="a", external=True)
    result = api.post("/registry/register", json_body={"id": created["id"]})
    assert result.status == 401
    # What to do, not only what is wrong (SPEC §4.3)
    assert result.json() == {
        "error": "missing workspace auth token",
        "hint": "this workspace already has a token: send it as Authorization: Bearer <token>",
    }


def test_register_with_a_wrong_token_has_no_hint(api: ApiClient, admin: str) -> None:
    created = create_workspace(api, admin, name="a", external=True)
    result = api.post("/registry/register", json_body={"id": created["id"]}, token="not-this-one")
    assert (result.status, result.json()) == (401, {"error": "invalid workspace auth token"})


def test_admin_token_is_not_a_workspace_token_for_register(api: ApiClient, admin: str) -> None:
    created = create_workspace(api, admin, name="a", external=True)
    assert api.post("/registry/register", json_body={"id": created["id"]}, token=admin).status == 401


def test_unknown_workspace_is_404_and_nothing_is_created(api: ApiClient, admin: str, database: str) -> None:
    result = api.post("/registry/register", json_body={"id": str(uuid.uuid4()), "url": PUBLIC_URL})
    assert result.status == 404
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM workspaces").fetchone() == (0,)


def test_removed_workspace_is_never_resurrected(api: ApiClient, admin: str, database: str) -> None:
    created = create_workspace(api, admin, name="a", external=True)
    token = created["connection"]["auth_token"]
    api.delete(f"/workspaces/{created['id']}", token=admin)
    # its tokens are revoked, so the register looks token-less: it must still be refused
    result = api.post("/registry/register", json_body={"id": created["id"], "url": PUBLIC_URL}, token=token)
    assert result.status == 410
    assert _row(database, created["id"])["status"] == "removed"
    assert _live_tokens(database, created["id"]) == 0


def test_register_validates_body(api: ApiClient, admin: str) -> None:
    assert api.post("/registry/register", json_body={"url": PUBLIC_URL}).status == 400
    assert api.post("/registry/register", json_body={"id": "not-a-uuid"}).status == 400
    created = create_workspace(api, admin, name="a", external=True)
    bad_mode = api.post(
        "/registry/register",
        json_body={"id": created["id"], "delivery_mode": "smoke-signals"},
        token=created["connection"]["auth_token"],
    )
    assert bad_mode.status == 400
    assert bad_mode.json()["field"] == "delivery_mode"


# --- register: delivery mode and URL ----------------------------------------------------------------


def _register(api: ApiClient, workspace: dict, **body: Any) -> Any:
    return api.post(
        "/registry/register",
        json_body={"id": workspace["id"], **body},
        token=workspace["connection"]["auth_token"],
    )


def test_non_http_url_without_mode_means_poll(api: ApiClient, admin: str, database: str) -> None:
    created = create_workspace(api, admin, name="cli", runtime="langgraph", external=True)
    result = _register(api, created, url="remote://no-inbound", agent_card={"name": "cli"})
    assert result.status == 200
    assert result.json()["delivery_mode"] == "poll"
    row = _row(database, created["id"])
    assert (row["status"], row["delivery_mode"], row["url"]) == ("online", "poll", "remote://no-inbound")
    assert row["agent_card"] == {"name": "cli"}
    assert row["last_heartbeat_at"] is not None


def test_external_runtime_defaults_to_poll_even_with_http_url(api: ApiClient, admin: str) -> None:
    created = create_workspace(api, admin, name="ext", external=True)
    assert _register(api, created, url=PUBLIC_URL).json()["delivery_mode"] == "poll"


def test_payload_mode_wins_then_stored_mode(api: ApiClient, admin: str, database: str) -> None:
    created = create_workspace(api, admin, name="ext", external=True)
    assert _register(api, created, url=PUBLIC_URL, delivery_mode="push").json()["delivery_mode"] == "push"
    # no mode in the payload: the stored push is kept
    assert _register(api, created).json()["delivery_mode"] == "push"
    assert _row(database, created["id"])["url"] == PUBLIC_URL


def test_push_requires_an_http_url(api: ApiClient, admin: str) -> None:
    created = create_workspace(api, admin, name="ext", external=True)
    result = _register(api, created, delivery_mode="push")
    assert result.status == 400
    assert result.json()["field"] == "url"
    assert _register(api, created, delivery_mode="push", url="remote://x").status == 400


def test_poll_needs_no_url(api: ApiClient, admin: str) -> None:
    created = create_workspace(api, admin, name="ext", external=True)
    assert _register(api, created, delivery_mode="poll").status == 200


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000", "http://169.254.169.254/", "http://[::ffff:10.0.0.1]/"])
def test_unsafe_url_is_400_and_changes_nothing(api: ApiClient, admin: str, database: str, url: str) -> None:
    created = create_workspace(api, admin, name="ext", external=True)
    result = _register(api, created, url=url, delivery_mode="push")
    assert result.status == 400
    assert "invalid agent url" in result.json()["error"]
    assert _row(database, created["id"])["status"] == "awaiting_agent"


def test_loopback_is_allowed_in_development(api: ApiClient, admin: str, platform_env: pytest.MonkeyPatch) -> None:
    created = create_workspace(api, admin, name="ext", external=True)
    set_env(platform_env, MOLECULE_ENV="development")
    assert _register(api, created, url="http://127.0.0.1:9000", delivery_mode="push").status == 200


def test_register_records_workspace_online_event(api: ApiClient, admin: str, database: str) -> None:
    created = create_workspace(api, admin, name="ext", external=True)
    _register(api, created, url="remote://no-inbound")
    event_type, payload = _events(database, created["id"])[-1]
    assert event_type == "WORKSPACE_ONLINE"
    assert payload["from"] == "awaiting_agent"


# --- register: inbound secret -----------------------------------------------------------------------


def test_register_returns_the_inbound_secret_every_time(api: ApiClient, admin: str, database: str) -> None:
    created = create_workspace(api, admin, name="ext", external=True)
    first = _register(api, created).json()["platform_inbound_secret"]  # healed: external had none
    assert first == _row(database, created["id"])["platform_inbound_secret"]
    assert _register(api, created).json()["platform_inbound_secret"] == first


def test_register_omits_the_secret_when_the_heal_fails(api: ApiClient, admin: str, database: str) -> None:
    created = create_workspace(api, admin, name="ext", external=True)
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            """
            CREATE FUNCTION refuse_secret() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.platform_inbound_secret IS DISTINCT FROM OLD.platform_inbound_secret THEN
                    RAISE EXCEPTION 'secret writes refused by test';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER refuse_secret BEFORE UPDATE ON workspaces
                FOR EACH ROW EXECUTE FUNCTION refuse_secret();
            """
        )
    try:
        result = _register(api, created, url="remote://no-inbound")
    finally:
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("DROP TRIGGER refuse_secret ON workspaces; DROP FUNCTION refuse_secret();")
    assert result.status == 200
    assert result.json()["status"] == "registered"
    assert "platform_inbound_secret" not in result.json()
    assert _row(database, created["id"])["status"] == "online"


# --- heartbeat ------------------------------------------------------------------------------------------


@pytest.fixture
def online(api: ApiClient, admin: str) -> dict:
    created = create_workspace(api, admin, name="hb", external=True)
    assert _register(api, created, url="remote://no-inbound").status == 200
    return created


def _beat(api: ApiClient, workspace: dict, **fields: Any) -> Any:
    return api.post(
        "/registry/heartbeat",
        json_body={"workspace_id": workspace["id"], **fields},
        token=workspace["connection"]["auth_token"],
    )


def test_heartbeat_with_only_workspace_id(api: ApiClient, online: dict, database: str) -> None:
    before = _row(database, online["id"])["last_heartbeat_at"]
    result = _beat(api, online)
    assert result.status == 200
    assert result.body == b'{"status":"ok"}'
    assert _row(database, online["id"])["last_heartbeat_at"] > before


def test_heartbeat_ignores_unknown_fields_and_stores_known_ones(api: ApiClient, online: dict, database: str) -> None:
    result = _beat(api, online, runtime_state="ok", active_tasks=2, current_task="writing", brand_new_field={"x": 1})
    assert result.status == 200
    row = _row(database, online["id"])
    assert (row["active_tasks"], row["current_task"]) == (2, "writing")


def test_heartbeat_token_rule(api: ApiClient, online: dict, admin: str) -> None:
    other = create_workspace(api, admin, name="other", external=True)
    assert api.post("/registry/heartbeat", json_body={"workspace_id": online["id"]}).status == 401
    wrong = api.post(
        "/registry/heartbeat",
        json_body={"workspace_id": online["id"]},
        token=other["connection"]["auth_token"],
    )
    assert wrong.status == 401
    assert api.post("/registry/heartbeat", json_body={"workspace_id": str(uuid.uuid4())}).status == 404
    api.delete(f"/workspaces/{online['id']}", token=admin)
    assert _beat(api, online).status == 410


def test_heartbeat_transitions_degraded_and_back(api: ApiClient, online: dict, database: str) -> None:
    assert _beat(api, online, error_rate=0.6).status == 200
    assert _row(database, online["id"])["status"] == "degraded"
    _beat(api, online, error_rate=0.3)  # between the thresholds: stays degraded
    assert _row(database, online["id"])["status"] == "degraded"
    _beat(api, online, error_rate=0.05)
    assert _row(database, online["id"])["status"] == "online"
    _beat(api, online, runtime_state="wedged")
    assert _row(database, online["id"])["status"] == "degraded"
    transitions = [
        (t, p["from"], p["to"]) for t, p in _events(database, online["id"]) if p.get("reason") == "heartbeat"
    ]
    assert transitions == [
        ("WORKSPACE_DEGRADED", "online", "degraded"),
        ("WORKSPACE_ONLINE", "degraded", "online"),
        ("WORKSPACE_DEGRADED", "online", "degraded"),
    ]


@pytest.mark.parametrize("stale_status", ["offline", "awaiting_agent", "provisioning"])
def test_heartbeat_brings_stale_statuses_online(api: ApiClient, online: dict, database: str, stale_status: str) -> None:
    with psycopg.connect(database) as conn:
        conn.execute(f"UPDATE workspaces SET status = '{stale_status}' WHERE id = %s", (online["id"],))
    _beat(api, online)
    assert _row(database, online["id"])["status"] == "online"
    assert _events(database, online["id"])[-1] == (
        "WORKSPACE_ONLINE",
        {"from": stale_status, "to": "online", "reason": "heartbeat"},
    )


def test_heartbeat_leaves_paused_and_hibernated_alone(api: ApiClient, online: dict, database: str) -> None:
    for status in ("paused", "hibernated", "failed"):
        with psycopg.connect(database) as conn:
            conn.execute(f"UPDATE workspaces SET status = '{status}' WHERE id = %s", (online["id"],))
        _beat(api, online, error_rate=0.9)
        assert _row(database, online["id"])["status"] == status


def test_steady_heartbeat_records_no_event(api: ApiClient, online: dict, database: str) -> None:
    count = len(_events(database, online["id"]))
    _beat(api, online)
    _beat(api, online)
    assert len(_events(database, online["id"])) == count


# --- update-card ---------------------------------------------------------------------------------------


def test_update_card(api: ApiClient, online: dict, database: str) -> None:
    result = api.post(
        "/registry/update-card",
        json_body={"workspace_id": online["id"], "agent_card": {"name": "v2", "skills": []}},
        token=online["connection"]["auth_token"],
    )
    assert result.json() == {"status": "updated"}
    assert _row(database, online["id"])["agent_card"] == {"name": "v2", "skills": []}
    assert _events(database, online["id"])[-1][0] == "AGENT_CARD_UPDATED"
    refused = api.post("/registry/update-card", json_body={"workspace_id": online["id"], "agent_card": {}})
    assert refused.status == 401


# --- access rule, discover, peers, check-access -------------------------------------------------------


@pytest.fixture
def family(api: ApiClient, admin: str) -> dict[str, dict]:
    """root ─┬─ a ─┬─ a1
    │     └─ a2
    └─ b ─── b1        other_root (a second root)"""
    made: dict[str, dict] = {}
    made["root"] = create_workspace(api, admin, name="root", external=True)
    made["other_root"] = create_workspace(api, admin, name="other root", external=True)
    made["a"] = create_workspace(api, admin, name="a", role="writer", external=True, parent_id=made["root"]["id"])
    made["b"] = create_workspace(api, admin, name="b", role="reviewer", external=True, parent_id=made["root"]["id"])
    made["a1"] = create_workspace(api, admin, name="a1", external=True, parent_id=made["a"]["id"])
    made["a2"] = create_workspace(api, admin, name="a2", external=True, parent_id=made["a"]["id"])
    made["b1"] = create_workspace(api, admin, name="b1", external=True, parent_id=made["b"]["id"])
    return made


ACCESS_MATRIX = [
    ("a", "a", True),  # self
    ("a", "b", True),  # siblings
    ("a1", "a2", True),  # siblings
    ("root", "other_root", True),  # both at the root
    ("root", "a", True),  # parent → child
    ("a", "root", True),  # child → parent
    ("root", "a1", True),  # grandparent → grandchild
    ("b1", "root", True),  # grandchild → grandparent
    ("a1", "b1", False),  # cousins
    ("a1", "b", False),  # nephew → uncle
    ("b", "a2", False),  # uncle → nephew
    ("other_root", "a", False),  # unrelated trees
]


@pytest.mark.parametrize(("caller", "target", "allowed"), ACCESS_MATRIX)
def test_check_access_matrix(api: ApiClient, admin: str, family: dict, caller: str, target: str, allowed: bool) -> None:
    result = api.post(
        "/registry/check-access",
        json_body={"caller_id": family[caller]["id"], "target_id": family[target]["id"]},
        token=admin,
    )
    assert result.json() == {"allowed": allowed}


def test_check_access_unknown_or_removed_is_denied(api: ApiClient, admin: str, family: dict) -> None:
    unknown = api.post(
        "/registry/check-access",
        json_body={"caller_id": family["a"]["id"], "target_id": str(uuid.uuid4())},
        token=admin,
    )
    assert unknown.json() == {"allowed": False}
    api.delete(f"/workspaces/{family['a2']['id']}", token=admin)
    removed = api.post(
        "/registry/check-access",
        json_body={"caller_id": family["a1"]["id"], "target_id": family["a2"]["id"]},
        token=admin,
    )
    assert removed.json() == {"allowed": False}


def test_check_access_needs_admin(api: ApiClient, admin: str, family: dict) -> None:
    body = {"caller_id": family["a"]["id"], "target_id": family["b"]["id"]}
    assert (
        api.post("/registry/check-access", json_body=body, token=family["a"]["connection"]["auth_token"]).status == 401
    )


def test_discover_allowed_denied_and_malformed(api: ApiClient, family: dict) -> None:
    a = family["a"]
    token = a["connection"]["auth_token"]
    found = api.get(f"/registry/discover/{family['b']['id']}", headers={"X-Workspace-ID": a["id"]}, token=token)
    assert found.status == 200
    assert found.json() == {"id": family["b"]["id"], "url": None, "name": "b"}
    denied = api.get(f"/registry/discover/{family['b1']['id']}", headers={"X-Workspace-ID": a["id"]}, token=token)
    assert denied.status == 403
    assert api.get(f"/registry/discover/{family['b']['id']}", token=token).status == 400
    spoofed = api.get(
        f"/registry/discover/{family['b']['id']}", headers={"X-Workspace-ID": family["b1"]["id"]}, token=token
    )
    assert spoofed.status == 401
    reserved = api.get(f"/registry/discover/{family['b']['id']}", headers={"X-Workspace-ID": "channel:x"}, token=token)
    assert reserved.status == 403
    missing = api.get(f"/registry/discover/{uuid.uuid4()}", headers={"X-Workspace-ID": a["id"]}, token=token)
    assert missing.status == 404


def test_discover_needs_the_named_workspaces_own_token_in_every_mode(
    api: ApiClient, family: dict, admin: str, platform_env: pytest.MonkeyPatch
) -> None:
    a, b = family["a"], family["b"]
    path = f"/registry/discover/{b['id']}"
    # an admin (or org) token acts for a user, not as the workspace the header names
    assert api.get(path, headers={"X-Workspace-ID": a["id"]}, token=admin).status == 401
    # dev fail-open: no bearer passes elsewhere, but never with a header naming a workspace
    set_env(platform_env, MOLECULE_ENV="development", ADMIN_TOKEN=None)
    assert api.get(path, headers={"X-Workspace-ID": a["id"]}).status == 401
    assert api.get(path, headers={"X-Workspace-ID": a["id"]}, token=a["connection"]["auth_token"]).status == 200


def test_peers_lists_parent_siblings_children_with_filter(api: ApiClient, family: dict) -> None:
    a = family["a"]
    result = api.get(f"/registry/{a['id']}/peers", token=a["connection"]["auth_token"])
    assert result.status == 200
    relations = {(p["name"], p["relation"]) for p in result.json()}
    assert relations == {("root", "parent"), ("b", "sibling"), ("a1", "child"), ("a2", "child")}
    filtered = api.get(f"/registry/{a['id']}/peers?q=REVIEW", token=a["connection"]["auth_token"]).json()
    assert [p["name"] for p in filtered] == ["b"]
    assert api.get(f"/registry/{a['id']}/peers", token=family["b"]["connection"]["auth_token"]).status == 401


def test_peer_rows_carry_tier_and_the_original_fields(api: ApiClient, admin: str, family: dict) -> None:
    a = family["a"]
    api.patch(f"/workspaces/{family['b']['id']}", json_body={"tier": 2}, token=admin)
    peers = {p["name"]: p for p in api.get(f"/registry/{a['id']}/peers", token=a["connection"]["auth_token"]).json()}
    assert set(peers["b"]) == {"id", "name", "role", "tier", "status", "url", "agent_card", "relation"}
    assert (peers["b"]["tier"], peers["b"]["role"]) == (2, "reviewer")
    assert peers["root"]["tier"] == 3  # the default


def test_root_peers_are_other_roots(api: ApiClient, family: dict) -> None:
    root = family["root"]
    names = {
        p["name"]: p["relation"]
        for p in api.get(f"/registry/{root['id']}/peers", token=root["connection"]["auth_token"]).json()
    }
    assert names == {"other root": "sibling", "a": "child", "b": "child"}
