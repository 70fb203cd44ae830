"""Shared fixtures: a real PostgreSQL for the whole session (a throwaway embedded cluster, or a
fresh database on TEST_DATABASE_URL's server), migrated once and emptied between tests; settings
that each test can change; and an in-process API client that goes through the same route table
and API Gateway v2 events as the local stack."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from molecule_core.platform import db, migrations
from molecule_core.platform.settings import reset_settings
from molecule_core.provisioning.backends.base import use_provisioner
from molecule_local.gateway import Gateway, HttpResult, RouteTable
from molecule_local.lambdas import FunctionRegistry
from molecule_local.stack import route_table

# Tests start from a neutral environment: nothing from the developer's shell leaks in.
_PLATFORM_ENV = (
    "MOLECULE_ENV",
    "DATABASE_URL",
    "DATABASE_SECRET_ARN",
    "ADMIN_TOKEN",
    "ADMIN_TOKEN_SECRET_ARN",
    "MOLECULE_ENABLE_TEST_TOKENS",
    "PLATFORM_URL",
    "PROVISIONER_BACKEND",
    "MOLECULE_SAAS_MODE",
    "SECRETS_KMS_KEY_ID",
    "SECRETS_KEY_FILE",
)
_TABLES = (
    "workspaces, workspace_auth_tokens, org_api_tokens, activity_logs, structure_events, a2a_queue, "
    "global_secrets, secret_data_keys, delegations"
)


def _server_database(base_url: str) -> Iterator[str]:
    """A fresh database on an existing server, dropped afterwards."""
    name = f"molecule_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield psycopg.conninfo.make_conninfo(base_url, dbname=name)
    finally:
        with psycopg.connect(base_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def embedded_pgdata_dir(prefix: str) -> Path:
    """A fresh directory for an embedded cluster. Not under pytest's tmp_path: as root, pgserver runs
    PostgreSQL as a separate user, and every pytest session resets its temp root to mode 0700,
    which would cut a running cluster off from its own files."""
    return Path(tempfile.mkdtemp(prefix=f"molecule-{prefix}-")) / "pgdata"


@pytest.fixture(scope="session")
def postgres_base_url() -> Iterator[str]:
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    import pgserver

    pgdata = embedded_pgdata_dir("test")
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(pgdata.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(postgres_base_url: str) -> Iterator[str]:
    for url in _server_database(postgres_base_url):
        migrations.up(url)
        yield url


@pytest.fixture(scope="session")
def secrets_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests' secrets key file is made on first use (as the local stack does)."""
    return tmp_path_factory.mktemp("secrets") / "secrets.key"


@pytest.fixture(autouse=True)
def platform_env(monkeypatch: pytest.MonkeyPatch, secrets_key_file: Path) -> Iterator[pytest.MonkeyPatch]:
    for name in _PLATFORM_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MOLECULE_ENV", "test")
    monkeypatch.setenv("SECRETS_KEY_FILE", str(secrets_key_file))
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "MoleculeTest")
    monkeypatch.setenv("POWERTOOLS_DEV", "false")
    # Tests drive one credential (the admin's) far past any per-credential rate; the limiter has
    # tests of its own (test_rate_limit, test_operations) that turn it back on.
    monkeypatch.setenv("RATE_LIMIT_PER_SECOND", "0")
    reset_settings()
    yield monkeypatch
    reset_settings()
    use_provisioner(None)


def set_env(monkeypatch: pytest.MonkeyPatch, **values: str | None) -> None:
    """Change platform settings for one test."""
    for name, value in values.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    reset_settings()


@pytest.fixture
def database(database_url: str) -> Iterator[str]:
    """A migrated, empty database that this process's db module points at."""
    db.use_pool(None)
    db.configure(dsn=database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE")
    yield database_url
    db.configure(dsn=None)


@pytest.fixture(scope="session")
def functions() -> FunctionRegistry:
    return FunctionRegistry()


@pytest.fixture(scope="session")
def routes(functions: FunctionRegistry) -> RouteTable:
    return route_table(functions.template)


class ApiClient:
    """Calls the functions in process through the template's route table and real API Gateway v2
    events — the same path as the local stack, without a socket."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        token: str | None = None,
    ) -> HttpResult:
        all_headers = {"host": "127.0.0.1:8080", **(headers or {})}
        if token is not None:
            all_headers["authorization"] = f"Bearer {token}"
        if json_body is not None:
            body = json.dumps(json_body)
            all_headers.setdefault("content-type", "application/json")
        return self.gateway.handle(method, path, all_headers, body)

    def get(self, path: str, **kwargs: Any) -> HttpResult:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> HttpResult:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> HttpResult:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> HttpResult:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def api(database: str, functions: FunctionRegistry, routes: RouteTable) -> ApiClient:
    return ApiClient(Gateway(routes, functions))


def eventually(condition: Callable[[], bool], timeout: float = 15.0, interval: float = 0.05) -> bool:
    """Poll `condition` until it holds or the deadline passes (an event wait paces the loop; it is
    never the synchronisation itself)."""
    deadline = time.monotonic() + timeout
    pace = threading.Event()
    while time.monotonic() < deadline:
        if condition():
            return True
        pace.wait(interval)
    return condition()


T = TypeVar("T")


def wait_until(probe: Callable[[], T], what: str, timeout: float = 20.0) -> T:
    """Poll `probe` until it returns something truthy and return that; fail after `timeout`."""
    found: list[T] = []

    def probed() -> bool:
        result = probe()
        if result:
            found.append(result)
        return bool(result)

    assert eventually(probed, timeout), f"timed out after {timeout}s waiting for {what}"
    return found[-1]


ADMIN = "admin-token-for-tests"


@pytest.fixture
def admin(platform_env: pytest.MonkeyPatch) -> str:
    """ADMIN_TOKEN is set; returns it."""
    set_env(platform_env, ADMIN_TOKEN=ADMIN)
    return ADMIN


def create_workspace(api: ApiClient, token: str, **fields: Any) -> dict[str, Any]:
    result = api.post("/workspaces", json_body={"name": "ws", **fields}, token=token)
    assert result.status == 201, result.text
    created: dict[str, Any] = result.json()
    return created


class InlineDispatcher:
    """Runs lifecycle jobs in the requesting process, one after the other (tests without a lifecycle
    queue); a job that fails is logged, never raised into the requester."""

    def dispatch(self, requests: Any) -> None:
        from molecule_core.lifecycle.jobs import handle_lifecycle_job
        from molecule_core.platform.observability import logger

        for request in requests:
            try:
                handle_lifecycle_job(request)
            except Exception:
                logger.exception("inline lifecycle job failed", extra={"workspace_id": str(request.workspace_id)})


class RecordingDispatcher:
    """Collects lifecycle requests instead of running them (what was asked, not what happened)."""

    def __init__(self) -> None:
        from molecule_core.lifecycle.models import LifecycleRequest

        self.requests: list[LifecycleRequest] = []

    def dispatch(self, requests: Any) -> None:
        self.requests.extend(requests)


@pytest.fixture
def dispatcher() -> Iterator[RecordingDispatcher]:
    from molecule_core.lifecycle import dispatch as lifecycle

    recording = RecordingDispatcher()
    lifecycle.use_dispatcher(recording)
    yield recording
    lifecycle.use_dispatcher(None)


@pytest.fixture
def dev(platform_env: pytest.MonkeyPatch, admin: str) -> str:
    """Development mode (agents on loopback are allowed) with ADMIN_TOKEN set (no fail-open); the
    admin token."""
    set_env(platform_env, MOLECULE_ENV="development")
    return admin


@pytest.fixture
def agent() -> Iterator[Any]:
    """A scriptable agent on 127.0.0.1 (tests/agents.py)."""
    from tests.agents import scripted_agent

    with scripted_agent() as running:
        yield running


@contextlib.contextmanager
def database_trigger(dsn: str, name: str, event: str, body: str, *, when: str = "true") -> Iterator[None]:
    """A real PostgreSQL trigger for the duration of the block (a failure the code cannot tell from
    a real one, not a mock): `body` (plpgsql) runs BEFORE `event` ("INSERT ON activity_logs") for
    each row where `when` holds."""
    import psycopg as pg

    with pg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            f"""
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NEW; END $$;
            CREATE TRIGGER {name} BEFORE {event} FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION {name}();
            """
        )
    try:
        yield
    finally:
        with pg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP TRIGGER {name} ON {event.rsplit(' ON ', 1)[1]}; DROP FUNCTION {name}();")


@pytest.fixture
def refuse_secret_writes(database: str) -> Iterator[None]:
    """A real PostgreSQL failure on any write of platform_inbound_secret."""
    with database_trigger(
        database,
        "refuse_secret",
        "UPDATE OF platform_inbound_secret ON workspaces",
        "RAISE EXCEPTION 'secret writes refused by test';",
    ):
        yield


def live_workspace_tokens(dsn: str, workspace_id: str) -> int:
    import psycopg as pg

    with pg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM workspace_auth_tokens WHERE workspace_id = %s AND revoked_at IS NULL",
            (workspace_id,),
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.fixture
def bucket(platform_env: pytest.MonkeyPatch) -> Iterator[Any]:
    """The template's files bucket on a moto S3 server; FILES_BUCKET and the endpoint exported."""
    from molecule_local.s3 import LocalS3
    from molecule_local.template import default_template

    s3 = LocalS3(default_template(), port=0, name_prefix=f"t{os.urandom(4).hex()}-")
    s3.start()
    try:
        yield s3
    finally:
        s3.stop()
