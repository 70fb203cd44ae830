"""Lifecycle endpoints and jobs (SPEC §5.5): restart (coalesced), pause/resume, hibernate, the
hibernation sweep, wake on message, team expand — against real PostgreSQL, with a backend that
records what it is asked to do (the real backends have their own tests)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from molecule_core.lifecycle import dispatch as lifecycle
from molecule_core.lifecycle.jobs import RestartInFlight, handle_lifecycle_job
from molecule_core.lifecycle.models import LifecycleRequest
from molecule_core.provisioning.backends.base import AgentSpec, ProvisionError, use_provisioner
from molecule_local.lambdas import FunctionRegistry

from tests.conftest import ApiClient, InlineDispatcher, create_workspace


class RecordingBackend:
    name = "recording"

    def __init__(self) -> None:
        self.started: list[AgentSpec] = []
        self.stopped: list[tuple[uuid.UUID, str | None]] = []
        self.fail_stop = False

    def start(self, spec: AgentSpec) -> str:
        self.started.append(spec)
        return f"instance-{len(self.started)}"

    def stop(self, workspace_id: uuid.UUID, instance_id: str | None) -> None:
        if self.fail_stop:
            raise ProvisionError("backend refused to stop")
        self.stopped.append((workspace_id, instance_id))

    def is_running(self, workspace_id: uuid.UUID, instance_id: str | None) -> bool:
        return True


@pytest.fixture
def backend() -> Iterator[RecordingBackend]:
    recording = RecordingBackend()
    use_provisioner(recording)
    lifecycle.use_dispatcher(InlineDispatcher())
    yield recording
    lifecycle.use_dispatcher(None)
    use_provisioner(None)


def _sql(database: str, statement: str, *params: Any) -> list[tuple]:
    with psycopg.connect(database) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def _row(database: str, workspace_id: str) -> dict[str, Any]:
    rows = _sql(
        database,
        "SELECT status::text, instance_id, restart_requested_at, restart_claimed_at FROM workspaces WHERE id = %s",
        workspace_id,
    )
    status, instance, requested, claimed = rows[0]
    return {"status": status, "instance_id": instance, "requested": requested, "claimed": claimed}


def _managed(api: ApiClient, admin: str, **fields: Any) -> dict[str, Any]:
    created = create_workspace(api, admin, name=fields.pop("name", "managed"), runtime="langgraph", **fields)
    assert created["status"] == "provisioning", created  # the backend started it
    return created


def _set_status(database: str, workspace_id: str, status: str, **columns: Any) -> None:
    assignments = "".join(f", {name} = %s" for name in columns)
    _sql(
        database,
        f"UPDATE workspaces SET status = %s{assignments} WHERE id = %s",
        status,
        *columns.values(),
        workspace_id,
    )


# --- restart -----------------------------------------------------------------------------------------


def test_restart_stops_then_provisions_through_the_pipeline(
    api: ApiClient, admin: str, database: str, backend: RecordingBackend
) -> None:
    created = _managed(api, admin)
    _set_status(database, created["id"], "offline")
    result = api.post(f"/workspaces/{created['id']}/restart", token=admin)
    assert result.status == 202
    assert result.json() == {"status": "restart_requested", "workspace_id": created["id"]}
    assert backend.stopped == [(uuid.UUID(created["id"]), "instance-1")]
    assert len(backend.started) == 2
    env = backend.started[-1].env
    assert env["WORKSPACE_ID"] == created["id"] and "PARENT_ID" not in env
    assert len(env["MOLECULE_AUTH_TOKEN"]) == 43 and len(env["PLATFORM_INBOUND_SECRET"]) == 43
    assert _row(database, created["id"]) == {
        "status": "provisioning", "instance_id": "instance-2", "requested": None, "claimed": None,
    }  # fmt: skip
    # the rotated token works; the first one does not
    assert api.get(f"/workspaces/{created['id']}", token=env["MOLECULE_AUTH_TOKEN"]).status == 200
    assert api.get(f"/workspaces/{created['id']}", token=backend.started[0].env["MOLECULE_AUTH_TOKEN"]).status == 401


def test_restart_refusals(api: ApiClient, admin: str, database: str, backend: RecordingBackend) -> None:
    assert api.post(f"/workspaces/{uuid.uuid4()}/restart", token=admin).status == 404
    external = create_workspace(api, admin, name="ext", external=True)
    assert api.post(f"/workspaces/{external['id']}/restart", token=admin).status == 409
    parent = _managed(api, admin, name="parent")
    child = _managed(api, admin, name="child", parent_id=parent["id"])
    _set_status(database, parent["id"], "paused")
    blocked = api.post(f"/workspaces/{child['id']}/restart", token=admin)
    assert blocked.status == 409
    assert blocked.json()["paused_ancestor"] == parent["id"]
    assert api.post(f"/workspaces/{parent['id']}/restart", token=admin).status == 409
    api.delete(f"/workspaces/{child['id']}", token=admin)
    assert api.post(f"/workspaces/{child['id']}/restart", token=admin).status == 410


def test_restarts_coalesce_one_in_flight(api: ApiClient, admin: str, database: str, backend: RecordingBackend) -> None:
    created = _managed(api, admin)
    workspace_id = uuid.UUID(created["id"])
    starts_before = len(backend.started)
    # a restart is in flight (its lease is fresh) and another one is requested meanwhile
    _sql(
        database,
        "UPDATE workspaces SET restart_claimed_at = now(), restart_requested_at = now() WHERE id = %s",
        created["id"],
    )
    with pytest.raises(RestartInFlight):
        handle_lifecycle_job(LifecycleRequest("restart", workspace_id, "test"))
    assert len(backend.started) == starts_before
    # the first finishes: the pending request runs once, and duplicate messages find nothing to do
    _sql(database, "UPDATE workspaces SET restart_claimed_at = NULL WHERE id = %s", created["id"])
    for _ in range(3):
        handle_lifecycle_job(LifecycleRequest("restart", workspace_id, "test"))
    assert len(backend.started) == starts_before + 1


def test_a_lost_restart_lease_can_be_reclaimed(
    api: ApiClient, admin: str, database: str, backend: RecordingBackend
) -> None:
    created = _managed(api, admin)
    _sql(
        database,
        "UPDATE workspaces SET restart_claimed_at = now() - interval '1 hour', restart_requested_at = now()"
        " WHERE id = %s",
        created["id"],
    )
    handle_lifecycle_job(LifecycleRequest("restart", uuid.UUID(created["id"]), "test"))
    assert len(backend.started) == 2


# --- pause / resume ----------------------------------------------------------------------------------


def test_pause_covers_descendants_and_stops_their_agents(
    api: ApiClient, admin: str, database: str, backend: RecordingBackend
) -> None:
    root = _managed(api, admin, name="root")
    child = _managed(api, admin, name="child", parent_id=root["id"])
    laptop = create_workspace(api, admin, name="laptop", external=True, parent_id=root["id"])
    result = api.post(f"/workspaces/{root['id']}/pause", token=admin)
    assert result.json() == {"status": "paused", "paused": 3}
    assert {_row(database, w["id"])["status"] for w in (root, child, laptop)} == {"paused"}
    assert {str(s[0]) for s in backend.stopped} == {root["id"], child["id"]}
    state = api.get(f"/workspaces/{root['id']}/state", token=admin).json()
    assert state["paused"] is True


def test_resume(api: ApiClient, admin: str, database: str, backend: RecordingBackend) -> None:
    root = _managed(api, admin, name="root")
    child = _managed(api, admin, name="child", parent_id=root["id"])
    laptop = create_workspace(api, admin, name="laptop", external=True, parent_id=root["id"])
    assert api.post(f"/workspaces/{root['id']}/resume", token=admin).status == 409  # not paused
    api.post(f"/workspaces/{root['id']}/pause", token=admin)
    blocked = api.post(f"/workspaces/{child['id']}/resume", token=admin)
    assert blocked.status == 409 and blocked.json()["paused_ancestor"] == root["id"]
    starts = len(backend.started)
    assert api.post(f"/workspaces/{root['id']}/resume", token=admin).json() == {"status": "resumed", "resumed": 3}
    assert _row(database, laptop["id"])["status"] == "awaiting_agent"
    assert {_row(database, w["id"])["status"] for w in (root, child)} == {"provisioning"}
    assert len(backend.started) == starts + 2


# --- hibernate ---------------------------------------------------------------------------------------


def test_hibernate_claims_stops_and_marks_hibernated(
    api: ApiClient, admin: str, database: str, backend: RecordingBackend
) -> None:
    created = _managed(api, admin)
    _set_status(database, created["id"], "online")
    result = api.post(f"/workspaces/{created['id']}/hibernate", token=admin)
    assert result.json() == {"status": "hibernated", "workspace_id": created["id"]}
    assert _row(database, created["id"])["status"] == "hibernated"
    assert _row(database, created["id"])["instance_id"] is None
    assert backend.stopped[-1] == (uuid.UUID(created["id"]), "instance-1")
    events = [e["event_type"] for e in api.get(f"/events/{created['id']}", token=admin).json()]
    assert events[0] == "WORKSPACE_HIBERNATED"


def test_hibernate_with_active_tasks_needs_force(
    api: ApiClient, admin: str, database: str, backend: RecordingBackend
) -> None:
    created = _managed(api, admin)
    _set_status(database, created["id"], "online", active_tasks=2)
    refused = api.post(f"/workspaces/{created['id']}/hibernate", token=admin)
    assert refused.status == 409
    assert refused.json()["active_tasks"] == 2
    assert _row(database, created["id"])["status"] == "online"
    assert api.post(f"/workspaces/{created['id']}/hibernate?force=true", token=admin).status == 200


def test_a_lost_hibernation_claim_is_reported(
    api: ApiClient, admin: str, database: str, backend: RecordingBackend
) -> None:
    created = _managed(api, admin)
    _set_status(database, created["id"], "hibernating")  # someone else holds the claim
    result = api.post(f"/workspaces/{created['id']}/hibernate?force=true", token=admin)
    assert result.status == 409
    assert result.json()["status"] == "hibernating"
    assert backend.stopped == []


def test_hibernate_when_the_agent_cannot_be_stopped(
    api: ApiClient, admin: str, database: str, backend: RecordingBackend
) -> None:
    created = _managed(api, admin)
    _set_status(database, created["id"], "online")
    backend.fail_stop = True
    result = api.post(f"/workspaces/{created['id']}/hibernate", token=admin)
    assert result.status == 502
    assert _row(database, created["id"])["status"] == "online"


def test_hibernation_sweep_takes_only_idle_managed_workspaces(
    api: ApiClient, admin: str, database: str, backend: RecordingBackend, functions: FunctionRegistry
) -> None:
    idle = _managed(api, admin, name="idle", hibernation_idle_minutes=5)
    busy = _managed(api, admin, name="busy", hibernation_idle_minutes=5)
    recent = _managed(api, admin, name="recent", hibernation_idle_minutes=5)
    never = _managed(api, admin, name="no setting")
    for workspace in (idle, busy, never):
        _set_status(database, workspace["id"], "online")
        _sql(
            database,
            "UPDATE workspaces SET last_active_at = now() - interval '10 minutes' WHERE id = %s",
            workspace["id"],
        )
    _sql(database, "UPDATE workspaces SET active_tasks = 1 WHERE id = %s", busy["id"])
    _set_status(database, recent["id"], "online")
    _sql(database, "UPDATE workspaces SET last_active_at = now() WHERE id = %s", recent["id"])
    assert functions.invoke("HibernationSweepFunction", {"sweep": "hibernation"}) == {"hibernating": 1}
    assert _row(database, idle["id"])["status"] == "hibernated"
    assert {_row(database, w["id"])["status"] for w in (busy, recent, never)} == {"online"}


def test_a_message_to_a_hibernated_workspace_wakes_it(
    api: ApiClient, admin: str, database: str, backend: RecordingBackend
) -> None:
    created = _managed(api, admin)
    _set_status(database, created["id"], "hibernated")
    _sql(
        database,
        "UPDATE workspaces SET url = 'http://93.184.216.34/', delivery_mode = 'push' WHERE id = %s",
        created["id"],
    )
    message = {
        "jsonrpc": "2.0",
        "id": "1",
        "method": "message/send",
        "params": {"message": {"parts": [{"kind": "text", "text": "wake up"}]}},
    }
    result = api.post(f"/workspaces/{created['id']}/a2a", json_body=message, token=admin)
    assert result.status == 503 and result.json()["waking"] is True
    assert _row(database, created["id"])["status"] == "provisioning"  # the wake job restarted it
    assert len(backend.started) == 2


# --- team expand -------------------------------------------------------------------------------------


def test_expand_creates_children_through_the_pipeline_with_parent_id(
    api: ApiClient, admin: str, database: str, backend: RecordingBackend
) -> None:
    root = _managed(api, admin, name="lead")
    result = api.post(
        f"/workspaces/{root['id']}/expand",
        json_body={"children": [{"name": "researcher", "role": "research"}, {"name": "writer"}]},
        token=admin,
    )
    assert result.status == 201
    children = result.json()["children"]
    assert [c["name"] for c in children] == ["researcher", "writer"]
    assert {c["parent_id"] for c in children} == {root["id"]}
    root_env, *child_envs = [spec.env for spec in backend.started]
    assert "PARENT_ID" not in root_env
    assert [env["PARENT_ID"] for env in child_envs] == [root["id"], root["id"]]
    assert all(env["PLATFORM_INBOUND_SECRET"] and env["MOLECULE_AUTH_TOKEN"] for env in child_envs)


@pytest.mark.parametrize("role", ["r" * 256, "lead\x00", "multi\nline"])
def test_expand_refuses_a_bad_child_role_naming_it(
    api: ApiClient, admin: str, backend: RecordingBackend, role: str
) -> None:
    root = _managed(api, admin, name="lead")
    result = api.post(
        f"/workspaces/{root['id']}/expand", json_body={"children": [{"name": "c", "role": role}]}, token=admin
    )
    assert result.status == 400
    assert result.json()["field"] == "children[0].role"
    assert "role" in result.json()["error"]
    assert len(api.get("/workspaces", token=admin).json()) == 1  # no child was created


def test_expand_validation(api: ApiClient, admin: str, backend: RecordingBackend) -> None:
    root = _managed(api, admin, name="lead")
    assert api.post(f"/workspaces/{root['id']}/expand", json_body={"children": []}, token=admin).status == 400
    assert (
        api.post(f"/workspaces/{uuid.uuid4()}/expand", json_body={"children": [{"name": "x"}]}, token=admin).status
        == 404
    )
