"""WorkspaceAuth and AdminAuth (SPEC §4.1) against real tokens in real PostgreSQL."""

from __future__ import annotations

import pytest

from tests.conftest import ApiClient, create_workspace, set_env


def _external(api: ApiClient, token: str, name: str = "ext") -> tuple[str, str]:
    created = create_workspace(api, token, name=name, external=True)
    return created["id"], created["connection"]["auth_token"]


# --- WorkspaceAuth --------------------------------------------------------------------------------


def test_workspace_route_accepts_the_workspaces_own_token(api: ApiClient, admin: str) -> None:
    workspace_id, token = _external(api, admin)
    assert api.get(f"/workspaces/{workspace_id}", token=token).status == 200


def test_workspace_route_rejects_another_workspaces_token(api: ApiClient, admin: str) -> None:
    first, _ = _external(api, admin, "a")
    _, other_token = _external(api, admin, "b")
    result = api.get(f"/workspaces/{first}", token=other_token)
    assert result.status == 401
    assert result.json() == {"error": "invalid workspace auth token"}


def test_workspace_route_without_bearer_is_401_missing(api: ApiClient, admin: str) -> None:
    workspace_id, _ = _external(api, admin)
    result = api.get(f"/workspaces/{workspace_id}")
    assert result.status == 401
    assert result.json() == {"error": "missing workspace auth token"}


def test_workspace_route_accepts_admin_and_org_tokens(api: ApiClient, admin: str) -> None:
    workspace_id, _ = _external(api, admin)
    org = api.post("/org/tokens", json_body={"name": "ops"}, token=admin).json()["auth_token"]
    assert api.get(f"/workspaces/{workspace_id}", token=admin).status == 200
    assert api.get(f"/workspaces/{workspace_id}", token=org).status == 200


def test_revoked_token_no_longer_passes(api: ApiClient, admin: str) -> None:
    workspace_id, token = _external(api, admin)
    tokens = api.get(f"/workspaces/{workspace_id}/tokens", token=admin).json()["tokens"]
    assert api.delete(f"/workspaces/{workspace_id}/tokens/{tokens[0]['id']}", token=admin).status == 200
    assert api.get(f"/workspaces/{workspace_id}", token=token).status == 401


def test_token_of_a_removed_workspace_no_longer_passes(api: ApiClient, admin: str) -> None:
    workspace_id, token = _external(api, admin)
    other_id, _ = _external(api, admin, "other")
    assert api.delete(f"/workspaces/{workspace_id}", token=admin).status == 200
    assert api.get(f"/workspaces/{workspace_id}", token=token).status == 401
    assert api.get(f"/workspaces/{other_id}", token=token).status == 401


def test_bearer_scheme_is_case_insensitive_and_first_value_wins(api: ApiClient, admin: str) -> None:
    workspace_id, token = _external(api, admin)
    headers = {"authorization": f"BEARER {token}, Bearer something-else"}
    assert api.get(f"/workspaces/{workspace_id}", headers=headers).status == 200


def test_dev_fail_open_passes_without_bearer_but_not_with_an_invalid_one(
    api: ApiClient, platform_env: pytest.MonkeyPatch
) -> None:
    set_env(platform_env, MOLECULE_ENV="development")
    result = api.post("/workspaces", json_body={"name": "dev", "external": True})
    assert result.status == 201
    workspace_id = result.json()["id"]
    assert api.get(f"/workspaces/{workspace_id}").status == 200
    assert api.get("/workspaces").status == 200
    bad = api.get(f"/workspaces/{workspace_id}", token="not-a-token")
    assert bad.status == 401
    assert bad.json() == {"error": "invalid workspace auth token"}
    assert api.get("/workspaces", token="not-a-token").status == 401


def test_dev_mode_with_admin_token_set_does_not_fail_open(api: ApiClient, platform_env: pytest.MonkeyPatch) -> None:
    set_env(platform_env, MOLECULE_ENV="development", ADMIN_TOKEN="set")
    assert api.get("/workspaces").status == 401


# --- AdminAuth --------------------------------------------------------------------------------------


def test_admin_route_accepts_admin_token_and_org_token(api: ApiClient, admin: str) -> None:
    org = api.post("/org/tokens", json_body={"name": "ops"}, token=admin).json()["auth_token"]
    assert api.get("/workspaces", token=admin).status == 200
    assert api.get("/workspaces", token=org).status == 200


def test_admin_route_rejects_revoked_org_token(api: ApiClient, admin: str) -> None:
    minted = api.post("/org/tokens", json_body={"name": "ops"}, token=admin).json()
    assert api.delete(f"/org/tokens/{minted['id']}", token=admin).status == 200
    result = api.get("/workspaces", token=minted["auth_token"])
    assert result.status == 401
    assert result.json() == {"error": "invalid admin auth token"}


def test_admin_route_rejects_workspace_token_when_admin_token_is_set(api: ApiClient, admin: str) -> None:
    _, token = _external(api, admin)
    assert api.get("/workspaces", token=token).status == 401


def test_admin_route_rejects_wrong_admin_token(api: ApiClient, admin: str) -> None:
    result = api.get("/workspaces", token=admin + "x")
    assert result.status == 401
    assert result.json() == {"error": "invalid admin auth token"}


def test_non_production_fresh_install_fails_open_until_a_token_exists(api: ApiClient) -> None:
    # MOLECULE_ENV=test, ADMIN_TOKEN unset, no live token anywhere: bootstrap is open …
    assert api.get("/workspaces").status == 200
    created = api.post("/workspaces", json_body={"name": "first", "external": True})
    assert created.status == 201
    token = created.json()["connection"]["auth_token"]
    # … and closes as soon as a live token exists; that workspace token now passes AdminAuth.
    closed = api.get("/workspaces")
    assert closed.status == 401
    assert closed.json() == {"error": "missing admin auth token"}
    assert api.get("/workspaces", token=token).status == 200


def test_production_never_fails_open(api: ApiClient, platform_env: pytest.MonkeyPatch) -> None:
    set_env(platform_env, MOLECULE_ENV="production")
    # fresh install, no ADMIN_TOKEN: still closed
    assert api.get("/workspaces").status == 401
    assert api.post("/workspaces", json_body={"name": "x", "external": True}).status == 401


def test_production_rejects_workspace_token_on_admin_routes(api: ApiClient, platform_env: pytest.MonkeyPatch) -> None:
    set_env(platform_env, ADMIN_TOKEN="a")
    _, token = _external(api, "a")
    set_env(platform_env, MOLECULE_ENV="production", ADMIN_TOKEN=None)
    assert api.get("/workspaces", token=token).status == 401


def test_admin_token_from_secrets_manager(api: ApiClient, platform_env: pytest.MonkeyPatch) -> None:
    from moto import mock_aws

    with mock_aws():
        import boto3

        platform_env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        platform_env.setenv("AWS_ACCESS_KEY_ID", "testing")
        platform_env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        client = boto3.client("secretsmanager", region_name="us-east-1")
        arn = client.create_secret(Name="molecule/admin-token", SecretString="from-secrets-manager")["ARN"]
        set_env(platform_env, MOLECULE_ENV="production", ADMIN_TOKEN_SECRET_ARN=arn)
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()
        assert api.get("/workspaces", token="from-secrets-manager").status == 200
        assert api.get("/workspaces", token="wrong").status == 401
        parameters.clear_caches()
