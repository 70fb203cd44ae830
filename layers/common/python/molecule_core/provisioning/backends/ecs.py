"""The `ecs` backend: each agent is one Fargate task of ECS_TASK_DEFINITION on ECS_CLUSTER, in the
ECS_SUBNETS / ECS_SECURITY_GROUPS of the deployment, with the provision pipeline's environment as
container overrides on ECS_CONTAINER_NAME.

The handle (`instance_id`) is the task ARN. A task counts as running from PROVISIONING to RUNNING
(an agent still booting is not a dead one); DEACTIVATING and later, or a task ECS no longer knows,
is not running. Tasks are tagged `workspace_id` and started by `molecule`, for operators.

This module is imported only when the backend is chosen, and boto3 only when a client is first
needed, so functions that never provision do not pay for it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from molecule_core.platform import aws
from molecule_core.platform.observability import logger
from molecule_core.platform.settings import get_settings
from molecule_core.provisioning.backends.base import AgentSpec, ProvisionError

STARTED_BY = "molecule"
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle.html
RUNNING_STATUSES = frozenset({"PROVISIONING", "PENDING", "ACTIVATING", "RUNNING"})


def _names(value: str | None) -> list[str]:
    """A comma-separated setting as a list, blanks dropped."""
    return [name.strip() for name in (value or "").split(",") if name.strip()]


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'ClientError')}: {error.get('Message', exc)}"
    return f"{type(exc).__name__}: {exc}"


def is_task_gone(exc: ClientError) -> bool:
    """stop_task on a task ECS no longer knows (stopped long ago, or never existed)."""
    error = exc.response.get("Error", {})
    return error.get("Code") == "InvalidParameterException" and "not found" in str(error.get("Message", "")).lower()


class EcsProvisioner:
    name = "ecs"

    def __init__(
        self,
        *,
        cluster: str,
        task_definition: str,
        container_name: str,
        subnets: list[str],
        security_groups: list[str],
        assign_public_ip: bool = False,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        self.cluster = cluster
        self.task_definition = task_definition
        self.container_name = container_name
        self.subnets = subnets
        self.security_groups = security_groups
        self.assign_public_ip = assign_public_ip
        self.region = region
        self._client = client

    @classmethod
    def from_settings(cls) -> EcsProvisioner:
        settings = get_settings()
        cluster = (settings.ecs_cluster or "").strip()
        task_definition = (settings.ecs_task_definition or "").strip()
        container_name = settings.ecs_container_name.strip()
        subnets = _names(settings.ecs_subnets)
        required = {
            "ECS_CLUSTER": cluster,
            "ECS_TASK_DEFINITION": task_definition,
            "ECS_CONTAINER_NAME": container_name,
            "ECS_SUBNETS": subnets,  # Fargate tasks use awsvpc networking: no subnet, no task
        }
        missing = [name for name, value in required.items() if not value]
        if missing:
            raise ProvisionError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set")
        return cls(
            cluster=cluster,
            task_definition=task_definition,
            container_name=container_name,
            subnets=subnets,
            # None set: ECS uses the VPC's default security group.
            security_groups=_names(settings.ecs_security_groups),
            assign_public_ip=settings.ecs_assign_public_ip,
            region=(settings.aws_region or "").strip() or None,
        )

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                self._client = aws.client("ecs", region=self.region)
            except BotoCoreError as exc:  # no region configured, bad profile …
                raise ProvisionError(f"cannot create the ECS client: {_describe(exc)}") from exc
        return self._client

    def start(self, spec: AgentSpec) -> str:
        network: dict[str, Any] = {
            "subnets": self.subnets,
            "assignPublicIp": "ENABLED" if self.assign_public_ip else "DISABLED",
        }
        if self.security_groups:
            network["securityGroups"] = self.security_groups
        environment = [{"name": name, "value": value} for name, value in spec.env.items()]
        try:
            answer = self.client.run_task(
                cluster=self.cluster,
                taskDefinition=self.task_definition,
                launchType="FARGATE",
                count=1,
                networkConfiguration={"awsvpcConfiguration": network},
                overrides={"containerOverrides": [{"name": self.container_name, "environment": environment}]},
                startedBy=STARTED_BY,
                tags=[{"key": "workspace_id", "value": str(spec.workspace_id)}],
            )
        except (ClientError, BotoCoreError) as exc:
            raise ProvisionError(f"ECS run_task on {self.cluster} failed: {_describe(exc)}") from exc
        failures = answer.get("failures") or []
        if failures:
            reasons = "; ".join(
                f"{failure.get('reason')} {failure.get('detail') or ''}".strip() for failure in failures
            )
            raise ProvisionError(f"ECS could not place the agent's task on {self.cluster}: {reasons}")
        tasks = answer.get("tasks") or []
        if not tasks or not tasks[0].get("taskArn"):
            raise ProvisionError(f"ECS run_task on {self.cluster} started no task")
        task_arn: str = tasks[0]["taskArn"]
        logger.info("agent task started", extra={"workspace_id": str(spec.workspace_id), "task_arn": task_arn})
        return task_arn

    def stop(self, workspace_id: UUID, instance_id: str | None) -> None:
        if not instance_id:
            return  # never started (or its start failed): nothing to stop
        try:
            self.client.stop_task(
                cluster=self.cluster, task=instance_id, reason=f"molecule: workspace {workspace_id} stopped"
            )
        except ClientError as exc:
            if is_task_gone(exc):
                return
            raise ProvisionError(f"ECS stop_task {instance_id} failed: {_describe(exc)}") from exc
        except BotoCoreError as exc:
            raise ProvisionError(f"ECS stop_task {instance_id} failed: {_describe(exc)}") from exc

    def is_running(self, workspace_id: UUID, instance_id: str | None) -> bool:
        if not instance_id:
            return False
        try:
            answer = self.client.describe_tasks(cluster=self.cluster, tasks=[instance_id])
        except (ClientError, BotoCoreError) as exc:
            raise ProvisionError(f"ECS describe_tasks {instance_id} failed: {_describe(exc)}") from exc
        # A task ECS does not know comes back under `failures` (reason MISSING): not running.
        statuses = [task.get("lastStatus") for task in answer.get("tasks") or []]
        return any(status in RUNNING_STATUSES for status in statuses)
