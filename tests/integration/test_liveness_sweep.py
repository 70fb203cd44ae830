"""The liveness sweep (SPEC §5.3): stale heartbeats and provisioning timeouts, in a constant number
of statements, through the scheduled function with its template Input as the event."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from molecule_core.platform import db
from molecule_local.lambdas import FunctionRegistry
from molecule_local.scheduler import SchedulerService

from tests.conftest import ApiClient, RecordingDispatcher, create_workspace, set_env

EVENT = json.loads((Path(__file__).resolve().parents[2] / "events/schedule_liveness.json").read_text())


def _sql(database: str, statement: str, *params: Any) -> list[tuple]:
    with psycopg.connect(database) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def _status(database: str, workspace_id: str) -> str:
    return str(_sql(database, "SELECT status::text FROM workspaces WHERE id = %s", workspace_id)[0][0])


def _make(database: str, *, status: str, external: bool, heartbeat_age: int | None, changed_age: int = 0) -> str:
    rows = _sql(
        database,
        """
        INSERT INTO workspaces (name, runtime, external, status, last_heartbeat_at)
        VALUES ('w', %s, %s, %s::workspace_status,
                CASE WHEN %s::int IS NULL THEN NULL ELSE now() - make_interval(secs => %s::int) END)
        RETURNING id
        """,
        "external" if external else "langgraph",
        external,
        status,
        heartbeat_age,
        heartbeat_age,
    )
    workspace_id = str(rows[0][0])
    if changed_age:
        # the trigger stamps status_changed_at on status changes only; age it directly
        _sql(
            database,
            "UPDATE workspaces SET status_changed_at = now() - make_interval(secs => %s) WHERE id = %s",
            changed_age,
            workspace_id,
        )
    return workspace_id


def _sweep(functions: FunctionRegistry) -> dict[str, int]:
    return functions.invoke("LivenessSweepFunction", dict(EVENT))


def test_stale_external_goes_awaiting_agent_and_managed_goes_offline_with_restart(
    database: str, functions: FunctionRegistry, dispatcher: RecordingDispatcher
) -> None:
    external = _make(database, status="online", external=True, heartbeat_age=600)
    managed = _make(database, status="degraded", external=False, heartbeat_age=600)
    fresh = _make(database, status="online", external=False, heartbeat_age=5)
    outcome = _sweep(functions)
    assert outcome == {
        "awaiting_agent": 1, "offline": 1, "restart_requested": 1, "provision_timed_out": 0, "restart_re_requested": 0
    }  # fmt: skip
    assert _status(database, external) == "awaiting_agent"
    assert _status(database, managed) == "offline"
    assert _status(database, fresh) == "online"
    assert [(r.action, str(r.workspace_id)) for r in dispatcher.requests] == [("restart", managed)]
    restart_marks = _sql(database, "SELECT id::text FROM workspaces WHERE restart_requested_at IS NOT NULL")
    assert restart_marks == [(managed,)]
    events = _sql(
        database,
        "SELECT event_type, workspace_id::text, payload->>'reason' FROM structure_events ORDER BY seq",
    )
    assert sorted(events) == sorted(
        [
            ("WORKSPACE_AWAITING_AGENT", external, "heartbeat_stale"),
            ("WORKSPACE_OFFLINE", managed, "heartbeat_stale"),
        ]
    )


def test_online_workspace_that_never_heartbeat_is_stale(database: str, functions: FunctionRegistry) -> None:
    never = _make(database, status="online", external=True, heartbeat_age=None)
    _sweep(functions)
    assert _status(database, never) == "awaiting_agent"


def test_threshold_is_a_setting(database: str, functions: FunctionRegistry, platform_env: pytest.MonkeyPatch) -> None:
    workspace_id = _make(database, status="online", external=True, heartbeat_age=30)
    _sweep(functions)
    assert _status(database, workspace_id) == "online"
    set_env(platform_env, HEARTBEAT_STALE_SECONDS="10")
    _sweep(functions)
    assert _status(database, workspace_id) == "awaiting_agent"


@pytest.mark.parametrize("status", ["offline", "awaiting_agent", "paused", "hibernated", "failed", "removed"])
def test_other_statuses_are_left_alone(database: str, functions: FunctionRegistry, status: str) -> None:
    workspace_id = _make(database, status=status, external=False, heartbeat_age=10_000)
    _sweep(functions)
    assert _status(database, workspace_id) == status


def test_provisioning_timeout_fails_with_a_message(database: str, functions: FunctionRegistry) -> None:
    late = _make(database, status="provisioning", external=False, heartbeat_age=None, changed_age=3600)
    recent = _make(database, status="provisioning", external=False, heartbeat_age=None, changed_age=10)
    assert _sweep(functions)["provision_timed_out"] == 1
    assert _status(database, late) == "failed"
    assert _status(database, recent) == "provisioning"
    message = _sql(database, "SELECT last_sample_error FROM workspaces WHERE id = %s", late)[0][0]
    assert message == "provisioning timed out after 600 seconds: the agent never registered"
    assert _sql(database, "SELECT event_type FROM structure_events WHERE workspace_id = %s", late) == [
        ("WORKSPACE_PROVISION_FAILED",)
    ]


def test_a_second_sweep_changes_nothing(database: str, functions: FunctionRegistry) -> None:
    _make(database, status="online", external=False, heartbeat_age=600)
    _sweep(functions)
    assert _sweep(functions) == {
        "awaiting_agent": 0,
        "offline": 0,
        "restart_requested": 0,
        "provision_timed_out": 0,
        "restart_re_requested": 0,
    }


class CountingCursor(psycopg.Cursor):  # type: ignore[type-arg]
    executed = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        CountingCursor.executed += 1
        return super().execute(*args, **kwargs)


def _statements_for_sweep(database: str, functions: FunctionRegistry, stale: int) -> int:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("TRUNCATE workspaces CASCADE")
        conn.execute(
            """
            INSERT INTO workspaces (name, runtime, external, status, last_heartbeat_at)
            SELECT 'w' || g, 'langgraph', g %% 2 = 0, 'online', now() - interval '1 hour'
            FROM generate_series(1, %s) g
            """,
            (stale,),
        )
    db.configure(dsn=database, cursor_factory=CountingCursor)
    CountingCursor.executed = 0
    try:
        outcome = _sweep(functions)
    finally:
        db.configure(dsn=database)
    assert outcome["awaiting_agent"] + outcome["offline"] == stale
    return CountingCursor.executed


def test_statements_are_constant_whatever_the_fleet_size(database: str, functions: FunctionRegistry) -> None:
    assert _statements_for_sweep(database, functions, 3) == _statements_for_sweep(database, functions, 300)


def test_local_scheduler_invokes_scheduled_functions_at_their_period(
    database: str, functions: FunctionRegistry, api: ApiClient, admin: str
) -> None:
    created = create_workspace(api, admin, name="ext", external=True, url="https://93.184.216.34")
    _sql(
        database,
        "UPDATE workspaces SET last_heartbeat_at = now() - interval '1 hour' WHERE id = %s",
        created["id"],
    )
    scheduler = SchedulerService(functions, period_override=0.05)
    # every ScheduleV2 function of template.yaml, none listed by hand
    scheduled = {spec.logical_id for spec in functions.template.functions.values() if spec.schedules}
    assert {job[0] for job in scheduler.jobs} == scheduled
    assert "LivenessSweepFunction" in scheduled
    scheduler.start()
    try:
        deadline = time.monotonic() + 20
        while _status(database, created["id"]) != "awaiting_agent" and time.monotonic() < deadline:
            scheduler._stop.wait(0.05)
    finally:
        scheduler.stop()
    assert _status(database, created["id"]) == "awaiting_agent"
    assert scheduler.invocations["LivenessSweepFunction"] >= 1


def test_an_unclaimed_restart_request_is_requested_again(
    database: str, functions: FunctionRegistry, dispatcher: RecordingDispatcher
) -> None:
    """A restart whose message never reached a lifecycle job (lost, or its send failed) is not lost:
    the row still says it is pending, and the sweep asks again."""
    lost = _make(database, status="offline", external=False, heartbeat_age=600)
    in_flight = _make(database, status="offline", external=False, heartbeat_age=600)
    fresh = _make(database, status="offline", external=False, heartbeat_age=600)
    _sql(
        database,
        "UPDATE workspaces SET restart_requested_at = now() - interval '10 minutes' WHERE id IN (%s, %s)",
        lost,
        in_flight,
    )
    _sql(database, "UPDATE workspaces SET restart_claimed_at = now() WHERE id = %s", in_flight)
    _sql(database, "UPDATE workspaces SET restart_requested_at = now() WHERE id = %s", fresh)
    assert _sweep(functions)["restart_re_requested"] == 1
    assert [(r.action, str(r.workspace_id), r.reason) for r in dispatcher.requests] == [
        ("restart", lost, "pending_restart")
    ]
