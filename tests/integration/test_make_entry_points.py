"""The Makefile as a newcomer meets it: the first `make run`/`make test` says what it installs, and
`make sam-check` finds out that python3.13 is missing before it installs SAM. `make` runs for real
in a scratch HOME and PATH; nothing is installed (the venv target is only dry-run)."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_first_install_prints_each_step_and_lets_pip_name_each_package(tmp_path: Path) -> None:
    # Given no venv yet (a scratch path), when `make` plans the first `make test`
    planned = _make("-n", "test", f"VENV={tmp_path / 'venv'}")
    assert planned.returncode == 0, planned.stderr
    commands = planned.stdout.splitlines()
    # Then every step announces itself before the two minutes of installing …
    steps = [line for line in commands if line.startswith('echo "==> [')]
    assert len(steps) == 4, commands
    # … and pip is not silenced (it names each package), without progress bars that garble logs
    installs = [line for line in commands if " install " in line and "/pip " in line]
    assert installs, commands
    for line in installs:
        assert "--quiet" not in line and " -q" not in line
        assert "--progress-bar off" in line


def _scratch_env(home: Path, *path_dirs: Path) -> dict[str, str]:
    return {"HOME": str(home), "PATH": ":".join([*map(str, path_dirs), "/usr/bin", "/bin"])}


def _sam_check(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # PYTHON=false: should the check ever come after the installs again, they fail at once
    # instead of downloading SAM.
    tools = [f"SAM_VENV={tmp_path / 'venv-sam'}", f"CHECKOV_VENV={tmp_path / 'venv-checkov'}", "PYTHON=false"]
    return _make("sam-check", *tools, env=env)


def test_sam_check_without_python313_stops_before_installing_sam(tmp_path: Path) -> None:
    result = _sam_check(tmp_path, _scratch_env(tmp_path))
    assert result.returncode != 0
    assert "python3.13 (the Lambda runtime) is needed for sam build" in result.stdout
    assert "LAMBDA_PYTHON=" in result.stdout
    assert not (tmp_path / "venv-sam").exists()  # nothing was installed


def test_sam_check_with_only_a_pyenv_shim_says_what_to_do(tmp_path: Path) -> None:
    # Given a pyenv shim for python3.13 with no Python 3.13 installed behind it
    shims = tmp_path / ".pyenv" / "shims"
    shims.mkdir(parents=True)
    shim = shims / "python3.13"
    shim.write_text('#!/bin/sh\necho "pyenv: python3.13: command not found" >&2\nexit 127\n')
    shim.chmod(0o755)
    # When sam-check runs
    result = _sam_check(tmp_path, _scratch_env(tmp_path, shims))
    # Then it stops at once, names the shim and says what to do
    assert result.returncode != 0
    assert f"{shim} is a pyenv shim with no Python 3.13 behind it" in result.stdout
    assert "pyenv install 3.13" in result.stdout
    assert not (tmp_path / "venv-sam").exists()
