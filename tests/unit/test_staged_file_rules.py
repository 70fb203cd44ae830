"""The pure rules of staged files (SPEC §5.13): which workspaces get their files staged, what a
`platform:` URI is, how sizes are named, what an upload-url request may say, and what a presigned
PUT signs (computed offline: signing needs no call to S3)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from molecule_core.files import bucket
from molecule_core.files.models import UploadUrlRequest, is_staged_file_uri, staged_file_id, staged_file_uri
from molecule_core.files.service import is_staged_workspace, size_label
from molecule_core.platform.aws import reset_clients
from molecule_core.workspaces.models import Workspace
from pydantic import ValidationError

from tests.conftest import set_env

FILE_ID = uuid.UUID("6d21e42c-c03c-42d5-83c3-669cfd36c0e1")


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (f"platform:/files/{FILE_ID}/a.txt", FILE_ID),
        (f"platform:/files/{FILE_ID}/Résumé 2026.pdf", FILE_ID),
        (f"platform:/files/{FILE_ID}/", None),
        (f"platform:/files/{FILE_ID}", None),
        (f"platform:/files/{FILE_ID}/a/b.txt", None),
        ("platform:/files/not-a-uuid/a.txt", None),
        (f"platform:/other/{FILE_ID}/a.txt", None),
        (f"/workspace/{FILE_ID}/a.txt", None),
    ],
)
def test_a_staged_file_uri_names_its_file_by_id(uri: str, expected: uuid.UUID | None) -> None:
    assert staged_file_id(uri) == expected


def test_every_platform_scheme_uri_is_checked_and_other_uris_are_not() -> None:
    assert staged_file_uri(FILE_ID, "a.txt") == f"platform:/files/{FILE_ID}/a.txt"
    assert is_staged_file_uri("platform:/anything")
    assert not is_staged_file_uri("/workspace/.molecule/chat-uploads/a.txt")
    assert not is_staged_file_uri(None)


def workspace(**fields: Any) -> Workspace:
    now = datetime.now(UTC)
    defaults: dict[str, Any] = {
        "id": uuid.uuid4(), "name": "w", "role": None, "tier": 3, "status": "online", "runtime": "external",
        "external": True, "url": None, "agent_card": None, "delivery_mode": None, "parent_id": None,
        "last_heartbeat_at": None, "last_error_rate": 0.0, "last_sample_error": None, "active_tasks": 0,
        "max_concurrent_tasks": 1, "uptime_seconds": 0, "current_task": None, "monthly_spend": 0,
        "budget_limit": None, "hibernation_idle_minutes": None, "instance_id": None, "x": 0.0, "y": 0.0,
        "collapsed": False, "created_at": now, "updated_at": now,
    }  # fmt: skip
    return Workspace.model_validate(defaults | fields)


@pytest.mark.parametrize(
    ("fields", "staged"),
    [
        ({"url": None}, True),  # not registered yet
        ({"url": "remote://no-inbound", "delivery_mode": "poll"}, True),  # a laptop agent
        ({"url": "https://agent.example.com", "delivery_mode": "poll"}, True),  # poll: never called
        ({"url": "https://agent.example.com", "delivery_mode": None}, True),  # external: poll by default
        ({"url": "https://agent.example.com", "delivery_mode": "push"}, False),  # forwarded as before
        ({"url": "https://agent.example.com", "runtime": "langgraph", "external": False}, False),
        ({"url": None, "delivery_mode": "push"}, True),  # push without a URL: nothing to call
    ],
)
def test_files_are_staged_exactly_for_workspaces_without_an_inbound_url(fields: dict[str, Any], staged: bool) -> None:
    assert is_staged_workspace(workspace(**fields)) is staged


@pytest.mark.parametrize(
    ("size", "label"), [(4_718_592, "4.5 MiB"), (100 * 1024 * 1024, "100 MiB"), (1000, "1000 bytes")]
)
def test_limits_are_named_in_units_people_read(size: int, label: str) -> None:
    assert size_label(size) == label


@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "size": 1},
        {"name": "a", "size": -1},
        {"name": "a", "size": 1, "mimeType": "text"},
        {"name": "a", "size": 1, "mimeType": "text/plain; charset=utf-8"},  # parameters are not signed as typed
        {"name": "a", "size": 1, "sha256": "00" * 31},
        {"name": "a", "size": 1, "sha256": "zz" * 32},
    ],
)
def test_an_upload_url_request_refuses_what_could_not_be_signed_as_given(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        UploadUrlRequest.model_validate(body)


def test_an_upload_url_request_keeps_a_valid_type_and_lowercases_the_digest() -> None:
    request = UploadUrlRequest.model_validate({"name": "a", "size": 0, "mimeType": "image/png", "sha256": "AB" * 32})

    assert (request.mimeType, request.sha256) == ("image/png", "ab" * 32)


@pytest.fixture
def signing(platform_env: pytest.MonkeyPatch) -> Any:
    set_env(
        platform_env,
        FILES_BUCKET="molecule-files",
        AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY="secret",
        AWS_DEFAULT_REGION="eu-west-1",
        AWS_ENDPOINT_URL_S3=None,
        AWS_PROFILE=None,
    )
    reset_clients()
    yield
    reset_clients()


def test_a_presigned_put_signs_size_and_type_on_the_buckets_regional_endpoint(signing: None) -> None:
    url = bucket.presigned_put("staged/w/f", size=123, content_type="application/pdf", sha256=None, expires_in=900)

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.netloc == "molecule-files.s3.eu-west-1.amazonaws.com"
    assert parts.path == "/staged/w/f"
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]
    assert query["X-Amz-Expires"] == ["900"]


def test_a_presigned_put_with_a_digest_signs_the_checksum_too(signing: None) -> None:
    url = bucket.presigned_put("staged/w/f", size=1, content_type="text/plain", sha256="ab" * 32, expires_in=60)

    assert parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"] == [
        "content-length;content-type;host;x-amz-checksum-sha256"
    ]
    assert bucket.sha256_checksum("ab" * 32) == "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s="


def test_a_presigned_get_signs_the_type_and_disposition_it_serves(signing: None) -> None:
    url = bucket.presigned_get("staged/w/f", content_type="text/plain", content_disposition="attachment", expires_in=60)

    query = parse_qs(urlsplit(url).query)
    assert query["response-content-type"] == ["text/plain"]
    assert query["response-content-disposition"] == ["attachment"]


def test_object_keys_are_made_from_ids_under_the_staged_prefix() -> None:
    workspace_id, file_id = uuid.uuid4(), uuid.uuid4()

    assert bucket.object_key(workspace_id, file_id) == f"staged/{workspace_id}/{file_id}"
