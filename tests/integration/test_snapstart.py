"""SnapStart (template.yaml `SnapStartMode`): before the snapshot the database connection is closed
and the AWS clients dropped, so restored environments share neither; the hook is registered with
the runtime's `snapshot_restore_py` when a handler loads, and nowhere else does anything."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
from molecule_core.platform import aws, db, snapstart

REPO = Path(__file__).resolve().parents[2]


class RecordingLibrary(ModuleType):
    """Stands in for the runtime's snapshot_restore_py: records what is registered."""

    def __init__(self) -> None:
        super().__init__("snapshot_restore_py")
        self.before: list[Any] = []

    def register_before_snapshot(self, hook: Any) -> None:
        self.before.append(hook)


def test_before_the_snapshot_the_kept_connection_is_closed_and_the_next_statement_reopens_one(database: str) -> None:
    first = db.single_statement(lambda conn: conn)
    assert db.single_statement(lambda conn: conn) is first  # kept between units of work

    snapstart.before_snapshot()

    assert first.closed
    second = db.single_statement(lambda conn: conn)
    assert second is not first and not second.closed
    assert db.single_statement(lambda conn: conn.execute("SELECT 1 AS one").fetchone()) == {"one": 1}


def test_before_the_snapshot_the_aws_clients_are_dropped() -> None:
    aws._clients[("s3", None, None)] = object()

    snapstart.before_snapshot()

    assert aws._clients == {}


def test_the_hook_is_registered_with_the_runtime_library_once() -> None:
    library = RecordingLibrary()
    saved = list(snapstart._runtime)
    snapstart._runtime.clear()
    try:
        assert snapstart.install(library)
        assert snapstart.install(library)  # a second call registers nothing more
        assert library.before == [snapstart.before_snapshot]
    finally:
        snapstart._runtime[:] = saved


def test_loading_a_handler_registers_the_hook_with_the_runtime_and_it_closes_the_connection(
    database: str, tmp_path: Path
) -> None:
    # Given the runtime's library (a stand-in that records and then calls the hook, as Lambda does
    # when it publishes a version), on the path of a fresh interpreter that loads a handler
    (tmp_path / "snapshot_restore_py.py").write_text(
        textwrap.dedent(
            """
            registered = []
            def register_before_snapshot(hook, *args, **kwargs):
                registered.append(hook)
            def register_after_restore(hook, *args, **kwargs):
                pass
            """
        )
    )
    script = textwrap.dedent(
        f"""
        import importlib.util, sys
        import snapshot_restore_py
        spec = importlib.util.spec_from_file_location("handler", {str(REPO / "functions/workspaces/app.py")!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        from molecule_core.platform import db
        conn = db.single_statement(lambda c: c)
        assert len(snapshot_restore_py.registered) == 1, snapshot_restore_py.registered
        snapshot_restore_py.registered[0]()  # the snapshot is taken
        print("closed" if conn.closed else "open")
        """
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{tmp_path}:{REPO / 'layers/common/python'}",
        "DATABASE_URL": database,
        "MOLECULE_ENV": "test",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    # When the handler loads and the snapshot hook runs
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    # Then the hook was registered once, and it closed the connection the handler had opened
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "closed"
    with psycopg.connect(database) as check:  # and the database is fine
        assert check.execute("SELECT 1").fetchone() == (1,)
