"""The `migrate` Lambda (SPEC §3 "Migrations"): direct invocations with {"action": …}, and the
CloudFormation custom-resource protocol of MigrateOnDeploy — the outcome is PUT to a real HTTP
server standing in for the pre-signed S3 ResponseURL, and a broken database must still produce a
FAILED response (a deploy that never hears back hangs for an hour)."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from molecule_core.platform import db
from molecule_local.lambdas import FunctionRegistry

from tests.conftest import _server_database, set_env

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
ALL_VERSIONS = sorted(path.name.split("_", 1)[0] for path in MIGRATIONS_DIR.glob("*.up.sql"))
DEADLINE_SECONDS = 30.0
RESPONSE_PATH = "/cloudformation-response/stack-123?X-Amz-Signature=abc123&X-Amz-Expires=7200"


@dataclass
class RecordedPut:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class ResponseCollector:
    """A real HTTP server on 127.0.0.1 that records every PUT, like the S3 pre-signed URL."""

    base_url: str
    puts: list[RecordedPut] = field(default_factory=list)
    received: threading.Event = field(default_factory=threading.Event)

    @property
    def response_url(self) -> str:
        return self.base_url + RESPONSE_PATH

    def wait_for_put(self) -> RecordedPut:
        assert self.received.wait(DEADLINE_SECONDS), "the function never PUT its result to ResponseURL"
        assert len(self.puts) == 1
        return self.puts[0]


@pytest.fixture
def collector() -> Iterator[ResponseCollector]:
    recorded: list[RecordedPut] = []
    received = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            recorded.append(RecordedPut(self.path, dict(self.headers.items()), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            received.set()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield ResponseCollector(f"http://{host}:{port}", recorded, received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(DEADLINE_SECONDS)


@pytest.fixture
def fresh_database_url(postgres_base_url: str, platform_env: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty database that the function reaches through DATABASE_URL, as in Lambda."""
    db.use_pool(None)
    db.configure(dsn=None)
    for url in _server_database(postgres_base_url):
        set_env(platform_env, DATABASE_URL=url)
        try:
            yield url
        finally:
            db.configure(dsn=None)


def _custom_resource_event(request_type: str, response_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ServiceToken": "arn:aws:lambda:eu-west-1:000000000000:function:MigrateFunction",
        "ResponseURL": response_url,
        "StackId": "arn:aws:cloudformation:eu-west-1:000000000000:stack/molecule/1a2b3c",
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": "MigrateOnDeploy",
        "ResourceType": "Custom::Migrate",
        "ResourceProperties": {"ServiceToken": "arn:…", "FunctionVersion": "7"},
        **extra,
    }


def _public_tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {row[0] for row in rows}


def _recorded_versions(dsn: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    return [row[0] for row in rows]


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _assert_echoes_the_request(response: dict[str, Any], event: dict[str, Any]) -> None:
    for key in ("StackId", "RequestId", "LogicalResourceId"):
        assert response[key] == event[key]
    assert response["PhysicalResourceId"]
    assert isinstance(response["Reason"], str) and response["Reason"]


# --- direct invocations ---------------------------------------------------------------------------


def test_status_lists_every_migration_as_applied_on_a_migrated_database(
    database: str, functions: FunctionRegistry
) -> None:
    result = functions.invoke("MigrateFunction", {"action": "status"})

    assert result["action"] == "status"
    assert [(m["version"], m["applied"]) for m in result["migrations"]] == [(v, True) for v in ALL_VERSIONS]
    assert all(m["name"] for m in result["migrations"])


def test_up_on_a_migrated_database_applies_nothing(database: str, functions: FunctionRegistry) -> None:
    before = _recorded_versions(database)

    result = functions.invoke("MigrateFunction", {"action": "up"})

    assert result == {"action": "up", "applied": []}
    assert _recorded_versions(database) == before == ALL_VERSIONS


def test_status_then_up_through_database_url_migrates_a_fresh_database(
    fresh_database_url: str, functions: FunctionRegistry
) -> None:
    status = functions.invoke("MigrateFunction", {"action": "status"})
    assert [(m["version"], m["applied"]) for m in status["migrations"]] == [(v, False) for v in ALL_VERSIONS]

    assert functions.invoke("MigrateFunction", {"action": "up"}) == {"action": "up", "applied": ALL_VERSIONS}
    assert functions.invoke("MigrateFunction", {}) == {"action": "up", "applied": []}
    assert "workspaces" in _public_tables(fresh_database_url)


def test_secrets_key_operations_rotate_the_data_key_and_check_it(database: str, functions: FunctionRegistry) -> None:
    first = functions.invoke("MigrateFunction", {"action": "secrets_check"})
    rotated = functions.invoke("MigrateFunction", {"action": "secrets_rotate"})
    second = functions.invoke("MigrateFunction", {"action": "secrets_check"})
    resealed = functions.invoke("MigrateFunction", {"action": "secrets_reencrypt"})

    assert first["key_source"].startswith("local:")
    assert rotated["active_data_key"] != first["active_data_key"]
    assert second["active_data_key"] == rotated["active_data_key"]
    assert resealed == {"action": "secrets_reencrypt", "resealed": 0, "undecryptable": 0}


# --- CloudFormation custom resource ---------------------------------------------------------------


def test_create_event_migrates_and_puts_success(
    fresh_database_url: str, functions: FunctionRegistry, collector: ResponseCollector
) -> None:
    event = _custom_resource_event("Create", collector.response_url)

    returned = functions.invoke("MigrateFunction", event)

    put = collector.wait_for_put()
    assert put.path == RESPONSE_PATH
    # the pre-signed URL is signed without a content type: sending one would be rejected by S3
    assert put.headers.get("Content-Type", "") == ""
    assert put.body["Status"] == "SUCCESS"
    _assert_echoes_the_request(put.body, event)
    assert put.body["Data"]["Applied"] == ",".join(ALL_VERSIONS)
    assert put.body["Data"]["key_source"].startswith("local:")  # the secrets key source was checked
    assert put.body["Data"]["active_data_key"].startswith("dk-")
    assert returned == put.body
    assert _recorded_versions(fresh_database_url) == ALL_VERSIONS


def test_create_event_without_a_secrets_key_source_puts_failed_naming_what_to_set(
    fresh_database_url: str, functions: FunctionRegistry, collector: ResponseCollector, platform_env: pytest.MonkeyPatch
) -> None:
    set_env(platform_env, SECRETS_KEY_FILE=None, SECRETS_KMS_KEY_ID=None)
    event = _custom_resource_event("Create", collector.response_url)

    functions.invoke("MigrateFunction", event)

    put = collector.wait_for_put()
    assert put.body["Status"] == "FAILED"
    assert "no encryption key source is configured" in put.body["Reason"]
    assert "SECRETS_KMS_KEY_ID" in put.body["Reason"]
    assert _recorded_versions(fresh_database_url) == ALL_VERSIONS  # migrated; the deploy still fails


def test_update_event_on_a_migrated_database_puts_success_and_keeps_the_physical_id(
    database: str, functions: FunctionRegistry, collector: ResponseCollector
) -> None:
    event = _custom_resource_event("Update", collector.response_url, PhysicalResourceId="molecule-schema-1")

    functions.invoke("MigrateFunction", event)

    put = collector.wait_for_put()
    assert put.body["Status"] == "SUCCESS"
    _assert_echoes_the_request(put.body, event)
    assert put.body["PhysicalResourceId"] == "molecule-schema-1"
    assert put.body["Data"]["Applied"] == ""


def test_delete_event_puts_success_and_changes_nothing(
    database: str, functions: FunctionRegistry, collector: ResponseCollector
) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("INSERT INTO workspaces (name, runtime) VALUES ('keep-me', 'x')")
    tables_before = _public_tables(database)
    event = _custom_resource_event("Delete", collector.response_url, PhysicalResourceId="molecule-schema")

    functions.invoke("MigrateFunction", event)

    put = collector.wait_for_put()
    assert put.body["Status"] == "SUCCESS"
    _assert_echoes_the_request(put.body, event)
    assert put.body["PhysicalResourceId"] == "molecule-schema"
    assert _public_tables(database) == tables_before
    assert _recorded_versions(database) == ALL_VERSIONS
    with psycopg.connect(database, autocommit=True) as conn:
        assert conn.execute("SELECT name FROM workspaces").fetchall() == [("keep-me",)]


def test_delete_event_succeeds_even_when_the_database_is_gone(
    functions: FunctionRegistry, collector: ResponseCollector, platform_env: pytest.MonkeyPatch
) -> None:
    db.configure(dsn=None)
    set_env(platform_env, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{_closed_port()}/postgres")
    event = _custom_resource_event("Delete", collector.response_url, PhysicalResourceId="molecule-schema")

    functions.invoke("MigrateFunction", event)

    assert collector.wait_for_put().body["Status"] == "SUCCESS"


@pytest.mark.parametrize("unreachable", ["closed_tcp_port", "stopped_socket_server"])
def test_create_event_with_an_unreachable_database_puts_failed_with_a_reason(
    functions: FunctionRegistry,
    collector: ResponseCollector,
    platform_env: pytest.MonkeyPatch,
    tmp_path: Path,
    unreachable: str,
) -> None:
    db.configure(dsn=None)
    if unreachable == "closed_tcp_port":
        url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/postgres"
    else:
        # a socket directory whose server is not running
        url = f"postgresql://postgres@/postgres?host={tmp_path}"
    set_env(platform_env, DATABASE_URL=url)
    event = _custom_resource_event("Create", collector.response_url)
    outcome: dict[str, Any] = {}

    def invoke() -> None:
        try:
            outcome["returned"] = functions.invoke("MigrateFunction", event)
        except BaseException as exc:  # asserted below
            outcome["error"] = exc

    caller = threading.Thread(target=invoke, daemon=True)
    caller.start()

    put = collector.wait_for_put()
    caller.join(DEADLINE_SECONDS)
    assert not caller.is_alive()
    assert "error" not in outcome, outcome
    assert put.body["Status"] == "FAILED"
    _assert_echoes_the_request(put.body, event)
    assert put.body["Reason"].startswith("migration failed: ")
    assert len(put.body["Reason"]) > len("migration failed: ")
    assert len(put.body["Reason"]) <= 1000
    assert put.body["Data"] == {}
    assert outcome["returned"] == put.body
