"""Workspace tokens (list prefixes only / mint ≤50 live / revoke) and org tokens (SPEC §4.2)."""

from __future__ import annotations

import uuid

import psycopg

from tests.conftest import ApiClient, create_workspace


def test_workspace_tokens_list_shows_prefixes_only(api: ApiClient, admin: str) -> None:
    created = create_workspace(api, admin, name="w", external=True)
    token = created["connection"]["auth_token"]
    listed = api.get(f"/workspaces/{created['id']}/tokens", token=token).json()
    assert len(listed) == 1
    assert listed[0]["prefix"] == token[:8]
    assert set(listed[0]) == {"id", "prefix", "created_at", "last_used_at"}
    assert token not in str(listed)


def test_mint_returns_a_working_token_once_and_stores_only_its_hash(api: ApiClient, admin: str, database: str) -> None:
    workspace_id = create_workspace(api, admin, name="w", external=True)["id"]
    result = api.post(f"/workspaces/{workspace_id}/tokens", token=admin)
    assert result.status == 201
    minted = result.json()
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


def test_live_token_limit_is_50(api: ApiClient, admin: str) -> None:
    workspace_id = create_workspace(api, admin, name="w", external=True)["id"]  # 1 live token
    for _ in range(49):
        assert api.post(f"/workspaces/{workspace_id}/tokens", token=admin).status == 201
    refused = api.post(f"/workspaces/{workspace_id}/tokens", token=admin)
    assert refused.status == 409
    assert "50" in refused.json()["error"]
    first = api.get(f"/workspaces/{workspace_id}/tokens", token=admin).json()[0]
    api.delete(f"/workspaces/{workspace_id}/tokens/{first['id']}", token=admin)
    assert api.post(f"/workspaces/{workspace_id}/tokens", token=admin).status == 201


def test_revoke_only_within_the_workspace(api: ApiClient, admin: str) -> None:
    first = create_workspace(api, admin, name="a", external=True)
    second = create_workspace(api, admin, name="b", external=True)
    token_of_second = api.get(f"/workspaces/{second['id']}/tokens", token=admin).json()[0]["id"]
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
    assert body["name"] == "ci" and body["org_id"] == "acme" and body["created_by"] == "admin"
    assert len(body["token"]) == 43
    listed = api.get("/org/tokens", token=admin).json()
    assert [t["id"] for t in listed] == [body["id"]]
    assert "token" not in listed[0]
    assert api.get("/org/tokens", token=body["token"]).status == 200
    assert api.delete(f"/org/tokens/{body['id']}", token=admin).json() == {"status": "revoked"}
    assert api.get("/org/tokens", token=admin).json() == []
    assert api.delete(f"/org/tokens/{body['id']}", token=admin).status == 404


def test_org_token_needs_a_name(api: ApiClient, admin: str) -> None:
    result = api.post("/org/tokens", json_body={}, token=admin)
    assert result.status == 400
    assert result.json()["field"] == "name"
