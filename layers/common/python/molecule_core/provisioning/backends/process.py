"""The `process` backend (the local stack, SPEC §7): each workspace's agent is the reference agent run
as a child process (`python -m reference_agent run --mode push --port 0`) in its own session, with
its own config dir `<PROCESS_AGENTS_DIR>/<workspace id>/` holding its credentials, `agent.log` (the
child's stdout and stderr) and `agent.pid`.

The handle (`instance_id`) is `pid:<pid>`; the pid is also kept in `agent.pid`, so a restarted
platform still finds, checks and stops the agents it started before. A pid alone is never trusted —
the OS recycles them — so a process counts as a workspace's agent only while it exists, is not a
zombie and its command line names the workspace id. `start` on a workspace whose agent still runs
stops that agent first: the provision pipeline has just revoked the token the old one holds.

Linux reads /proc; elsewhere (macOS) `ps` answers; with neither, a live pid is taken at its word.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple
from uuid import UUID

from molecule_core.platform.observability import logger
from molecule_core.platform.settings import get_settings
from molecule_core.provisioning.backends.base import AgentSpec, ProvisionError

HANDLE_PREFIX = "pid:"
PID_FILE = "agent.pid"
LOG_FILE = "agent.log"
# The platform's own secrets never reach an agent; it gets its credentials through spec.env.
_WITHHELD_PREFIXES = ("MOLECULE_", "DATABASE_", "ADMIN_TOKEN", "CONTROLPLANE_")
# Who the agent is and where it listens come from spec.env and the command line only: a value left
# in the platform's environment (a developer's shell) would otherwise leak into every agent — a
# stray PARENT_ID would give every workspace a parent.
_AGENT_IDENTITY = frozenset(
    {
        "WORKSPACE_ID",
        "PLATFORM_URL",
        "PLATFORM_INBOUND_SECRET",
        "PARENT_ID",
        "AGENT_CONFIG_DIR",
        "AGENT_PORT",
        "AGENT_HOST",
        "AGENT_PUBLIC_URL",
        "AGENT_DELIVERY_MODE",
    }
)
# After SIGKILL a process is gone at once unless it sits in an uninterruptible wait.
_KILL_WAIT_SECONDS = 5.0
_POLL_SECONDS = 0.05
_LOG_TAIL_CHARS = 400


def agent_environment(
    platform_env: Mapping[str, str], agent_env: Mapping[str, str], config_dir: Path
) -> dict[str, str]:
    """The child's environment: the platform's (PATH, PYTHONPATH, locale…) minus its secrets and
    any agent identity, plus what the provision pipeline put in `spec.env`."""
    env = {
        name: value
        for name, value in platform_env.items()
        if not name.startswith(_WITHHELD_PREFIXES) and name not in _AGENT_IDENTITY
    }
    env.update(agent_env)
    env["AGENT_CONFIG_DIR"] = str(config_dir)
    return env


def format_handle(pid: int) -> str:
    return f"{HANDLE_PREFIX}{pid}"


def parse_handle(instance_id: str | None) -> int | None:
    """The pid in a `pid:<pid>` handle; None for anything else (no handle, another backend's)."""
    if not instance_id or not instance_id.startswith(HANDLE_PREFIX):
        return None
    digits = instance_id.removeprefix(HANDLE_PREFIX)
    if not (digits.isascii() and digits.isdigit()) or int(digits) <= 0:
        return None
    return int(digits)


class ProcessState(NamedTuple):
    command: tuple[str, ...] | None  # None: this system would not say
    zombie: bool


def read_process_state(pid: int) -> ProcessState | None:
    """What the OS says about `pid`; None when there is no such process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # another user's process: its command line (if readable) tells it is not an agent of ours
    proc = Path("/proc") / str(pid)
    if Path("/proc/self").is_dir():
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            return None
        except OSError:
            return ProcessState(None, zombie=False)
        # The state follows the command name in parentheses, which may itself contain ") ".
        state = stat[stat.rindex(")") + 2 :][:1]
        command = tuple(os.fsdecode(part) for part in cmdline.split(b"\0") if part)
        return ProcessState(command, zombie=state in ("Z", "X"))
    return ps_process_state(pid)


def ps_process_state(pid: int) -> ProcessState | None:
    """`read_process_state` where there is no /proc (macOS)."""
    ps = shutil.which("ps")
    if ps is None:
        return ProcessState(None, zombie=False)
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [ps, "-ww", "-o", "stat=", "-o", "args=", "-p", str(pid)],  # -ww: never cut the line short
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ProcessState(None, zombie=False)
    fields = result.stdout.strip().split(None, 1)
    if result.returncode != 0 or not fields:
        return None
    # `ps` joins the arguments with spaces; the workspace id is one whole word either way.
    return ProcessState(tuple(fields[1].split()) if len(fields) > 1 else (), zombie=fields[0].startswith("Z"))


def is_agent_of(state: ProcessState | None, workspace_id: UUID) -> bool:
    if state is None or state.zombie:
        return False
    return state.command is None or str(workspace_id) in state.command


def wait_for_process_exit(pid: int, timeout: float) -> bool:
    """Wait for a process that is not our child (started before a platform restart) to end."""
    pidfd_open = getattr(os, "pidfd_open", None)  # Linux ≥ 5.3: a descriptor that reads ready at exit
    if pidfd_open is not None:
        try:
            pidfd: int = pidfd_open(pid)
        except ProcessLookupError:
            return True
        except OSError:
            pass  # not supported here: poll instead
        else:
            try:
                ready, _, _ = select.select([pidfd], [], [], timeout)
            finally:
                os.close(pidfd)
            return bool(ready) or not is_alive(pid)
    deadline = time.monotonic() + timeout
    while is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_SECONDS)
    return True


def is_alive(pid: int) -> bool:
    state = read_process_state(pid)
    return state is not None and not state.zombie


def _signal_session(pid: int, signum: signal.Signals) -> None:
    """Signal the agent's process group (it leads its own session), so whatever it spawned goes too."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        raise ProvisionError(f"not allowed to signal agent process {pid}: {exc}") from exc


def _log_tail(log_path: Path) -> str:
    try:
        with log_path.open("rb") as log:
            log.seek(max(0, log_path.stat().st_size - _LOG_TAIL_CHARS))
            text = log.read().decode(errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-3:])


class _Child(NamedTuple):
    workspace_id: UUID
    process: subprocess.Popen[bytes]


class ProcessProvisioner:
    name = "process"

    def __init__(
        self,
        agents_dir: Path,
        *,
        stop_timeout_seconds: float = 10.0,
        start_check_seconds: float = 0.5,
        python: str = sys.executable,
    ) -> None:
        self.agents_dir = agents_dir
        self.stop_timeout_seconds = stop_timeout_seconds
        self.start_check_seconds = start_check_seconds
        self.python = python
        self._children: dict[int, _Child] = {}
        # The local stack serves requests on threads: one lock for the maps, one per workspace so
        # that a start and a stop of the same workspace never interleave (a stop can wait seconds).
        self._lock = threading.Lock()
        self._workspace_locks: dict[UUID, threading.Lock] = {}

    @classmethod
    def from_settings(cls) -> ProcessProvisioner:
        settings = get_settings()
        if settings.process_agents_dir:
            agents_dir = Path(settings.process_agents_dir).expanduser()
        else:
            agents_dir = default_agents_dir()
        try:
            agents_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProvisionError(f"PROCESS_AGENTS_DIR {agents_dir} cannot be created: {exc}") from exc
        return cls(
            agents_dir.resolve(),
            stop_timeout_seconds=settings.process_stop_timeout_seconds,
            start_check_seconds=settings.process_start_check_seconds,
        )

    # --- the interface ------------------------------------------------------------------------

    def start(self, spec: AgentSpec) -> str:
        config_dir = self.config_dir(spec.workspace_id)
        # The platform's environment is passed on on purpose (PATH, PYTHONPATH, the venv): this is the
        # one place the backend reads it, and agent_environment() drops the platform's secrets.
        env = agent_environment(os.environ, spec.env, config_dir)
        return self.launch(spec.workspace_id, self.agent_command(spec, config_dir), env)

    def stop(self, workspace_id: UUID, instance_id: str | None) -> None:
        with self._workspace_lock(workspace_id):
            self._stop_agents(workspace_id, instance_id)

    def is_running(self, workspace_id: UUID, instance_id: str | None) -> bool:
        return any(self._is_agent(pid, workspace_id) for pid in self._candidate_pids(workspace_id, instance_id))

    # --- beyond the interface -----------------------------------------------------------------

    def config_dir(self, workspace_id: UUID) -> Path:
        return self.agents_dir / str(workspace_id)

    def agent_command(self, spec: AgentSpec, config_dir: Path) -> list[str]:
        # The workspace id is a separate argument: that is how is_running recognises the process.
        return [
            self.python,
            "-m",
            "reference_agent",
            "run",
            "--workspace-id",
            str(spec.workspace_id),
            "--mode",
            "push",
            "--port",
            "0",
            "--config-dir",
            str(config_dir),
            f"--name={spec.name}",  # `=`: a name starting with "-" is not read as a flag
        ]

    def launch(self, workspace_id: UUID, command: Sequence[str], env: Mapping[str, str]) -> str:
        """Run `command` as the workspace's agent process (stopping one that still runs) and return
        its handle. `command` must contain the workspace id as one argument."""
        if str(workspace_id) not in command:
            raise ValueError("the agent's command line must name its workspace id")
        with self._workspace_lock(workspace_id):
            self._stop_agents(workspace_id, None)
            config_dir = self.config_dir(workspace_id)
            try:
                config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                raise ProvisionError(f"cannot create the agent's config dir {config_dir}: {exc}") from exc
            log_path = config_dir / LOG_FILE
            process = self._spawn(command, env, log_path)
            with self._lock:
                self._children[process.pid] = _Child(workspace_id, process)
            try:
                self._write_pid_file(workspace_id, process.pid)
            except OSError as exc:
                self._terminate(workspace_id, process.pid)  # an agent nobody could find again
                raise ProvisionError(f"cannot write the agent's pid file in {config_dir}: {exc}") from exc
            self._check_started(workspace_id, process, log_path)
        logger.info(
            "agent process started",
            extra={"workspace_id": str(workspace_id), "pid": process.pid, "log": str(log_path)},
        )
        return format_handle(process.pid)

    def stop_all(self) -> None:
        """Stop every agent this provisioner started that still runs (the local stack's shutdown)."""
        with self._lock:
            started = [(child.workspace_id, pid) for pid, child in self._children.items()]
        for workspace_id, pid in started:
            self.stop(workspace_id, format_handle(pid))

    # --- starting -----------------------------------------------------------------------------

    def _spawn(self, command: Sequence[str], env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
        try:
            with log_path.open("ab") as log:
                log.write(f"--- {datetime.now(UTC).isoformat()} starting: {' '.join(command)}\n".encode())
                log.flush()
                return subprocess.Popen(  # noqa: S603 - argv built by this module, no shell
                    list(command),
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Its own session: Ctrl-C in the platform's terminal does not reach the agent,
                    # and stop() can signal the agent and anything it spawned as one group.
                    start_new_session=True,
                )
        except OSError as exc:
            raise ProvisionError(f"cannot start the agent process ({command[0]}): {exc}") from exc

    def _check_started(self, workspace_id: UUID, process: subprocess.Popen[bytes], log_path: Path) -> None:
        """An agent that cannot start at all (not importable, bad flags) exits within moments; say so
        now, with its last words, instead of leaving the workspace `provisioning` until it times out."""
        if self.start_check_seconds <= 0:
            return
        try:
            exit_status = process.wait(timeout=self.start_check_seconds)
        except subprocess.TimeoutExpired:
            return
        self._forget(process.pid)
        self._pid_file(workspace_id).unlink(missing_ok=True)
        raise ProvisionError(
            f"the agent process exited at once with status {exit_status} (log {log_path}): {_log_tail(log_path)}"
        )

    def _write_pid_file(self, workspace_id: UUID, pid: int) -> None:
        path = self._pid_file(workspace_id)
        partial = path.with_suffix(".pid.tmp")
        partial.write_text(f"{pid}\n")
        partial.replace(path)

    # --- finding and stopping -----------------------------------------------------------------

    def _pid_file(self, workspace_id: UUID) -> Path:
        return self.config_dir(workspace_id) / PID_FILE

    def _candidate_pids(self, workspace_id: UUID, instance_id: str | None) -> list[int]:
        """Every pid that may be this workspace's agent: the handle, the pid file, our children."""
        pids = [parse_handle(instance_id)]
        with suppress(OSError):  # no pid file: never started, or stopped
            pids.append(parse_handle(HANDLE_PREFIX + self._pid_file(workspace_id).read_text().strip()))
        with self._lock:
            pids += [pid for pid, child in self._children.items() if child.workspace_id == workspace_id]
        return list(dict.fromkeys(pid for pid in pids if pid is not None))

    def _is_agent(self, pid: int, workspace_id: UUID) -> bool:
        with self._lock:
            child = self._children.get(pid)
        if child is not None:
            if child.process.poll() is not None:  # reaps our own child if it exited
                self._forget(pid)
                return False
            return child.workspace_id == workspace_id
        return is_agent_of(read_process_state(pid), workspace_id)

    def _stop_agents(self, workspace_id: UUID, instance_id: str | None) -> None:
        for pid in self._candidate_pids(workspace_id, instance_id):
            if self._is_agent(pid, workspace_id):
                self._terminate(workspace_id, pid)
        self._pid_file(workspace_id).unlink(missing_ok=True)

    def _terminate(self, workspace_id: UUID, pid: int) -> None:
        _signal_session(pid, signal.SIGTERM)
        if self._wait_for_exit(pid, self.stop_timeout_seconds):
            logger.info("agent process stopped", extra={"workspace_id": str(workspace_id), "pid": pid})
            return
        logger.warning(
            "agent process ignored SIGTERM; killing it",
            extra={"workspace_id": str(workspace_id), "pid": pid, "waited_seconds": self.stop_timeout_seconds},
        )
        _signal_session(pid, signal.SIGKILL)
        if not self._wait_for_exit(pid, _KILL_WAIT_SECONDS):
            raise ProvisionError(f"agent process {pid} did not exit after SIGKILL")

    def _wait_for_exit(self, pid: int, timeout: float) -> bool:
        with self._lock:
            child = self._children.get(pid)
        if child is None:
            return wait_for_process_exit(pid, timeout)
        try:
            child.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        self._forget(pid)
        return True

    def _forget(self, pid: int) -> None:
        with self._lock:
            self._children.pop(pid, None)

    @contextmanager
    def _workspace_lock(self, workspace_id: UUID) -> Iterator[None]:
        with self._lock:
            lock = self._workspace_locks.setdefault(workspace_id, threading.Lock())
        with lock:
            yield


def default_agents_dir() -> Path:
    """`<repo>/.molecule/agents` when the platform runs from a checkout (the local stack's data
    dir); a deployment with no checkout must set PROCESS_AGENTS_DIR."""
    here = Path(__file__).resolve()
    for folder in here.parents:
        if (folder / "template.yaml").is_file() and (folder / "layers").is_dir():
            return folder / ".molecule" / "agents"
    raise ProvisionError(f"PROCESS_AGENTS_DIR is not set and {here} is not inside a checkout of the platform")
