"""GET /admin/workspaces/{id}/test-token (SPEC §5.9): the full truth table — environment gate ×
ADMIN_TOKEN set/unset × header absent/wrong/right — plus org tokens never passing (the history's
cross-org IDOR fix) and other tokens staying valid."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.conftest import ApiClient, create_workspace, set_env
from tests.round_trips import counted

ADMIN = "the-admin-token"


@pytest.fixture
def workspace_id(api: ApiClient, platform_env: pytest.MonkeyPatch) -> str:
    set_env(platform_env, ADMIN_TOKEN=ADMIN)
    return str(create_workspace(api, ADMIN, name="target", external=True)["id"])


def _call(api: ApiClient, workspace_id: str, header: str | None) -> tuple[int, dict]:
    token = {"absent": None, "wrong": "not-the-admin-token", "right": ADMIN}[header] if header else None
    result = api.get(f"/admin/workspaces/{workspace_id}/test-token", token=token)
    return result.status, result.json()


# (MOLECULE_ENV, MOLECULE_ENABLE_TEST_TOKENS, ADMIN_TOKEN set?, header) → expected status
TRUTH_TABLE = [
    # production, gate off: hidden whatever the header
    ("production", None, True, "absent", 404),
    ("production", None, True, "wrong", 404),
    ("production", None, True, "right", 404),
    ("production", None, False, "absent", 404),
    # production, gate on: ADMIN_TOKEN decides
    ("production", "1", True, "absent", 401),
    ("production", "1", True, "wrong", 401),
    ("production", "1", True, "right", 200),
    ("production", "1", False, "absent", 200),
    ("production", "1", False, "wrong", 200),
    # non-production: open gate
    ("test", None, True, "absent", 401),
    ("test", None, True, "wrong", 401),
    ("test", None, True, "right", 200),
    ("test", None, False, "absent", 200),
    ("development", None, True, "right", 200),
    ("development", None, True, "wrong", 401),
    ("development", None, False, "absent", 200),
]


@pytest.mark.parametrize(("env", "gate", "admin_set", "header", "expected"), TRUTH_TABLE)
def test_test_token_truth_table(
    api: ApiClient,
    platform_env: pytest.MonkeyPatch,
    workspace_id: str,
    env: str,
    gate: str | None,
    admin_set: bool,
    header: str,
    expected: int,
) -> None:
    set_env(
        platform_env,
        MOLECULE_ENV=env,
        MOLECULE_ENABLE_TEST_TOKENS=gate,
        ADMIN_TOKEN=ADMIN if admin_set else None,
    )
    status, body = _call(api, workspace_id, header)
    assert status == expected, body
    if expected == 200:
        assert body["workspace_id"] == workspace_id
        assert len(body["auth_token"]) == 43
    elif expected == 404:
        assert body == {"error": "not found"}
    else:
        assert body["error"] in ("missing admin auth token", "invalid admin auth token")


def test_minted_test_token_authenticates_and_does_not_revoke_others(
    api: ApiClient, platform_env: pytest.MonkeyPatch
) -> None:
    set_env(platform_env, ADMIN_TOKEN=ADMIN)
    created = create_workspace(api, ADMIN, name="t", external=True)
    original = created["connection"]["auth_token"]
    minted = api.get(f"/admin/workspaces/{created['id']}/test-token", token=ADMIN).json()["auth_token"]
    assert minted != original
    assert api.get(f"/workspaces/{created['id']}", token=minted).status == 200
    assert api.get(f"/workspaces/{created['id']}", token=original).status == 200


def test_org_token_is_not_accepted_when_admin_token_is_set(
    api: ApiClient, platform_env: pytest.MonkeyPatch, workspace_id: str
) -> None:
    org = api.post("/org/tokens", json_body={"name": "other-org"}, token=ADMIN).json()["auth_token"]
    result = api.get(f"/admin/workspaces/{workspace_id}/test-token", token=org)
    assert result.status == 401


def test_unknown_workspace_is_404(api: ApiClient, platform_env: pytest.MonkeyPatch) -> None:
    set_env(platform_env, ADMIN_TOKEN=ADMIN)
    assert api.get(f"/admin/workspaces/{uuid.uuid4()}/test-token", token=ADMIN).status == 404
    assert api.get("/admin/workspaces/not-a-uuid/test-token", token=ADMIN).status == 404


def test_a_removed_workspace_is_404_and_gets_no_token(
    api: ApiClient, platform_env: pytest.MonkeyPatch, workspace_id: str, database: str
) -> None:
    assert api.delete(f"/workspaces/{workspace_id}", token=ADMIN).status == 200
    tokens_before = _stored_tokens(database, workspace_id)

    result = api.get(f"/admin/workspaces/{workspace_id}/test-token", token=ADMIN)

    assert result.status == 404
    assert _stored_tokens(database, workspace_id) == tokens_before


def test_a_test_token_is_one_statement_that_checks_the_workspace_and_inserts(
    api: ApiClient, platform_env: pytest.MonkeyPatch, workspace_id: str, database: str
) -> None:
    minted = counted(database, lambda: api.get(f"/admin/workspaces/{workspace_id}/test-token", token=ADMIN))
    unknown = counted(database, lambda: api.get(f"/admin/workspaces/{uuid.uuid4()}/test-token", token=ADMIN))

    assert minted.answer.status == 200
    assert api.get(f"/workspaces/{workspace_id}", token=minted.answer.json()["auth_token"]).status == 200
    assert (minted.round_trips, minted.transactions) == (1, 0), minted.statements
    assert (unknown.answer.status, unknown.round_trips) == (404, 1)


def _stored_tokens(database: str, workspace_id: str) -> int:
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT count(*) FROM workspace_auth_tokens WHERE workspace_id = %s", (workspace_id,))
        return int(row.fetchone()[0])
