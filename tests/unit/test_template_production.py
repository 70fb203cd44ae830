"""What template.yaml must have before an on-call team can run it (SPEC §5.15, issue 18): a log
group with retention for every function, an alarm that notifies someone for every dead-letter
queue and every function's errors and throttles, reserved concurrency on every HTTP function
wired to a parameter and fitting the database's connection budget, no wildcard resource for the
services that hold data, throttling and JSON access logs on the API, migrations before new code,
and no dependency cycle (which `sam validate --lint` does not see).

Each rule is a function that lists violations in a parsed template. The real template must have
none; every rule is also run on a copy of the template with one deliberate violation, so a rule
that stops seeing anything fails here too."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from molecule_local.template import REPO_ROOT, default_template

Template = dict[str, Any]

# Services whose data or control an IAM statement must never grant on every resource.
SCOPED_SERVICES = {"ecs", "sqs", "s3", "kms", "secretsmanager"}
# PostgreSQL keeps superuser_reserved_connections (3) and RDS rds.rds_superuser_reserved_connections
# (2) for administrators; the margin is for an operator's psql, monitoring and backups.
RESERVED_FOR_SUPERUSERS = 5
OPERATOR_MARGIN = 10


def _resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r.get("Type") == kind}


def _functions(template: Template) -> dict[str, dict[str, Any]]:
    return _resources(template, "AWS::Serverless::Function")


def _is_http_function(function: dict[str, Any]) -> bool:
    events = function["Properties"].get("Events") or {}
    return any(event.get("Type") == "HttpApi" for event in events.values())


def _ref(value: Any) -> str | None:
    return value["Ref"] if isinstance(value, dict) and set(value) == {"Ref"} else None


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for child in node.values():
            yield from _walk(child)
    elif isinstance(node, list):
        for child in node:
            yield from _walk(child)


def _strings(node: Any) -> list[str]:
    return [leaf for leaf in _walk(node) if isinstance(leaf, str)]


def _has_actions(alarm: dict[str, Any]) -> bool:
    return bool(alarm["Properties"].get("AlarmActions"))


def _alarms_on(template: Template, namespace: str, metric: str, dimension: str, target: Any) -> list[dict[str, Any]]:
    return [
        alarm
        for alarm in _resources(template, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == namespace
        and alarm["Properties"].get("MetricName") == metric
        and {"Name": dimension, "Value": target} in (alarm["Properties"].get("Dimensions") or [])
    ]


# ---- the rules ---------------------------------------------------------------------------------


def functions_without_retained_log_group(template: Template) -> list[str]:
    log_groups = _resources(template, "AWS::Logs::LogGroup")
    problems = []
    for name, function in _functions(template).items():
        group = _ref((function["Properties"].get("LoggingConfig") or {}).get("LogGroup"))
        if group not in log_groups:
            problems.append(f"{name}: LoggingConfig.LogGroup is not a log group of the template")
        elif "RetentionInDays" not in log_groups[group]["Properties"]:
            problems.append(f"{name}: log group {group} keeps logs forever")
    return problems


def dead_letter_queues_without_alarm(template: Template) -> list[str]:
    problems = []
    for name, queue in _resources(template, "AWS::SQS::Queue").items():
        redrive = queue["Properties"].get("RedrivePolicy")
        if not redrive:
            continue
        dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        depth = {"Fn::GetAtt": [dlq, "QueueName"]}
        alarms = _alarms_on(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", depth)
        if not any(_has_actions(a) and a["Properties"].get("Threshold") == 0 for a in alarms):
            problems.append(f"{name}'s dead-letter queue {dlq}: no depth > 0 alarm that notifies anyone")
    return problems


def alarms_without_action(template: Template) -> list[str]:
    return [name for name, alarm in _resources(template, "AWS::CloudWatch::Alarm").items() if not _has_actions(alarm)]


def functions_without_errors_and_throttles_alarms(template: Template) -> list[str]:
    problems = []
    for name in _functions(template):
        for metric in ("Errors", "Throttles"):
            alarms = _alarms_on(template, "AWS/Lambda", metric, "FunctionName", {"Ref": name})
            if not any(_has_actions(alarm) for alarm in alarms):
                problems.append(f"{name}: no {metric} alarm that notifies anyone")
    return problems


def http_functions_without_reserved_concurrency_parameter(template: Template) -> list[str]:
    problems = []
    for name, function in _functions(template).items():
        if not _is_http_function(function):
            continue
        parameter = _ref(function["Properties"].get("ReservedConcurrentExecutions"))
        spec = template["Parameters"].get(parameter or "")
        if not spec or spec.get("Type") != "Number" or int(spec.get("MinValue", 0)) < 1:
            problems.append(f"{name}: ReservedConcurrentExecutions is not a Number parameter with MinValue >= 1")
    return problems


def iam_statements_with_wildcard_resource(template: Template) -> list[str]:
    problems = []
    for name, resource in template["Resources"].items():
        properties = dict(resource.get("Properties") or {})
        if resource.get("Type") == "AWS::KMS::Key":
            # In a key policy, Resource "*" is the key itself; who may use it is the Principal.
            properties.pop("KeyPolicy", None)
        for statement in _walk(properties):
            if not (isinstance(statement, dict) and "Action" in statement and statement.get("Effect") == "Allow"):
                continue
            services = {action.split(":")[0].lower() for action in _strings(statement["Action"])}
            if "*" in _strings(statement.get("Resource")) and (services & SCOPED_SERVICES or "*" in services):
                problems.append(f"{name}: {sorted(_strings(statement['Action']))} on Resource '*'")
    return problems


def apis_without_throttling_and_access_logs(template: Template) -> list[str]:
    problems = []
    log_groups = _resources(template, "AWS::Logs::LogGroup")
    for name, api in _resources(template, "AWS::Serverless::HttpApi").items():
        properties = api["Properties"]
        throttling = properties.get("DefaultRouteSettings") or {}
        if not {"ThrottlingBurstLimit", "ThrottlingRateLimit"} <= set(throttling):
            problems.append(f"{name}: no default route throttling (burst and rate)")
        access_log = properties.get("AccessLogSettings") or {}
        destination = access_log.get("DestinationArn", {}).get("Fn::GetAtt", [None])[0]
        if "RetentionInDays" not in (log_groups.get(destination) or {}).get("Properties", {}):
            problems.append(f"{name}: access log does not go to a log group with retention")
        line = re.sub(r"\$context\.[A-Za-z.]+", "0", str(access_log.get("Format", "")))
        try:
            json.loads(line)
        except ValueError:
            problems.append(f"{name}: access log format is not one JSON object per request")
    return problems


def functions_not_waiting_for_migrations(template: Template) -> list[str]:
    problems = []
    migration = template["Resources"].get("MigrateOnDeploy", {})
    if not migration.get("Properties", {}).get("ServiceTimeout"):
        problems.append("MigrateOnDeploy has no ServiceTimeout (CloudFormation would wait an hour)")
    for name, function in _functions(template).items():
        if name == "MigrateFunction":
            continue
        depends_on = function.get("DependsOn", [])
        if "MigrateOnDeploy" not in ([depends_on] if isinstance(depends_on, str) else depends_on):
            problems.append(f"{name}: can run new code before the migrations (no DependsOn: MigrateOnDeploy)")
        if _is_http_function(function):
            preference = function["Properties"].get("DeploymentPreference") or {}
            if {"Ref": f"{name.removesuffix('Function')}ErrorsAlarm"} not in (preference.get("Alarms") or []):
                problems.append(f"{name}: no gradual deployment rolled back by its errors alarm")
    return problems


def _sub_references(sub: Any) -> set[str]:
    text, local = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
    names = {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
    return {n for n in names if "::" not in n and n not in local}


def _references(node: Any) -> set[str]:
    """Logical ids a node refers to; `X.Version`/`X.Alias` (SAM) name X's alias node `X@alias`."""
    found: set[str] = set()
    for item in _walk(node):
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("Ref"), str):
            ref = item["Ref"]
            found.add(f"{ref.split('.')[0]}@alias" if ref.endswith((".Version", ".Alias")) else ref)
        if "Fn::GetAtt" in item:
            target = item["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else str(target).split(".")[0])
        if "Fn::Sub" in item:
            found |= _sub_references(item["Fn::Sub"])
    return found


def dependency_cycles(template: Template) -> list[str]:
    """Cycles CloudFormation would refuse, with the edges SAM adds when it expands the template: an
    HttpApi depends on the functions (aliases) it routes to, a function's alias on the alarms of its
    DeploymentPreference, and every function on what the Globals reference."""
    resources = template["Resources"]
    globals_function = template.get("Globals", {}).get("Function", {})
    edges: dict[str, set[str]] = {}
    for name, resource in resources.items():
        properties = dict(resource.get("Properties") or {})
        # SAM turns these into resources of their own: the alias's deployment group (which waits for
        # the alarms) and the event sources, routes and permissions (which wait for the function).
        preference = properties.pop("DeploymentPreference", None)
        properties.pop("Events", None)
        depends_on = resource.get("DependsOn", [])
        edges[name] = _references(properties) | set([depends_on] if isinstance(depends_on, str) else depends_on)
        if resource.get("Type") == "AWS::Serverless::Function":
            edges[name] |= _references(globals_function)
            edges[f"{name}@alias"] = {name} | _references(preference)
            for event in (resource["Properties"].get("Events") or {}).values():
                api = _ref((event.get("Properties") or {}).get("ApiId"))
                if event.get("Type") == "HttpApi" and api:
                    edges.setdefault(f"{api}@routes", set()).add(f"{name}@alias")
    for name in list(edges):
        if resources.get(name, {}).get("Type") == "AWS::Serverless::HttpApi":
            edges[name] |= edges.pop(f"{name}@routes", set())
    known = set(edges)
    cycles: list[str] = []
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(edges[node] & known):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for node in sorted(known):
        if node not in state:
            visit(node, [node])
    return cycles


def connection_budget_overruns(template: Template) -> list[str]:
    """With the defaults, the functions that hold a PostgreSQL connection (one per execution
    environment, at most their reserved concurrency) fit in the database's max_connections."""
    parameters = template["Parameters"]
    holders, unbounded = {}, []
    for name, function in _functions(template).items():
        if {"Ref": "DatabaseSecretArn"} not in list(_walk(function["Properties"].get("Policies"))):
            continue
        reserved = function["Properties"].get("ReservedConcurrentExecutions")
        if reserved is None:
            unbounded.append(f"{name}: no reserved concurrency, so no bound on its connections")
            continue
        holders[name] = int(parameters[_ref(reserved)]["Default"]) if _ref(reserved) else int(reserved)
    if unbounded:
        return unbounded
    needed = sum(holders.values()) + RESERVED_FOR_SUPERUSERS + OPERATOR_MARGIN
    available = int(parameters["DatabaseMaxConnections"]["Default"])
    return (
        [f"{needed} connections needed > DatabaseMaxConnections {available}: {holders}"] if needed > available else []
    )


def functions_without_snapstart(template: Template) -> list[str]:
    """Every function restores a snapshot on a cold start (issue 19): SnapStart on published
    versions by default, on a Python runtime that has it (3.12 and later), and nothing that rules
    it out (provisioned concurrency, more than 512 MB of /tmp)."""
    problems = []
    globals_ = template["Globals"]["Function"]
    mode = _ref((globals_.get("SnapStart") or {}).get("ApplyOn"))
    if mode is None or template["Parameters"].get(mode, {}).get("Default") != "PublishedVersions":
        problems.append("Globals: SnapStart.ApplyOn is not a parameter defaulting to PublishedVersions")
    for name, function in _functions(template).items():
        properties = function["Properties"]
        runtime = str(properties.get("Runtime") or globals_.get("Runtime"))
        version = tuple(int(part) for part in runtime.removeprefix("python").split("."))
        if version < (3, 12):
            problems.append(f"{name}: {runtime} has no SnapStart")
        if "SnapStart" in properties:
            problems.append(f"{name}: overrides the global SnapStart")
        if "ProvisionedConcurrencyConfig" in properties:
            problems.append(f"{name}: provisioned concurrency rules SnapStart out")
        if int((properties.get("EphemeralStorage") or {}).get("Size", 512)) > 512:
            problems.append(f"{name}: more than 512 MB of ephemeral storage rules SnapStart out")
    return problems


RULES: list[Callable[[Template], list[str]]] = [
    functions_without_retained_log_group,
    dead_letter_queues_without_alarm,
    alarms_without_action,
    functions_without_errors_and_throttles_alarms,
    http_functions_without_reserved_concurrency_parameter,
    iam_statements_with_wildcard_resource,
    apis_without_throttling_and_access_logs,
    functions_not_waiting_for_migrations,
    dependency_cycles,
    connection_budget_overruns,
    functions_without_snapstart,
]


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_template_has_no_violation_of(rule: Callable[[Template], list[str]]) -> None:
    assert rule(default_template().raw) == []


# ---- each rule, red on a deliberate violation ----------------------------------------------------


def _resource(template: Template, name: str) -> dict[str, Any]:
    return template["Resources"][name]["Properties"]


def _drop_retention(t: Template) -> None:
    del _resource(t, "HealthLogGroup")["RetentionInDays"]


def _drop_log_group(t: Template) -> None:
    del _resource(t, "TokensFunction")["LoggingConfig"]


def _drop_dead_letter_alarm(t: Template) -> None:
    del t["Resources"]["A2aDeadLetterAlarm"]


def _silence_dead_letter_alarm(t: Template) -> None:
    del _resource(t, "LifecycleDeadLetterAlarm")["AlarmActions"]


def _silence_an_alarm(t: Template) -> None:
    _resource(t, "DatabaseConnectionFailuresAlarm")["AlarmActions"] = []


def _drop_throttles_alarm(t: Template) -> None:
    del t["Resources"]["RegistryThrottlesAlarm"]


def _hard_code_concurrency(t: Template) -> None:
    _resource(t, "A2aProxyFunction")["ReservedConcurrentExecutions"] = 20


def _drop_concurrency(t: Template) -> None:
    del _resource(t, "DocsFunction")["ReservedConcurrentExecutions"]


def _ecs_on_every_resource(t: Template) -> None:
    _resource(t, "EcsProvisionerPolicy")["PolicyDocument"]["Statement"][1]["Resource"] = "*"


def _inline_sqs_on_every_resource(t: Template) -> None:
    statement = {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": ["*"]}
    _resource(t, "HealthFunction")["Policies"].append({"Statement": [statement]})


def _kms_decrypt_on_every_key(t: Template) -> None:
    _resource(t, "SecretsKeyDecryptPolicy")["PolicyDocument"]["Statement"][0]["Resource"] = "*"


def _drop_throttling(t: Template) -> None:
    del _resource(t, "HttpApi")["DefaultRouteSettings"]


def _drop_access_logs(t: Template) -> None:
    del _resource(t, "HttpApi")["AccessLogSettings"]


def _plain_text_access_log(t: Template) -> None:
    _resource(t, "HttpApi")["AccessLogSettings"]["Format"] = "$context.requestId $context.status"


def _skip_migrations(t: Template) -> None:
    del t["Resources"]["EventsFunction"]["DependsOn"]


def _no_migration_timeout(t: Template) -> None:
    del _resource(t, "MigrateOnDeploy")["ServiceTimeout"]


def _all_at_once_without_rollback(t: Template) -> None:
    del _resource(t, "ChatFilesFunction")["DeploymentPreference"]


def _platform_url_from_the_api(t: Template) -> None:
    environment = t["Globals"]["Function"]["Environment"]["Variables"]
    environment["PLATFORM_URL"] = {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}


def _rollback_alarm_on_the_api(t: Template) -> None:
    _resource(t, "Api5xxRateAlarm")["Metrics"][0]["MetricStat"]["Metric"]["Dimensions"] = [
        {"Name": "ApiId", "Value": {"Ref": "HttpApi"}}
    ]


def _more_concurrency_than_connections(t: Template) -> None:
    t["Parameters"]["A2aProxyReservedConcurrency"]["Default"] = 60


def _unbounded_sweep(t: Template) -> None:
    del _resource(t, "LivenessSweepFunction")["ReservedConcurrentExecutions"]


def _snapstart_off_by_default(t: Template) -> None:
    t["Parameters"]["SnapStartMode"]["Default"] = "None"


def _runtime_without_snapstart(t: Template) -> None:
    _resource(t, "RegistryFunction")["Runtime"] = "python3.11"


VIOLATIONS: list[tuple[Callable[[Template], list[str]], Callable[[Template], None]]] = [
    (functions_without_retained_log_group, _drop_retention),
    (functions_without_retained_log_group, _drop_log_group),
    (dead_letter_queues_without_alarm, _drop_dead_letter_alarm),
    (dead_letter_queues_without_alarm, _silence_dead_letter_alarm),
    (alarms_without_action, _silence_an_alarm),
    (alarms_without_action, _silence_dead_letter_alarm),
    (functions_without_errors_and_throttles_alarms, _drop_throttles_alarm),
    (http_functions_without_reserved_concurrency_parameter, _hard_code_concurrency),
    (http_functions_without_reserved_concurrency_parameter, _drop_concurrency),
    (iam_statements_with_wildcard_resource, _ecs_on_every_resource),
    (iam_statements_with_wildcard_resource, _inline_sqs_on_every_resource),
    (iam_statements_with_wildcard_resource, _kms_decrypt_on_every_key),
    (apis_without_throttling_and_access_logs, _drop_throttling),
    (apis_without_throttling_and_access_logs, _drop_access_logs),
    (apis_without_throttling_and_access_logs, _plain_text_access_log),
    (functions_not_waiting_for_migrations, _skip_migrations),
    (functions_not_waiting_for_migrations, _no_migration_timeout),
    (functions_not_waiting_for_migrations, _all_at_once_without_rollback),
    (dependency_cycles, _platform_url_from_the_api),
    (dependency_cycles, _rollback_alarm_on_the_api),
    (connection_budget_overruns, _more_concurrency_than_connections),
    (connection_budget_overruns, _unbounded_sweep),
    (functions_without_snapstart, _snapstart_off_by_default),
    (functions_without_snapstart, _runtime_without_snapstart),
]


@pytest.mark.parametrize(("rule", "violate"), VIOLATIONS, ids=lambda f: f.__name__.strip("_"))
def test_rule_reports_a_deliberate_violation(
    rule: Callable[[Template], list[str]], violate: Callable[[Template], None]
) -> None:
    template = copy.deepcopy(default_template().raw)
    violate(template)

    assert rule(template), f"{rule.__name__} did not see {violate.__name__}"


def test_every_rule_is_proven_red_at_least_once() -> None:
    assert {rule for rule, _ in VIOLATIONS} == set(RULES)


# ---- settings that are not rules over every resource ---------------------------------------------


def test_development_mode_cannot_be_deployed() -> None:
    allowed = default_template().raw["Parameters"]["MoleculeEnv"]["AllowedValues"]

    assert "development" not in allowed
    assert "production" in allowed


def test_the_a2a_queue_age_and_database_failures_alarm() -> None:
    template = default_template().raw
    age = _alarms_on(
        template, "AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", {"Fn::GetAtt": ["A2aQueue", "QueueName"]}
    )
    failures = _alarms_on(template, "Molecule", "DatabaseConnectionFailures", "service", "molecule")

    assert age and all(_has_actions(alarm) for alarm in age)
    assert failures and all(_has_actions(alarm) for alarm in failures)


def _samconfig_overrides(environment: str) -> dict[str, str]:
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())
    pairs = config[environment]["deploy"]["parameters"]["parameter_overrides"]
    return dict(pair.split("=", 1) for pair in pairs)


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_samconfig_sets_only_template_parameters_and_its_placeholders_cannot_deploy(environment: str) -> None:
    parameters = default_template().raw["Parameters"]
    for name, value in _samconfig_overrides(environment).items():
        spec = parameters[name]  # a KeyError names a parameter the template does not have
        pattern = spec.get("AllowedPattern")
        if "REPLACE_ME" in value:
            assert pattern and not re.fullmatch(pattern, value), f"{name}={value} would deploy"
        else:
            assert not pattern or re.fullmatch(pattern, value), f"{name}={value} breaks {pattern}"
            assert str(value) in map(str, spec.get("AllowedValues", [value])), f"{name}={value}"


def test_the_dashboard_is_json_and_graphs_every_a2a_outcome_the_proxy_counts() -> None:
    from molecule_core.a2a.receipt import OUTCOME_METRICS

    body = default_template().raw["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    dashboard = json.loads(re.sub(r"\$\{[^}]+\}", "1", body if isinstance(body, str) else body[0]))
    graphed = {
        name
        for widget in dashboard["widgets"]
        for row in widget["properties"].get("metrics", [])
        for name in row
        if isinstance(name, str)
    }
    assert set(OUTCOME_METRICS.values()) <= graphed
    assert {"A2AQueueDelivered", "A2AQueueFailed", "A2AQueueLatency", "A2AQueueDepth"} <= graphed
