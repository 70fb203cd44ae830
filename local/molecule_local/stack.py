"""The local stack runner: embedded PostgreSQL, migrations, and a set of services that all read
template.yaml — the SQS endpoint and its pollers, the S3 endpoint, the HTTP gateway and the
scheduler."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Protocol

from molecule_core.a2a import service as a2a
from molecule_core.platform import db, migrations
from molecule_core.platform.settings import reset_settings
from molecule_core.provisioning.backends import get_provisioner
from molecule_core.secrets import service as secrets_service

from molecule_local.concurrency import isolate_powertools_invocations
from molecule_local.embedded import start_embedded_postgres
from molecule_local.gateway import Gateway, Route, RouteTable
from molecule_local.http_server import READ_TIMEOUT_SECONDS, make_handler
from molecule_local.lambdas import FunctionRegistry
from molecule_local.s3 import LocalS3
from molecule_local.scheduler import SchedulerService
from molecule_local.sqs import LocalSqs, SqsPollerService
from molecule_local.template import REPO_ROOT, Template

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway HTTP API's payload limit


def route_table(template: Template) -> RouteTable:
    return RouteTable(
        Route.build(r.method, r.path, spec.logical_id) for spec in template.functions.values() for r in spec.routes
    )


class Service(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def describe(self) -> str: ...


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops handshakes when a fleet of agents connects at once.
    request_queue_size = 256
    daemon_threads = True


class PortUnavailable(Exception):
    """The API's port cannot be bound (taken by another stack or program, or not permitted)."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"{host}:{port}: {reason}")
        self.host = host
        self.port = port
        self.reason = reason


class HttpService:
    name = "http"

    def __init__(self, gateway: Gateway, host: str, port: int, *, read_timeout: float = READ_TIMEOUT_SECONDS) -> None:
        try:
            self.server = _Server((host, port), make_handler(gateway, MAX_BODY_BYTES, read_timeout))
        except OSError as exc:
            raise PortUnavailable(host, port, exc.strerror or str(exc)) from exc
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def describe(self) -> str:
        return f"API        {self.url}  (console: {self.url}/, docs: {self.url}/docs)"


@dataclass
class LocalStack:
    template: Template
    host: str = "127.0.0.1"
    port: int = 8080
    # MOLECULE_DATA_DIR moves the embedded database (tests use a temporary one).
    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("MOLECULE_DATA_DIR") or REPO_ROOT / ".molecule"))
    services: list[Service] = field(default_factory=list)
    database_url: str = ""
    _stop_database: Callable[[], None] | None = None
    secrets_key: dict[str, str] = field(default_factory=dict)

    def prepare_environment(self) -> None:
        """The embedded defaults: development mode, this stack's URL, an embedded database."""
        os.environ.setdefault("MOLECULE_ENV", "development")
        for name, value in self.template.literal_environment().items():
            os.environ.setdefault(name, value)
        os.environ.setdefault("PLATFORM_URL", f"http://{self.host}:{self.port}")
        # Managed workspaces run as reference-agent child processes, their files beside the database.
        os.environ.setdefault("PROVISIONER_BACKEND", "process")
        os.environ.setdefault("PROCESS_AGENTS_DIR", str(self.data_dir / "agents"))
        # Secrets at rest: a 32-byte key made on first start, beside the database (mode 0600).
        os.environ.setdefault("SECRETS_KEY_FILE", str(self.data_dir / "secrets.key"))
        if not os.environ.get("DATABASE_URL"):
            self.database_url, self._stop_database = start_embedded_postgres(self.data_dir / "pgdata")
            os.environ["DATABASE_URL"] = self.database_url
        else:
            self.database_url = os.environ["DATABASE_URL"]
        reset_settings()

    def start(self) -> None:
        isolate_powertools_invocations()  # invocations run concurrently on threads here
        functions = FunctionRegistry(self.template)
        # The port first: a taken one fails here (PortUnavailable), before the database starts and
        # migrations run, instead of in a traceback once they have.
        http = HttpService(Gateway(route_table(self.template), functions), self.host, self.port)
        try:
            self.prepare_environment()
            migrations.up(self.database_url)
        except BaseException:
            http.server.server_close()
            raise
        db.use_pool(db.make_pool(self.database_url))
        self.secrets_key = secrets_service.check_key_source()  # makes the key file on first start
        sqs = LocalSqs(self.template)
        # Started in this order: SQS and S3 first, because they export the queue URLs, bucket names
        # and endpoints that functions read through their settings; nothing serves before that.
        self.services[:0] = [
            sqs,
            LocalS3(self.template),
            SqsPollerService(functions, sqs),
            http,
            SchedulerService(functions),
        ]
        for service in self.services:
            service.start()
            if service is sqs:
                self.republish_queued_messages()

    def republish_queued_messages(self) -> None:
        """The SQS endpoint keeps its messages in memory, and the drains ran in this process: whatever
        was queued or being delivered when the stack stopped (Ctrl-C or kill -9) is published again
        from the a2a_queue rows, before anything drains."""
        republished = a2a.recover_after_restart()
        if republished:
            print(f"Queue      {republished} queued A2A message(s) published again after the restart", flush=True)

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        # Agents started by the process backend stop with the stack (they re-register on restart).
        stop_all = getattr(get_provisioner(), "stop_all", None)
        if callable(stop_all):
            stop_all()
        db.use_pool(None)
        self.stop_database()

    def stop_database(self) -> None:
        if self._stop_database:
            self._stop_database()
            self._stop_database = None

    def describe(self) -> list[str]:
        database = "embedded PostgreSQL" if self._stop_database else "DATABASE_URL"
        backend = os.environ.get("PROVISIONER_BACKEND", "none")
        agents = f" (agents in {os.environ['PROCESS_AGENTS_DIR']})" if backend == "process" else ""
        return [
            *(s.describe() for s in self.services),
            f"Database   {database}: {self.database_url}",
            f"Agents     provisioner backend {backend}{agents}",
            f"Secrets    {self.secrets_key.get('key_source')} (file {os.environ.get('SECRETS_KEY_FILE')}), "
            f"data key {self.secrets_key.get('active_data_key')}",
        ]
