"""The A2A SDK never loads on the common path (issue 21): importing the proxy function — and the
bridge module itself — leaves `a2a` and protobuf unimported; only a bridged call imports them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("a2a_proxy_app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
import molecule_core.a2a.bridge, molecule_core.a2a.delivery
heavy = sorted(name for name in sys.modules if name == "a2a" or name.startswith(("a2a.", "google.protobuf")))
molecule_core.a2a.bridge.bridge_request(
    {"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
     "params": {"message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "x"}]}}}, "0.3")
print(json.dumps({"before": heavy, "after_bridging": "a2a.compat.v0_3.conversions" in sys.modules}))
"""


def test_importing_the_a2a_proxy_function_does_not_import_the_sdk() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(REPO / "functions/a2a_proxy/app.py")],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "MOLECULE_ENV": "test", "POWERTOOLS_METRICS_NAMESPACE": "Test"},
    )
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["before"] == []
    assert found["after_bridging"] is True  # the probe can see the SDK when it does load
