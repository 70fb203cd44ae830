"""Read template.yaml — the single list of functions, routes, schedules and queues. The local
stack and the tests derive everything from it; nothing is listed twice."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation's short-form tags (!Ref, !Sub, !GetAtt …)."""


def _cfn_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


@dataclass(frozen=True)
class HttpRouteSpec:
    method: str
    path: str


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    expression: str
    input: dict[str, Any] = field(default_factory=dict)

    @property
    def period_seconds(self) -> float:
        """rate(N unit) in seconds; cron() schedules are not run locally."""
        match = re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", self.expression.strip())
        if not match:
            raise ValueError(f"unsupported schedule expression {self.expression!r}")
        unit = {"minute": 60, "hour": 3600, "day": 86400}[match[2].rstrip("s")]
        return int(match[1]) * unit


@dataclass(frozen=True)
class QueueTriggerSpec:
    name: str
    queue: str  # logical id of the AWS::SQS::Queue
    batch_size: int
    report_batch_item_failures: bool


@dataclass(frozen=True)
class QueueSpec:
    """An AWS::SQS::Queue of the template, with the attributes the local stack recreates."""

    logical_id: str
    fifo: bool = False
    content_based_deduplication: bool = False
    visibility_timeout: int = 30  # SQS defaults
    message_retention_seconds: int = 345600
    dead_letter_queue: str | None = None  # logical id of the RedrivePolicy target
    max_receive_count: int | None = None
    queue_name: str | None = None  # an explicit QueueName; CloudFormation generates one otherwise

    @property
    def name(self) -> str:
        """The queue's name (FIFO queue names must end in .fifo)."""
        if self.queue_name:
            return self.queue_name
        return f"{self.logical_id}.fifo" if self.fifo else self.logical_id


def _logical_id(reference: Any) -> str:
    """The logical id in !Ref X, !GetAtt X.Arn, or a plain string."""
    if isinstance(reference, dict):
        if "Ref" in reference:
            return str(reference["Ref"])
        if "Fn::GetAtt" in reference:
            return str(reference["Fn::GetAtt"][0])
    return str(reference)


def _truthy(value: Any) -> bool:
    return str(value).lower() == "true"


def _queue_spec(logical_id: str, props: dict[str, Any]) -> QueueSpec:
    redrive = props.get("RedrivePolicy") or {}
    if isinstance(redrive, str):
        redrive = json.loads(redrive)
    return QueueSpec(
        logical_id=logical_id,
        fifo=_truthy(props.get("FifoQueue", False)),
        content_based_deduplication=_truthy(props.get("ContentBasedDeduplication", False)),
        visibility_timeout=int(props.get("VisibilityTimeout", 30)),
        message_retention_seconds=int(props.get("MessageRetentionPeriod", 345600)),
        dead_letter_queue=_logical_id(redrive["deadLetterTargetArn"]) if "deadLetterTargetArn" in redrive else None,
        max_receive_count=int(redrive["maxReceiveCount"]) if "maxReceiveCount" in redrive else None,
        queue_name=props["QueueName"] if isinstance(props.get("QueueName"), str) else None,
    )


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: str
    handler: str
    timeout: int
    routes: tuple[HttpRouteSpec, ...] = ()
    schedules: tuple[ScheduleSpec, ...] = ()
    queues: tuple[QueueTriggerSpec, ...] = ()
    environment: dict[str, Any] = field(default_factory=dict)
    # FunctionUrlConfig InvokeMode RESPONSE_STREAM: its answers may be streamed (the local stack
    # relays them as they come on every route of the function).
    streams: bool = False

    @property
    def module_path(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return REPO_ROOT / self.code_uri / (module.replace(".", "/") + ".py")

    @property
    def handler_name(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class Template:
    raw: dict[str, Any]
    functions: dict[str, FunctionSpec]

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.raw.get("Resources", {}))

    @property
    def python_version(self) -> tuple[int, int]:
        """The functions' Python (Globals `Runtime: python3.13` → (3, 13))."""
        runtime = str(self.raw["Globals"]["Function"]["Runtime"])
        major, _, minor = runtime.removeprefix("python").partition(".")
        return int(major), int(minor)

    @property
    def queues(self) -> dict[str, QueueSpec]:
        """Every AWS::SQS::Queue, dead-letter targets before the queues that redrive to them."""
        specs = {
            logical_id: _queue_spec(logical_id, resource.get("Properties") or {})
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == "AWS::SQS::Queue"
        }
        return dict(sorted(specs.items(), key=lambda item: item[1].dead_letter_queue is not None))

    @property
    def buckets(self) -> list[str]:
        """Logical ids of every AWS::S3::Bucket."""
        return [logical_id for logical_id, r in self.resources.items() if r.get("Type") == "AWS::S3::Bucket"]

    def _ref_environment(self, targets: Iterable[str]) -> dict[str, str]:
        """Environment variable → logical id, for every `NAME: !Ref <target>` in the Globals or a
        function's environment."""
        globals_env = (
            (self.raw.get("Globals", {}).get("Function", {}).get("Environment") or {}).get("Variables")
        ) or {}
        wanted = set(targets)
        wired: dict[str, str] = {}
        for environment in (globals_env, *(spec.environment for spec in self.functions.values())):
            for name, value in environment.items():
                if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in wanted:
                    wired[name] = value["Ref"]
        return wired

    def queue_url_environment(self) -> dict[str, str]:
        """Environment variable → queue logical id (a queue's Ref is its URL)."""
        return self._ref_environment(self.queues)

    def bucket_name_environment(self) -> dict[str, str]:
        """Environment variable → bucket logical id (a bucket's Ref is its name)."""
        return self._ref_environment(self.buckets)

    def literal_environment(self) -> dict[str, str]:
        """Function-level environment values that are plain strings (no intrinsics). The local
        stack runs every function in one process, so these are applied process-wide."""
        merged: dict[str, str] = {}
        for spec in self.functions.values():
            for name, value in spec.environment.items():
                # AWS_LAMBDA_* configure the Lambda runtime itself (an exec wrapper), not the code.
                if isinstance(value, str | int | float) and not name.startswith("AWS_LAMBDA_"):
                    merged[name] = str(value)
        return merged


def load_template(path: Path = TEMPLATE_PATH) -> Template:
    raw = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    globals_fn = raw.get("Globals", {}).get("Function", {})
    functions: dict[str, FunctionSpec] = {}
    for logical_id, resource in raw.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        routes, schedules, queues = [], [], []
        for event_name, event in (props.get("Events") or {}).items():
            kind, event_props = event.get("Type"), event.get("Properties", {})
            if kind == "HttpApi":
                routes.append(HttpRouteSpec(str(event_props.get("Method", "ANY")).upper(), event_props["Path"]))
            elif kind in ("Schedule", "ScheduleV2"):
                raw_input = event_props.get("Input")
                schedules.append(
                    ScheduleSpec(
                        event_name,
                        event_props["ScheduleExpression"],
                        json.loads(raw_input) if raw_input else {},
                    )
                )
            elif kind == "SQS":
                queues.append(
                    QueueTriggerSpec(
                        event_name,
                        _logical_id(event_props["Queue"]),
                        int(event_props.get("BatchSize", 10)),
                        "ReportBatchItemFailures" in (event_props.get("FunctionResponseTypes") or []),
                    )
                )
        functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_uri=str(props["CodeUri"]).rstrip("/"),
            handler=props.get("Handler", globals_fn.get("Handler", "app.lambda_handler")),
            timeout=int(props.get("Timeout", globals_fn.get("Timeout", 3))),
            routes=tuple(routes),
            schedules=tuple(schedules),
            queues=tuple(queues),
            environment=dict((props.get("Environment") or {}).get("Variables") or {}),
            streams=(props.get("FunctionUrlConfig") or {}).get("InvokeMode") == "RESPONSE_STREAM",
        )
    return Template(raw, functions)


@lru_cache(maxsize=1)
def default_template() -> Template:
    return load_template()
