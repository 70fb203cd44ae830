"""Statements per request: SQL round trips each route costs, one representative request per
route (and a few variants where the caller or the body changes the work), driven through the
in-process API Gateway stand-in against an embedded PostgreSQL.

Every `execute`/`executemany` goes through a counting cursor installed with
`db.configure(cursor_factory=...)` (`Connection.execute` opens a cursor too). BEGIN and COMMIT
travel outside any cursor, so transaction blocks are counted separately; a request's round trips
are its statements plus two per transaction block. Opening the connection is not counted (it
happens once per execution environment).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.abc import Params, Query
from psycopg.sql import Composable

from bench import print_table

ADMIN_TOKEN = "bench-admin-token"
# A public address literal: passes the URL-safety check without a DNS lookup.
AGENT_URL = "https://93.184.216.34/agent"
AGENT_CARD = {"name": "bench-agent", "version": "1.0.0", "skills": [{"id": "echo", "name": "Echo"}]}

# Platform settings the run controls; nothing from the caller's shell leaks in.
_CLEARED_ENV = (
    "DATABASE_URL",
    "DATABASE_SECRET_ARN",
    "ADMIN_TOKEN_SECRET_ARN",
    "MOLECULE_ENABLE_TEST_TOKENS",
    "PLATFORM_URL",
    "PROVISIONER_BACKEND",
    "MOLECULE_SAAS_MODE",
)


@dataclass
class Ledger:
    """What the current request sent to the database."""

    statements: list[str] = field(default_factory=list)
    transactions: int = 0

    def reset(self) -> None:
        self.statements = []
        self.transactions = 0

    def record(self, cursor: psycopg.Cursor[Any], query: Query) -> None:
        if isinstance(query, Composable):
            text = query.as_string(cursor)
        else:
            text = query.decode() if isinstance(query, bytes) else str(query)
        self.statements.append(re.sub(r"\s+", " ", text).strip())


LEDGER = Ledger()


class CountingCursor(psycopg.Cursor[Any]):
    """A psycopg cursor that records every statement it sends."""

    def execute(
        self, query: Query, params: Params | None = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> CountingCursor:
        LEDGER.record(self, query)
        super().execute(query, params, prepare=prepare, binary=binary)
        return self

    def executemany(self, query: Query, params_seq: Iterable[Params], *, returning: bool = False) -> None:
        LEDGER.record(self, query)
        super().executemany(query, params_seq, returning=returning)


@contextmanager
def counting_transactions() -> Iterator[None]:
    """Count transaction blocks (BEGIN…COMMIT, or SAVEPOINT…RELEASE when nested) by wrapping
    `psycopg.Connection.transaction` for the duration of the run."""
    original = psycopg.Connection.transaction

    @contextmanager
    def transaction(self: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> Iterator[psycopg.Transaction]:
        LEDGER.transactions += 1
        with original(self, *args, **kwargs) as block:
            yield block

    psycopg.Connection.transaction = transaction  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        psycopg.Connection.transaction = original  # type: ignore[method-assign]


@contextmanager
def platform_env() -> Iterator[None]:
    """MOLECULE_ENV=test (test tokens allowed), an ADMIN_TOKEN, quiet Powertools; restored after."""
    from molecule_core.settings import reset_settings

    saved = dict(os.environ)
    for name in _CLEARED_ENV:
        os.environ.pop(name, None)
    os.environ.update(
        MOLECULE_ENV="test",
        ADMIN_TOKEN=ADMIN_TOKEN,
        POWERTOOLS_SERVICE_NAME="molecule",
        POWERTOOLS_METRICS_NAMESPACE="MoleculeBench",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="ERROR",
    )
    reset_settings()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_settings()


@contextmanager
def embedded_database() -> Iterator[str]:
    """A throwaway PostgreSQL cluster, migrated; yields its URL."""
    import pgserver
    from molecule_core.store import migrations

    with tempfile.TemporaryDirectory(prefix="molecule-bench-pg-") as data_dir:
        server = pgserver.get_server(data_dir, cleanup_mode="delete")
        try:
            url = server.get_uri()
            migrations.up(url)
            yield url
        finally:
            server.cleanup()


@dataclass(frozen=True)
class Row:
    route: str
    request: str
    statements: list[str]
    transactions: int
    status: int
    expected: int
    body: str

    @property
    def round_trips(self) -> int:
        return len(self.statements) + 2 * self.transactions


class Client:
    """Sends requests through the gateway the way the local stack does, and records what each
    one cost in SQL."""

    def __init__(self) -> None:
        from molecule_local.gateway import Gateway
        from molecule_local.lambdas import FunctionRegistry
        from molecule_local.stack import route_table

        self.functions = FunctionRegistry()
        self.routes = route_table(self.functions.template)
        self.gateway = Gateway(self.routes, self.functions)
        self.rows: list[Row] = []

    def call(
        self,
        method: str,
        path: str,
        request: str,
        *,
        token: str | None = ADMIN_TOKEN,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        expect: int = 200,
    ) -> Any:
        all_headers = {"host": "127.0.0.1:8080", **(headers or {})}
        if token is not None:
            all_headers["authorization"] = f"Bearer {token}"
        body = None
        if json_body is not None:
            body = json.dumps(json_body)
            all_headers["content-type"] = "application/json"
        matched = self.routes.match(method, urlsplit(path).path)
        route = matched[0].route_key if matched else f"{method} {path} (no route)"
        LEDGER.reset()
        result = self.gateway.handle(method, path, all_headers, body)
        self.rows.append(
            Row(route, request, LEDGER.statements, LEDGER.transactions, result.status, expect, result.text)
        )
        is_json = result.headers.get("content-type", "").startswith("application/json")
        return result.json() if is_json and result.body else result.text

    @property
    def exercised(self) -> set[str]:
        return {row.route for row in self.rows}


def drive(api: Client) -> None:
    """One representative request per route, in an order where each finds what it needs."""
    api.call("GET", "/health", "shallow")
    api.call("GET", "/health?deep=true", "deep=true (pings the database)")

    awaiting = api.call(
        "POST", "/workspaces", "external, no URL", json_body={"name": "laptop", "external": True}, expect=201
    )
    workspace_id, workspace_token = awaiting["id"], awaiting["connection"]["auth_token"]
    online = api.call(
        "POST",
        "/workspaces",
        "external with URL",
        json_body={"name": "remote", "external": True, "url": AGENT_URL},
        expect=201,
    )
    peer_id = online["id"]
    api.call(
        "POST",
        "/workspaces",
        "managed, no provisioner (ends failed)",
        json_body={"name": "managed", "runtime": "langgraph"},
        expect=201,
    )
    api.call("GET", "/workspaces", "3 workspaces")
    api.call("GET", f"/workspaces/{workspace_id}", "admin bearer")
    api.call("GET", f"/workspaces/{workspace_id}", "workspace bearer", token=workspace_token)
    api.call("GET", f"/workspaces/{workspace_id}/state", "workspace bearer", token=workspace_token)
    api.call("PATCH", f"/workspaces/{workspace_id}", "name, x, y", json_body={"name": "laptop-2", "x": 10.0, "y": 20.0})

    api.call("GET", f"/workspaces/{workspace_id}/tokens", "workspace bearer", token=workspace_token)
    minted = api.call(
        "POST", f"/workspaces/{workspace_id}/tokens", "workspace bearer", token=workspace_token, expect=201
    )
    api.call("DELETE", f"/workspaces/{workspace_id}/tokens/{minted['id']}", "workspace bearer", token=workspace_token)
    api.call("GET", "/org/tokens", "admin bearer")
    org = api.call("POST", "/org/tokens", "admin bearer", json_body={"name": "bench", "org_id": "acme"}, expect=201)
    api.call("GET", f"/workspaces/{workspace_id}", "org bearer", token=org["token"])
    api.call("DELETE", f"/org/tokens/{org['id']}", "admin bearer")
    api.call("GET", f"/admin/workspaces/{workspace_id}/test-token", "admin bearer, MOLECULE_ENV=test")

    agent = {"token": workspace_token}
    api.call(
        "POST",
        "/registry/register",
        "push, URL + card",
        json_body={"id": workspace_id, "url": AGENT_URL, "agent_card": AGENT_CARD},
        **agent,
    )
    api.call(
        "POST",
        "/registry/heartbeat",
        "healthy",
        json_body={"workspace_id": workspace_id, "error_rate": 0.0, "active_tasks": 0, "uptime_seconds": 60},
        **agent,
    )
    api.call(
        "POST",
        "/registry/update-card",
        "new card",
        json_body={"workspace_id": workspace_id, "agent_card": AGENT_CARD},
        **agent,
    )
    api.call("GET", f"/registry/discover/{peer_id}", "sibling", headers={"x-workspace-id": workspace_id}, **agent)
    api.call("GET", f"/registry/{workspace_id}/peers", "1 sibling", **agent)
    api.call("POST", "/registry/check-access", "siblings", json_body={"caller_id": workspace_id, "target_id": peer_id})

    fleet = api.call("GET", "/events", "fleet, newest first")
    api.call("GET", f"/events/{workspace_id}", "one workspace", token=workspace_token)
    api.call("GET", f"/events?since_id={fleet[-1]['id']}", "fleet, since_id cursor")

    api.call("DELETE", f"/workspaces/{peer_id}", "leaf")
    root = api.call(
        "POST", "/workspaces", "external, root of a tree", json_body={"name": "root", "external": True}, expect=201
    )
    child = api.call(
        "POST",
        "/workspaces",
        "external, with parent_id",
        json_body={"name": "child", "external": True, "parent_id": root["id"]},
        expect=201,
    )
    api.call(
        "POST",
        "/workspaces",
        "external, with parent_id",
        json_body={"name": "grandchild", "external": True, "parent_id": child["id"]},
        expect=201,
    )
    api.call("DELETE", f"/workspaces/{root['id']}?confirm=true", "confirm=true, cascades to 2")

    api.call("GET", "/openapi.json", "no auth", token=None)
    api.call("GET", "/docs", "no auth", token=None)


def main(show_sql: bool = False) -> int:
    from molecule_core import db

    print("Statements per request: SQL round trips, one representative request per route")
    print("(in-process gateway, embedded PostgreSQL; round trips = statements + 2 per transaction block)\n")
    warnings.filterwarnings("ignore", category=UserWarning, module="platformdirs")
    with platform_env(), embedded_database() as url, counting_transactions():
        db.configure(dsn=url, cursor_factory=CountingCursor)
        try:
            api = Client()
            drive(api)
        finally:
            db.configure(dsn=None)
    print_table(
        ["route", "request", "statements", "tx", "round trips", "status"],
        [
            (
                r.route,
                r.request,
                len(r.statements),
                r.transactions,
                r.round_trips,
                r.status if r.status == r.expected else f"{r.status} !",
            )
            for r in api.rows
        ],
        right=(2, 3, 4, 5),
    )
    template_routes = {route.route_key for route in api.routes.routes}
    missing = sorted(template_routes - api.exercised)
    if missing:
        print(f"\nroutes in template.yaml not exercised: {', '.join(missing)}")
    if show_sql:
        for row in api.rows:
            print(f"\n{row.route}  [{row.request}]")
            for statement in row.statements:
                print(f"  {statement[:150]}")
    failed = [row for row in api.rows if row.status != row.expected]
    for row in failed:
        print(f"\nunexpected {row.status} (wanted {row.expected}) for {row.route} [{row.request}]: {row.body[:300]}")
    return 1 if failed else 0
