"""Secrets reaching agents (SPEC §5.12): the provision pipeline puts the merged secrets into the
backend's AgentSpec.env under the platform's own variables, and a value that does not decrypt fails
the provision with a readable last_sample_error; a planted value appears in no log line, event,
activity row or answer of a full run of the secret routes; rotation seals new writes under a new key
id while old ids keep decrypting."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import psycopg
import pytest
from molecule_core.platform.observability import logger
from molecule_core.secrets import service as secrets

from tests.conftest import ApiClient, create_workspace, set_env
from tests.integration import test_workspace_lifecycle as lifecycle_tests
from tests.integration.test_secrets_api import flip_first_byte

# The lifecycle tests' backend double and its fixture: agents are recorded, lifecycle jobs run inline.
RecordingBackend = lifecycle_tests.RecordingBackend
backend = lifecycle_tests.backend

PLANTED = "planted-Zq7-secret-value-4d1f"


def _workspace_row(database: str, workspace_id: str) -> dict[str, Any]:
    with psycopg.connect(database, row_factory=psycopg.rows.dict_row) as conn:
        row = conn.execute(
            "SELECT status::text AS status, last_sample_error FROM workspaces WHERE id = %s", (workspace_id,)
        ).fetchone()
    assert row is not None
    return row


def test_provisioning_injects_globals_overlaid_by_the_workspaces_own_under_the_platforms_variables(
    api: ApiClient, admin: str, backend: RecordingBackend
) -> None:
    api.post("/settings/secrets", json_body={"key": "SHARED", "value": "global-shared"}, token=admin)
    api.post("/settings/secrets", json_body={"key": "MODEL_API_KEY", "value": "global-model"}, token=admin)
    parent = create_workspace(api, admin, name="parent")

    child = create_workspace(api, admin, name="child", parent_id=parent["id"])
    first_env = backend.started[-1].env
    api.post(f"/workspaces/{child['id']}/secrets", json_body={"key": "MODEL_API_KEY", "value": "own"}, token=admin)
    restarted_env = backend.started[-1].env  # the change restarted it through the one pipeline

    assert first_env["MODEL_API_KEY"] == "global-model"
    assert first_env["SHARED"] == "global-shared"
    assert first_env["MOLECULE_SECRET_NAMES"] == "MODEL_API_KEY,SHARED"
    assert first_env["WORKSPACE_ID"] == child["id"] and first_env["PARENT_ID"] == parent["id"]
    assert first_env["MOLECULE_AUTH_TOKEN"] and first_env["PLATFORM_INBOUND_SECRET"]
    assert restarted_env["MODEL_API_KEY"] == "own"
    assert restarted_env["SHARED"] == "global-shared"
    assert restarted_env["WORKSPACE_ID"] == child["id"]


def test_a_restart_after_a_change_starts_the_agent_with_the_new_secrets(
    api: ApiClient, admin: str, backend: RecordingBackend, database: str
) -> None:
    workspace_id = create_workspace(api, admin, name="managed")["id"]
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("UPDATE workspaces SET status = 'online' WHERE id = %s", (workspace_id,))
    backend.started.clear()

    api.post(f"/workspaces/{workspace_id}/secrets", json_body={"key": "API_KEY", "value": "rotated"}, token=admin)
    api.post("/settings/secrets", json_body={"key": "SHARED", "value": "global"}, token=admin)

    assert [spec.env["API_KEY"] for spec in backend.started] == ["rotated", "rotated"]
    assert backend.started[-1].env["SHARED"] == "global"


def test_an_undecryptable_secret_fails_provisioning_with_a_last_sample_error_naming_it(
    api: ApiClient, admin: str, backend: RecordingBackend, database: str
) -> None:
    api.post("/settings/secrets", json_body={"key": "BROKEN_TOKEN", "value": "v"}, token=admin)
    flip_first_byte(database, "global_secrets", column="nonce")
    backend.started.clear()

    created = create_workspace(api, admin, name="managed")

    row = _workspace_row(database, created["id"])
    assert backend.started == []  # nothing started with a partial environment
    assert row["status"] == "failed"
    assert row["last_sample_error"].startswith("provisioning failed: secrets cannot be decrypted: global:BROKEN_TOKEN")
    events = api.get(f"/events/{created['id']}", token=admin).json()
    assert any(
        e["event_type"] == "WORKSPACE_PROVISION_FAILED" and "BROKEN_TOKEN" in e["payload"]["error"] for e in events
    )


def test_without_a_key_source_a_workspace_with_secrets_fails_provisioning_and_one_without_starts(
    api: ApiClient,
    admin: str,
    backend: RecordingBackend,
    database: str,
    platform_env: pytest.MonkeyPatch,
) -> None:
    with_secret = create_workspace(api, admin, name="with")["id"]
    api.post(f"/workspaces/{with_secret}/secrets", json_body={"key": "K", "value": "v"}, token=admin)
    set_env(platform_env, SECRETS_KEY_FILE=None)
    backend.started.clear()

    api.post(f"/workspaces/{with_secret}/restart", token=admin)
    without = create_workspace(api, admin, name="without")

    assert "no encryption key source is configured" in _workspace_row(database, with_secret)["last_sample_error"]
    assert [str(spec.workspace_id) for spec in backend.started] == [without["id"]]


def test_a_planted_value_appears_in_no_log_event_activity_or_answer_but_values(
    api: ApiClient,
    admin: str,
    backend: RecordingBackend,
    database: str,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger.setLevel("DEBUG")
    caplog.set_level("DEBUG")
    json_lines = io.StringIO()  # what Lambda would ship to CloudWatch: Powertools' JSON lines
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous_stream = handler.setStream(json_lines)
    try:
        workspace_id = create_workspace(api, admin, name="managed")["id"]
        external = create_workspace(api, admin, name="remote", external=True)
        own = external["connection"]["auth_token"]
        path = f"/workspaces/{external['id']}"
        body = {"key": "PLANTED", "value": PLANTED}
        answers = [
            api.post(f"{path}/secrets", json_body=body, token=admin),
            api.request("PUT", f"{path}/secrets", json_body=body, token=admin),
            api.post(f"/workspaces/{workspace_id}/secrets", json_body=body, token=admin),
            api.post("/settings/secrets", json_body={"key": "PLANTED_GLOBAL", "value": PLANTED}, token=admin),
            api.request("PUT", "/admin/secrets", json_body={"key": "PLANTED_GLOBAL", "value": PLANTED}, token=admin),
            api.post(f"{path}/secrets", json_body={"key": "bad-key", "value": PLANTED}, token=admin),
            api.post(f"{path}/secrets", json_body={"key": "BIG", "value": PLANTED * 3000}, token=admin),
            api.post(f"{path}/secrets", json_body={"key": "NUL", "value": PLANTED + "\u0000"}, token=admin),
            api.post(f"{path}/secrets", json_body={"key": "NOT_TEXT", "value": [PLANTED]}, token=admin),
            api.post(f"{path}/secrets", body='{"key": "BROKEN", "value": "' + PLANTED, token=admin),
            api.get(f"{path}/secrets", token=admin),
            api.get("/settings/secrets", token=admin),
            api.get("/admin/secrets", token=admin),
            api.get(f"{path}/model", token=admin),
            api.get(f"{path}/secrets/values", token=admin),  # 401: admin
            api.get(f"/events/{external['id']}", token=admin),
            api.get("/events", token=admin),
            api.get(f"{path}/activity", token=admin),
            api.post(f"/workspaces/{workspace_id}/restart", token=admin),  # provisions with the value
        ]
        values = api.get(f"{path}/secrets/values", token=own)  # the one answer that carries it
        flip_first_byte(database, "workspace_secrets")
        answers += [
            api.get(f"{path}/secrets/values", token=own),
            api.post(f"/workspaces/{workspace_id}/restart", token=admin),
        ]
        answers += [
            api.delete(f"{path}/secrets/PLANTED", token=admin),
            api.delete("/admin/secrets/PLANTED_GLOBAL", token=admin),
        ]
        with psycopg.connect(database) as conn:
            stored = [
                json.dumps(row, default=str)
                for table in ("structure_events", "activity_logs", "workspaces")
                for row in conn.execute(f"SELECT * FROM {table}").fetchall()
            ]
        captured = capfd.readouterr()
    finally:
        logger.setLevel("INFO")
        handler.setStream(previous_stream)

    assert values.json()["PLANTED"] == PLANTED
    assert any(PLANTED in spec.env.values() for spec in backend.started)  # it did travel, to the agent
    assert [a.status for a in answers[5:10]] == [400, 413, 400, 400, 400]
    assert answers[-4].status == 500
    for answer in answers:
        assert PLANTED not in answer.text, answer.text
    assert PLANTED not in captured.out and PLANTED not in captured.err
    assert PLANTED not in json_lines.getvalue()
    assert PLANTED not in caplog.text
    assert all(PLANTED not in record.getMessage() and PLANTED not in repr(record.__dict__) for record in caplog.records)
    assert all(PLANTED not in row for row in stored)
    assert '"secret":"workspace:PLANTED"' in json_lines.getvalue()  # the log did name the failure


def test_rotation_seals_new_writes_under_a_new_key_id_and_old_ids_keep_decrypting(
    api: ApiClient, admin: str, database: str
) -> None:
    external = create_workspace(api, admin, name="remote", external=True)
    path, own = f"/workspaces/{external['id']}", external["connection"]["auth_token"]
    api.post(f"{path}/secrets", json_body={"key": "OLD", "value": "sealed-before"}, token=admin)

    new_key_id = secrets.rotate_data_key()
    api.post(f"{path}/secrets", json_body={"key": "NEW", "value": "sealed-after"}, token=admin)

    def key_ids() -> dict[str, str]:
        with psycopg.connect(database) as conn:
            return dict(conn.execute("SELECT key, key_id FROM workspace_secrets").fetchall())

    before = key_ids()
    assert before["NEW"] == new_key_id != before["OLD"]
    assert api.get(f"{path}/secrets/values", token=own).json() == {"OLD": "sealed-before", "NEW": "sealed-after"}

    assert secrets.reencrypt_secrets() == {"resealed": 1, "undecryptable": 0}
    assert set(key_ids().values()) == {new_key_id}
    secrets.reset_key_cache()  # a new execution environment: every data key is unwrapped again
    assert api.get(f"{path}/secrets/values", token=own).json() == {"OLD": "sealed-before", "NEW": "sealed-after"}
