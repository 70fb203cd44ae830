"""template.yaml is the single list of routes: every route it gives a function must be served by
that function's resolver, and every resolver route must be in the template (otherwise API Gateway
never delivers it). Also: every function's handler file exists and the layer pins match."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from molecule_local.lambdas import FunctionRegistry, module_name_for
from molecule_local.template import REPO_ROOT, default_template


def _resolver_routes(logical_id: str) -> set[tuple[str, str]]:
    registry = FunctionRegistry()
    registry.handler(logical_id)
    app = sys.modules[module_name_for(registry.spec(logical_id))].app
    return {(route.method.upper(), route.openapi_path) for route in app._static_routes + app._dynamic_routes}


def test_every_function_handler_exists() -> None:
    for spec in default_template().functions.values():
        assert spec.module_path.is_file(), f"{spec.logical_id}: {spec.module_path} missing"


def test_template_routes_and_resolver_routes_agree() -> None:
    for spec in default_template().functions.values():
        if not spec.routes:
            continue
        templated = {(r.method, r.path) for r in spec.routes}
        served = _resolver_routes(spec.logical_id)
        assert templated <= served, f"{spec.logical_id}: template routes its app does not serve: {templated - served}"
        assert served <= templated, f"{spec.logical_id}: app routes missing from template.yaml: {served - templated}"


def test_no_route_is_claimed_by_two_functions() -> None:
    seen: dict[tuple[str, str], str] = {}
    for spec in default_template().functions.values():
        for route in spec.routes:
            key = (route.method, route.path)
            assert key not in seen, f"{key} routed to both {seen[key]} and {spec.logical_id}"
            seen[key] = spec.logical_id


def test_layer_requirements_match_pyproject_pins() -> None:
    layer = {
        line.split("==")[0].lower(): line.strip()
        for line in (REPO_ROOT / "layers/common/requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = {re.split(r"==", dep)[0].lower(): dep for dep in project}
    for name, requirement in layer.items():
        assert pinned.get(name) == requirement, f"layer pins {requirement}, pyproject pins {pinned.get(name)}"


def test_functions_default_to_production() -> None:
    parameters = default_template().raw["Parameters"]
    assert parameters["MoleculeEnv"]["Default"] == "production"
    env = default_template().raw["Globals"]["Function"]["Environment"]["Variables"]
    assert env["MOLECULE_ENV"] == {"Ref": "MoleculeEnv"}


def test_migrate_function_ships_the_migrations() -> None:
    link = REPO_ROOT / "functions/migrate/migrations"
    assert link.resolve() == (REPO_ROOT / "migrations").resolve()
    assert list(Path(link).glob("*.up.sql"))


def test_console_function_ships_the_console() -> None:
    link = REPO_ROOT / "functions/console/assets"
    assert link.resolve() == (REPO_ROOT / "console").resolve()
    assert (link / "index.html").is_file()


def test_one_python_version_for_the_runtime_the_layer_and_its_bytecode() -> None:
    # The package's bytecode is per Python version (local/molecule_local/bytecode.py): the Python
    # the Makefile builds and compiles with must be the functions' runtime, and the layer's.
    template = default_template()
    major, minor = template.python_version
    runtime = f"python{major}.{minor}"
    layer = template.resources["CommonLayer"]
    assert layer["Properties"]["CompatibleRuntimes"] == [runtime]
    assert layer["Metadata"]["BuildMethod"] == runtime
    makefile = (REPO_ROOT / "Makefile").read_text()
    lambda_python = next(line for line in makefile.splitlines() if line.startswith("LAMBDA_PYTHON ?="))
    assert f"/{major}.{minor}*/bin/{runtime}" in lambda_python and f"command -v {runtime}" in lambda_python
    assert f"sys.version_info[:2] != ({major}, {minor})" in makefile
