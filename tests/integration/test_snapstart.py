"""SnapStart (template.yaml `SnapStartMode`): before the snapshot the database connection is closed
and the AWS clients dropped, so restored environments share neither; the hook is registered with
the runtime's `snapshot_restore_py` when a handler loads, and nowhere else does anything."""

from __future__ import annotations

import subprocess
import sys
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


RUNTIME_LIBRARY = """
registered = []
def register_before_snapshot(hook, *args, **kwargs):
    registered.append(hook)
def register_after_restore(hook, *args, **kwargs):
    pass
"""


def _load_handler_and_snapshot(tmp_path: Path, database: str, before: str, after: str) -> list[str]:
    """In a fresh interpreter with the runtime's library (a stand-in that records the hook, which
    the script then calls as Lambda does when it publishes a version): load the workspaces handler,
    run `before`, take the snapshot, run `after`; the lines it printed."""
    (tmp_path / "snapshot_restore_py.py").write_text(RUNTIME_LIBRARY)
    script = "\n".join(
        [
            "import importlib.util, sys",
            "import snapshot_restore_py",
            f"spec = importlib.util.spec_from_file_location('handler', {str(REPO / 'functions/workspaces/app.py')!r})",
            "module = importlib.util.module_from_spec(spec)",
            "spec.loader.exec_module(module)",
            before,
            "assert len(snapshot_restore_py.registered) == 1, snapshot_restore_py.registered",
            "snapshot_restore_py.registered[0]()  # the snapshot is taken",
            after,
        ]
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{tmp_path}:{REPO / 'layers/common/python'}",
        "DATABASE_URL": database,
        "MOLECULE_ENV": "test",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def test_loading_a_handler_registers_the_hook_with_the_runtime_and_it_closes_the_connection(
    database: str, tmp_path: Path
) -> None:
    # When a handler loads, opens its connection, and the snapshot hook runs
    printed = _load_handler_and_snapshot(
        tmp_path,
        database,
        before="from molecule_core.platform import db\nconn = db.single_statement(lambda c: c)",
        after="print('closed' if conn.closed else 'open')",
    )
    # Then the hook was registered once, and it closed the connection the handler had opened
    assert printed == ["closed"]
    with psycopg.connect(database) as check:  # and the database is fine
        assert check.execute("SELECT 1").fetchone() == (1,)


def test_a_handler_loads_its_models_unbuilt_and_the_snapshot_holds_them_built(database: str, tmp_path: Path) -> None:
    count = (
        "from molecule_core.platform.models import _loaded_models\n"
        "models = list(_loaded_models())\n"
        "print(len(models), sum(m.__pydantic_complete__ for m in models))"
    )
    before_count, built_before, after_count, built_after = map(
        int, _load_handler_and_snapshot(tmp_path, database, before=count, after=count)
    )
    assert before_count > 10 and built_before == 0  # import built none of them
    assert built_after == after_count == before_count  # the snapshot has every one built
