"""What an on-call team relies on (SPEC §5.15): one structured line per request that never carries a
credential, per-credential 429 with Retry-After, bounded statements on every connection, the
connection-failure metric the alarm watches, and credentials read from Secrets Manager."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from molecule_core.platform import db
from molecule_core.platform.errors import DatastoreUnavailable
from molecule_core.platform.observability import metrics
from molecule_local import gateway
from molecule_local.template import default_template

from tests.conftest import ApiClient, create_workspace, set_env


def request_lines(output: str) -> list[dict[str, Any]]:
    """The request lines among what the functions wrote to stdout (one JSON object per line)."""
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == "request"]


def test_each_request_writes_one_line_with_route_status_caller_and_no_credential(
    api: ApiClient, admin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = create_workspace(api, admin, name="logged", external=True)
    token = workspace["connection"]["auth_token"]
    capsys.readouterr()

    assert api.get(f"/workspaces/{workspace['id']}", token=token).status == 200
    assert api.get(f"/workspaces/{workspace['id']}", token="not-a-live-token").status == 401

    output = capsys.readouterr().out
    ok, refused = request_lines(output)
    assert ok == {
        **ok,
        "level": "INFO",
        "service": "molecule",
        "function_name": "WorkspacesFunction",
        "method": "GET",
        "route": "GET /workspaces/{workspace_id}",
        "status": 200,
        "caller_kind": "workspace",
        "caller_workspace_id": workspace["id"],
        "workspace_id": workspace["id"],
    }
    assert ok["duration_ms"] > 0 and ok["function_request_id"] and ok["timestamp"]
    assert refused["status"] == 401 and refused["caller_kind"] is None
    assert token not in output and "not-a-live-token" not in output


def test_a_caller_whose_bearer_is_looked_up_in_the_routes_own_read_is_on_its_request_line(
    api: ApiClient, admin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = create_workspace(api, admin, name="polled", external=True)
    capsys.readouterr()

    assert api.get(f"/workspaces/{workspace['id']}/activity", token=workspace["connection"]["auth_token"]).status == 200

    (line,) = request_lines(capsys.readouterr().out)
    assert (line["route"], line["caller_kind"], line["caller_workspace_id"]) == (
        "GET /workspaces/{workspace_id}/activity",
        "workspace",
        workspace["id"],
    )


def test_every_http_function_writes_one_request_line_per_request_with_its_request_id_as_correlation_id(
    api: ApiClient, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: one route of every HTTP function in template.yaml, naming ids nobody has
    request_ids: list[str] = []
    build_event = gateway.build_http_event

    def recorded(*args: Any, **kwargs: Any) -> dict[str, Any]:
        event = build_event(*args, **kwargs)
        request_ids.append(event["requestContext"]["requestId"])
        return event

    monkeypatch.setattr(gateway, "build_http_event", recorded)
    report = []
    for spec in default_template().functions.values():
        if not spec.routes:
            continue
        route = spec.routes[0]
        capsys.readouterr()

        # When: it is called (whatever it answers: a refusal is a request too)
        answer = api.request(route.method, re.sub(r"\{[^}]+\}", str(uuid.uuid4()), route.path))

        # Then: exactly one request line, naming its route, its status (platform.http.serve) and,
        # as its correlation id, the request id API Gateway gave this request
        lines = [
            (line["route"], line["status"], line.get("correlation_id"))
            for line in request_lines(capsys.readouterr().out)
        ]
        if lines != [(f"{route.method} {route.path}", answer.status, request_ids[-1])]:
            report.append(f"{spec.logical_id} {route.method} {route.path}: {lines} (its handler is not serve(...)?)")
    assert report == [], "\n".join(report)
    assert len(set(request_ids)) == len(request_ids) > 10


def test_a_credential_over_its_rate_gets_429_with_retry_after_and_others_do_not(
    api: ApiClient, admin: str, platform_env: pytest.MonkeyPatch
) -> None:
    busy = create_workspace(api, admin, name="busy", external=True)
    calm = create_workspace(api, admin, name="calm", external=True)
    set_env(platform_env, RATE_LIMIT_PER_SECOND="0.2", RATE_LIMIT_BURST="2")
    busy_token = busy["connection"]["auth_token"]

    statuses = [api.get(f"/workspaces/{busy['id']}", token=busy_token).status for _ in range(2)]
    refused = api.get(f"/workspaces/{busy['id']}", token=busy_token)

    assert statuses == [200, 200]
    assert refused.status == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "rate limit exceeded" in refused.json()["error"]
    assert api.get(f"/workspaces/{calm['id']}", token=calm["connection"]["auth_token"]).status == 200


def test_every_connection_starts_with_a_statement_and_an_idle_transaction_timeout(
    database: str, platform_env: pytest.MonkeyPatch
) -> None:
    set_env(platform_env, DB_STATEMENT_TIMEOUT_MS="1234", DB_IDLE_IN_TRANSACTION_TIMEOUT_MS="5678")
    db.reset()

    def show(conn: db.Connection) -> tuple[str, str]:
        statement = conn.execute("SHOW statement_timeout").fetchone()
        idle = conn.execute("SHOW idle_in_transaction_session_timeout").fetchone()
        assert statement is not None and idle is not None
        return statement["statement_timeout"], idle["idle_in_transaction_session_timeout"]

    try:
        assert db.single_statement(show) == ("1234ms", "5678ms")
    finally:
        db.reset()


def test_a_statement_past_the_timeout_is_cancelled_as_503_and_the_connection_is_kept(
    database: str, platform_env: pytest.MonkeyPatch
) -> None:
    set_env(platform_env, DB_STATEMENT_TIMEOUT_MS="100")
    db.reset()

    def backend_pid(conn: db.Connection) -> int:
        row = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()
        assert row is not None
        return int(row["pid"])

    try:
        before = db.single_statement(backend_pid)
        with pytest.raises(DatastoreUnavailable) as cancelled:
            db.single_statement(lambda conn: conn.execute("SELECT pg_sleep(5)"))
        with pytest.raises(DatastoreUnavailable), db.transaction() as conn:
            conn.execute("SELECT pg_sleep(5)")
        after = db.single_statement(backend_pid)
    finally:
        db.reset()

    assert isinstance(cancelled.value.__cause__, psycopg.errors.QueryCanceled)
    assert after == before  # a cancelled statement is not a lost connection


def test_behind_a_pooler_the_connection_carries_no_startup_options(platform_env: pytest.MonkeyPatch) -> None:
    set_env(platform_env, DATABASE_HOST_OVERRIDE="proxy.example.internal")

    assert "options" not in db.connect_kwargs()


def test_a_failed_connection_counts_for_the_alarm(platform_env: pytest.MonkeyPatch) -> None:
    metrics.clear_metrics()
    with pytest.raises(DatastoreUnavailable):
        db.open_connection("host=127.0.0.1 port=1 user=nobody dbname=nothing connect_timeout=2")

    counted = metrics.metric_set.get("DatabaseConnectionFailures")
    metrics.clear_metrics()
    assert counted is not None and counted["Value"] == [1.0]


@pytest.fixture
def secrets_manager(platform_env: pytest.MonkeyPatch) -> Iterator[Any]:
    from aws_lambda_powertools.utilities import parameters
    from molecule_core.platform import aws
    from moto import mock_aws

    with mock_aws():
        import boto3

        platform_env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        platform_env.setenv("AWS_ACCESS_KEY_ID", "testing")
        platform_env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        parameters.clear_caches()
        aws.reset_clients()
        yield boto3.client("secretsmanager", region_name="us-east-1")
        parameters.clear_caches()
        aws.reset_clients()


def test_the_database_secret_is_used_with_the_proxy_host(
    secrets_manager: Any, platform_env: pytest.MonkeyPatch
) -> None:
    secret = '{"host": "db.internal", "port": 5432, "username": "app", "password": "pw", "dbname": "molecule"}'
    arn = secrets_manager.create_secret(Name="molecule/db", SecretString=secret)["ARN"]
    set_env(platform_env, DATABASE_SECRET_ARN=arn, DATABASE_HOST_OVERRIDE="proxy.internal")

    dsn = psycopg.conninfo.conninfo_to_dict(db.resolve_dsn())

    assert (dsn["host"], dsn["user"], dsn["dbname"], dsn["sslmode"]) == ("proxy.internal", "app", "molecule", "require")
