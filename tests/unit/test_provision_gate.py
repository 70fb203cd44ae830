"""Behaviour-based gate (the history's TestProvisionFunctions_AllCallMintWorkspaceSecrets): any
function that starts an agent through a provisioner backend must also mint the workspace's secrets
(token + platform inbound secret) first. It walks every function, whatever its name — the
name-list version of this gate once missed team expand precisely because it was not called
provision*."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOTS = [REPO / "layers/common/python/molecule_core", REPO / "functions", REPO / "local/molecule_local"]
# The backends implement `start`; they are what is being called, not callers.
BACKENDS = REPO / "layers/common/python/molecule_core/provisioning/backends"
MINT = "mint_workspace_secrets"


def _receiver_is_a_provisioner(node: ast.expr) -> bool:
    """`get_provisioner().start`, `provisioner.start`, `self.backend.start`, `backend.start` …"""
    if isinstance(node, ast.Call):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        return "provisioner" in name.lower()
    if isinstance(node, ast.Name):
        return any(word in node.id.lower() for word in ("provisioner", "backend"))
    if isinstance(node, ast.Attribute):
        return any(word in node.attr.lower() for word in ("provisioner", "backend"))
    return False


def starts_without_minting(source: str) -> list[str]:
    """Names of functions in `source` that call <provisioner>.start(...) but never call the mint."""
    offenders = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        calls = [n for n in ast.walk(node) if isinstance(n, ast.Call)]
        starts = any(
            isinstance(c.func, ast.Attribute) and c.func.attr == "start" and _receiver_is_a_provisioner(c.func.value)
            for c in calls
        )
        mints = any(
            (isinstance(c.func, ast.Name) and c.func.id == MINT)
            or (isinstance(c.func, ast.Attribute) and c.func.attr == MINT)
            for c in calls
        )
        if starts and not mints:
            offenders.append(node.name)
    return offenders


def _code_files() -> list[Path]:
    return sorted(
        p for root in ROOTS for p in root.rglob("*.py") if BACKENDS not in p.parents and "__pycache__" not in p.parts
    )


def test_every_function_that_starts_an_agent_mints_its_secrets() -> None:
    offenders = {
        f"{path.relative_to(REPO)}:{name}"
        for path in _code_files()
        for name in starts_without_minting(path.read_text())
    }
    assert not offenders, (
        "These functions start an agent through a provisioner without minting its secrets first. Every path "
        "that starts an agent must go through molecule_core.provisioning.service.provision_workspace (or call "
        f"{MINT} itself), or the agent boots with no token and no inbound secret: {sorted(offenders)}"
    )


def test_the_gate_sees_the_real_start_call() -> None:
    seen = [path for path in _code_files() if "provisioner" in path.read_text() and ".start(" in path.read_text()]
    assert any(path.parts[-2:] == ("provisioning", "service.py") for path in seen)


def test_gate_fires_on_a_start_without_mint_whatever_the_function_is_called() -> None:
    source = """
def expand_team(spec):
    get_provisioner().start(spec)

def provision(spec):
    mint_workspace_secrets(conn, spec.workspace_id)
    get_provisioner().start(spec)

def unrelated(thread):
    thread.start()
"""
    assert starts_without_minting(source) == ["expand_team"]
