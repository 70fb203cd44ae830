"""Issue 15's acceptance through the local stack (`make run`, process backend): a managed workspace's
agent starts with the global secrets overlaid by its own as environment variables and logs their
names (never their values); changing a secret restarts it with the new value; a remote agent pulls
the same map from /secrets/values with its own token; the key file is made on first start, 0600."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx

from tests.e2e.conftest import LocalStackProcess, process_environ, wait_for


def _get(base: str, workspace_id: str) -> dict:
    return httpx.get(f"{base}/workspaces/{workspace_id}").json()


def _pid_of_running(base: str, workspace_id: str) -> int | None:
    workspace = _get(base, workspace_id)
    instance = str(workspace.get("instance_id") or "")
    if workspace["status"] != "online" or not instance.startswith("pid:"):
        return None
    return int(instance.removeprefix("pid:"))


def test_managed_agent_receives_merged_secrets_and_a_change_restarts_it(
    local_stack: LocalStackProcess, tmp_path: Path
) -> None:
    base = local_stack.base_url
    key_file = tmp_path / "secrets.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and len(key_file.read_bytes()) == 32
    for key, value in (("SHARED_TOKEN", "global-shared-e2e"), ("MODEL_API_KEY", "global-model-e2e")):
        assert httpx.post(f"{base}/settings/secrets", json={"key": key, "value": value}).status_code == 200
    workspace_id = httpx.post(f"{base}/workspaces", json={"name": "managed", "runtime": "langgraph"}).json()["id"]
    try:
        saved = httpx.post(
            f"{base}/workspaces/{workspace_id}/secrets", json={"key": "MODEL_API_KEY", "value": "own-model-e2e"}
        )
        assert saved.status_code == 200, saved.text

        # the change restarted the agent: it runs with the workspace's value over the global one
        def running_with_own_value() -> int | None:
            pid = _pid_of_running(base, workspace_id)
            environ = process_environ(pid) if pid else None
            return pid if environ and environ.get("MODEL_API_KEY") == "own-model-e2e" else None

        assert wait_for(lambda: running_with_own_value() is not None, timeout=60), _get(base, workspace_id)
        pid = running_with_own_value()
        assert pid is not None
        env = process_environ(pid)
        assert env is not None, "the agent exited after it was found running"
        assert env["SHARED_TOKEN"] == "global-shared-e2e"
        assert env["MOLECULE_SECRET_NAMES"] == "MODEL_API_KEY,SHARED_TOKEN"
        assert env["WORKSPACE_ID"] == workspace_id

        agent_log = (tmp_path / "agents" / workspace_id / "agent.log").read_text()
        assert "secrets received: MODEL_API_KEY, SHARED_TOKEN" in agent_log
        for value in ("global-shared-e2e", "global-model-e2e", "own-model-e2e"):
            assert value not in agent_log
            assert value not in local_stack.log.read_text()
    finally:
        httpx.delete(f"{base}/workspaces/{workspace_id}", timeout=30)


def test_remote_agent_pulls_its_merged_values_with_its_own_token_only(local_stack: LocalStackProcess) -> None:
    base = local_stack.base_url
    created = httpx.post(f"{base}/workspaces", json={"name": "remote", "external": True}).json()
    workspace_id, token = created["id"], created["connection"]["auth_token"]
    httpx.post(f"{base}/admin/secrets", json={"key": "SHARED", "value": "global"})
    httpx.post(f"{base}/workspaces/{workspace_id}/secrets", json={"key": "SHARED", "value": "own"})

    pulled = httpx.get(f"{base}/workspaces/{workspace_id}/secrets/values", headers={"Authorization": f"Bearer {token}"})
    anonymous = httpx.get(f"{base}/workspaces/{workspace_id}/secrets/values")

    assert pulled.status_code == 200
    assert pulled.json() == {"SHARED": "own"}
    assert anonymous.status_code == 401
