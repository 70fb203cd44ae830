"""The `ecs` backend against moto's ECS and EC2: a cluster, a Fargate task definition in awsvpc mode
and a VPC subnet with a security group, as in a real deployment."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from molecule_core.provisioning.backends.base import AgentSpec, ProvisionError
from molecule_core.provisioning.backends.ecs import EcsProvisioner
from moto import mock_aws
from moto.moto_api import state_manager

from tests.conftest import set_env

REGION = "us-east-1"
CLUSTER = "molecule-agents"
CONTAINER = "agent"
# moto walks a task one step towards STOPPED on every describe by default; a healthy agent's task
# stays RUNNING until it is stopped, so hold it there unless a test says otherwise.
HOLD_RUNNING = {"progression": "manual", "times": 1_000_000}


@dataclass
class Aws:
    ecs: Any
    task_definition_arn: str
    subnet_id: str
    security_group_id: str

    def provisioner(self, **overrides: Any) -> EcsProvisioner:
        options: dict[str, Any] = {
            "cluster": CLUSTER,
            "task_definition": self.task_definition_arn,
            "container_name": CONTAINER,
            "subnets": [self.subnet_id],
            "security_groups": [self.security_group_id],
            "region": REGION,
        }
        return EcsProvisioner(**{**options, **overrides})

    def task(self, task_arn: str) -> dict[str, Any]:
        [task] = self.ecs.describe_tasks(cluster=CLUSTER, tasks=[task_arn], include=["TAGS"])["tasks"]
        return dict(task)


@pytest.fixture
def aws(platform_env: pytest.MonkeyPatch) -> Iterator[Aws]:
    # Credentials that can only ever reach moto.
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        platform_env.setenv(name, value)
    platform_env.delenv("AWS_PROFILE", raising=False)
    state_manager.set_transition(model_name="ecs::task", transition=HOLD_RUNNING)
    with mock_aws(), _default_task_transitions_afterwards():
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc_id = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
        # As in a usual Fargate VPC; moto's task ENIs also need it (they read the private DNS name).
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.40.1.0/24")["Subnet"]["SubnetId"]
        group_id = ec2.create_security_group(GroupName="agents", Description="agents", VpcId=vpc_id)["GroupId"]
        ecs = boto3.client("ecs", region_name=REGION)
        ecs.create_cluster(clusterName=CLUSTER)
        task_definition = ecs.register_task_definition(
            family="molecule-agent",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[
                {"name": CONTAINER, "image": "molecule/reference-agent:latest", "memory": 512, "essential": True}
            ],
        )["taskDefinition"]
        yield Aws(ecs, task_definition["taskDefinitionArn"], subnet_id, group_id)


@contextmanager
def _default_task_transitions_afterwards() -> Iterator[None]:
    try:
        yield
    finally:
        state_manager.unset_transition(model_name="ecs::task")


def spec(parent_id: uuid.UUID | None = None) -> AgentSpec:
    workspace_id = uuid.uuid4()
    env = {
        "WORKSPACE_ID": str(workspace_id),
        "PLATFORM_URL": "https://platform.example",
        "MOLECULE_AUTH_TOKEN": "tok",
        "PLATFORM_INBOUND_SECRET": "inbound",
    }
    if parent_id:
        env["PARENT_ID"] = str(parent_id)
    return AgentSpec(workspace_id=workspace_id, name="worker", runtime="claude-code", tier=1, env=env)


def test_start_runs_a_fargate_task_and_returns_its_arn(aws: Aws) -> None:
    provisioner = aws.provisioner()

    task_arn = provisioner.start(spec())

    assert task_arn.startswith(f"arn:aws:ecs:{REGION}:")
    task = aws.task(task_arn)
    assert task["lastStatus"] == "RUNNING"  # moto starts tasks RUNNING
    assert task["launchType"] == "FARGATE"
    assert task["clusterArn"].endswith(f"cluster/{CLUSTER}")
    assert task["taskDefinitionArn"] == aws.task_definition_arn
    assert provisioner.is_running(uuid.uuid4(), task_arn) is True


def test_task_environment_carries_the_workspace_env(aws: Aws) -> None:
    parent_id = uuid.uuid4()
    agent = spec(parent_id)

    task = aws.task(aws.provisioner().start(agent))

    [override] = task["overrides"]["containerOverrides"]
    assert override["name"] == CONTAINER
    assert {item["name"]: item["value"] for item in override["environment"]} == agent.env
    assert agent.env["PARENT_ID"] == str(parent_id)


def test_task_is_tagged_with_the_workspace_and_started_by_molecule(aws: Aws) -> None:
    agent = spec()

    task = aws.task(aws.provisioner().start(agent))

    assert {"key": "workspace_id", "value": str(agent.workspace_id)} in task["tags"]
    assert task["startedBy"] == "molecule"


def test_task_runs_in_the_configured_subnet(aws: Aws) -> None:
    task = aws.task(aws.provisioner().start(spec()))

    [attachment] = task["attachments"]
    details = {item["name"]: item["value"] for item in attachment["details"]}
    assert details["subnetId"] == aws.subnet_id


def test_stop_stops_the_task(aws: Aws) -> None:
    provisioner = aws.provisioner()
    agent = spec()
    task_arn = provisioner.start(agent)

    provisioner.stop(agent.workspace_id, task_arn)

    assert provisioner.is_running(agent.workspace_id, task_arn) is False
    task = aws.task(task_arn)
    assert task["lastStatus"] == "STOPPED"
    assert task["stoppedReason"] == f"molecule: workspace {agent.workspace_id} stopped"


def test_stopping_a_stopped_task_is_fine(aws: Aws) -> None:
    provisioner = aws.provisioner()
    agent = spec()
    task_arn = provisioner.start(agent)
    provisioner.stop(agent.workspace_id, task_arn)

    provisioner.stop(agent.workspace_id, task_arn)

    assert provisioner.is_running(agent.workspace_id, task_arn) is False


def test_task_that_ended_on_its_own_is_not_running(aws: Aws) -> None:
    # Given a task whose agent exited: ECS walks it through DEACTIVATING … DEPROVISIONING to STOPPED
    provisioner = aws.provisioner()
    task_arn = provisioner.start(spec())
    state_manager.set_transition(model_name="ecs::task", transition={"progression": "immediate"})

    assert provisioner.is_running(uuid.uuid4(), task_arn) is False
    assert aws.task(task_arn)["lastStatus"] == "STOPPED"


def test_stop_on_an_unknown_cluster_is_a_provision_error(aws: Aws) -> None:
    task_arn = aws.provisioner().start(spec())

    with pytest.raises(ProvisionError, match=r"ECS stop_task .* ClusterNotFoundException"):
        aws.provisioner(cluster="no-such-cluster").stop(uuid.uuid4(), task_arn)


def test_stop_without_a_handle_has_nothing_to_stop(aws: Aws) -> None:
    aws.provisioner().stop(uuid.uuid4(), None)


def test_unknown_task_is_not_running(aws: Aws) -> None:
    provisioner = aws.provisioner()
    provisioner.start(spec())  # a task ECS knows, which is not the one asked about

    unknown = f"arn:aws:ecs:{REGION}:123456789012:task/{CLUSTER}/{uuid.uuid4().hex}"
    assert provisioner.is_running(uuid.uuid4(), unknown) is False
    assert provisioner.is_running(uuid.uuid4(), None) is False


def test_start_on_an_unknown_cluster_is_a_provision_error(aws: Aws) -> None:
    provisioner = aws.provisioner(cluster="no-such-cluster")

    with pytest.raises(ProvisionError, match="ECS run_task on no-such-cluster failed: ClusterNotFoundException"):
        provisioner.start(spec())


def test_start_with_an_unknown_task_definition_is_a_provision_error(aws: Aws) -> None:
    provisioner = aws.provisioner(task_definition="no-such-family:1")

    with pytest.raises(ProvisionError, match="ECS run_task on molecule-agents failed"):
        provisioner.start(spec())


def test_is_running_on_an_unknown_cluster_is_a_provision_error(aws: Aws) -> None:
    task_arn = aws.provisioner().start(spec())

    with pytest.raises(ProvisionError, match=r"ECS describe_tasks .* ClusterNotFoundException"):
        aws.provisioner(cluster="no-such-cluster").is_running(uuid.uuid4(), task_arn)


def test_from_settings_builds_a_working_backend(aws: Aws, platform_env: pytest.MonkeyPatch) -> None:
    set_env(
        platform_env,
        ECS_CLUSTER=CLUSTER,
        ECS_TASK_DEFINITION=aws.task_definition_arn,
        ECS_CONTAINER_NAME=CONTAINER,
        ECS_SUBNETS=aws.subnet_id,
        ECS_SECURITY_GROUPS=aws.security_group_id,
        ECS_ASSIGN_PUBLIC_IP="false",
        AWS_REGION=REGION,
    )
    provisioner = EcsProvisioner.from_settings()
    agent = spec()

    task_arn = provisioner.start(agent)

    assert provisioner.is_running(agent.workspace_id, task_arn) is True
    network = aws.task(task_arn)
    assert network["lastStatus"] == "RUNNING"
