"""The secrets key in template.yaml (SPEC §5.12, §5.15): kept when the stack goes, rotated by KMS,
administered by the account only, and usable by exactly the functions that need it — the secrets
function and the migration may make and unwrap data keys, the provisioning functions may only
unwrap them, every grant pinned to the key and to the secrets encryption context."""

from __future__ import annotations

from typing import Any

from molecule_local.template import default_template

KEY_ARN = {"Fn::If": ["CreateSecretsKey", {"Fn::GetAtt": ["SecretsKey", "Arn"]}, {"Ref": "SecretsKmsKeyArn"}]}


def _resources() -> dict[str, Any]:
    return dict(default_template().raw["Resources"])


def _policies(function: str) -> list[Any]:
    return list(_resources()[function]["Properties"]["Policies"])


def test_the_secrets_key_is_retained_rotated_and_administered_by_the_account_only() -> None:
    key = _resources()["SecretsKey"]

    assert key["DeletionPolicy"] == "Retain" and key["UpdateReplacePolicy"] == "Retain"
    assert key["Properties"]["EnableKeyRotation"] is True
    [statement] = key["Properties"]["KeyPolicy"]["Statement"]
    assert statement["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}


def test_key_grants_are_pinned_to_the_key_and_the_secrets_encryption_context() -> None:
    resources = _resources()
    for name, actions in (
        ("SecretsKeyWritePolicy", ["kms:GenerateDataKey", "kms:Decrypt"]),
        ("SecretsKeyDecryptPolicy", "kms:Decrypt"),
    ):
        [statement] = resources[name]["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Action"] == actions
        assert statement["Resource"] == KEY_ARN
        assert statement["Condition"] == {"StringEquals": {"kms:EncryptionContext:purpose": "molecule-secrets"}}


def test_only_the_functions_that_need_the_key_may_use_it() -> None:
    resources = _resources()
    writers = {
        n
        for n, r in resources.items()
        if {"Ref": "SecretsKeyWritePolicy"} in r.get("Properties", {}).get("Policies", [])
    }
    readers = {
        n
        for n, r in resources.items()
        if {"Ref": "SecretsKeyDecryptPolicy"} in r.get("Properties", {}).get("Policies", [])
    }

    assert writers == {"SecretsFunction", "MigrateFunction"}
    assert readers == {"WorkspacesFunction", "WorkspaceLifecycleFunction", "LifecycleFunction"}  # they provision


def test_every_function_is_told_the_key_source() -> None:
    environment = default_template().raw["Globals"]["Function"]["Environment"]["Variables"]

    assert environment["SECRETS_KMS_KEY_ID"] == KEY_ARN
