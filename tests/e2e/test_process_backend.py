"""Issue 4's acceptance through the local stack (`make run`'s process backend): a managed workspace
starts a reference agent that registers and goes online; killed, the sweep marks it offline and the
restart brings it back online; hibernate stops it; delete stops it; team expand gives children a
PARENT_ID and the root none."""

from __future__ import annotations

import os
import signal

import httpx

from tests.e2e.conftest import LocalStackProcess, process_environ, wait_for

STALE_SECONDS = 4  # tests/e2e/conftest.py FAST_LIVENESS
SWEEP_PERIOD = 1


def _get(base: str, workspace_id: str) -> dict:
    return httpx.get(f"{base}/workspaces/{workspace_id}").json()


def _running(base: str, workspace_id: str) -> bool:
    """Online with its process recorded (the agent may register before the backend's start returns)."""
    workspace = _get(base, workspace_id)
    return workspace["status"] == "online" and str(workspace["instance_id"] or "").startswith("pid:")


def _pid(workspace: dict) -> int:
    instance = workspace["instance_id"]
    assert instance and instance.startswith("pid:"), instance
    return int(instance.removeprefix("pid:"))


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _environ(pid: int) -> dict[str, str]:
    environ = process_environ(pid)
    assert environ is not None, f"agent process {pid} exited"
    return environ


def test_managed_workspace_lifecycle_with_the_process_backend(fast_liveness_stack: LocalStackProcess) -> None:
    base = fast_liveness_stack.base_url
    created = httpx.post(f"{base}/workspaces", json={"name": "managed", "runtime": "langgraph"}).json()
    assert created["status"] in ("provisioning", "online"), created  # the agent may register at once
    workspace_id = created["id"]
    assert wait_for(lambda: _running(base, workspace_id), timeout=30)
    first_pid = _pid(_get(base, workspace_id))
    assert _alive(first_pid)

    # kill the agent: the sweep marks it offline and the restart brings a new one online
    os.kill(first_pid, signal.SIGKILL)

    def events() -> list[str]:
        return [e["event_type"] for e in httpx.get(f"{base}/events/{workspace_id}").json()]

    assert wait_for(lambda: "WORKSPACE_OFFLINE" in events(), timeout=STALE_SECONDS + 2 * SWEEP_PERIOD + 5)
    assert wait_for(lambda: _running(base, workspace_id) and _pid(_get(base, workspace_id)) != first_pid, timeout=40), (
        _get(base, workspace_id)
    )
    second_pid = _pid(_get(base, workspace_id))
    assert _alive(second_pid)

    # hibernate: the process stops, the status says so
    hibernated = httpx.post(f"{base}/workspaces/{workspace_id}/hibernate", timeout=30)
    assert hibernated.status_code == 200, hibernated.text
    assert _get(base, workspace_id)["status"] == "hibernated"
    assert wait_for(lambda: not _alive(second_pid), timeout=15)

    # wake it with a restart, then delete: the process stops
    assert httpx.post(f"{base}/workspaces/{workspace_id}/restart").status_code == 202
    assert wait_for(lambda: _running(base, workspace_id), timeout=40)
    third_pid = _pid(_get(base, workspace_id))
    assert httpx.delete(f"{base}/workspaces/{workspace_id}", timeout=30).status_code == 200
    assert wait_for(lambda: not _alive(third_pid), timeout=15)


def test_team_expand_children_see_parent_id(local_stack: LocalStackProcess) -> None:
    base = local_stack.base_url
    root = httpx.post(f"{base}/workspaces", json={"name": "lead", "runtime": "langgraph"}).json()
    expanded = httpx.post(
        f"{base}/workspaces/{root['id']}/expand",
        json={"children": [{"name": "researcher"}, {"name": "writer"}]},
        timeout=30,
    )
    assert expanded.status_code == 201, expanded.text
    children = expanded.json()["children"]
    try:
        for workspace in [root, *children]:
            assert wait_for(lambda w=workspace: _running(base, w["id"]), timeout=40)
        assert "PARENT_ID" not in _environ(_pid(_get(base, root["id"])))
        for child in children:
            env = _environ(_pid(_get(base, child["id"])))
            assert env["PARENT_ID"] == root["id"]
            assert env["WORKSPACE_ID"] == child["id"]
    finally:
        httpx.delete(f"{base}/workspaces/{root['id']}?confirm=true", timeout=30)


def test_killed_push_agent_answers_restarting_and_comes_back(local_stack: LocalStackProcess) -> None:
    """Issue 5's acceptance: killing the push agent yields 503 `restarting`, and the restart the proxy
    requested brings it back to answer."""
    base = local_stack.base_url
    created = httpx.post(f"{base}/workspaces", json={"name": "pusher", "runtime": "langgraph"}).json()
    workspace_id = created["id"]
    message = {
        "jsonrpc": "2.0", "id": "1", "method": "message/send",
        "params": {"message": {"role": "user", "parts": [{"kind": "text", "text": "still there?"}]}},
    }  # fmt: skip
    try:
        assert wait_for(lambda: _running(base, workspace_id), timeout=30)
        assert httpx.post(f"{base}/workspaces/{workspace_id}/a2a", json=message, timeout=30).status_code == 200
        first_pid = _pid(_get(base, workspace_id))
        os.kill(first_pid, signal.SIGKILL)
        assert wait_for(lambda: not _alive(first_pid), timeout=10)

        answer = httpx.post(f"{base}/workspaces/{workspace_id}/a2a", json=message, timeout=30)
        assert answer.status_code == 503, answer.text
        assert answer.json()["restarting"] is True
        assert answer.headers["retry-after"] == "15"

        assert wait_for(
            lambda: _running(base, workspace_id) and _pid(_get(base, workspace_id)) != first_pid, timeout=40
        ), _get(base, workspace_id)
        again = httpx.post(f"{base}/workspaces/{workspace_id}/a2a", json=message, timeout=30)
        assert again.status_code == 200
        assert again.json()["result"]["parts"][0]["text"] == "echo: still there?"
    finally:
        httpx.delete(f"{base}/workspaces/{workspace_id}", timeout=30)
