"""The files bucket in template.yaml (SPEC §5.13): encrypted, closed to the public, HTTPS only, its
staged files expiring after the retention parameter, and reachable only by the function that
stages files, only under staged/. Each rule lists what it finds wrong; each is shown red on a copy
of the template with one deliberate violation."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from molecule_local.template import default_template

Template = dict[str, Any]
BUCKET = "FilesBucket"
STAGED_OBJECTS = {"Fn::Sub": "${FilesBucket.Arn}/staged/*"}


def _bucket(template: Template) -> dict[str, Any]:
    return dict(template["Resources"][BUCKET]["Properties"])


def _walk(node: Any) -> list[Any]:
    found = [node]
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        found += _walk(child)
    return found


def unencrypted_or_public(template: Template) -> list[str]:
    properties = _bucket(template)
    problems = []
    rules = properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    if not any(rule.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for rule in rules):
        problems.append("no default server-side encryption")
    block = properties.get("PublicAccessBlockConfiguration", {})
    for setting in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
        if block.get(setting) is not True:
            problems.append(f"{setting} is not true")
    policies = [
        r["Properties"]
        for r in template["Resources"].values()
        if r.get("Type") == "AWS::S3::BucketPolicy" and r["Properties"].get("Bucket") == {"Ref": BUCKET}
    ]
    statements = [s for p in policies for s in p["PolicyDocument"]["Statement"]]
    if not any(s.get("Effect") == "Deny" and "aws:SecureTransport" in str(s.get("Condition")) for s in statements):
        problems.append("plain HTTP is not denied")
    return problems


def staged_files_never_expire(template: Template) -> list[str]:
    rules = _bucket(template).get("LifecycleConfiguration", {}).get("Rules", [])
    expiring = [
        rule
        for rule in rules
        if rule.get("Status") == "Enabled"
        and rule.get("Prefix") == "staged/"
        and rule.get("ExpirationInDays") == {"Ref": "StagedFilesRetentionDays"}
    ]
    default = template["Parameters"].get("StagedFilesRetentionDays", {}).get("Default")
    problems = [] if expiring else ["no enabled rule expires staged/ after StagedFilesRetentionDays"]
    return problems + ([] if default == 7 else [f"retention default is {default}, not 7 days"])


def bucket_access_beyond_the_staging_function(template: Template) -> list[str]:
    """Only ChatFilesFunction names the bucket in its policies, for object actions on staged/* and
    ListBucket on the bucket itself; FILES_BUCKET is set where the policy is."""
    problems = []
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        statements = [
            node
            for node in _walk(properties.get("Policies") or [])
            if isinstance(node, dict) and "Action" in node and BUCKET in str(node.get("Resource"))
        ]
        variables = (properties.get("Environment") or {}).get("Variables") or {}
        if name != "ChatFilesFunction":
            problems += [f"{name}: may reach the files bucket" for _ in statements]
            continue
        if variables.get("FILES_BUCKET") != {"Ref": BUCKET}:
            problems.append(f"{name}: FILES_BUCKET is not the files bucket")
        for statement in statements:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for action in actions:
                allowed = STAGED_OBJECTS if action in ("s3:PutObject", "s3:GetObject") else None
                if action == "s3:ListBucket":
                    allowed = {"Fn::GetAtt": [BUCKET, "Arn"]}
                if allowed is None or statement["Resource"] != allowed:
                    problems.append(f"{name}: {action} on {statement['Resource']}")
    return problems


RULES: list[Callable[[Template], list[str]]] = [
    unencrypted_or_public,
    staged_files_never_expire,
    bucket_access_beyond_the_staging_function,
]


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_the_files_bucket_has_no_violation_of(rule: Callable[[Template], list[str]]) -> None:
    assert rule(default_template().raw) == []


def _public_acls(t: Template) -> None:
    t["Resources"][BUCKET]["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicAcls"] = False


def _no_encryption(t: Template) -> None:
    del t["Resources"][BUCKET]["Properties"]["BucketEncryption"]


def _no_https_policy(t: Template) -> None:
    del t["Resources"]["FilesBucketPolicy"]


def _kept_forever(t: Template) -> None:
    t["Resources"][BUCKET]["Properties"]["LifecycleConfiguration"]["Rules"][0]["Status"] = "Disabled"


def _every_object(t: Template) -> None:
    statement = t["Resources"]["ChatFilesFunction"]["Properties"]["Policies"][-1]["Statement"][0]
    statement["Resource"] = {"Fn::Sub": "${FilesBucket.Arn}/*"}


def _delete_too(t: Template) -> None:
    t["Resources"]["ChatFilesFunction"]["Properties"]["Policies"][-1]["Statement"][0]["Action"].append(
        "s3:DeleteObject"
    )


def _another_function(t: Template) -> None:
    statement = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": STAGED_OBJECTS}
    t["Resources"]["ActivityFunction"]["Properties"]["Policies"].append({"Statement": [statement]})


VIOLATIONS = [
    (unencrypted_or_public, _public_acls),
    (unencrypted_or_public, _no_encryption),
    (unencrypted_or_public, _no_https_policy),
    (staged_files_never_expire, _kept_forever),
    (bucket_access_beyond_the_staging_function, _every_object),
    (bucket_access_beyond_the_staging_function, _delete_too),
    (bucket_access_beyond_the_staging_function, _another_function),
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
