"""The provisioner backends' pure parts and their configuration: the agent environment of the
process backend, its `pid:` handles, the control plane's status shapes, and `from_settings` — a
backend with missing settings is a NoBackendProvisioner that names the missing setting."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError
from molecule_core.provisioning.backends import base
from molecule_core.provisioning.backends.base import AgentSpec, NoBackendError, NoBackendProvisioner, ProvisionError
from molecule_core.provisioning.backends.controlplane import ControlPlaneProvisioner, ControlPlaneStatus
from molecule_core.provisioning.backends.ecs import RUNNING_STATUSES, EcsProvisioner, is_task_gone
from molecule_core.provisioning.backends.process import (
    ProcessProvisioner,
    ProcessState,
    agent_environment,
    format_handle,
    is_agent_of,
    parse_handle,
)

from tests.conftest import set_env

WORKSPACE = uuid.UUID("6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f")
_ECS_UNSET = {
    "ECS_CLUSTER": None,
    "ECS_TASK_DEFINITION": None,
    "ECS_SUBNETS": None,
    "ECS_SECURITY_GROUPS": None,
    "ECS_CONTAINER_NAME": None,
}


@pytest.fixture
def fresh_backend_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """get_provisioner() builds a backend once per name; these tests need it built from their settings."""
    monkeypatch.setattr(base, "_configured", None)


# --- process: the agent's environment -------------------------------------------------------------


def test_agent_environment_withholds_the_platforms_secrets() -> None:
    platform = {
        "PATH": "/usr/bin",
        "ADMIN_TOKEN": "admin",
        "ADMIN_TOKEN_SECRET_ARN": "arn:secret",
        "DATABASE_URL": "postgresql://x",
        "MOLECULE_ENABLE_TEST_TOKENS": "true",
        "CONTROLPLANE_TOKEN": "cp",
    }

    env = agent_environment(platform, {}, Path("/agents/ws"))

    assert env == {"PATH": "/usr/bin", "AGENT_CONFIG_DIR": "/agents/ws"}


def test_agent_environment_takes_identity_only_from_the_spec() -> None:
    platform = {"PARENT_ID": "stray-parent", "WORKSPACE_ID": "stray", "AGENT_PUBLIC_URL": "http://stray", "HOME": "/h"}
    spec_env = {"WORKSPACE_ID": str(WORKSPACE), "MOLECULE_AUTH_TOKEN": "tok", "PLATFORM_URL": "http://p"}

    env = agent_environment(platform, spec_env, Path("/agents/ws"))

    assert env == {**spec_env, "HOME": "/h", "AGENT_CONFIG_DIR": "/agents/ws"}


@pytest.mark.parametrize(
    ("instance_id", "pid"),
    [("pid:4242", 4242), (None, None), ("", None), ("pid:", None), ("pid:0", None), ("pid:-3", None),
     ("pid:12a", None), ("pid:١٢", None), ("arn:aws:ecs:us-east-1:1:task/c/abc", None), (str(WORKSPACE), None)],
)  # fmt: skip
def test_parse_handle_reads_only_pid_handles(instance_id: str | None, pid: int | None) -> None:
    assert parse_handle(instance_id) == pid


def test_format_handle_round_trips() -> None:
    assert parse_handle(format_handle(31337)) == 31337


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (None, False),
        (ProcessState(("python", "-m", "reference_agent", "run", "--workspace-id", str(WORKSPACE)), False), True),
        (ProcessState(("python", "-m", "reference_agent", "run", "--workspace-id", str(WORKSPACE)), True), False),
        (ProcessState(("python", "-m", "reference_agent", "run", "--workspace-id", str(uuid.uuid4())), False), False),
        (ProcessState(("/usr/sbin/sshd",), False), False),  # a recycled pid
        (ProcessState(None, False), True),  # the OS would not say: the live pid is taken at its word
    ],
)
def test_is_agent_of_needs_a_live_process_naming_the_workspace(state: ProcessState | None, expected: bool) -> None:
    assert is_agent_of(state, WORKSPACE) is expected


# --- controlplane: the status answer ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"running": true}', True),
        ('{"running": false, "state": "running"}', False),  # the explicit flag wins
        ('{"state": "running"}', True),
        ('{"state": "RUNNING"}', True),
        ('{"state": "stopped"}', False),
        ('{"state": "pending", "instance_id": "i-1"}', False),
    ],
)
def test_control_plane_status_reads_running_or_state(body: str, expected: bool) -> None:
    assert ControlPlaneStatus.model_validate_json(body).is_running() is expected


def test_control_plane_status_with_neither_field_is_an_error() -> None:
    with pytest.raises(ValueError, match="neither"):
        ControlPlaneStatus.model_validate_json('{"ok": true}').is_running()


# --- ecs: what counts as running, what counts as gone ------------------------------------------------


def test_ecs_running_statuses_are_the_task_lifecycle_up_to_running() -> None:
    # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle.html
    assert {"PROVISIONING", "PENDING", "ACTIVATING", "RUNNING"} == RUNNING_STATUSES
    assert not {"DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED", "DELETED"} & RUNNING_STATUSES


def _client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "StopTask")


@pytest.mark.parametrize(
    ("code", "message", "gone"),
    [
        ("InvalidParameterException", "The referenced task was not found.", True),
        ("InvalidParameterException", "taskId length should be one of [32,36]", False),
        ("ClusterNotFoundException", "Cluster not found.", False),
        ("AccessDeniedException", "not authorized to perform: ecs:StopTask", False),
    ],
)
def test_is_task_gone_only_for_a_task_ecs_does_not_know(code: str, message: str, gone: bool) -> None:
    assert is_task_gone(_client_error(code, message)) is gone


# --- from_settings -------------------------------------------------------------------------------


def test_controlplane_without_url_names_the_missing_setting(platform_env: pytest.MonkeyPatch) -> None:
    set_env(platform_env, CONTROLPLANE_URL=None, CONTROLPLANE_TOKEN=None)

    with pytest.raises(ProvisionError, match="CONTROLPLANE_URL is not set"):
        ControlPlaneProvisioner.from_settings()


def test_controlplane_with_a_non_http_url_is_misconfigured(platform_env: pytest.MonkeyPatch) -> None:
    set_env(platform_env, CONTROLPLANE_URL="ftp://cp.internal")

    with pytest.raises(ProvisionError, match=r"CONTROLPLANE_URL 'ftp://cp\.internal' is not an http"):
        ControlPlaneProvisioner.from_settings()


def test_controlplane_from_settings_uses_url_and_token(platform_env: pytest.MonkeyPatch) -> None:
    set_env(platform_env, CONTROLPLANE_URL="https://cp.internal/", CONTROLPLANE_TOKEN="cp-token")

    provisioner = ControlPlaneProvisioner.from_settings()

    assert provisioner.base_url == "https://cp.internal"
    auth = provisioner.http.auth
    assert auth is not None
    sent = next(auth.auth_flow(httpx.Request("GET", "https://cp.internal/cp/workspaces/x/status")))
    assert sent.headers["authorization"] == "Bearer cp-token"
    provisioner.close()


def test_ecs_without_settings_names_every_missing_one(platform_env: pytest.MonkeyPatch) -> None:
    set_env(platform_env, **_ECS_UNSET)

    with pytest.raises(ProvisionError, match="ECS_CLUSTER, ECS_TASK_DEFINITION, ECS_SUBNETS are not set"):
        EcsProvisioner.from_settings()


def test_ecs_without_subnets_is_misconfigured(platform_env: pytest.MonkeyPatch) -> None:
    set_env(
        platform_env, **{**_ECS_UNSET, "ECS_CLUSTER": "agents", "ECS_TASK_DEFINITION": "agent:3", "ECS_SUBNETS": " , "}
    )

    with pytest.raises(ProvisionError, match=r"^ECS_SUBNETS is not set$"):
        EcsProvisioner.from_settings()


def test_ecs_from_settings_splits_the_network_lists(platform_env: pytest.MonkeyPatch) -> None:
    set_env(
        platform_env,
        ECS_CLUSTER="agents",
        ECS_TASK_DEFINITION="agent:3",
        ECS_SUBNETS="subnet-a, subnet-b",
        ECS_SECURITY_GROUPS="sg-1",
        ECS_CONTAINER_NAME="worker",
        ECS_ASSIGN_PUBLIC_IP="true",
        AWS_REGION="eu-west-1",
    )

    provisioner = EcsProvisioner.from_settings()

    assert (provisioner.cluster, provisioner.task_definition, provisioner.container_name) == (
        "agents",
        "agent:3",
        "worker",
    )
    assert provisioner.subnets == ["subnet-a", "subnet-b"]
    assert provisioner.security_groups == ["sg-1"]
    assert provisioner.assign_public_ip is True
    assert provisioner.region == "eu-west-1"


def test_process_with_an_uncreatable_agents_dir_names_the_setting(
    platform_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    set_env(platform_env, PROCESS_AGENTS_DIR=str(not_a_dir / "agents"))

    with pytest.raises(ProvisionError, match=r"PROCESS_AGENTS_DIR .* cannot be created"):
        ProcessProvisioner.from_settings()


def test_process_from_settings_creates_the_agents_dir(platform_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    set_env(
        platform_env,
        PROCESS_AGENTS_DIR=str(tmp_path / "agents"),
        PROCESS_STOP_TIMEOUT_SECONDS="3",
        PROCESS_START_CHECK_SECONDS="0",
    )

    provisioner = ProcessProvisioner.from_settings()

    assert provisioner.agents_dir == (tmp_path / "agents").resolve()
    assert provisioner.agents_dir.is_dir()
    assert (provisioner.stop_timeout_seconds, provisioner.start_check_seconds) == (3.0, 0.0)


def test_process_default_agents_dir_is_in_the_checkout(platform_env: pytest.MonkeyPatch) -> None:
    set_env(platform_env, PROCESS_AGENTS_DIR=None)

    provisioner = ProcessProvisioner.from_settings()

    repo = Path(__file__).resolve().parents[2]
    assert provisioner.agents_dir == (repo / ".molecule" / "agents").resolve()


# --- get_provisioner with a misconfigured backend --------------------------------------------------


@pytest.mark.usefixtures("fresh_backend_choice")
def test_misconfigured_ecs_backend_is_no_backend_with_the_reason(platform_env: pytest.MonkeyPatch) -> None:
    set_env(platform_env, PROVISIONER_BACKEND="ecs", **_ECS_UNSET)

    provisioner = base.get_provisioner()

    assert isinstance(provisioner, NoBackendProvisioner)
    spec = AgentSpec(workspace_id=WORKSPACE, name="ws", runtime="claude-code", tier=1)
    with pytest.raises(NoBackendError, match="'ecs' is misconfigured: ECS_CLUSTER, ECS_TASK_DEFINITION, ECS_SUBNETS"):
        provisioner.start(spec)
    with pytest.raises(NoBackendError, match="ECS_CLUSTER"):
        provisioner.is_running(WORKSPACE, None)


@pytest.mark.usefixtures("fresh_backend_choice")
def test_misconfigured_controlplane_backend_is_no_backend_with_the_reason(platform_env: pytest.MonkeyPatch) -> None:
    set_env(platform_env, PROVISIONER_BACKEND="controlplane", CONTROLPLANE_URL=None)

    provisioner = base.get_provisioner()

    assert isinstance(provisioner, NoBackendProvisioner)
    with pytest.raises(NoBackendError, match="'controlplane' is misconfigured: CONTROLPLANE_URL is not set"):
        provisioner.stop(WORKSPACE, None)


@pytest.mark.usefixtures("fresh_backend_choice")
def test_misconfigured_process_backend_is_no_backend_with_the_reason(
    platform_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    set_env(platform_env, PROVISIONER_BACKEND="process", PROCESS_AGENTS_DIR=str(not_a_dir))

    provisioner = base.get_provisioner()

    assert isinstance(provisioner, NoBackendProvisioner)
    with pytest.raises(NoBackendError, match="'process' is misconfigured: PROCESS_AGENTS_DIR"):
        provisioner.is_running(WORKSPACE, "pid:1")


@pytest.mark.usefixtures("fresh_backend_choice")
def test_configured_backend_is_built_from_settings(platform_env: pytest.MonkeyPatch) -> None:
    set_env(platform_env, PROVISIONER_BACKEND="controlplane", CONTROLPLANE_URL="http://127.0.0.1:9")

    provisioner = base.get_provisioner()

    assert isinstance(provisioner, ControlPlaneProvisioner)
    assert provisioner.name == "controlplane"
    assert isinstance(provisioner, base.Provisioner)
