"""The `controlplane` backend against a real HTTP control plane on 127.0.0.1 (a threaded
http.server that records every request and answers as each test scripts it)."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from molecule_core.provisioning.backends.base import AgentSpec, ProvisionError
from molecule_core.provisioning.backends.controlplane import ControlPlaneProvisioner

from tests.conftest import set_env


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeControlPlane:
    url: str = ""
    # (method, path) → (status, raw body); anything not scripted is 404
    answers: dict[tuple[str, str], tuple[int, bytes]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, method: str, path: str, status: int, body: Any = None) -> None:
        raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
        self.answers[(method, path)] = (status, raw)

    def handle(self, request: Recorded) -> tuple[int, bytes]:
        with self.lock:
            self.requests.append(request)
            return self.answers.get((request.method, request.path), (404, b'{"error":"no such workspace"}'))


@pytest.fixture
def control_plane() -> Iterator[FakeControlPlane]:
    fake = FakeControlPlane()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            body = json.loads(raw) if raw else None
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, payload = fake.handle(Recorded(self.command, self.path, headers, body))
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def provisioner(control_plane: FakeControlPlane) -> Iterator[ControlPlaneProvisioner]:
    backend = ControlPlaneProvisioner(control_plane.url, "cp-token")
    yield backend
    backend.close()


def spec() -> AgentSpec:
    workspace_id = uuid.uuid4()
    return AgentSpec(
        workspace_id=workspace_id,
        name="researcher",
        runtime="claude-code",
        tier=2,
        env={"WORKSPACE_ID": str(workspace_id), "PLATFORM_URL": "http://platform", "MOLECULE_AUTH_TOKEN": "tok"},
    )


def refused_url() -> str:
    """A 127.0.0.1 port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- start ---------------------------------------------------------------------------------------


def test_start_posts_the_spec_and_returns_the_instance_id(
    control_plane: FakeControlPlane, provisioner: ControlPlaneProvisioner
) -> None:
    agent = spec()
    control_plane.answer("POST", "/cp/workspaces", 201, {"instance_id": "i-0abc", "state": "pending"})

    instance_id = provisioner.start(agent)

    assert instance_id == "i-0abc"
    [request] = control_plane.requests
    assert (request.method, request.path) == ("POST", "/cp/workspaces")
    assert request.body == {
        "workspace_id": str(agent.workspace_id),
        "name": "researcher",
        "runtime": "claude-code",
        "tier": 2,
        "env": agent.env,
    }


def test_start_sends_the_bearer_token(control_plane: FakeControlPlane, provisioner: ControlPlaneProvisioner) -> None:
    control_plane.answer("POST", "/cp/workspaces", 200, {"instance_id": "i-1"})

    provisioner.start(spec())

    assert control_plane.requests[0].headers["authorization"] == "Bearer cp-token"


def test_the_token_comes_from_secrets_manager_and_follows_its_rotation(
    control_plane: FakeControlPlane, platform_env: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools.utilities import parameters
    from molecule_core.platform import aws
    from moto import mock_aws

    control_plane.answer("POST", "/cp/workspaces", 200, {"instance_id": "i-1"})
    with mock_aws():
        import boto3

        credentials = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}
        for name, value in credentials.items():
            platform_env.setenv(name, value)
        aws.reset_clients()
        parameters.clear_caches()
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        arn = secrets.create_secret(Name="molecule/controlplane", SecretString="first-token")["ARN"]
        set_env(platform_env, CONTROLPLANE_URL=control_plane.url, CONTROLPLANE_TOKEN_SECRET_ARN=arn)
        backend = ControlPlaneProvisioner.from_settings()
        try:
            backend.start(spec())
            secrets.put_secret_value(SecretId=arn, SecretString="rotated-token")
            parameters.clear_caches()  # what the five-minute cache does on its own
            backend.start(spec())
        finally:
            backend.close()
            parameters.clear_caches()
            aws.reset_clients()

    assert [r.headers["authorization"] for r in control_plane.requests] == [
        "Bearer first-token",
        "Bearer rotated-token",
    ]


def test_no_token_sends_no_authorization(control_plane: FakeControlPlane) -> None:
    control_plane.answer("POST", "/cp/workspaces", 200, {"instance_id": "i-1"})
    backend = ControlPlaneProvisioner(control_plane.url, None)

    backend.start(spec())

    assert "authorization" not in control_plane.requests[0].headers
    backend.close()


@pytest.mark.parametrize("body", [{"state": "pending"}, {"instance_id": ""}, b"", b"accepted"])
def test_start_without_an_instance_id_falls_back_to_the_workspace_id(
    control_plane: FakeControlPlane, provisioner: ControlPlaneProvisioner, body: Any
) -> None:
    agent = spec()
    control_plane.answer("POST", "/cp/workspaces", 202, body)

    assert provisioner.start(agent) == str(agent.workspace_id)


def test_start_refused_is_a_provision_error_with_status_and_body(
    control_plane: FakeControlPlane, provisioner: ControlPlaneProvisioner
) -> None:
    control_plane.answer("POST", "/cp/workspaces", 500, {"error": "no capacity in us-east-2"})

    with pytest.raises(ProvisionError, match=r"POST /cp/workspaces → 500 \{\"error\":\"no capacity in us-east-2\"\}"):
        provisioner.start(spec())


def test_long_error_bodies_are_cut_short(control_plane: FakeControlPlane, provisioner: ControlPlaneProvisioner) -> None:
    control_plane.answer("POST", "/cp/workspaces", 502, b"<html>\n" + b"x" * 5000)

    with pytest.raises(ProvisionError) as failure:
        provisioner.start(spec())

    message = str(failure.value)
    assert "502 <html> xxx" in message
    assert len(message) < 300


def test_start_against_a_closed_port_is_a_provision_error() -> None:
    backend = ControlPlaneProvisioner(refused_url())

    with pytest.raises(ProvisionError, match=r"control plane unreachable .*ConnectError"):
        backend.start(spec())
    backend.close()


def test_base_url_path_prefix_is_kept(control_plane: FakeControlPlane) -> None:
    control_plane.answer("POST", "/api/cp/workspaces", 201, {"instance_id": "i-2"})
    backend = ControlPlaneProvisioner(control_plane.url + "/api/")

    assert backend.start(spec()) == "i-2"
    backend.close()


# --- stop ----------------------------------------------------------------------------------------


def test_stop_deletes_the_workspace(control_plane: FakeControlPlane, provisioner: ControlPlaneProvisioner) -> None:
    agent = spec()
    control_plane.answer("DELETE", f"/cp/workspaces/{agent.workspace_id}", 204)

    provisioner.stop(agent.workspace_id, "i-0abc")

    [request] = control_plane.requests
    assert (request.method, request.path) == ("DELETE", f"/cp/workspaces/{agent.workspace_id}")
    assert request.headers["authorization"] == "Bearer cp-token"


def test_stop_of_an_unknown_workspace_is_fine(
    control_plane: FakeControlPlane, provisioner: ControlPlaneProvisioner
) -> None:
    provisioner.stop(uuid.uuid4(), None)  # the fake answers 404 to anything unscripted

    assert control_plane.requests[0].method == "DELETE"


def test_stop_refused_is_a_provision_error(
    control_plane: FakeControlPlane, provisioner: ControlPlaneProvisioner
) -> None:
    workspace_id = uuid.uuid4()
    control_plane.answer("DELETE", f"/cp/workspaces/{workspace_id}", 503, {"error": "draining"})

    with pytest.raises(ProvisionError, match=r"stop failed: DELETE /cp/workspaces/.* → 503 .*draining"):
        provisioner.stop(workspace_id, "i-1")


def test_stop_against_a_closed_port_is_a_provision_error() -> None:
    backend = ControlPlaneProvisioner(refused_url())

    with pytest.raises(ProvisionError, match="control plane unreachable"):
        backend.stop(uuid.uuid4(), "i-1")
    backend.close()


# --- is_running ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status_body", "expected"),
    [
        ({"running": True}, True),
        ({"running": False}, False),
        ({"state": "running"}, True),
        ({"state": "stopped"}, False),
    ],
)
def test_is_running_reads_the_status(
    control_plane: FakeControlPlane, provisioner: ControlPlaneProvisioner, status_body: dict[str, Any], expected: bool
) -> None:
    workspace_id = uuid.uuid4()
    control_plane.answer("GET", f"/cp/workspaces/{workspace_id}/status", 200, status_body)

    assert provisioner.is_running(workspace_id, "i-1") is expected
    assert control_plane.requests[0].headers["authorization"] == "Bearer cp-token"


def test_is_running_of_an_unknown_workspace_is_false(provisioner: ControlPlaneProvisioner) -> None:
    assert provisioner.is_running(uuid.uuid4(), None) is False


def test_is_running_when_the_control_plane_fails_is_a_provision_error(
    control_plane: FakeControlPlane, provisioner: ControlPlaneProvisioner
) -> None:
    workspace_id = uuid.uuid4()
    control_plane.answer("GET", f"/cp/workspaces/{workspace_id}/status", 500, {"error": "db down"})

    with pytest.raises(ProvisionError, match=r"status failed: .* → 500"):
        provisioner.is_running(workspace_id, "i-1")


def test_is_running_with_an_unreadable_answer_is_a_provision_error(
    control_plane: FakeControlPlane, provisioner: ControlPlaneProvisioner
) -> None:
    workspace_id = uuid.uuid4()
    control_plane.answer("GET", f"/cp/workspaces/{workspace_id}/status", 200, {"healthy": "maybe"})

    with pytest.raises(ProvisionError, match="unexpected answer"):
        provisioner.is_running(workspace_id, "i-1")


def test_is_running_against_a_closed_port_is_a_provision_error() -> None:
    backend = ControlPlaneProvisioner(refused_url())

    with pytest.raises(ProvisionError, match="control plane unreachable"):
        backend.is_running(uuid.uuid4(), "i-1")
    backend.close()


def test_concurrent_calls_share_one_client(
    control_plane: FakeControlPlane, provisioner: ControlPlaneProvisioner
) -> None:
    workspace_id = uuid.uuid4()
    control_plane.answer("GET", f"/cp/workspaces/{workspace_id}/status", 200, {"running": True})
    answers: list[bool] = []

    def ask() -> None:
        answers.append(provisioner.is_running(workspace_id, None))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert answers == [True] * 8
    assert len(control_plane.requests) == 8
