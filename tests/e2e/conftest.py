"""The local stack as a real process (`python -m molecule_local run`), reached over HTTP."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import eventually

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"local stack exited with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        # waiting on the process doubles as the poll interval, and notices a crash at once
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.1)
    raise TimeoutError(f"local stack at {base_url} not healthy within {timeout}s")


def terminate(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then SIGKILL if it does not exit within 20 s; the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return int(process.returncode)


class LocalStackProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "molecule_local", "run", "--port", str(self.port)],
            cwd=REPO,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(self.base_url, self.process)
        except Exception:
            self.stop()
            raise RuntimeError(log.read_text()[-4000:]) from None

    def stop(self) -> int:
        self._log_file.close()
        return terminate(self.process)


def stack_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MOLECULE_", "ADMIN_TOKEN", "DATABASE_", "PROCESS_", "LIFECYCLE_", "AWS_ENDPOINT"))
    }
    env.pop("PLATFORM_URL", None)
    env.pop("PROVISIONER_BACKEND", None)
    env.pop("SECRETS_KMS_KEY_ID", None)
    env.update(extra)
    return env


def empty_database(database_url: str) -> None:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE workspaces, workspace_auth_tokens, org_api_tokens, activity_logs, structure_events, "
            "a2a_queue, global_secrets, secret_data_keys RESTART IDENTITY CASCADE"
        )


def start_local_stack(database_url: str, workdir: Path, **env: str) -> LocalStackProcess:
    """`make run` on the session's database, emptied first; agents and the log under `workdir`."""
    empty_database(database_url)
    env.setdefault("PROCESS_AGENTS_DIR", str(workdir / "agents"))
    env.setdefault("SECRETS_KEY_FILE", str(workdir / "secrets.key"))
    return LocalStackProcess(stack_env(DATABASE_URL=database_url, **env), workdir / "stack.log")


@pytest.fixture
def local_stack(database_url: str, tmp_path: Path) -> Iterator[LocalStackProcess]:
    """The stack on a throwaway database (the session's), development mode as `make run`."""
    stack = start_local_stack(database_url, tmp_path)
    yield stack
    stack.stop()


FAST_LIVENESS = {"HEARTBEAT_STALE_SECONDS": "4", "MOLECULE_SCHEDULE_PERIOD_SECONDS": "1"}


@pytest.fixture
def fast_liveness_stack(database_url: str, tmp_path: Path) -> Iterator[LocalStackProcess]:
    """The stack with short liveness thresholds: stale after 4 s, sweeps every second."""
    stack = start_local_stack(database_url, tmp_path, **FAST_LIVENESS)
    yield stack
    stack.stop()


@pytest.fixture
def fast_liveness_stack_without_backend(database_url: str, tmp_path: Path) -> Iterator[LocalStackProcess]:
    """As fast_liveness_stack, with no provisioner backend: the platform cannot start agents."""
    stack = start_local_stack(database_url, tmp_path, PROVISIONER_BACKEND="none", **FAST_LIVENESS)
    yield stack
    stack.stop()


class AgentProcess:
    """The reference agent as a real process."""

    def __init__(self, *args: str, log: Path) -> None:
        self._log = log.open("wb")
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "reference_agent", "run", *args],
            cwd=REPO,
            env={k: v for k, v in os.environ.items() if not k.startswith(("MOLECULE_", "WORKSPACE_", "AGENT_"))},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> int:
        returncode = terminate(self.process)
        self._log.close()
        return returncode


def process_environ(pid: int) -> dict[str, str] | None:
    """The environment process `pid` was started with; None once it has exited (an agent being
    restarted can end between a test reading its pid and reading this)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    return eventually(condition, timeout, interval=0.1)
