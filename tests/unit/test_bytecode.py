"""The Lambda package's bytecode (local/molecule_local/bytecode.py): compiled so that a packaged
module loads from it, and the gate that `make sam-check` runs after `sam build`."""

from __future__ import annotations

import importlib.util
import os
import py_compile
import re
import subprocess
import sys
from pathlib import Path

import pytest
from molecule_local import bytecode
from molecule_local.template import REPO_ROOT

# `sam deploy` zips every file with the same fixed date; Lambda's copy carries it.
PACKAGED_MTIME = 315_532_800  # 1980-01-01T00:00:00Z


@pytest.fixture
def package(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text("VALUE = 1\n")
    (tmp_path / "top.py").write_text("import pkg.mod\n")
    return tmp_path


def _as_packaged(root: Path) -> None:
    for path in root.rglob("*.py"):
        os.utime(path, (PACKAGED_MTIME, PACKAGED_MTIME))


def _loaded_from_source(root: Path, module: str) -> set[str]:
    """The modules under `root` that a fresh interpreter compiled from source to import `module`
    (`-v` names the file each code object came from; `-B` writes nothing)."""
    completed = subprocess.run(
        [sys.executable, "-I", "-B", "-v", "-c", f"import sys; sys.path.insert(0, {str(root)!r}); import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    sources = re.findall(r"^# code object from (\S+\.py)$", completed.stderr, re.MULTILINE)
    return {str(Path(source).relative_to(root)) for source in sources}


def test_a_packaged_module_loads_from_its_bytecode(package: Path) -> None:
    assert bytecode.compile_tree(package)
    _as_packaged(package)
    assert _loaded_from_source(package, "top") == set()


def test_bytecode_that_checks_its_source_is_ignored_once_packaged(package: Path) -> None:
    # Why the mode matters: Python's default bytecode records the source's time, which the package
    # does not keep, so a cold start compiles every module again.
    for source in package.rglob("*.py"):
        py_compile.compile(str(source))
    _as_packaged(package)
    assert _loaded_from_source(package, "top") == {"top.py", "pkg/__init__.py", "pkg/mod.py"}


def test_the_check_passes_on_a_compiled_tree(package: Path) -> None:
    assert bytecode.compile_tree(package)
    assert bytecode.problems(package) == []
    assert bytecode.main(["check", str(package)]) == 0


def test_the_check_names_a_module_without_bytecode(package: Path) -> None:
    assert bytecode.compile_tree(package)
    (package / "pkg" / "late.py").write_text("LATE = True\n")
    assert bytecode.problems(package) == [f"{package / 'pkg' / 'late.py'}: no bytecode"]
    assert bytecode.main(["check", str(package)]) == 1


def test_the_check_names_bytecode_that_checks_its_source(package: Path) -> None:
    assert bytecode.compile_tree(package)
    py_compile.compile(str(package / "pkg" / "mod.py"))  # the default: timestamp
    assert bytecode.problems(package) == [
        f"{package / 'pkg' / 'mod.py'}: bytecode that checks its source (ignored once zipped)"
    ]


def test_the_check_names_bytecode_of_other_source(package: Path) -> None:
    assert bytecode.compile_tree(package)
    (package / "pkg" / "mod.py").write_text("VALUE = 2\n")
    assert bytecode.problems(package) == [f"{package / 'pkg' / 'mod.py'}: bytecode of other source"]


def test_the_check_names_bytecode_of_another_python(package: Path) -> None:
    assert bytecode.compile_tree(package)
    cached = Path(importlib.util.cache_from_source(str(package / "top.py")))
    data = bytearray(cached.read_bytes())
    data[0:2] = (int.from_bytes(data[0:2], "little") - 1).to_bytes(2, "little")
    cached.write_bytes(bytes(data))
    assert bytecode.problems(package) == [f"{package / 'top.py'}: bytecode of another Python"]


def test_compile_reports_a_module_that_does_not_compile(package: Path) -> None:
    (package / "broken.py").write_text("def (:\n")
    assert not bytecode.compile_tree(package)
    assert bytecode.main(["compile", str(package)]) == 1


def test_usage_errors(tmp_path: Path) -> None:
    assert bytecode.main([]) == 2
    assert bytecode.main(["build", str(tmp_path)]) == 2
    assert bytecode.main(["check", str(tmp_path / "missing")]) == 2


def _recipe(target: str) -> list[str]:
    lines = (REPO_ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


@pytest.mark.parametrize("target", ["sam-check", "deploy"])
def test_every_sam_build_is_followed_by_its_bytecode(target: str) -> None:
    recipe = _recipe(target)
    build = next(i for i, line in enumerate(recipe) if "sam build" in line)
    after = recipe[build + 1 : build + 3]
    assert after == ["$(LAMBDA_BYTECODE) compile .aws-sam/build", "$(LAMBDA_BYTECODE) check .aws-sam/build"]
    assert not any("sam deploy" in line for line in recipe[:build])


def test_compile_replaces_up_to_date_bytecode_of_the_usual_kind(package: Path) -> None:
    # A tree this Python has run or compiled holds timestamped bytecode that matches its source:
    # compiling must still make every module's bytecode unchecked (compileall would keep it).
    for source in package.rglob("*.py"):
        py_compile.compile(str(source))
    assert bytecode.compile_tree(package)
    assert bytecode.problems(package) == []
