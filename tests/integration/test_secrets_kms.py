"""Secrets with the AWS key source (SPEC §5.12) against moto's KMS, served by a moto server on
127.0.0.1 as the local stack serves SQS: data keys come from GenerateDataKey and are stored only as
KMS ciphertext, KMS decrypts one once per execution environment, the encryption context binds a
wrapped key to its id, and an unreachable KMS is a 503 for the operator."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import boto3
import psycopg
import pytest
from molecule_core.platform import aws
from molecule_core.secrets import service as secrets

from tests.conftest import ApiClient, create_workspace, set_env

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "molecule-test", "AWS_SECRET_ACCESS_KEY": "molecule-test"}
REGION = "eu-west-1"


@pytest.fixture(scope="module")
def kms_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def kms_key(kms_endpoint: str, platform_env: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh KMS key on the moto server, configured as the secrets key source (no key file)."""
    client = boto3.client("kms", endpoint_url=kms_endpoint, region_name=REGION, **_lower(CREDENTIALS))
    arn = str(client.create_key(Description="molecule secrets (test)")["KeyMetadata"]["Arn"])
    set_env(
        platform_env,
        AWS_ENDPOINT_URL_KMS=kms_endpoint,
        AWS_DEFAULT_REGION=REGION,
        AWS_MAX_ATTEMPTS="1",
        SECRETS_KEY_FILE=None,
        SECRETS_KMS_KEY_ID=arn,
        **CREDENTIALS,
    )
    aws.reset_clients()
    secrets.reset_key_cache()
    yield arn
    aws.reset_clients()
    secrets.reset_key_cache()


def _lower(credentials: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in credentials.items()}


def _kms_calls(operation: str) -> list[dict[str, Any]]:
    """Every call of `operation` the platform's KMS client makes from now on."""
    calls: list[dict[str, Any]] = []
    aws.client("kms").meta.events.register(
        f"provide-client-params.kms.{operation}", lambda params, **_: calls.append(params)
    )
    return calls


def _workspace(api: ApiClient, admin: str) -> tuple[str, str]:
    created = create_workspace(api, admin, name="remote", external=True)
    return created["id"], created["connection"]["auth_token"]


def test_values_round_trip_through_a_kms_data_key_stored_only_wrapped(
    api: ApiClient, admin: str, kms_key: str, database: str
) -> None:
    workspace_id, token = _workspace(api, admin)
    saved = api.post(
        f"/workspaces/{workspace_id}/secrets", json_body={"key": "API_KEY", "value": "kms-sealed"}, token=admin
    )

    values = api.get(f"/workspaces/{workspace_id}/secrets/values", token=token)

    assert saved.status == 200, saved.text
    assert values.json() == {"API_KEY": "kms-sealed"}
    with psycopg.connect(database) as conn:
        wrapped_by, wrapped_key = conn.execute("SELECT wrapped_by, wrapped_key FROM secret_data_keys").fetchone()  # type: ignore[misc]
    assert wrapped_by == f"kms:{kms_key}"
    assert len(bytes(wrapped_key)) > 32  # a KMS ciphertext blob, not the 32-byte key itself


def test_kms_decrypts_a_data_key_once_per_execution_environment(api: ApiClient, admin: str, kms_key: str) -> None:
    workspace_id, token = _workspace(api, admin)
    api.post(f"/workspaces/{workspace_id}/secrets", json_body={"key": "API_KEY", "value": "v"}, token=admin)
    secrets.reset_key_cache()  # a new execution environment
    decrypts = _kms_calls("Decrypt")

    for _ in range(3):
        assert api.get(f"/workspaces/{workspace_id}/secrets/values", token=token).status == 200

    assert len(decrypts) == 1
    assert decrypts[0]["EncryptionContext"]["purpose"] == "molecule-secrets"


def test_a_wrapped_data_key_moved_to_another_id_is_refused_by_kms(
    api: ApiClient, admin: str, kms_key: str, database: str
) -> None:
    workspace_id, token = _workspace(api, admin)
    api.post(f"/workspaces/{workspace_id}/secrets", json_body={"key": "OLD", "value": "v1"}, token=admin)
    secrets.rotate_data_key()
    api.post(f"/workspaces/{workspace_id}/secrets", json_body={"key": "NEW", "value": "v2"}, token=admin)
    with psycopg.connect(database, autocommit=True) as conn:  # swap the two wrapped keys
        conn.execute(
            """
            UPDATE secret_data_keys AS a SET wrapped_key = b.wrapped_key
            FROM secret_data_keys AS b WHERE a.key_id <> b.key_id
            """
        )
    secrets.reset_key_cache()

    answer = api.get(f"/workspaces/{workspace_id}/secrets/values", token=token)

    assert answer.status == 500, answer.text
    assert sorted(answer.json()["failed_keys"]) == ["workspace:NEW", "workspace:OLD"]


def test_the_deploy_time_check_makes_and_round_trips_a_kms_data_key(kms_key: str, database: str) -> None:
    checked = secrets.check_key_source()

    assert checked["key_source"] == f"kms:{kms_key}"
    assert secrets.check_key_source() == checked  # the second deploy reuses the data key


def test_an_unreachable_kms_is_503_for_the_operator(
    api: ApiClient, admin: str, kms_key: str, platform_env: pytest.MonkeyPatch
) -> None:
    workspace_id, token = _workspace(api, admin)
    api.post(f"/workspaces/{workspace_id}/secrets", json_body={"key": "API_KEY", "value": "v"}, token=admin)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    set_env(platform_env, AWS_ENDPOINT_URL_KMS=f"http://127.0.0.1:{closed}")
    aws.reset_clients()
    secrets.reset_key_cache()

    answer = api.get(f"/workspaces/{workspace_id}/secrets/values", token=token)

    assert answer.status == 503
    assert answer.json()["code"] == "secrets_unavailable"
    assert "KMS Decrypt" in answer.json()["error"]
