"""`python -m molecule_local`: run the local stack, or manage its schema."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

from molecule_core.platform.migrations import MigrationDrift
from molecule_core.platform.service import run_migrations

from molecule_local.template import default_template

if TYPE_CHECKING:
    from molecule_local.stack import PortUnavailable


def _port_unavailable(exc: PortUnavailable, how_to_move: str) -> int:
    """One line instead of a traceback: which port, and the variable that moves the stack."""
    message = f"cannot start: port {exc.port} on {exc.host} is not available ({exc.reason}); {how_to_move}"
    print(message, file=sys.stderr)
    return 1


def _run(args: argparse.Namespace) -> int:
    from molecule_local.stack import LocalStack, PortUnavailable

    stack = LocalStack(default_template(), host=args.host, port=args.port)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    try:
        stack.start()
    except PortUnavailable as exc:
        return _port_unavailable(
            exc, f"set MOLECULE_PORT to use another one (e.g. MOLECULE_PORT={exc.port + 1} make run)"
        )
    except MigrationDrift as exc:
        print(f"cannot start: {exc} (the embedded database lives in {stack.data_dir / 'pgdata'})", file=sys.stderr)
        stack.stop()
        return 1
    print(f"Molecule local stack is up (MOLECULE_ENV={os.environ.get('MOLECULE_ENV')})", flush=True)
    for line in stack.describe():
        print("  " + line, flush=True)
    print("Ctrl-C stops everything.", flush=True)
    stopped.wait()
    print("stopping…", flush=True)
    stack.stop()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from molecule_local.stack import LocalStack

    stack = LocalStack(default_template())
    stack.prepare_environment()
    try:
        print(json.dumps(run_migrations(args.action, stack.database_url), indent=2))
    finally:
        stack.stop_database()
    return 0


def _secrets(args: argparse.Namespace) -> int:
    from molecule_core.platform import db, migrations
    from molecule_core.secrets import service as secrets

    from molecule_local.stack import LocalStack

    stack = LocalStack(default_template())
    stack.prepare_environment()
    db.configure(dsn=stack.database_url)
    try:
        migrations.up(stack.database_url)
        print(json.dumps(secrets.run_key_operation(args.operation), indent=2))
    finally:
        db.configure(dsn=None)
        stack.stop_database()
    return 0


def _demo(args: argparse.Namespace) -> int:
    from molecule_local.demo import run_demo, stack_is_up
    from molecule_local.stack import LocalStack, PortUnavailable

    if stack_is_up(args.url):
        return run_demo(args.url)
    # No stack running: start one for the demo (the same as `make run`), then stop it. Its logs
    # would drown the demo's own output: keep warnings and errors only.
    print(f"no stack at {args.url}; starting one for the demo", flush=True)
    from molecule_core.platform.observability import logger

    logger.setLevel("WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    host, _, port = args.url.removeprefix("http://").partition(":")
    stack = LocalStack(default_template(), host=host or "127.0.0.1", port=int(port or 8080))
    try:
        stack.start()
    except PortUnavailable as exc:
        return _port_unavailable(
            exc, f"set MOLECULE_URL to use another one (e.g. MOLECULE_URL=http://127.0.0.1:{exc.port + 1} make demo)"
        )
    try:
        return run_demo(args.url)
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="molecule_local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="serve the API on 127.0.0.1 with embedded defaults")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=int(os.environ.get("MOLECULE_PORT", "8080")))
    run.set_defaults(func=_run)
    migrate = commands.add_parser("migrate", help="apply, revert or list schema migrations")
    migrate.add_argument("action", choices=["up", "down", "status"])
    migrate.set_defaults(func=_migrate)
    keys = commands.add_parser("secrets", help="the secrets key: check it, rotate the data key, re-encrypt under it")
    keys.add_argument("operation", choices=["check", "rotate", "reencrypt"])
    keys.set_defaults(func=_secrets)
    demo = commands.add_parser("demo", help="show the whole system working (on a running stack, or its own)")
    demo.add_argument("--url", default=os.environ.get("MOLECULE_URL", "http://127.0.0.1:8080"))
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
