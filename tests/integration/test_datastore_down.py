"""The 503 rule (SPEC §4): while PostgreSQL is down every route answers 503
`{"error":"platform datastore unavailable — retry shortly","code":"platform_unavailable"}` — never
a 500, never a 401 because the token could not be looked up, never a stack trace — plain
`/health` stays 200, and once the database is back the next request reconnects.

The outage is real: a throwaway embedded PostgreSQL of its own is stopped with `pg_ctl -m
immediate` (a crash, as an RDS failover looks to a client) and started again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pgserver
import psycopg
import pytest
from molecule_core.platform import db, migrations
from molecule_local.gateway import HttpResult
from pgserver._commands import pg_ctl

from tests.conftest import ApiClient, create_workspace, embedded_pgdata_dir, set_env

ADMIN = "admin-token-for-datastore-down"
UNAVAILABLE = {"error": "platform datastore unavailable — retry shortly", "code": "platform_unavailable"}
UNAVAILABLE_WIRE = '{"error":"platform datastore unavailable — retry shortly","code":"platform_unavailable"}'


@dataclass
class ThrowawayDatastore:
    server: Any  # pgserver.PostgresServer
    uri: str

    def is_up(self) -> bool:
        try:
            with psycopg.connect(self.uri, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    def stop(self) -> None:
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.server.pgdata, user=self.server.system_user, timeout=60)
        assert not self.is_up()

    def start(self) -> None:
        if not self.is_up():
            # pgserver restarts the cluster on the same pgdata and socket directory (pg_ctl -w start)
            self.server.ensure_postgres_running()
        assert self.server.get_uri() == self.uri
        assert self.is_up()


@pytest.fixture(scope="module")
def throwaway_datastore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayDatastore]:
    """A PostgreSQL server of this module's own (stopping it must not disturb the shared one)."""
    pgdata: Path = embedded_pgdata_dir("down")
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    try:
        uri = server.get_uri()
        migrations.up(uri)
        yield ThrowawayDatastore(server, uri)
    finally:
        server.cleanup()


@dataclass
class Outage:
    api: ApiClient
    datastore: ThrowawayDatastore
    workspace_id: str
    workspace_token: str


@pytest.fixture
def outage(
    api: ApiClient, throwaway_datastore: ThrowawayDatastore, platform_env: pytest.MonkeyPatch
) -> Iterator[Outage]:
    """A workspace created while the datastore was up, then the datastore stopped; it is started
    again afterwards whatever the test did."""
    throwaway_datastore.start()
    db.configure(dsn=throwaway_datastore.uri)
    set_env(platform_env, ADMIN_TOKEN=ADMIN)
    created = create_workspace(api, ADMIN, name="before-outage", external=True)
    assert api.get(f"/workspaces/{created['id']}", token=ADMIN).status == 200
    throwaway_datastore.stop()
    try:
        yield Outage(api, throwaway_datastore, created["id"], created["connection"]["auth_token"])
    finally:
        throwaway_datastore.start()
        db.configure(dsn=None)


def _routes(workspace_id: str) -> list[tuple[str, str, Any]]:
    """One request of every route family (method, path, JSON body)."""
    return [
        ("GET", "/health?deep=true", None),
        ("POST", "/workspaces", {"name": "during-outage", "external": True}),
        ("GET", "/workspaces", None),
        ("GET", f"/workspaces/{workspace_id}", None),
        ("PATCH", f"/workspaces/{workspace_id}", {"name": "renamed"}),
        ("DELETE", f"/workspaces/{workspace_id}", None),
        ("GET", f"/workspaces/{workspace_id}/state", None),
        ("GET", f"/workspaces/{workspace_id}/tokens", None),
        ("POST", f"/workspaces/{workspace_id}/tokens", None),
        ("GET", "/org/tokens", None),
        ("POST", "/org/tokens", {"name": "ops"}),
        ("GET", "/events", None),
        ("GET", f"/events/{workspace_id}", None),
        ("GET", f"/admin/workspaces/{workspace_id}/test-token", None),
    ]


# routes whose auth needs a token lookup when a workspace bearer is presented
_WORKSPACE_BEARER_ROUTES = [
    ("GET", "/workspaces/{id}", None),
    ("GET", "/workspaces/{id}/state", None),
    ("PATCH", "/workspaces/{id}", {"name": "renamed"}),
    ("GET", "/workspaces/{id}/tokens", None),
    ("POST", "/workspaces/{id}/tokens", None),
    ("GET", "/events/{id}", None),
    # Admin routes: the bearer is not ADMIN_TOKEN, so it must be looked up before it can be refused
    ("GET", "/workspaces", None),
    ("POST", "/workspaces", {"name": "during-outage", "external": True}),
    ("DELETE", "/workspaces/{id}", None),
    ("GET", "/org/tokens", None),
    ("GET", "/events", None),
]


def _call(api: ApiClient, method: str, path: str, body: Any, token: str) -> HttpResult:
    return api.request(method, path, json_body=body, token=token)


def _unavailable_problems(result: HttpResult) -> list[str]:
    problems = []
    if result.status != 503:
        problems.append(f"status {result.status}")
    try:
        if result.json() != UNAVAILABLE:
            problems.append(f"body {result.text!r}")
    except json.JSONDecodeError:
        problems.append(f"non-JSON body {result.text!r}")
    if result.text != UNAVAILABLE_WIRE:
        problems.append(f"wire form {result.text!r}")
    for leak in ("Traceback", 'File "', "psycopg", "Error:", "connection"):
        if leak in result.text:
            problems.append(f"leaks {leak!r}")
    return problems


def test_every_route_answers_503_platform_unavailable_with_the_admin_token(outage: Outage) -> None:
    failures = {
        f"{method} {path}": problems
        for method, path, body in _routes(outage.workspace_id)
        if (problems := _unavailable_problems(_call(outage.api, method, path, body, ADMIN)))
    }

    assert failures == {}


def test_a_workspace_bearer_gets_503_not_401_when_it_cannot_be_looked_up(outage: Outage) -> None:
    failures = {
        f"{method} {path}": problems
        for method, template, body in _WORKSPACE_BEARER_ROUTES
        if (path := template.replace("{id}", outage.workspace_id))
        and (problems := _unavailable_problems(_call(outage.api, method, path, body, outage.workspace_token)))
    }

    assert failures == {}


def test_an_unknown_bearer_gets_503_not_401_while_down(outage: Outage) -> None:
    result = outage.api.get(f"/workspaces/{outage.workspace_id}", token="not-a-real-token")

    assert _unavailable_problems(result) == []


def test_plain_health_still_answers_200_while_down(outage: Outage) -> None:
    result = outage.api.get("/health")

    assert result.status == 200
    assert result.json() == {"status": "ok"}
    assert outage.api.get("/health?deep=true").status == 503


def test_the_next_request_after_the_datastore_returns_reconnects_and_succeeds(outage: Outage) -> None:
    # Given: requests during the outage failed (and broke this environment's connection)
    assert outage.api.get(f"/workspaces/{outage.workspace_id}", token=ADMIN).status == 503
    assert outage.api.get("/workspaces", token=ADMIN).status == 503

    # When: the datastore comes back
    outage.datastore.start()

    # Then: the very next request opens a new connection and succeeds — no retry, no restart
    result = outage.api.get(f"/workspaces/{outage.workspace_id}", token=ADMIN)
    assert result.status == 200, result.text
    assert result.json()["name"] == "before-outage"
    assert outage.api.get(f"/workspaces/{outage.workspace_id}", token=outage.workspace_token).status == 200
    assert outage.api.get("/health?deep=true").json() == {"status": "ok", "database": "ok"}
    created = outage.api.post("/workspaces", json_body={"name": "after", "external": True}, token=ADMIN)
    assert created.status == 201


def test_a_connection_that_died_while_idle_is_replaced_without_failing_a_request(outage: Outage) -> None:
    # Given: the environment's connection died with the server, and no request noticed it
    # (a database restart or failover between two invocations, or RDS Proxy's idle-client timeout)
    outage.datastore.start()

    # When / Then: the first request after the database is back already succeeds
    result = outage.api.get(f"/workspaces/{outage.workspace_id}", token=ADMIN)
    assert result.status == 200, result.text
    assert result.json()["name"] == "before-outage"
