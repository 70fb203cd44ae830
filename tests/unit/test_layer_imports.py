"""Everything the deployed code imports is in the Lambda package. The development venv holds more
than the layer (test and local-stack libraries), so an import of a package the layer lacks passes
every other test and fails only on AWS, and only when its code path runs if the import is lazy.

What Lambda provides: the runtime's standard library (the tests run an older Python, whose standard
library still has modules 3.12 and 3.13 removed), boto3 and botocore (the runtime's; SPEC §2), and the
layer — the packages of layers/common/requirements.txt with their dependencies, as pip resolves them
for the runtime (Python 3.13 on Linux, arm64), read from the installed distributions' metadata."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from molecule_local.template import REPO_ROOT, default_template
from packaging.markers import default_environment
from packaging.requirements import Requirement

DEPLOYED_CODE = (REPO_ROOT / "layers/common/python/molecule_core", REPO_ROOT / "functions")
LAYER_REQUIREMENTS = REPO_ROOT / "layers/common/requirements.txt"
RUNTIME_PROVIDED = {"boto3", "botocore"}
# In the standard library of the Python the tests may run (3.11), gone from the runtime's (3.13):
# PEP 594's dead batteries and lib2to3 (3.13), distutils, imp, asynchat, asyncore, smtpd (3.12).
REMOVED_FROM_THE_RUNTIMES_STDLIB = {
    "aifc", "asynchat", "asyncore", "audioop", "cgi", "cgitb", "chunk", "crypt", "distutils", "imghdr", "imp",
    "lib2to3", "mailcap", "msilib", "nis", "nntplib", "ossaudiodev", "pipes", "smtpd", "sndhdr", "spwd", "sunau",
    "telnetlib", "uu", "xdrlib",
}  # fmt: skip
RUNTIME_STDLIB = sys.stdlib_module_names - REMOVED_FROM_THE_RUNTIMES_STDLIB
# Imported by deployed code, deliberately absent from the layer.
NOT_IN_THE_LAYER = {
    "a2a": "the A2A SDK: optional, bridge.py checks find_spec before importing it",
    "google": "protobuf, with the A2A SDK",
    "psycopg_pool": "the local stack's pool (db.pooled); Lambda holds one connection",
}


def lambda_environment() -> dict[str, str]:
    major, minor = default_template().python_version
    return {
        **default_environment(),
        "python_version": f"{major}.{minor}",
        "python_full_version": f"{major}.{minor}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "aarch64",
    }


def top_level_names(distribution: importlib.metadata.Distribution) -> set[str]:
    names = set()
    for path in distribution.files or ():
        first = path.parts[0]
        if first in ("..", "__pycache__") or first.endswith((".dist-info", ".data", ".libs")):
            continue
        if len(path.parts) > 1:
            names.add(first)
        elif first.endswith((".py", ".so", ".pyd")):
            names.add(first.split(".")[0])
    return names


def layer_provides() -> set[str]:
    """Import names of every distribution the layer's requirements install on Lambda."""
    environment = lambda_environment()
    pending = [
        Requirement(line)
        for line in (raw.split("#")[0].strip() for raw in LAYER_REQUIREMENTS.read_text().splitlines())
        if line
    ]
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    while pending:
        requirement = pending.pop()
        key = (requirement.name.lower().replace("_", "-"), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        distribution = importlib.metadata.distribution(requirement.name)
        names |= top_level_names(distribution)
        for raw in distribution.requires or ():
            dependency = Requirement(raw)
            extras = requirement.extras or {""}
            if dependency.marker is None or any(
                dependency.marker.evaluate({**environment, "extra": extra}) for extra in extras
            ):
                pending.append(dependency)
    return names


def imported_packages(sources: Iterable[Path]) -> dict[str, set[str]]:
    """Top-level packages imported anywhere in `sources` (inside functions too, and by
    `importlib.import_module("…")`), beyond the runtime's standard library and molecule_core:
    name → files."""
    found: dict[str, set[str]] = {}
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names = [node.args[0].value]
            for name in names:
                top = name.split(".")[0]
                if top not in RUNTIME_STDLIB and top not in ("molecule_core", "__future__"):
                    found.setdefault(top, set()).add(_shown(source))
    return found


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def missing_in_lambda(sources: Iterable[Path]) -> dict[str, set[str]]:
    provided = layer_provides() | RUNTIME_PROVIDED | set(NOT_IN_THE_LAYER)
    return {name: files for name, files in imported_packages(sources).items() if name not in provided}


def _deployed_sources() -> list[Path]:
    return sorted(path for root in DEPLOYED_CODE for path in root.rglob("*.py"))


def test_everything_the_deployed_code_imports_is_in_the_lambda_package() -> None:
    assert missing_in_lambda(_deployed_sources()) == {}


def test_the_packages_left_out_of_the_layer_are_imported_and_really_left_out() -> None:
    imported, provided = imported_packages(_deployed_sources()), layer_provides()
    for name in NOT_IN_THE_LAYER:
        assert name in imported, f"{name} is no longer imported: drop it from NOT_IN_THE_LAYER"
        assert name not in provided, f"{name} is in the layer now: drop it from NOT_IN_THE_LAYER"


def test_the_layer_is_read_with_its_dependencies() -> None:
    provided = layer_provides()
    # Named requirements, a dependency (httpx → certifi), one behind an extra (psycopg[binary])
    assert {"aws_lambda_powertools", "pydantic", "pydantic_core", "httpx", "certifi"} <= provided
    assert "psycopg_binary" in provided
    # Behind extras the layer does not ask for, or markers that do not hold on Lambda
    assert not {"psycopg_pool", "rich", "h2", "redis"} & provided


@pytest.mark.parametrize(
    "source",
    [
        "import yaml\n",
        "from yaml import safe_load\n",
        "def load():\n    import yaml.constructor\n",
        "import importlib\nMODULE = importlib.import_module('yaml')\n",
    ],
)
def test_an_import_the_layer_lacks_is_found(source: str, tmp_path: Path) -> None:
    module = tmp_path / "app.py"
    module.write_text(source + "import json\nimport httpx\nfrom molecule_core.platform import db\n")
    assert missing_in_lambda([module]) == {"yaml": {str(module)}}


def test_a_standard_module_the_runtime_no_longer_has_is_found(tmp_path: Path) -> None:
    module = tmp_path / "app.py"
    module.write_text("import cgi\nimport json\n")
    assert missing_in_lambda([module]) == {"cgi": {str(module)}}
