"""What a cold start never pays for: importing an HTTP function's handler leaves Powertools' OpenAPI
models (~55 ms) and Swagger UI unloaded — the routes' documentation is plain data until the docs
function builds the reference, on its first request — and never imports boto3. The client of a push
delivery (`agents.keepalive`, the standard library's) is loaded at init only by the functions that
call an agent on every invocation; the others load it on their first call to one, if ever. No
function loads httpx (~90 ms) at init: only a stream or a forwarded file loads it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from molecule_local.template import default_template

# Loads a handler (argv[1]) in a fresh interpreter, builds its API reference when asked (argv[3]),
# and prints which of the modules named in argv[2] were loaded.
PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("probed_app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
if sys.argv[3] == "build-reference":
    module.reference_json()
print(json.dumps(sorted(name for name in json.loads(sys.argv[2]) if name in sys.modules)))
"""
OPENAPI = "aws_lambda_powertools.event_handler.openapi"
REFERENCE_AND_BOTO3 = (OPENAPI + ".models", OPENAPI + ".swagger_ui", "boto3")

# The functions whose every invocation calls an agent (agents.service.load_client at init).
CALLS_AGENTS_ALWAYS = {"A2aProxyFunction", "A2aDrainFunction"}
KEEPALIVE = "molecule_core.agents.keepalive"
ALL_FUNCTIONS = sorted(default_template().functions.items())
HTTP_FUNCTIONS = sorted((name, spec) for name, spec in default_template().functions.items() if spec.routes)


def _loaded(module_path: object, names: tuple[str, ...], *, build_reference: bool = False) -> list[str]:
    """Which of `names` importing the handler at `module_path` loads (and building its reference)."""
    then = "build-reference" if build_reference else ""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(module_path), json.dumps(names), then],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "MOLECULE_ENV": "test", "POWERTOOLS_METRICS_NAMESPACE": "Test"},
    )
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(("name", "spec"), HTTP_FUNCTIONS, ids=[name for name, _ in HTTP_FUNCTIONS])
def test_an_http_function_imports_no_reference_models_and_no_boto3(name: str, spec: object) -> None:
    assert _loaded(spec.module_path, REFERENCE_AND_BOTO3) == [], name  # type: ignore[attr-defined]


def test_the_probe_sees_the_models_once_the_reference_is_built() -> None:
    docs = default_template().functions["DocsFunction"]
    assert OPENAPI + ".models" in _loaded(docs.module_path, REFERENCE_AND_BOTO3, build_reference=True)


@pytest.mark.parametrize(("name", "spec"), ALL_FUNCTIONS, ids=[name for name, _ in ALL_FUNCTIONS])
def test_only_a_function_that_always_calls_agents_loads_their_http_client_at_init(name: str, spec: object) -> None:
    expected = [KEEPALIVE] if name in CALLS_AGENTS_ALWAYS else []
    assert _loaded(spec.module_path, ("httpx", KEEPALIVE)) == expected, name  # type: ignore[attr-defined]


# Domains the push path never needs at init: files (only notify's attachments), provisioning (only
# a failed delivery asks whether the agent died) and the lifecycle jobs (only the lifecycle queue
# runs them; the proxy merely asks for a wake or a restart).
RARE_BRANCH_MODULES = (
    "molecule_core.files.service",
    "molecule_core.provisioning.service",
    "molecule_core.lifecycle.jobs",
)


@pytest.mark.parametrize("name", sorted(CALLS_AGENTS_ALWAYS))
def test_the_push_path_loads_no_domain_only_a_rare_branch_needs(name: str) -> None:
    spec = default_template().functions[name]
    assert _loaded(spec.module_path, RARE_BRANCH_MODULES) == [], name
