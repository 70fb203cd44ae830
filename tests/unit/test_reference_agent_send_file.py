"""`python -m reference_agent send-file PATH`: what it needs is a usage error when missing, never a
traceback; the token falls back to the one the running agent keeps in its config dir."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from reference_agent.cli import main

WORKSPACE = str(uuid.uuid4())


def test_send_file_without_a_workspace_or_platform_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("WORKSPACE_ID", "PLATFORM_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "a.txt"
    path.write_text("x")

    with pytest.raises(SystemExit) as exited:
        main(["send-file", str(path)])

    assert exited.value.code == 2
    assert "--workspace-id (or WORKSPACE_ID)" in capsys.readouterr().err


def test_send_file_of_something_that_is_not_a_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["send-file", str(tmp_path), "--workspace-id", WORKSPACE, "--platform-url", "http://127.0.0.1:9"])

    assert exited.value.code == 2
    assert "not a file" in capsys.readouterr().err


def test_send_file_to_an_unreachable_platform_fails_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.txt"
    path.write_text("x")

    code = main(["send-file", str(path), "--workspace-id", WORKSPACE, "--platform-url", "http://127.0.0.1:9",
                 "--config-dir", str(tmp_path)])  # fmt: skip

    assert code == 1
    assert capsys.readouterr().err.startswith("send-file failed: POST /workspaces/")
