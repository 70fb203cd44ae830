"""Module boundaries as a test (SPEC §2; the history's hard gate #4). Each failure names the rule,
the file and why the boundary exists, so the reader of a red build learns the rule."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "layers/common/python/molecule_core"
FUNCTIONS = REPO / "functions"
LOCAL = REPO / "local"
AGENT = REPO / "agent"
# Data-access modules: the only production code allowed to contain SQL.
DATA_ACCESS = [CORE / "store", CORE / "db.py"]

_SQL = re.compile(
    r"^\s*(SELECT\s+.+\s+FROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX|TYPE)|"
    r"ALTER\s+(TABLE|TYPE)|DROP\s+(TABLE|TYPE|INDEX)|TRUNCATE\s|WITH\s+\w+\s+AS\s*\()",
    re.I | re.S,
)


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _python_files(*roots: Path) -> list[Path]:
    return sorted(p for root in roots for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def sql_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _SQL.search(node.value):
            found.append((node.lineno, node.value.strip().splitlines()[0][:60]))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
            if _SQL.search(text):
                found.append((node.lineno, text.strip().splitlines()[0][:60]))
    return found


def _violations_core_imports(files: list[Path]) -> list[str]:
    bad = []
    for path in files:
        for lineno, module in imported_modules(path):
            top = module.split(".")[0]
            if top in ("functions", "molecule_local", "local", "reference_agent", "agent") or top.startswith(
                "molecule_fn_"
            ):
                bad.append(f"{_rel(path)}:{lineno} imports {module}")
    return bad


def _violations_function_imports(files: list[Path]) -> list[str]:
    bad = []
    for path in files:
        for lineno, module in imported_modules(path):
            top = module.split(".")[0]
            if top in ("functions", "app", "molecule_local", "reference_agent") or top.startswith("molecule_fn_"):
                bad.append(f"{_rel(path)}:{lineno} imports {module}")
    return bad


def _violations_sql(files: list[Path]) -> list[str]:
    bad = []
    for path in files:
        if any(path == d or d in path.parents for d in DATA_ACCESS):
            continue
        bad += [f"{_rel(path)}:{lineno} {text!r}" for lineno, text in sql_literals(path)]
    return bad


def test_molecule_core_never_imports_functions_local_or_agent() -> None:
    bad = _violations_core_imports(_python_files(CORE))
    assert not bad, (
        "Rule: molecule_core must not import functions, local or agent. molecule_core is the shared "
        "layer deployed to every Lambda; functions, the local stack and the agent sit on top of it, "
        "so an import the other way is a cycle and ships local-only code to AWS. Offenders: " + "; ".join(bad)
    )


def test_a_function_never_imports_another_function_or_the_local_stack() -> None:
    bad = _violations_function_imports(_python_files(FUNCTIONS))
    assert not bad, (
        "Rule: a function module imports molecule_core (and third-party code) only. Each function is "
        "packaged alone from its CodeUri: another function's module is not in its package, and shared "
        "steps belong in molecule_core where every caller uses the same one. Offenders: " + "; ".join(bad)
    )


def test_sql_lives_only_in_data_access_modules() -> None:
    bad = _violations_sql(_python_files(CORE, FUNCTIONS, LOCAL, AGENT))
    assert not bad, (
        "Rule: SQL text appears only in molecule_core/store/ (and db.py). One store module per table "
        "keeps every statement where the enum drift gate and reviewers look for it, and keeps handlers "
        "thin. Move these statements into a store function: " + "; ".join(bad)
    )


def test_agent_uses_only_shared_wire_models_from_molecule_core() -> None:
    bad = []
    for path in _python_files(AGENT):
        for lineno, module in imported_modules(path):
            if module.startswith("molecule_core") and module != "molecule_core.models":
                bad.append(f"{_rel(path)}:{lineno} imports {module}")
    assert not bad, (
        "Rule: the reference agent may import only molecule_core.models (the shared wire shapes). "
        "It stands for any third-party agent, which has no access to the platform's internals. "
        "Offenders: " + "; ".join(bad)
    )


@pytest.mark.parametrize(
    ("rule", "source", "name"),
    [
        (_violations_core_imports, "from molecule_local.gateway import Gateway\n", "core.py"),
        (_violations_function_imports, "import functions.health.app\n", "app.py"),
        (_violations_sql, "Q = 'SELECT id FROM workspaces WHERE id = %s'\n", "handler.py"),
    ],
)
def test_each_rule_fires_on_a_deliberate_violation(rule, source: str, name: str, tmp_path: Path) -> None:
    sample = tmp_path / name
    sample.write_text(source)
    assert rule([sample]), f"{rule.__name__} did not flag {source!r}"
