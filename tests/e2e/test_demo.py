"""`make demo` against a running stack: it must finish, and show every step working."""

from __future__ import annotations

import subprocess
import sys

from tests.e2e.conftest import REPO, LocalStackProcess


def test_demo_runs_end_to_end(local_stack: LocalStackProcess) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "molecule_local", "demo", "--url", local_stack.base_url],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "its agent registered: online, delivery push" in output
    assert "[3] user → pusher: 'hello from the canvas'  ⇒  200 'echo: hello from the canvas'" in output
    assert "⇒  200 'echo: hi pusher, laptop here'" in output
    assert "'status': 'queued', 'delivery_mode': 'poll'" in output
    assert "the laptop agent polled its inbox and replied through the proxy" in output
    assert "from demo laptop  ok      'echo: laptop, are you there?'" in output
    assert "identical" in output
    assert "activity of pusher" in output and "activity of laptop" in output
