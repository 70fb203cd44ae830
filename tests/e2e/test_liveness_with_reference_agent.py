"""Issue 3's acceptance through the local stack: the reference agent, started against it, brings its
workspace online on register, keeps it online while it heartbeats, and once it stops the sweep
moves the workspace to awaiting_agent (external) or offline (managed) within two sweep periods
after the heartbeat went stale. Short thresholds: stale after 4 s, a sweep every second."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.conftest import AgentProcess, LocalStackProcess, wait_for

STALE_SECONDS = 4  # tests/e2e/conftest.py FAST_LIVENESS
SWEEP_PERIOD = 1


def _status(base: str, workspace_id: str) -> str:
    return str(httpx.get(f"{base}/workspaces/{workspace_id}/state").json()["status"])


def _run_agent(base: str, workspace_id: str, token: str, tmp_path: Path, mode: str) -> AgentProcess:
    return AgentProcess(
        "--platform-url", base, "--workspace-id", workspace_id, f"--token={token}",
        "--config-dir", str(tmp_path / "agent"), "--mode", mode, "--heartbeat-interval", "0.3",
        "--poll-interval", "0.3", log=tmp_path / "agent.log",
    )  # fmt: skip


def _online_then_stale(base: str, workspace_id: str, agent: AgentProcess, stale_status: str) -> None:
    assert wait_for(lambda: _status(base, workspace_id) == "online", timeout=30), agent.log.read_text()
    # heartbeats keep it online for well over the stale threshold
    stayed_online = not wait_for(lambda: _status(base, workspace_id) != "online", timeout=2 * STALE_SECONDS)
    assert stayed_online, f"left online while heartbeating: {_status(base, workspace_id)}"
    assert agent.stop() == 0
    # stale STALE_SECONDS after the last heartbeat, then caught by one of the next two sweeps
    assert wait_for(
        lambda: _status(base, workspace_id) == stale_status, timeout=STALE_SECONDS + 2 * SWEEP_PERIOD + 2
    ), _status(base, workspace_id)


def test_external_agent_goes_online_and_back_to_awaiting_agent(
    fast_liveness_stack: LocalStackProcess, tmp_path: Path
) -> None:
    base = fast_liveness_stack.base_url
    created = httpx.post(f"{base}/workspaces", json={"name": "laptop agent", "external": True}).json()
    assert created["status"] == "awaiting_agent"
    agent = _run_agent(base, created["id"], created["connection"]["auth_token"], tmp_path, "poll")
    try:
        _online_then_stale(base, created["id"], agent, "awaiting_agent")
    finally:
        agent.stop()
    events = [e["event_type"] for e in httpx.get(f"{base}/events/{created['id']}").json()]
    assert events[:2] == ["WORKSPACE_AWAITING_AGENT", "WORKSPACE_ONLINE"]


def test_managed_agent_goes_online_and_then_offline(
    fast_liveness_stack_without_backend: LocalStackProcess, tmp_path: Path
) -> None:
    base = fast_liveness_stack_without_backend.base_url
    # No provisioner backend on this stack: the platform cannot start the agent, so the test does.
    # (With the process backend, the restart the sweep requests brings it back: test_process_backend.)
    created = httpx.post(f"{base}/workspaces", json={"name": "managed agent", "runtime": "langgraph"}).json()
    assert created["status"] == "failed"
    token = httpx.get(f"{base}/admin/workspaces/{created['id']}/test-token").json()["auth_token"]
    agent = _run_agent(base, created["id"], token, tmp_path, "push")

    def went_offline() -> bool:
        events = httpx.get(f"{base}/events/{created['id']}").json()
        return any(
            e["event_type"] == "WORKSPACE_OFFLINE" and e["payload"]["reason"] == "heartbeat_stale" for e in events
        )

    try:
        assert wait_for(lambda: _status(base, created["id"]) == "online", timeout=30), agent.log.read_text()
        assert not wait_for(lambda: _status(base, created["id"]) != "online", timeout=2 * STALE_SECONDS)
        assert agent.stop() == 0
        assert wait_for(went_offline, timeout=STALE_SECONDS + 2 * SWEEP_PERIOD + 2)
    finally:
        agent.stop()
    # the sweep also asked for a restart, which this backend-less stack cannot honour: failed, with a reason
    assert wait_for(lambda: _status(base, created["id"]) == "failed", timeout=10)
