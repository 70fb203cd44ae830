"""Bytecode for the Lambda package: every module compiled ahead, in the form Lambda can use.

`sam build` ships source only, and Lambda's code directories are read-only: without bytecode in
the package, every cold start (and every SnapStart snapshot) compiles each module it imports from
source, the libraries included. That tripled the A2A proxy's import (bench/README, `coldstart`).

Bytecode written the usual way records its source's modification time, and a `.pyc` whose record
does not match is ignored. `sam deploy` zips every file with the same fixed date (1980-01-01), so
such bytecode would never match. Here each `.pyc` is `unchecked-hash` (PEP 552): used as it is,
never compared with its source — right for a package nothing modifies after it is built.

Run by the runtime's Python (the bytecode is per Python version), stdlib only, with `-I` so that
this folder does not shadow a standard module:

    python3.13 -I local/molecule_local/bytecode.py compile .aws-sam/build
    python3.13 -I local/molecule_local/bytecode.py check .aws-sam/build

`check` fails unless every `.py` there has this Python's bytecode, unchecked, of its current
source: the gate `make sam-check` runs after `sam build`.
"""

from __future__ import annotations

import compileall
import importlib.util
import py_compile
import sys
from pathlib import Path

MODE = py_compile.PycInvalidationMode.UNCHECKED_HASH
# PEP 552 flags word of a .pyc: bit 0 = hash-based, bit 1 = check the source.
_UNCHECKED_HASH_FLAGS = 0b01


def compile_tree(root: Path) -> bool:
    """Compile every `.py` under `root` for this Python; False when any failed to compile. Always
    anew (`force`): compileall keeps timestamped bytecode that matches its source, as a tree holds
    once this Python has run or compiled it (`sam build` itself copies no bytecode)."""
    return bool(compileall.compile_dir(str(root), quiet=1, force=True, workers=0, invalidation_mode=MODE))


def problems(root: Path) -> list[str]:
    """Every `.py` under `root` that this Python would compile at import: its bytecode is missing,
    checks its source (it would be ignored once packaged), or was made from other source."""
    found = []
    for source in sorted(root.rglob("*.py")):
        cached = Path(importlib.util.cache_from_source(str(source)))
        if not cached.is_file():
            found.append(f"{source}: no bytecode")
            continue
        head = cached.read_bytes()[:16]
        if head[:4] != importlib.util.MAGIC_NUMBER:
            found.append(f"{source}: bytecode of another Python")
        elif int.from_bytes(head[4:8], "little") != _UNCHECKED_HASH_FLAGS:
            found.append(f"{source}: bytecode that checks its source (ignored once zipped)")
        elif head[8:16] != importlib.util.source_hash(source.read_bytes()):
            found.append(f"{source}: bytecode of other source")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("compile", "check"):
        print("usage: bytecode.py compile|check DIR", file=sys.stderr)
        return 2
    command, root = argv[0], Path(argv[1])
    if not root.is_dir():
        print(f"{root}: not a directory", file=sys.stderr)
        return 2
    if command == "compile":
        return 0 if compile_tree(root) else 1
    found = problems(root)
    for problem in found[:20]:
        print(problem, file=sys.stderr)
    if found:
        print(f"{len(found)} module(s) without usable bytecode under {root}", file=sys.stderr)
        return 1
    count = sum(1 for _ in root.rglob("*.py"))
    print(f"bytecode: {count} modules under {root}, unchecked, Python {sys.version_info[0]}.{sys.version_info[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
