"""Workspace tokens (list prefixes only / mint ≤50 live / revoke) and org tokens (SPEC §4.2), in the
wire shapes the original server's clients parse (SPEC §4.3)."""

from __future__ import annotations

import uuid

import psycopg

from tests.conftest import ApiClient, create_workspace


def test_workspace_tokens_list_shows_prefixes_only(api: ApiClient, admin: str) -> None:
    created = create_workspace(api, admin, name="w", external=True)
    token = created["connection"]["auth_token"]
    listed = api.get(f"/workspaces/{created['id']}/tokens", token=token).json()
    assert set(listed) == {"tokens", "count"}
    assert listed["count"] == len(listed["tokens"]) == 1
    assert listed["tokens"][0]["prefix"] == token[:8]
    assert set(listed["tokens"][0]) == {"id", "prefix", "created_at", "last_used_at"}
    assert token not in str(listed)


def test_mint_returns_a_working_token_once_and_stores_only_its_hash(api: ApiClient, admin: str, database: str) -> None:
    workspace_id = create_workspace(api, admin, name="w", external=True)["id"]
    result = api.post(f"/workspaces/{workspace_id}/tokens", token=admin)
    assert result.status == 201
    minted = result.json()
    assert set(minted) == {"id", "prefix", "auth_token", "workspace_id", "message"}
    assert minted["message"] == "Save this token now — it cannot be retrieved again."
    assert minted["workspace_id"] == workspace_id
    assert minted["prefix"] == minted["auth_token"][:8]
    assert api.get(f"/workspaces/{workspace_id}", token=minted["auth_token"]).status == 200
    with psycopg.connect(database) as conn:
        stored = conn.execute(
            "SELECT token_hash, prefix FROM workspace_auth_tokens WHERE id = %s", (minted["id"],)
        ).fetchone()
    assert stored is not None
    assert minted["auth_token"].encode() not in bytes(stored[0])
    assert len(bytes(stored[0])) == 32


def test_live_token_limit_is_50_and_the_51st_is_429(api: ApiClient, admin: str) -> None:
    workspace_id = create_workspace(api, admin, name="w", external=True)["id"]  # 1 live token
    for _ in range(49):
        assert api.post(f"/workspaces/{workspace_id}/tokens", token=admin).status == 201
    refused = api.post(f"/workspaces/{workspace_id}/tokens", token=admin)
    assert refused.status == 429
    assert refused.json() == {"error": "maximum 50 active tokens per workspace"}
    assert int(refused.headers["retry-after"]) > 0  # SPEC §5.8: every 429 carries Retry-After
    listed = api.get(f"/workspaces/{workspace_id}/tokens", token=admin).json()
    assert listed["count"] == 50
    api.delete(f"/workspaces/{workspace_id}/tokens/{listed['tokens'][0]['id']}", token=admin)
    assert api.post(f"/workspaces/{workspace_id}/tokens", token=admin).status == 201


def test_revoke_answers_revoked_then_404_naming_why(api: ApiClient, admin: str) -> None:
    workspace_id = create_workspace(api, admin, name="w", external=True)["id"]
    minted = api.post(f"/workspaces/{workspace_id}/tokens", token=admin).json()
    first = api.delete(f"/workspaces/{workspace_id}/tokens/{minted['id']}", token=admin)
    assert (first.status, first.json()) == (200, {"status": "revoked"})
    again = api.delete(f"/workspaces/{workspace_id}/tokens/{minted['id']}", token=admin)
    assert (again.status, again.json()) == (404, {"error": "token not found or already revoked"})
    assert api.get(f"/workspaces/{workspace_id}", token=minted["auth_token"]).status == 401


def test_revoke_only_within_the_workspace(api: ApiClient, admin: str) -> None:
    first = create_workspace(api, admin, name="a", external=True)
    second = create_workspace(api, admin, name="b", external=True)
    token_of_second = api.get(f"/workspaces/{second['id']}/tokens", token=admin).json()["tokens"][0]["id"]
    wrong = api.delete(f"/workspaces/{first['id']}/tokens/{token_of_second}", token=admin)
    assert wrong.status == 404
    assert api.get(f"/workspaces/{second['id']}", token=second["connection"]["auth_token"]).status == 200
    assert api.delete(f"/workspaces/{first['id']}/tokens/not-a-uuid", token=admin).status == 404
    assert api.delete(f"/workspaces/{first['id']}/tokens/{uuid.uuid4()}", token=admin).status == 404


def test_tokens_of_unknown_workspace_are_404(api: ApiClient, admin: str) -> None:
    assert api.get(f"/workspaces/{uuid.uuid4()}/tokens", token=admin).status == 404
    assert api.post(f"/workspaces/{uuid.uuid4()}/tokens", token=admin).status == 404


def test_org_token_lifecycle(api: ApiClient, admin: str) -> None:
    created = api.post("/org/tokens", json_body={"name": "ci", "org_id": "acme"}, token=admin)
    assert created.status == 201
    body = created.json()
    assert set(body) == {"id", "prefix", "name", "auth_token", "warning"}
    assert body["name"] == "ci" and body["prefix"] == body["auth_token"][:8] and body["warning"]
    assert len(body["auth_token"]) == 43
    listed = api.get("/org/tokens", token=admin).json()
    assert listed["count"] == 1
    assert [t["id"] for t in listed["tokens"]] == [body["id"]]
    assert (listed["tokens"][0]["org_id"], listed["tokens"][0]["created_by"]) == ("acme", "admin")
    assert "auth_token" not in listed["tokens"][0]
    assert api.get("/org/tokens", token=body["auth_token"]).status == 200
    assert api.delete(f"/org/tokens/{body['id']}", token=admin).json() == {"revoked": body["id"]}
    assert api.get("/org/tokens", token=admin).json() == {"tokens": [], "count": 0}
    again = api.delete(f"/org/tokens/{body['id']}", token=admin)
    assert (again.status, again.json()) == (404, {"error": "token not found or already revoked"})


def test_org_token_needs_a_name(api: ApiClient, admin: str) -> None:
    result = api.post("/org/tokens", json_body={}, token=admin)
    assert result.status == 400
    assert result.json()["field"] == "name"


def test_org_token_name_over_100_characters_is_400(api: ApiClient, admin: str) -> None:
    assert api.post("/org/tokens", json_body={"name": "n" * 100}, token=admin).status == 201
    refused = api.post("/org/tokens", json_body={"name": "n" * 101}, token=admin)
    assert refused.status == 400
    assert refused.json() == {"error": "name too long (max 100 chars)", "field": "name"}
