"""The `process` backend with real processes: the reference agent started as a child against a fake
platform on 127.0.0.1 (register and heartbeat answered 200, every request recorded), stopped with
SIGTERM, killed when it ignores SIGTERM, found again after a platform restart, and never confused
with another process that happens to have the pid."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
from molecule_core.provisioning.backends.base import AgentSpec, ProvisionError
from molecule_core.provisioning.backends.process import (
    LOG_FILE,
    PID_FILE,
    ProcessProvisioner,
    is_agent_of,
    parse_handle,
    ps_process_state,
    read_process_state,
)

from tests.conftest import wait_until

T = TypeVar("T")
HAS_PROC = Path("/proc/self/environ").exists()
# A child that cannot be stopped politely: it says "ready" only once SIGTERM is ignored.
IGNORES_SIGTERM = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "while True:\n"
    "    time.sleep(1)\n"
)
SLEEPS = "import time\nprint('ready', flush=True)\ntime.sleep(120)\n"


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakePlatform:
    """The agent-facing part of the platform the agent needs to come up: register and heartbeat."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, request: Recorded) -> None:
        with self.lock:
            self.requests.append(request)

    def registers(self, workspace_id: uuid.UUID) -> list[Recorded]:
        with self.lock:
            return [
                r for r in self.requests if r.path == "/registry/register" and r.body.get("id") == str(workspace_id)
            ]


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    fake = FakePlatform()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            fake.record(Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            if self.path == "/registry/register":
                answer = {"status": "registered", "workspace_id": body["id"], "delivery_mode": body["delivery_mode"]}
            else:
                answer = {"status": "ok"}
            payload = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def provisioners(tmp_path: Path) -> Iterator[Callable[..., ProcessProvisioner]]:
    """Provisioners over one agents dir (several of them = the platform restarted); every agent they
    started is stopped afterwards."""
    made: list[ProcessProvisioner] = []

    def make(**options: Any) -> ProcessProvisioner:
        provisioner = ProcessProvisioner(tmp_path / "agents", **options)
        made.append(provisioner)
        return provisioner

    yield make
    for provisioner in made:
        provisioner.stop_timeout_seconds = 1.0
        provisioner.stop_all()


@pytest.fixture
def provisioner(provisioners: Callable[..., ProcessProvisioner]) -> ProcessProvisioner:
    return provisioners()


def agent_spec(platform: FakePlatform, parent_id: uuid.UUID | None = None) -> AgentSpec:
    workspace_id = uuid.uuid4()
    env = {
        "WORKSPACE_ID": str(workspace_id),
        "PLATFORM_URL": platform.url,
        "MOLECULE_AUTH_TOKEN": f"tok-{workspace_id.hex[:8]}",
        "PLATFORM_INBOUND_SECRET": "inbound-secret",
    }
    if parent_id:
        env["PARENT_ID"] = str(parent_id)
    return AgentSpec(workspace_id=workspace_id, name="worker", runtime="reference", tier=1, env=env)


def pid_of(instance_id: str) -> int:
    pid = parse_handle(instance_id)
    assert pid is not None, instance_id
    return pid


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def child_environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(entry.split("=", 1) for entry in os.fsdecode(raw).split("\0") if "=" in entry)


def log_of(provisioner: ProcessProvisioner, workspace_id: uuid.UUID) -> str:
    return (provisioner.config_dir(workspace_id) / LOG_FILE).read_text()


def launch_script(provisioner: ProcessProvisioner, workspace_id: uuid.UUID, script: str) -> str:
    """A trivial Python child started through the backend's own launcher, ready when it says so."""
    command = [sys.executable, "-c", script, str(workspace_id)]
    instance_id = provisioner.launch(workspace_id, command, dict(os.environ))
    wait_until(lambda: "ready" in log_of(provisioner, workspace_id), "the child to be ready")
    return instance_id


# --- start ---------------------------------------------------------------------------------------


def test_started_agent_registers_with_its_workspace_id(platform: FakePlatform, provisioner: ProcessProvisioner) -> None:
    spec = agent_spec(platform)

    instance_id = provisioner.start(spec)

    [register] = wait_until(lambda: platform.registers(spec.workspace_id), "the agent to register")
    assert register.headers["authorization"] == f"Bearer {spec.env['MOLECULE_AUTH_TOKEN']}"
    assert register.body["delivery_mode"] == "push"
    assert register.body["url"].startswith("http://127.0.0.1:")
    assert instance_id == f"pid:{pid_of(instance_id)}"
    assert provisioner.is_running(spec.workspace_id, instance_id) is True


def test_started_agent_keeps_config_pid_and_log_in_its_own_dir(
    platform: FakePlatform, provisioner: ProcessProvisioner
) -> None:
    spec = agent_spec(platform)

    instance_id = provisioner.start(spec)

    wait_until(lambda: platform.registers(spec.workspace_id), "the agent to register")
    config_dir = provisioner.config_dir(spec.workspace_id)
    assert (config_dir / PID_FILE).read_text().strip() == str(pid_of(instance_id))
    # The agent's own start-up line went to agent.log and names its config dir.
    wait_until(lambda: "serving on" in log_of(provisioner, spec.workspace_id), "the agent's log line")
    log = log_of(provisioner, spec.workspace_id)
    assert f"reference agent {spec.workspace_id}" in log
    assert f"config {config_dir}" in log


@pytest.mark.skipif(not HAS_PROC, reason="reads /proc/<pid>/environ")
def test_parent_id_reaches_the_agent_when_given(platform: FakePlatform, provisioner: ProcessProvisioner) -> None:
    parent_id = uuid.uuid4()
    spec = agent_spec(platform, parent_id=parent_id)

    instance_id = provisioner.start(spec)

    environ = child_environ(pid_of(instance_id))
    assert environ["PARENT_ID"] == str(parent_id)
    assert environ["WORKSPACE_ID"] == str(spec.workspace_id)
    assert environ["AGENT_CONFIG_DIR"] == str(provisioner.config_dir(spec.workspace_id))


@pytest.mark.skipif(not HAS_PROC, reason="reads /proc/<pid>/environ")
def test_no_parent_id_reaches_an_agent_without_a_parent(
    platform: FakePlatform, provisioner: ProcessProvisioner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARENT_ID", str(uuid.uuid4()))  # left in the platform's own shell
    monkeypatch.setenv("ADMIN_TOKEN", "platform-admin-token")
    spec = agent_spec(platform)

    instance_id = provisioner.start(spec)

    environ = child_environ(pid_of(instance_id))
    assert "PARENT_ID" not in environ
    assert "ADMIN_TOKEN" not in environ
    assert environ["MOLECULE_AUTH_TOKEN"] == spec.env["MOLECULE_AUTH_TOKEN"]


def test_starting_a_running_workspace_replaces_its_agent(
    platform: FakePlatform, provisioner: ProcessProvisioner
) -> None:
    spec = agent_spec(platform)
    first = provisioner.start(spec)
    wait_until(lambda: platform.registers(spec.workspace_id), "the first agent to register")

    second = provisioner.start(spec)

    assert first != second
    assert not process_exists(pid_of(first))
    wait_until(lambda: len(platform.registers(spec.workspace_id)) == 2, "the second agent to register")
    assert provisioner.is_running(spec.workspace_id, second) is True
    assert "reference agent stopped" in log_of(provisioner, spec.workspace_id)


def test_agent_that_exits_at_once_is_a_failed_start(provisioner: ProcessProvisioner) -> None:
    workspace_id = uuid.uuid4()
    command = [sys.executable, "-c", "import sys; sys.exit('boom: cannot start')", str(workspace_id)]

    with pytest.raises(ProvisionError, match=r"exited at once with status 1 .*boom: cannot start"):
        provisioner.launch(workspace_id, command, dict(os.environ))

    assert provisioner.is_running(workspace_id, None) is False
    assert not (provisioner.config_dir(workspace_id) / PID_FILE).exists()


def test_agent_that_cannot_start_is_a_failed_start_with_its_last_words(
    platform: FakePlatform, provisioners: Callable[..., ProcessProvisioner]
) -> None:
    # Given a spec the reference agent refuses at once (no PLATFORM_URL to register with)
    provisioner = provisioners(start_check_seconds=30.0)
    spec = agent_spec(platform)
    del spec.env["PLATFORM_URL"]

    with pytest.raises(ProvisionError, match=r"exited at once with status 2 .*--platform-url \(or PLATFORM_URL\)"):
        provisioner.start(spec)

    assert provisioner.is_running(spec.workspace_id, None) is False


# --- stop ----------------------------------------------------------------------------------------


def test_stop_ends_the_agent_with_sigterm(platform: FakePlatform, provisioner: ProcessProvisioner) -> None:
    spec = agent_spec(platform)
    instance_id = provisioner.start(spec)
    wait_until(lambda: platform.registers(spec.workspace_id), "the agent to register")

    provisioner.stop(spec.workspace_id, instance_id)

    assert provisioner.is_running(spec.workspace_id, instance_id) is False
    assert not process_exists(pid_of(instance_id))
    assert "reference agent stopped" in log_of(provisioner, spec.workspace_id)  # its own clean exit
    assert not (provisioner.config_dir(spec.workspace_id) / PID_FILE).exists()


def test_stop_kills_an_agent_that_ignores_sigterm(provisioners: Callable[..., ProcessProvisioner]) -> None:
    provisioner = provisioners(stop_timeout_seconds=0.5)
    workspace_id = uuid.uuid4()
    instance_id = launch_script(provisioner, workspace_id, IGNORES_SIGTERM)

    provisioner.stop(workspace_id, instance_id)

    assert not process_exists(pid_of(instance_id))
    assert provisioner.is_running(workspace_id, instance_id) is False


def test_stop_when_nothing_runs_is_not_an_error(provisioner: ProcessProvisioner) -> None:
    workspace_id = uuid.uuid4()
    instance_id = launch_script(provisioner, workspace_id, SLEEPS)
    provisioner.stop(workspace_id, instance_id)

    provisioner.stop(workspace_id, instance_id)
    provisioner.stop(workspace_id, None)
    provisioner.stop(uuid.uuid4(), "pid:999999999")

    assert provisioner.is_running(workspace_id, instance_id) is False


def test_stop_without_a_handle_stops_the_workspaces_agent(provisioner: ProcessProvisioner) -> None:
    workspace_id = uuid.uuid4()
    instance_id = launch_script(provisioner, workspace_id, SLEEPS)

    provisioner.stop(workspace_id, None)  # the handle was never stored

    assert not process_exists(pid_of(instance_id))


def test_stop_all_stops_every_started_agent(provisioner: ProcessProvisioner) -> None:
    started = {uuid.uuid4(): "" for _ in range(2)}
    for workspace_id in started:
        started[workspace_id] = launch_script(provisioner, workspace_id, SLEEPS)

    provisioner.stop_all()

    assert not any(process_exists(pid_of(instance_id)) for instance_id in started.values())


# --- is_running ----------------------------------------------------------------------------------


def test_killed_agent_is_not_running(platform: FakePlatform, provisioner: ProcessProvisioner) -> None:
    spec = agent_spec(platform)
    instance_id = provisioner.start(spec)
    wait_until(lambda: platform.registers(spec.workspace_id), "the agent to register")

    os.kill(pid_of(instance_id), signal.SIGKILL)

    wait_until(lambda: not provisioner.is_running(spec.workspace_id, instance_id), "the dead agent to be seen")
    assert not process_exists(pid_of(instance_id))  # is_running reaped its own child


def test_another_process_with_the_pid_is_not_the_agent(provisioner: ProcessProvisioner, tmp_path: Path) -> None:
    # Given a live process that is not this workspace's agent (as after pid reuse)
    stranger = subprocess.Popen([sys.executable, "-c", SLEEPS], stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        handle = f"pid:{stranger.pid}"
        workspace_id = uuid.uuid4()

        # Then it is not running, and stopping the workspace leaves the stranger alone
        assert provisioner.is_running(workspace_id, handle) is False
        provisioner.stop(workspace_id, handle)
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_another_workspaces_agent_is_not_this_workspaces(provisioner: ProcessProvisioner) -> None:
    workspace_id = uuid.uuid4()
    instance_id = launch_script(provisioner, workspace_id, SLEEPS)

    assert provisioner.is_running(uuid.uuid4(), instance_id) is False
    assert provisioner.is_running(workspace_id, instance_id) is True


def test_restarted_platform_finds_and_stops_the_agent(
    platform: FakePlatform, provisioners: Callable[..., ProcessProvisioner]
) -> None:
    # Given an agent started by a platform that has since restarted (a new provisioner, same dir)
    before = provisioners()
    spec = agent_spec(platform)
    instance_id = before.start(spec)
    wait_until(lambda: platform.registers(spec.workspace_id), "the agent to register")
    after = provisioners()

    # Then the new platform sees it running, by handle and by its pid file
    assert after.is_running(spec.workspace_id, instance_id) is True
    assert after.is_running(spec.workspace_id, None) is True

    # And stops it with SIGTERM, the old way
    after.stop(spec.workspace_id, instance_id)
    assert after.is_running(spec.workspace_id, instance_id) is False
    assert before.is_running(spec.workspace_id, instance_id) is False
    assert not process_exists(pid_of(instance_id))
    assert "reference agent stopped" in log_of(after, spec.workspace_id)


def test_restarted_platform_kills_an_agent_that_ignores_sigterm(
    provisioners: Callable[..., ProcessProvisioner],
) -> None:
    before = provisioners()
    workspace_id = uuid.uuid4()
    instance_id = launch_script(before, workspace_id, IGNORES_SIGTERM)
    after = provisioners(stop_timeout_seconds=0.5)

    after.stop(workspace_id, instance_id)

    assert after.is_running(workspace_id, instance_id) is False
    assert before.is_running(workspace_id, instance_id) is False  # reaps it
    assert not process_exists(pid_of(instance_id))


# --- threads -------------------------------------------------------------------------------------


def test_concurrent_starts_of_one_workspace_leave_one_agent(provisioner: ProcessProvisioner) -> None:
    workspace_id = uuid.uuid4()
    command = [sys.executable, "-c", SLEEPS, str(workspace_id)]
    handles: list[str] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        handles.append(provisioner.launch(workspace_id, command, dict(os.environ)))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(handles) == 4
    running = [handle for handle in handles if process_exists(pid_of(handle))]
    assert len(running) == 1
    assert provisioner.is_running(workspace_id, running[0]) is True
    pid_file = provisioner.config_dir(workspace_id) / PID_FILE
    assert f"pid:{pid_file.read_text().strip()}" == running[0]


# --- reading processes ----------------------------------------------------------------------------


@pytest.mark.skipif(not HAS_PROC, reason="compares /proc with ps")
def test_ps_and_proc_agree_on_an_agent_process(provisioner: ProcessProvisioner) -> None:
    if shutil.which("ps") is None:
        pytest.skip("no ps here")
    workspace_id = uuid.uuid4()
    pid = pid_of(launch_script(provisioner, workspace_id, SLEEPS))

    from_ps, from_proc = ps_process_state(pid), read_process_state(pid)

    assert from_ps is not None and from_proc is not None
    assert is_agent_of(from_ps, workspace_id) and is_agent_of(from_proc, workspace_id)
    assert (from_ps.zombie, from_proc.zombie) == (False, False)


def test_ps_and_proc_see_a_zombie_as_not_running() -> None:
    workspace_id = uuid.uuid4()
    child = subprocess.Popen([sys.executable, "-c", "pass", str(workspace_id)])
    try:
        # Given our child exited and was not reaped yet (waitid with WNOWAIT leaves it a zombie)
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)

        states = [read_process_state(child.pid)] + ([ps_process_state(child.pid)] if shutil.which("ps") else [])

        assert all(state is not None and state.zombie for state in states)
        assert not any(is_agent_of(state, workspace_id) for state in states)
    finally:
        child.wait()


def test_gone_process_has_no_state() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()

    assert read_process_state(child.pid) is None
    if shutil.which("ps"):
        assert ps_process_state(child.pid) is None


def test_restarted_platform_without_pidfd_still_waits_for_the_agent(
    provisioners: Callable[..., ProcessProvisioner], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a system without pidfd_open (macOS, old kernels): the wait falls back to polling
    monkeypatch.delattr(os, "pidfd_open", raising=False)
    before = provisioners()
    workspace_id = uuid.uuid4()
    instance_id = launch_script(before, workspace_id, SLEEPS)
    after = provisioners()

    after.stop(workspace_id, instance_id)

    assert after.is_running(workspace_id, instance_id) is False
    assert before.is_running(workspace_id, instance_id) is False
    assert not process_exists(pid_of(instance_id))
