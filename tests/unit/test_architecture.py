"""Module boundaries as a test (SPEC §2; the history's hard gate #4). Each failure names the rule,
the file and why the boundary exists, so the reader of a red build learns the rule. Each rule is
also shown red once, on a deliberate violation written to a temporary tree
(`test_each_rule_fires_on_a_deliberate_violation`)."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "layers/common/python/molecule_core"
FUNCTIONS = REPO / "functions"
LOCAL = REPO / "local"
AGENT = REPO / "agent"

# The rooms every domain package has; only these basenames may repeat under molecule_core.
ROOMS = {"__init__", "service", "store", "models"}
# `platform` is the plumbing under every domain, not a domain itself.
PLATFORM = "platform"
# What a function module may import from molecule_core: a domain's service and models, and the
# HTTP plumbing (callers, error mapping, logging, settings, the API reference's vocabulary) — never a
# store or a rule module.
FUNCTION_IMPORTABLE = re.compile(
    r"^molecule_core\.(\w+\.(service|models)|auth\.callers|platform\.(http|observability|settings|openapi))$"
)

_SQL = re.compile(
    r"^\s*(SELECT\s+.+\s+FROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX|TYPE)|"
    r"ALTER\s+(TABLE|TYPE)|DROP\s+(TABLE|TYPE|INDEX)|TRUNCATE\s|WITH\s+\w+\s+AS\s*\()",
    re.I | re.S,
)


def _rel(path: Path, root: Path = REPO) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _python_files(*roots: Path) -> list[Path]:
    return sorted(p for root in roots for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Absolute imports of a file; `from pkg import name` also yields `pkg.name` (it may be a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
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


def _domain_of(path: Path, core: Path) -> str | None:
    """The top-level package of molecule_core a file belongs to (None for molecule_core/__init__)."""
    parts = path.relative_to(core).parts
    return parts[0] if len(parts) > 1 else None


def resolve_core_module(module: str, core: Path) -> tuple[str, ...] | None:
    """The molecule_core module an import refers to, as path parts ("a2a", "service"); `from pkg
    import name` yields `pkg.name`, which resolves to pkg's module when `name` is not a module.
    None for anything outside molecule_core, and for a bare package (its imported names are judged)."""
    parts = module.split(".")
    if parts[0] != "molecule_core":
        return None
    parts = parts[1:]
    for end in range(len(parts), 0, -1):
        candidate = core.joinpath(*parts[:end])
        if candidate.with_suffix(".py").exists():
            return tuple(parts[:end])
        if candidate.is_dir():
            return None
    return None


def _imports_of(path: Path, core: Path) -> list[tuple[int, str, tuple[str, ...]]]:
    """(line, import as written, the molecule_core module it resolves to), once per module per line."""
    found, seen = [], set()
    for lineno, module in imported_modules(path):
        resolved = resolve_core_module(module, core)
        if resolved is not None and (lineno, resolved) not in seen:
            seen.add((lineno, resolved))
            found.append((lineno, module, resolved))
    return found


# --- the rules, each a function over a list of files --------------------------------------------


def violations_core_imports(files: list[Path], core: Path = CORE) -> list[str]:
    bad = []
    for path in files:
        for lineno, module in imported_modules(path):
            top = module.split(".")[0]
            if top in ("functions", "molecule_local", "local", "reference_agent", "agent") or top.startswith(
                "molecule_fn_"
            ):
                bad.append(f"{_rel(path)}:{lineno} imports {module}")
    return bad


def violations_function_imports(files: list[Path], core: Path = CORE) -> list[str]:
    bad = []
    for path in files:
        for lineno, module in imported_modules(path):
            top = module.split(".")[0]
            if top in ("functions", "app", "molecule_local", "reference_agent") or top.startswith("molecule_fn_"):
                bad.append(f"{_rel(path)}:{lineno} imports {module}")
    return bad


def violations_function_reach(files: list[Path], core: Path = CORE) -> list[str]:
    """Functions call a domain's service (and read its models); they never reach into a store or a
    rule module."""
    return [
        f"{_rel(path)}:{lineno} imports {module}"
        for path in files
        for lineno, module, resolved in _imports_of(path, core)
        if not FUNCTION_IMPORTABLE.match("molecule_core." + ".".join(resolved))
    ]


def violations_domain_boundaries(files: list[Path], core: Path = CORE) -> list[str]:
    """A domain uses another domain only through that domain's `service` or `models`."""
    bad = []
    for path in files:
        own = _domain_of(path, core)
        for lineno, module, resolved in _imports_of(path, core):
            if own is None or resolved[0] in (own, PLATFORM):
                continue
            if len(resolved) != 2 or resolved[1] not in ("service", "models"):
                bad.append(f"{_rel(path)}:{lineno} imports {module}")
    return bad


def violations_store_imports(files: list[Path], core: Path = CORE) -> list[str]:
    """A store imports only `platform` and its own domain's models and rule modules (never a
    service, never another domain): SQL sits under the logic, not beside it."""
    bad = []
    for path in files:
        if path.name != "store.py":
            continue
        own = _domain_of(path, core)
        for lineno, module, resolved in _imports_of(path, core):
            if resolved[0] == PLATFORM:
                continue
            if resolved[0] != own or resolved[-1] == "service":
                bad.append(f"{_rel(path)}:{lineno} imports {module}")
    return bad


def violations_platform_imports(files: list[Path], core: Path = CORE) -> list[str]:
    return [
        f"{_rel(path)}:{lineno} imports {module}"
        for path in files
        if _domain_of(path, core) == PLATFORM
        for lineno, module, resolved in _imports_of(path, core)
        if resolved[0] != PLATFORM
    ]


def violations_duplicate_basenames(files: list[Path], core: Path = CORE) -> list[str]:
    seen: dict[str, list[str]] = defaultdict(list)
    for path in files:
        if path.stem not in ROOMS:
            seen[path.stem].append(_rel(path))
    return [f"{name}: {', '.join(paths)}" for name, paths in sorted(seen.items()) if len(paths) > 1]


def violations_flat_modules(files: list[Path], core: Path = CORE) -> list[str]:
    """Every module lives in a domain package; molecule_core itself holds only its __init__."""
    return [_rel(path) for path in files if path.parent == core and path.name != "__init__.py"]


def violations_sql(files: list[Path], core: Path = CORE) -> list[str]:
    bad = []
    for path in files:
        if path.name == "store.py" or path == core / PLATFORM / "db.py":
            continue
        bad += [f"{_rel(path)}:{lineno} {text!r}" for lineno, text in sql_literals(path)]
    return bad


def violations_agent_imports(files: list[Path], core: Path = CORE) -> list[str]:
    bad = []
    for path in files:
        for lineno, module in imported_modules(path):
            if not module.startswith("molecule_core"):
                continue
            resolved = resolve_core_module(module, core)
            if resolved is None and module.count(".") < 2:
                continue  # a bare package: the names imported from it are judged
            if resolved is None or len(resolved) != 2 or resolved[1] != "models":
                bad.append(f"{_rel(path)}:{lineno} imports {module}")
    return bad


def violations_eager_models(files: list[Path], core: Path = CORE) -> list[str]:
    """A pydantic model in molecule_core derives from platform.models.WireModel (built on first
    use), not from BaseModel itself (built at import); only the settings, read by every invocation,
    and WireModel are exempt."""
    exempt = {core / PLATFORM / "models.py", core / PLATFORM / "settings.py"}
    bad = []
    for path in files:
        if path in exempt:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and any(
                (isinstance(base, ast.Name) and base.id == "BaseModel")
                or (isinstance(base, ast.Attribute) and base.attr == "BaseModel")
                for base in node.bases
            ):
                bad.append(f"{_rel(path)}:{node.lineno} class {node.name}(BaseModel)")
    return bad


def _is_frozen_dataclass(decorator: ast.expr) -> bool:
    return (
        isinstance(decorator, ast.Call)
        and getattr(decorator.func, "id", getattr(decorator.func, "attr", None)) == "dataclass"
        and any(k.arg == "frozen" and getattr(k.value, "value", None) is True for k in decorator.keywords)
    )


def violations_frozen_dataclasses(files: list[Path], core: Path = CORE) -> list[str]:
    """An immutable record in molecule_core is a `typing.NamedTuple`, not `@dataclass(frozen=True)`.
    Exempt: a class with a field that needs `field(...)` (a default factory), and a class with its own
    `__repr__` (it hides values, which a tuple would still hand to `json.dumps` as an array)."""
    bad = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ClassDef) or not any(map(_is_frozen_dataclass, node.decorator_list)):
                continue
            calls_field = any(
                isinstance(inner, ast.Call) and getattr(inner.func, "id", None) == "field" for inner in ast.walk(node)
            )
            own_repr = any(isinstance(item, ast.FunctionDef) and item.name == "__repr__" for item in node.body)
            if not (calls_field or own_repr):
                bad.append(f"{_rel(path)}:{node.lineno} class {node.name}")
    return bad


# --- the rules applied to the tree --------------------------------------------------------------


def _assert_clean(bad: list[str], rule: str) -> None:
    assert not bad, f"Rule: {rule} Offenders: " + "; ".join(bad)


def test_molecule_core_never_imports_functions_local_or_agent() -> None:
    _assert_clean(
        violations_core_imports(_python_files(CORE)),
        "molecule_core must not import functions, local or agent. molecule_core is the shared layer deployed "
        "to every Lambda; functions, the local stack and the agent sit on top of it, so an import the other "
        "way is a cycle and ships local-only code to AWS.",
    )


def test_a_function_never_imports_another_function_or_the_local_stack() -> None:
    _assert_clean(
        violations_function_imports(_python_files(FUNCTIONS)),
        "a function module imports molecule_core (and third-party code) only. Each function is packaged "
        "alone from its CodeUri: another function's module is not in its package, and shared steps belong "
        "in molecule_core where every caller uses the same one.",
    )


def test_a_function_calls_domain_services_not_their_insides() -> None:
    _assert_clean(
        violations_function_reach(_python_files(FUNCTIONS)),
        "a function imports a domain's `service` and `models` (plus auth.callers and platform.http/"
        "observability/settings/openapi), never a store or a rule module: every route is template.yaml → "
        "functions/<name>/app.py → one <domain>.service function, so a reader finds any behaviour in two hops.",
    )


def test_domains_meet_only_through_service_or_models() -> None:
    _assert_clean(
        violations_domain_boundaries(_python_files(CORE)),
        "a domain uses another domain only through that domain's `service` or `models` (SPEC §2). Reaching "
        "into another domain's store or rule module couples to its insides: call its service instead.",
    )


def test_store_modules_import_only_platform_and_their_own_domain() -> None:
    _assert_clean(
        violations_store_imports(_python_files(CORE)),
        "a store module imports only molecule_core.platform and its own domain's models/rule modules. SQL "
        "sits under the logic: a store that calls a service (or another domain) hides business rules in "
        "the data layer.",
    )


def test_platform_imports_no_domain() -> None:
    _assert_clean(
        violations_platform_imports(_python_files(CORE)),
        "molecule_core.platform (db, settings, errors, http, aws, migrations) imports no domain: it is "
        "the plumbing under every domain, and an import upwards is a cycle.",
    )


def test_no_module_basename_repeats_beyond_the_rooms() -> None:
    _assert_clean(
        violations_duplicate_basenames(_python_files(CORE)),
        f"apart from the rooms every domain has ({', '.join(sorted(ROOMS))}), a module's name is unique "
        "under molecule_core, so a reader never tells two `lifecycle.py` apart by their folder.",
    )


def test_every_module_lives_in_a_domain_package() -> None:
    _assert_clean(
        violations_flat_modules(_python_files(CORE)),
        "molecule_core is one package per domain (SPEC §2); nothing sits flat beside them.",
    )


def test_sql_lives_only_in_store_modules() -> None:
    _assert_clean(
        violations_sql(_python_files(CORE, FUNCTIONS, LOCAL, AGENT)),
        "SQL text appears only in a domain's store.py (and platform/db.py). One store module per domain "
        "keeps every statement where the enum drift gate and reviewers look for it, and keeps handlers thin. "
        "Move these statements into a store function:",
    )


def test_agent_uses_only_shared_wire_models_from_molecule_core() -> None:
    _assert_clean(
        violations_agent_imports(_python_files(AGENT)),
        "the reference agent may import only molecule_core.<domain>.models (the shared wire shapes). It "
        "stands for any third-party agent, which has no access to the platform's internals.",
    )


def test_every_domain_has_a_service() -> None:
    domains = [p for p in CORE.iterdir() if p.is_dir() and (p / "__init__.py").exists() and p.name != PLATFORM]
    missing = [d.name for d in domains if not (d / "service.py").exists()]
    assert not missing, f"Rule: every domain package has a service.py (what handlers call). Missing: {missing}"


def test_wire_models_are_built_on_first_use() -> None:
    _assert_clean(
        violations_eager_models(_python_files(CORE)),
        "a model derives from molecule_core.platform.models.WireModel (pydantic builds it on first use; "
        "every function imports many models it never uses, and building them all at import was 40–100 ms "
        "of a cold start). Change the base class:",
    )


def test_immutable_records_are_named_tuples() -> None:
    _assert_clean(
        violations_frozen_dataclasses(_python_files(CORE)),
        "an immutable record is a typing.NamedTuple. A frozen dataclass writes its methods as source and "
        "compiles them when its module is imported: about 0.4 ms a class on Python 3.13 against 0.05 ms for "
        "a NamedTuple, and the A2A proxy imported 37 of them (about 18 ms of its cold start). A dataclass "
        "stays where a field needs field(default_factory=...) or the class has its own __repr__. Convert:",
    )


# --- each rule shown red on purpose -------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "relative_path", "source"),
    [
        (violations_core_imports, "a2a/service.py", "from molecule_local.gateway import Gateway\n"),
        (violations_function_imports, "../functions/x/app.py", "import functions.health.app\n"),
        (violations_function_reach, "../functions/x/app.py", "from molecule_core.a2a import store\n"),
        (violations_function_reach, "../functions/x/app.py", "from molecule_core.a2a.normalize import A2AError\n"),
        (violations_domain_boundaries, "a2a/service.py", "from molecule_core.registry import store\n"),
        (violations_domain_boundaries, "a2a/service.py", "from molecule_core.registry.access import x\n"),
        (violations_store_imports, "a2a/store.py", "from molecule_core.registry.models import Lineage\n"),
        (violations_store_imports, "a2a/store.py", "from molecule_core.a2a import service\n"),
        (violations_platform_imports, "platform/db.py", "from molecule_core.auth.service import identify\n"),
        (violations_sql, "a2a/service.py", "Q = 'SELECT id FROM workspaces WHERE id = %s'\n"),
        (violations_agent_imports, "../agent/reference_agent/x.py", "from molecule_core.auth import service\n"),
        (violations_flat_modules, "helpers.py", "X = 1\n"),
        (
            violations_eager_models,
            "a2a/models.py",
            "from pydantic import BaseModel\nclass Card(BaseModel):\n    x: int\n",
        ),
        (violations_eager_models, "a2a/models.py", "import pydantic\nclass Card(pydantic.BaseModel):\n    x: int\n"),
        (
            violations_frozen_dataclasses,
            "a2a/store.py",
            "from dataclasses import dataclass\n@dataclass(frozen=True)\nclass Row:\n    x: int\n",
        ),
        (
            violations_frozen_dataclasses,
            "a2a/store.py",
            "import dataclasses\n@dataclasses.dataclass(frozen=True, slots=True)\nclass Row:\n    x: int\n",
        ),
    ],
    ids=lambda value: getattr(value, "__name__", None) or str(value)[:24],
)
def test_each_rule_fires_on_a_deliberate_violation(rule, relative_path: str, source: str, tmp_path: Path) -> None:
    core = tmp_path / "repo" / "molecule_core"
    for domain in ("a2a", "registry", "platform", "auth"):
        (core / domain).mkdir(parents=True, exist_ok=True)
        for module in ("__init__", "service", "store", "models", "access", "normalize", "db"):
            (core / domain / f"{module}.py").touch()
    sample = (core / relative_path).resolve()
    sample.parent.mkdir(parents=True, exist_ok=True)
    sample.write_text(source)
    assert rule([sample], core), f"{rule.__name__} did not flag {source!r} in {relative_path}"


@pytest.mark.parametrize(
    "body",
    [
        "    headers: dict = field(default_factory=dict)\n",
        "    x: bytes\n    def __repr__(self) -> str:\n        return 'X'\n",
    ],
    ids=["default_factory", "own_repr"],
)
def test_a_frozen_dataclass_that_needs_to_be_one_is_not_flagged(body: str, tmp_path: Path) -> None:
    sample = tmp_path / "store.py"
    sample.write_text(f"from dataclasses import dataclass, field\n@dataclass(frozen=True)\nclass Row:\n{body}")
    assert violations_frozen_dataclasses([sample], tmp_path) == []


def test_duplicate_basename_rule_fires(tmp_path: Path) -> None:
    files = [tmp_path / "a2a" / "tokens.py", tmp_path / "auth" / "tokens.py", tmp_path / "auth" / "service.py"]
    assert violations_duplicate_basenames(files, tmp_path) == [f"tokens: {files[0]}, {files[1]}"]
