"""Lambda SnapStart (template.yaml, `SnapStartMode`): a function version's initialised execution
environment is snapshotted when the version is published, and a cold start restores it instead of
importing everything again.

One snapshot becomes many environments, so nothing that must belong to one environment may be in
it. A module that holds such a thing registers, when it loads, what to drop before the snapshot
(`on_snapshot`): `db` its connection, `aws` its clients (their connection pools and credentials).
After a restore each is made again on first use, as on a plain cold start — a restore that reached
for the database could only add its failure to the cold start. The handlers touch neither while
they load, so this is a guarantee, not a routine.

The runtime's hooks come from `snapshot_restore_py`, which Lambda's Python runtimes (3.12 and
later) include: this module registers one hook with it, once, that runs every registered step.
Where the library is absent (the local stack, tests) nothing is registered with a runtime.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

HOOKS_MODULE = "snapshot_restore_py"

_steps: list[Callable[[], None]] = []
_runtime: list[ModuleType] = []  # the library the hook was registered with (at most one)
_looked_up = False


def on_snapshot(step: Callable[[], None]) -> Callable[[], None]:
    """Run `step` before the snapshot is taken (usable as a decorator)."""
    if step not in _steps:
        _steps.append(step)
    install()
    return step


def before_snapshot() -> None:
    """Every registered step, newest first (what was opened last is closed first)."""
    for step in reversed(_steps):
        step()


def install(library: ModuleType | None = None) -> bool:
    """Register `before_snapshot` with the runtime's library, once per process; False where there
    is none. `library`: a stand-in for the runtime's (tests)."""
    global _looked_up
    if _runtime:
        return True
    if library is None:
        if _looked_up:
            return False
        _looked_up = True
        try:
            library = importlib.import_module(HOOKS_MODULE)
        except ImportError:
            return False
    library.register_before_snapshot(before_snapshot)
    _runtime.append(library)
    return True
