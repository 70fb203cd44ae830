"""Secrets through their routes (SPEC §5.12, issue 15), in process with real PostgreSQL and the local
key file: names only in listings, the merged values for the workspace's own token only, a global
overridden by a workspace secret, undecryptable values answered 500 naming the keys, bad input,
restarts requested through lifecycle, the model setting, the global routes and their aliases."""

from __future__ import annotations

import json
import logging
from typing import Any

import psycopg
import pytest
from molecule_core.lifecycle.models import LifecycleRequest
from molecule_core.secrets import service as secrets_service

from tests.conftest import ApiClient, RecordingDispatcher, create_workspace, set_env
from tests.round_trips import counted


def _put(api: ApiClient, path: str, **kwargs: Any) -> Any:
    return api.request("PUT", path, **kwargs)


def _external(api: ApiClient, admin: str, name: str = "remote") -> tuple[str, str]:
    """An external workspace and its own token."""
    created = create_workspace(api, admin, name=name, external=True)
    return created["id"], created["connection"]["auth_token"]


def _org_token(api: ApiClient, admin: str) -> str:
    minted = api.post("/org/tokens", json_body={"name": "ops"}, token=admin)
    assert minted.status == 201, minted.text
    body = minted.json()
    return str(body.get("auth_token") or body["token"])  # issue 11 names the field auth_token (SPEC §4.3)


def _set(api: ApiClient, token: str, workspace_id: str, key: str, value: str) -> None:
    saved = api.post(f"/workspaces/{workspace_id}/secrets", json_body={"key": key, "value": value}, token=token)
    assert saved.status == 200, saved.text


def flip_first_byte(database: str, table: str, column: str = "ciphertext", where: str = "TRUE") -> None:
    """Damage stored secrets as a broken disk or a meddling database writer would: one flipped bit."""
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(f"UPDATE {table} SET {column} = set_byte({column}, 0, get_byte({column}, 0) # 1) WHERE {where}")


def _set_global(api: ApiClient, token: str, key: str, value: str) -> None:
    saved = api.post("/settings/secrets", json_body={"key": key, "value": value}, token=token)
    assert saved.status == 200, saved.text


# --- names, never values ------------------------------------------------------------------------


def test_saved_secret_is_listed_by_name_with_its_scope_and_never_its_value(api: ApiClient, admin: str) -> None:
    workspace_id, _ = _external(api, admin)
    saved = api.post(
        f"/workspaces/{workspace_id}/secrets", json_body={"key": "OPENAI_API_KEY", "value": "sk-listed"}, token=admin
    )
    _set_global(api, admin, "GITHUB_TOKEN", "ghp-listed")

    listed = api.get(f"/workspaces/{workspace_id}/secrets", token=admin)

    assert saved.json() == {"status": "saved", "key": "OPENAI_API_KEY", "scope": "workspace", "restarts_requested": 0}
    assert [(e["key"], e["scope"], e["has_value"]) for e in listed.json()] == [
        ("OPENAI_API_KEY", "workspace", True),
        ("GITHUB_TOKEN", "global", True),
    ]
    assert set(listed.json()[0]) == {"key", "has_value", "scope", "created_at", "updated_at"}
    assert "sk-listed" not in listed.text and "ghp-listed" not in listed.text


def test_put_updates_a_secret_and_the_stored_row_holds_only_ciphertext_and_key_id(
    api: ApiClient, admin: str, database: str
) -> None:
    workspace_id, token = _external(api, admin)
    _set(api, admin, workspace_id, "API_KEY", "first-value")
    updated = _put(
        api, f"/workspaces/{workspace_id}/secrets", json_body={"key": "API_KEY", "value": "second-value"}, token=admin
    )

    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT ciphertext, nonce, key_id FROM workspace_secrets WHERE workspace_id = %s AND key = 'API_KEY'",
            (workspace_id,),
        ).fetchone()
    assert updated.status == 200
    assert row is not None
    ciphertext, nonce, key_id = bytes(row[0]), bytes(row[1]), row[2]
    assert b"second-value" not in ciphertext and b"first-value" not in ciphertext
    assert len(ciphertext) == len("second-value") + 16  # GCM: same length as the value, plus the tag
    assert len(nonce) == 12
    assert key_id.startswith("dk-")
    assert api.get(f"/workspaces/{workspace_id}/secrets/values", token=token).json() == {"API_KEY": "second-value"}


def test_delete_removes_a_secret_and_a_second_delete_is_404(api: ApiClient, admin: str) -> None:
    workspace_id, _ = _external(api, admin)
    _set(api, admin, workspace_id, "TEMP", "x")

    first = api.delete(f"/workspaces/{workspace_id}/secrets/TEMP", token=admin)
    second = api.delete(f"/workspaces/{workspace_id}/secrets/TEMP", token=admin)

    assert first.json() == {"status": "deleted", "key": "TEMP", "scope": "workspace", "restarts_requested": 0}
    assert second.status == 404
    assert second.json()["error"] == "secret not found"
    assert api.get(f"/workspaces/{workspace_id}/secrets", token=admin).json() == []


def test_secret_routes_of_an_unknown_workspace_are_404_and_of_a_removed_one_410(api: ApiClient, admin: str) -> None:
    workspace_id, _ = _external(api, admin)
    assert api.delete(f"/workspaces/{workspace_id}", token=admin).status == 200

    unknown = api.get("/workspaces/00000000-0000-0000-0000-000000000001/secrets", token=admin)
    removed = api.post(f"/workspaces/{workspace_id}/secrets", json_body={"key": "K", "value": "v"}, token=admin)

    assert unknown.status == 404
    assert removed.status == 410


# --- /values: the workspace's own token only ----------------------------------------------------


def test_values_answer_the_merged_map_to_the_workspaces_own_token(api: ApiClient, admin: str) -> None:
    workspace_id, token = _external(api, admin)
    _set_global(api, admin, "SHARED", "global-shared")
    _set_global(api, admin, "OVERRIDDEN", "global-value")
    _set(api, admin, workspace_id, "OVERRIDDEN", "workspace-value")
    _set(api, admin, workspace_id, "OWN", "own-value")

    values = api.get(f"/workspaces/{workspace_id}/secrets/values", token=token)

    assert values.status == 200
    assert values.json() == {"SHARED": "global-shared", "OVERRIDDEN": "workspace-value", "OWN": "own-value"}


@pytest.mark.parametrize("who", ["admin", "org", "other workspace", "none"])
def test_values_refuse_every_token_but_the_workspaces_own_with_401(api: ApiClient, admin: str, who: str) -> None:
    workspace_id, _ = _external(api, admin, "target")
    _, other_token = _external(api, admin, "other")
    _set(api, admin, workspace_id, "OWN", "own-value")
    token = {"admin": admin, "org": _org_token(api, admin), "other workspace": other_token, "none": None}[who]

    refused = api.get(f"/workspaces/{workspace_id}/secrets/values", token=token)

    assert refused.status == 401
    assert "own-value" not in refused.text


def test_values_need_a_token_even_in_dev_fail_open(api: ApiClient, platform_env: pytest.MonkeyPatch) -> None:
    set_env(platform_env, MOLECULE_ENV="development")  # no ADMIN_TOKEN: every other route fails open
    workspace_id = create_workspace(api, "", name="w", external=True)["id"]

    assert api.get(f"/workspaces/{workspace_id}/secrets").status == 200
    assert api.get(f"/workspaces/{workspace_id}/secrets/values").status == 401


def test_a_value_that_does_not_decrypt_is_500_naming_the_keys_and_nothing_else(
    api: ApiClient, admin: str, database: str
) -> None:
    workspace_id, token = _external(api, admin)
    _set_global(api, admin, "GOOD", "good-value")
    _set(api, admin, workspace_id, "BROKEN", "broken-value")
    flip_first_byte(database, "workspace_secrets", where="key = 'BROKEN'")

    answer = api.get(f"/workspaces/{workspace_id}/secrets/values", token=token)

    assert answer.status == 500
    body = answer.json()
    assert set(body) == {"error", "failed_keys"}
    assert body["failed_keys"] == ["workspace:BROKEN"]
    assert "BROKEN" in body["error"]
    assert "good-value" not in answer.text and "GOOD" not in answer.text


def test_an_overridden_global_that_does_not_decrypt_does_not_fail_the_workspace(
    api: ApiClient, admin: str, database: str
) -> None:
    workspace_id, token = _external(api, admin)
    _set_global(api, admin, "KEY", "global-value")
    _set(api, admin, workspace_id, "KEY", "own-value")
    flip_first_byte(database, "global_secrets")

    assert api.get(f"/workspaces/{workspace_id}/secrets/values", token=token).json() == {"KEY": "own-value"}


def test_a_ciphertext_copied_to_another_workspace_does_not_decrypt_there(
    api: ApiClient, admin: str, database: str
) -> None:
    first_id, _ = _external(api, admin, "first")
    second_id, second_token = _external(api, admin, "second")
    _set(api, admin, first_id, "API_KEY", "first-workspace-key")
    _set(api, admin, second_id, "API_KEY", "second-workspace-key")
    with psycopg.connect(database, autocommit=True) as conn:  # a database writer swaps the rows' contents
        conn.execute(
            """
            UPDATE workspace_secrets AS target
            SET ciphertext = source.ciphertext, nonce = source.nonce, key_id = source.key_id
            FROM workspace_secrets AS source
            WHERE target.workspace_id = %s AND source.workspace_id = %s AND target.key = source.key
            """,
            (second_id, first_id),
        )

    answer = api.get(f"/workspaces/{second_id}/secrets/values", token=second_token)

    assert answer.status == 500
    assert answer.json()["failed_keys"] == ["workspace:API_KEY"]
    assert "first-workspace-key" not in answer.text


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"key": "1STARTS_WITH_DIGIT", "value": "v"}, 400, "key"),
        ({"key": "HAS-DASH", "value": "v"}, 400, "key"),
        ({"key": "A" * 129, "value": "v"}, 400, "key"),
        ({"key": "", "value": "v"}, 400, "key"),
        ({"key": "OK", "value": ""}, 400, "value"),
        ({"key": "OK", "value": "x" * (64 * 1024 + 1)}, 413, "value"),
        ({"key": "OK", "value": "nul\u0000inside"}, 400, "value"),
        ({"key": "OK"}, 400, "value"),
        ({"key": "PLATFORM_URL", "value": "https://elsewhere.example"}, 400, "key"),
    ],
    ids=["digit", "dash", "too-long-key", "empty-key", "empty", "over-64KiB", "nul", "missing", "reserved"],
)
def test_bad_secret_input_is_a_4xx_naming_the_field(
    api: ApiClient, admin: str, body: dict[str, Any], status: int, field: str
) -> None:
    workspace_id, _ = _external(api, admin)

    for path in (f"/workspaces/{workspace_id}/secrets", "/settings/secrets"):
        answer = api.post(path, json_body=body, token=admin)
        assert answer.status == status, (path, answer.text)
        assert answer.json()["field"] == field
        assert str(body.get("value", "")) not in answer.json()["error"] or not body.get("value")


def test_a_value_of_exactly_64_kib_is_accepted(api: ApiClient, admin: str) -> None:
    workspace_id, token = _external(api, admin)
    _set(api, admin, workspace_id, "BIG", "é" * (32 * 1024))  # 64 KiB of UTF-8

    assert api.get(f"/workspaces/{workspace_id}/secrets/values", token=token).json()["BIG"] == "é" * (32 * 1024)


def test_delete_with_a_malformed_key_is_400(api: ApiClient, admin: str) -> None:
    workspace_id, _ = _external(api, admin)

    assert api.delete(f"/workspaces/{workspace_id}/secrets/bad-key", token=admin).status == 400
    assert api.delete("/settings/secrets/bad-key", token=admin).status == 400


# --- restarts -----------------------------------------------------------------------------------


def _managed(api: ApiClient, admin: str, database: str, name: str, status: str = "online") -> str:
    """A platform-managed workspace in `status` (no backend here, so the state is set directly)."""
    workspace_id = create_workspace(api, admin, name=name)["id"]
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            f"UPDATE workspaces SET status = '{status}', restart_requested_at = NULL WHERE id = %s", (workspace_id,)
        )
    return str(workspace_id)


def _forget_restarts(database: str) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("UPDATE workspaces SET restart_requested_at = NULL")


def _restart_pending(database: str, workspace_id: str) -> bool:
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT restart_requested_at FROM workspaces WHERE id = %s", (workspace_id,)).fetchone()
    return row is not None and row[0] is not None


def test_a_workspace_secret_change_restarts_that_managed_workspace_through_lifecycle(
    api: ApiClient, admin: str, database: str, dispatcher: RecordingDispatcher
) -> None:
    workspace_id = _managed(api, admin, database, "managed")
    dispatcher.requests.clear()

    saved = api.post(f"/workspaces/{workspace_id}/secrets", json_body={"key": "K", "value": "v"}, token=admin)
    deleted = api.delete(f"/workspaces/{workspace_id}/secrets/K", token=admin)

    assert saved.json()["restarts_requested"] == 1
    assert deleted.json()["restarts_requested"] == 1
    assert [(r.action, str(r.workspace_id), r.reason) for r in dispatcher.requests] == [
        ("restart", workspace_id, "secrets_changed"),
        ("restart", workspace_id, "secrets_changed"),
    ]
    assert _restart_pending(database, workspace_id)


def test_a_global_change_restarts_managed_workspaces_without_their_own_value_only(
    api: ApiClient, admin: str, database: str, dispatcher: RecordingDispatcher
) -> None:
    inheriting = _managed(api, admin, database, "inheriting")
    failed = _managed(api, admin, database, "failed", status="failed")
    overriding = _managed(api, admin, database, "overriding")
    paused = _managed(api, admin, database, "paused", status="paused")
    hibernated = _managed(api, admin, database, "hibernated", status="hibernated")
    external, _ = _external(api, admin)
    _set(api, admin, overriding, "MODEL_API_KEY", "own")
    _forget_restarts(database)
    dispatcher.requests.clear()

    saved = api.post("/settings/secrets", json_body={"key": "MODEL_API_KEY", "value": "global"}, token=admin)

    restarted = {str(r.workspace_id) for r in dispatcher.requests}
    assert restarted == {inheriting, failed}
    assert saved.json()["restarts_requested"] == 2
    assert all(r == LifecycleRequest("restart", r.workspace_id, "secrets_changed") for r in dispatcher.requests)
    for untouched in (overriding, paused, hibernated, external):
        assert not _restart_pending(database, untouched)

    dispatcher.requests.clear()
    api.delete("/settings/secrets/MODEL_API_KEY", token=admin)
    assert {str(r.workspace_id) for r in dispatcher.requests} == {inheriting, failed}


# --- the model ----------------------------------------------------------------------------------


def test_model_is_the_model_provider_secret_workspace_over_global_over_default(api: ApiClient, admin: str) -> None:
    workspace_id, token = _external(api, admin)
    default = api.get(f"/workspaces/{workspace_id}/model", token=token).json()
    _set_global(api, admin, "MODEL_PROVIDER", "anthropic:claude-sonnet")
    inherited = api.get(f"/workspaces/{workspace_id}/model", token=token).json()
    saved = _put(api, f"/workspaces/{workspace_id}/model", json_body={"model": "openai:gpt-5"}, token=token)
    own = api.get(f"/workspaces/{workspace_id}/model", token=token).json()

    assert default == {"model": "", "source": "default"}
    assert inherited == {"model": "anthropic:claude-sonnet", "source": "global_secrets"}
    assert saved.json()["key"] == "MODEL_PROVIDER"
    assert own == {"model": "openai:gpt-5", "source": "workspace_secrets"}
    assert api.get(f"/workspaces/{workspace_id}/secrets/values", token=token).json()["MODEL_PROVIDER"] == "openai:gpt-5"
    assert _put(api, f"/workspaces/{workspace_id}/model", json_body={"model": ""}, token=token).status == 400


# --- global secrets -----------------------------------------------------------------------------


def test_global_secret_routes_and_their_admin_aliases_share_one_set(api: ApiClient, admin: str) -> None:
    saved = _put(api, "/admin/secrets", json_body={"key": "SHARED", "value": "v"}, token=admin)
    listed_settings = api.get("/settings/secrets", token=admin).json()
    listed_admin = api.get("/admin/secrets", token=admin).json()
    deleted = api.delete("/settings/secrets/SHARED", token=admin)
    again = api.delete("/admin/secrets/SHARED", token=admin)

    assert saved.json() == {"status": "saved", "key": "SHARED", "scope": "global", "restarts_requested": 0}
    assert [e["key"] for e in listed_settings] == ["SHARED"] == [e["key"] for e in listed_admin]
    assert listed_settings[0]["scope"] == "global"
    assert deleted.json()["status"] == "deleted"
    assert again.status == 404


def test_global_secret_routes_refuse_a_workspace_token(api: ApiClient, admin: str) -> None:
    _, token = _external(api, admin)

    assert api.get("/settings/secrets", token=token).status == 401
    assert api.post("/admin/secrets", json_body={"key": "K", "value": "v"}, token=token).status == 401


def test_secret_events_name_the_key_and_scope_only(api: ApiClient, admin: str) -> None:
    workspace_id, _ = _external(api, admin)
    _set(api, admin, workspace_id, "K", "event-value")

    events = api.get(f"/events/{workspace_id}", token=admin).json()

    saved = [e for e in events if e["event_type"] == "SECRET_SAVED"]
    assert len(saved) == 1 and saved[0]["payload"] == {"key": "K", "scope": "workspace"}
    assert "event-value" not in json.dumps(events)


# --- no key source ------------------------------------------------------------------------------


def test_without_a_key_source_secret_routes_answer_503_for_the_operator_and_log_it_loudly(
    api: ApiClient, admin: str, platform_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    workspace_id, token = _external(api, admin)
    _set(api, admin, workspace_id, "K", "v")
    set_env(platform_env, SECRETS_KEY_FILE=None, MOLECULE_ENV="production")

    with caplog.at_level(logging.ERROR):
        refused = api.post(f"/workspaces/{workspace_id}/secrets", json_body={"key": "K", "value": "v"}, token=admin)
        values = api.get(f"/workspaces/{workspace_id}/secrets/values", token=token)

    assert refused.status == 503 and values.status == 503
    assert refused.json()["code"] == "secrets_unavailable"
    assert "SECRETS_KMS_KEY_ID" in refused.json()["error"] and "SECRETS_KEY_FILE" in refused.json()["error"]
    assert any("SECRETS UNAVAILABLE" in record.getMessage() for record in caplog.records)
    assert api.get(f"/workspaces/{workspace_id}/secrets", token=admin).status == 200  # names need no key


# --- round trips (issue 19: a read route answers in at most 2) ----------------------------------


def test_listing_global_secrets_is_one_statement_without_a_transaction(
    api: ApiClient, admin: str, database: str
) -> None:
    _set_global(api, admin, "SHARED", "v")

    for path in ("/settings/secrets", "/admin/secrets"):
        listed = counted(database, lambda path=path: api.get(path, token=admin))

        assert [e["key"] for e in listed.answer.json()] == ["SHARED"]
        assert (listed.round_trips, listed.transactions) == (1, 0), listed.statements


def test_listing_a_workspaces_secrets_checks_the_workspace_in_the_same_one_statement(
    api: ApiClient, admin: str, database: str
) -> None:
    workspace_id, token = _external(api, admin)
    removed_id, _ = _external(api, admin, "removed")
    _set(api, admin, workspace_id, "OWN", "v")
    _set_global(api, admin, "SHARED", "v")
    assert api.delete(f"/workspaces/{removed_id}", token=admin).status == 200

    as_admin = counted(database, lambda: api.get(f"/workspaces/{workspace_id}/secrets", token=admin))
    as_itself = counted(database, lambda: api.get(f"/workspaces/{workspace_id}/secrets", token=token))
    removed = counted(database, lambda: api.get(f"/workspaces/{removed_id}/secrets", token=admin))
    unknown = api.get("/workspaces/00000000-0000-0000-0000-000000000001/secrets", token=admin)

    assert [(e["key"], e["scope"]) for e in as_admin.answer.json()] == [("OWN", "workspace"), ("SHARED", "global")]
    assert as_itself.answer.json() == as_admin.answer.json()
    assert as_admin.round_trips == 1, as_admin.statements
    assert as_itself.round_trips == 2, as_itself.statements  # the bearer lookup, then the listing
    assert (removed.answer.status, removed.round_trips) == (410, 1)
    assert unknown.status == 404


@pytest.mark.parametrize("environment", ["new (no data key unwrapped yet)", "warm (data keys cached)"])
def test_values_are_read_with_their_data_keys_in_one_statement_after_the_bearer_lookup(
    api: ApiClient, admin: str, database: str, environment: str
) -> None:
    workspace_id, token = _external(api, admin)
    _set_global(api, admin, "SHARED", "global-shared")
    _set(api, admin, workspace_id, "OWN", "own-value")
    if environment.startswith("new"):
        secrets_service.reset_key_cache()

    values = counted(database, lambda: api.get(f"/workspaces/{workspace_id}/secrets/values", token=token))

    assert values.answer.json() == {"SHARED": "global-shared", "OWN": "own-value"}
    assert (values.round_trips, values.transactions) == (2, 0), values.statements
    assert "live_bearer" in values.statements[0]


def test_values_of_a_workspace_without_secrets_are_empty_in_the_same_round_trips(
    api: ApiClient, admin: str, database: str
) -> None:
    workspace_id, token = _external(api, admin)

    values = counted(database, lambda: api.get(f"/workspaces/{workspace_id}/secrets/values", token=token))

    assert values.answer.json() == {}
    assert values.round_trips == 2, values.statements


@pytest.mark.parametrize("source", ["workspace_secrets", "global_secrets", "default"])
def test_the_model_is_one_statement_whichever_secret_it_comes_from(
    api: ApiClient, admin: str, database: str, source: str
) -> None:
    workspace_id, _ = _external(api, admin)
    _set_global(api, admin, "MODEL_PROVIDER", "anthropic:claude-sonnet")
    if source == "workspace_secrets":
        _set(api, admin, workspace_id, "MODEL_PROVIDER", "openai:gpt-5")
    if source == "default":
        api.delete("/settings/secrets/MODEL_PROVIDER", token=admin)
    secrets_service.reset_key_cache()  # the data key comes with the value

    model = counted(database, lambda: api.get(f"/workspaces/{workspace_id}/model", token=admin))

    expected = {"workspace_secrets": "openai:gpt-5", "global_secrets": "anthropic:claude-sonnet", "default": ""}
    assert model.answer.json() == {"model": expected[source], "source": source}
    assert (model.round_trips, model.transactions) == (1, 0), model.statements


def test_the_model_of_an_unknown_workspace_is_404_and_of_a_removed_one_410(api: ApiClient, admin: str) -> None:
    workspace_id, _ = _external(api, admin)
    _set(api, admin, workspace_id, "MODEL_PROVIDER", "openai:gpt-5")
    assert api.delete(f"/workspaces/{workspace_id}", token=admin).status == 200

    assert api.get("/workspaces/00000000-0000-0000-0000-000000000001/model", token=admin).status == 404
    assert api.get(f"/workspaces/{workspace_id}/model", token=admin).status == 410


def test_a_model_that_does_not_decrypt_is_500_naming_it(api: ApiClient, admin: str, database: str) -> None:
    workspace_id, _ = _external(api, admin)
    _set(api, admin, workspace_id, "MODEL_PROVIDER", "openai:gpt-5")
    flip_first_byte(database, "workspace_secrets")

    answer = api.get(f"/workspaces/{workspace_id}/model", token=admin)

    assert answer.status == 500
    assert answer.json()["failed_keys"] == ["workspace:MODEL_PROVIDER"]
    assert "gpt-5" not in answer.text
