"""Files staged by the platform (SPEC §5.7 poll-mode part, §5.13) through the chat-files function:
real PostgreSQL, a moto S3 server on 127.0.0.1 (the local stack's `LocalS3`), presigned URLs
used over real HTTP from this machine, and the notify check in the activity function."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import psycopg
import pytest
from molecule_local.lambdas import FunctionRegistry
from molecule_local.s3 import LocalS3

from tests.agents import closed_port_url
from tests.conftest import ApiClient, create_workspace, set_env
from tests.round_trips import counted

BOUNDARY = "----molecule-staged-boundary"
MULTIPART_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
# every byte value, and most of a delimiter (a whole one cannot occur in a part: RFC 2046)
BINARY = bytes(range(256)) * 16 + b"\r\n--" + BOUNDARY[:-1].encode() + b"\r\n"


def multipart(*files: tuple[str, bytes, str], extra_field: bool = False) -> bytes:
    body = b""
    if extra_field:
        body += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'.encode()
    for name, content, mime in files:
        body += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            f"Content-Type: {mime}\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    return body + f"--{BOUNDARY}--\r\n".encode()


def stored_object(s3: LocalS3, database: str, file_id: str) -> bytes:
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT object_key FROM staged_files WHERE id = %s", (file_id,)).fetchone()
    assert row is not None
    return bytes(s3.client().get_object(Bucket=s3.bucket_names["FilesBucket"], Key=row[0])["Body"].read())


def file_row(database: str, file_id: str) -> dict[str, Any]:
    with psycopg.connect(database, row_factory=psycopg.rows.dict_row) as conn:
        row = conn.execute("SELECT * FROM staged_files WHERE id = %s", (file_id,)).fetchone()
    assert row is not None
    return row


def upload(api: ApiClient, token: str | None, workspace_id: str, body: bytes) -> Any:
    return api.post(
        f"/workspaces/{workspace_id}/chat/uploads", body=body, headers={"content-type": MULTIPART_TYPE}, token=token
    )


def download(api: ApiClient, token: str | None, workspace_id: str, path: str) -> Any:
    return api.get(f"/workspaces/{workspace_id}/chat/download?path={quote(path, safe='')}", token=token)


def upload_url(api: ApiClient, token: str | None, workspace_id: str, **body: Any) -> Any:
    return api.post(f"/workspaces/{workspace_id}/files/upload-url", json_body=body, token=token)


def poll_workspace(api: ApiClient, admin: str, **fields: Any) -> tuple[str, str]:
    """An external workspace with no URL (an agent on a laptop, not registered yet): (id, token)."""
    created = create_workspace(api, admin, external=True, **fields)
    return str(created["id"]), str(created["connection"]["auth_token"])


def staged_one(api: ApiClient, admin: str, workspace_id: str, content: bytes = BINARY) -> dict[str, Any]:
    result = upload(api, admin, workspace_id, multipart(("notes.bin", content, "application/octet-stream")))
    assert result.status == 200, result.text
    entry: dict[str, Any] = result.json()["files"][0]
    return entry


def file_id_of(uri: str) -> str:
    return uri.removeprefix("platform:/files/").split("/")[0]


# --- chat uploads for a workspace the platform cannot call ---------------------------------------


def test_chat_upload_for_a_workspace_without_url_is_staged_and_answers_platform_uris(
    api: ApiClient, dev: str, bucket: LocalS3, database: str
) -> None:
    workspace_id, token = poll_workspace(api, dev)
    body = multipart(("Résumé 2026.pdf", BINARY, "application/pdf"), ("../../etc/passwd", b"x", "text/plain"))

    result = upload(api, token, workspace_id, body)

    assert result.status == 200, result.text
    first, second = result.json()["files"]
    assert first["uri"] == f"platform:/files/{file_id_of(first['uri'])}/Résumé 2026.pdf"
    assert (first["name"], first["mimeType"], first["size"]) == ("Résumé 2026.pdf", "application/pdf", len(BINARY))
    assert second["name"] == "passwd"  # the name is sanitised; the object key never comes from it
    assert stored_object(bucket, database, file_id_of(first["uri"])) == BINARY
    row = file_row(database, file_id_of(first["uri"]))
    assert row["sha256"] == hashlib.sha256(BINARY).hexdigest()
    assert row["object_key"] == f"staged/{workspace_id}/{row['id']}"
    assert row["stored_at"] is not None
    assert row["expires_at"] - row["created_at"] == timedelta(days=7)


def test_chat_upload_for_a_poll_workspace_with_an_http_url_is_staged_not_forwarded(
    api: ApiClient, dev: str, bucket: LocalS3
) -> None:
    created = create_workspace(api, dev, external=True, url=closed_port_url())
    api.patch(f"/workspaces/{created['id']}", json_body={"delivery_mode": "poll"}, token=dev)

    result = upload(api, dev, str(created["id"]), multipart(("a.txt", b"hi", "text/plain")))

    assert result.status == 200, result.text  # forwarding to the closed port would have been 502
    assert result.json()["files"][0]["uri"].startswith("platform:/files/")


def test_chat_download_of_a_staged_uri_answers_the_bytes_as_an_attachment_never_rendered(
    api: ApiClient, dev: str, bucket: LocalS3
) -> None:
    workspace_id, token = poll_workspace(api, dev)
    entry = staged_one(api, dev, workspace_id)

    result = download(api, token, workspace_id, entry["uri"])

    assert result.status == 200
    assert result.body == BINARY
    assert result.headers["content-type"] == "application/octet-stream"
    assert result.headers["content-length"] == str(len(BINARY))
    assert result.headers["content-disposition"] == "attachment; filename=\"notes.bin\"; filename*=UTF-8''notes.bin"
    assert result.headers["x-content-type-options"] == "nosniff"
    assert result.headers["content-security-policy"] == "sandbox"


def test_chat_upload_without_a_file_part_is_400_naming_files(api: ApiClient, dev: str, bucket: LocalS3) -> None:
    workspace_id, token = poll_workspace(api, dev)
    only_a_field = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--{BOUNDARY}--\r\n'

    for body in (only_a_field.encode(), f"--{BOUNDARY}--\r\n".encode(), b"not multipart at all"):
        result = upload(api, token, workspace_id, body)
        assert result.status == 400, result.text
        assert result.json()["field"] == "files"


def test_chat_upload_over_the_lambda_limit_is_413_naming_the_file_and_the_limit(
    api: ApiClient, dev: str, bucket: LocalS3, database: str
) -> None:
    workspace_id, token = poll_workspace(api, dev)
    body = multipart(("small.txt", b"x", "text/plain"), ("video.mp4", b"\0" * (5 * 1024 * 1024), "video/mp4"))

    result = upload(api, token, workspace_id, body)

    assert result.status == 413
    assert result.json()["file"] == "video.mp4"
    assert result.json()["limit_bytes"] == 4_718_592
    assert "video.mp4" in result.json()["error"] and "4.5 MiB" in result.json()["error"]
    assert "/files/upload-url" in result.json()["error"]
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM staged_files").fetchone() == (0,)


def test_staging_without_a_configured_bucket_is_503_and_stores_nothing(api: ApiClient, dev: str, database: str) -> None:
    workspace_id, token = poll_workspace(api, dev)

    for result in (
        upload(api, token, workspace_id, multipart(("a.txt", b"hi", "text/plain"))),
        upload_url(api, token, workspace_id, name="a.bin", size=10),
    ):
        assert result.status == 503
        assert "FILES_BUCKET" in result.json()["error"]
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM staged_files").fetchone() == (0,)


def test_a_bucket_s3_cannot_write_to_is_503_never_a_silent_success(
    api: ApiClient, dev: str, bucket: LocalS3, database: str, platform_env: pytest.MonkeyPatch
) -> None:
    workspace_id, token = poll_workspace(api, dev)
    set_env(platform_env, FILES_BUCKET="no-such-bucket-anywhere")

    result = upload(api, token, workspace_id, multipart(("a.txt", b"hi", "text/plain")))

    assert result.status == 503
    assert result.json()["error"] == "file storage unavailable — retry shortly"
    assert result.headers["retry-after"] == "5"
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM staged_files").fetchone() == (0,)


# --- presigned uploads and downloads -----------------------------------------------------------------


def test_upload_url_signs_a_put_of_exactly_the_declared_size_and_type(
    api: ApiClient, dev: str, bucket: LocalS3
) -> None:
    workspace_id, token = poll_workspace(api, dev)

    result = upload_url(api, token, workspace_id, name="dump.tar", size=12345, mimeType="application/x-tar")

    assert result.status == 201, result.text
    grant = result.json()
    assert set(grant) >= {"file_id", "upload_url", "expires_in", "uri"}
    assert grant["uri"] == f"platform:/files/{grant['file_id']}/dump.tar"
    assert grant["expires_in"] == 900
    assert grant["upload_headers"] == {"Content-Type": "application/x-tar", "Content-Length": "12345"}
    url = urlsplit(grant["upload_url"])
    assert f"{url.hostname}:{url.port}" == bucket.endpoint_url.removeprefix("http://")  # reachable from here
    query = parse_qs(url.query)
    # S3 refuses a PUT whose signed headers differ: another size or type never lands.
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]


def test_sha256_when_given_is_signed_into_the_upload_url_and_recorded(
    api: ApiClient, dev: str, bucket: LocalS3, database: str
) -> None:
    workspace_id, token = poll_workspace(api, dev)
    digest = hashlib.sha256(BINARY).hexdigest()

    grant = upload_url(api, token, workspace_id, name="a.bin", size=len(BINARY), sha256=digest.upper()).json()

    assert "x-amz-checksum-sha256" in parse_qs(urlsplit(grant["upload_url"]).query)["X-Amz-SignedHeaders"][0]
    assert grant["upload_headers"]["x-amz-checksum-sha256"] == base64.b64encode(bytes.fromhex(digest)).decode()
    assert file_row(database, grant["file_id"])["sha256"] == digest


def test_a_presigned_upload_is_read_back_by_a_redirect_to_a_presigned_get(
    api: ApiClient, dev: str, bucket: LocalS3
) -> None:
    workspace_id, token = poll_workspace(api, dev)
    content = os.urandom(2 * 1024 * 1024)
    grant = upload_url(api, token, workspace_id, name="big.bin", size=len(content)).json()

    early = api.get(f"/workspaces/{workspace_id}/files/{grant['file_id']}", token=token)
    put = httpx.put(grant["upload_url"], content=content, headers=grant["upload_headers"])
    result = api.get(f"/workspaces/{workspace_id}/files/{grant['file_id']}", token=token)

    assert early.status == 409
    assert early.json()["error"].startswith("file not uploaded yet")
    assert put.status_code == 200
    assert result.status == 302
    assert result.headers["cache-control"] == "no-store"
    fetched = httpx.get(result.headers["location"])
    assert fetched.content == content
    assert fetched.headers["content-disposition"] == "attachment; filename=\"big.bin\"; filename*=UTF-8''big.bin"
    assert fetched.headers["content-type"] == "application/octet-stream"


def test_an_upload_of_another_size_than_declared_is_never_served(api: ApiClient, dev: str, bucket: LocalS3) -> None:
    # moto does not check signatures, so this is the read-time check at work: where S3 would refuse
    # the PUT itself, the stand-in accepts it and the platform still refuses to serve it.
    workspace_id, token = poll_workspace(api, dev)
    grant = upload_url(api, token, workspace_id, name="a.bin", size=100).json()
    httpx.put(grant["upload_url"], content=b"x" * 150, headers={"Content-Type": "application/octet-stream"})

    result = api.get(f"/workspaces/{workspace_id}/files/{grant['file_id']}", token=token)

    assert result.status == 409
    assert "150 bytes, not the 100 declared" in result.json()["error"]


def test_upload_url_for_a_size_over_the_limit_is_400_naming_size_and_limit(
    api: ApiClient, dev: str, bucket: LocalS3, platform_env: pytest.MonkeyPatch
) -> None:
    workspace_id, token = poll_workspace(api, dev)
    default_limit = 100 * 1024 * 1024

    over = upload_url(api, token, workspace_id, name="huge.iso", size=default_limit + 1)
    at = upload_url(api, token, workspace_id, name="fits.iso", size=default_limit)
    set_env(platform_env, FILES_MAX_UPLOAD_BYTES="1000")
    over_setting = upload_url(api, token, workspace_id, name="a.bin", size=1001)

    assert over.status == 400
    assert over.json()["field"] == "size"
    assert over.json()["limit_bytes"] == default_limit
    assert "100 MiB" in over.json()["error"]
    assert at.status == 201
    assert over_setting.status == 400 and over_setting.json()["limit_bytes"] == 1000


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"size": 1}, "name"),
        ({"name": "a", "size": -1}, "size"),
        ({"name": "a"}, "size"),
        ({"name": "a", "size": 1, "mimeType": "not a type"}, "mimeType"),
        ({"name": "a", "size": 1, "sha256": "abc"}, "sha256"),
    ],
)
def test_upload_url_with_bad_input_is_400_naming_the_field(
    body: dict[str, Any], field: str, api: ApiClient, dev: str, bucket: LocalS3
) -> None:
    workspace_id, token = poll_workspace(api, dev)

    result = upload_url(api, token, workspace_id, **body)

    assert result.status == 400
    assert result.json()["field"] == field


def test_small_files_are_answered_inline_and_larger_ones_redirected(
    api: ApiClient, dev: str, bucket: LocalS3, platform_env: pytest.MonkeyPatch
) -> None:
    workspace_id, token = poll_workspace(api, dev)
    set_env(platform_env, FILES_INLINE_MAX_BYTES="100")
    small = staged_one(api, dev, workspace_id, b"s" * 100)
    large = staged_one(api, dev, workspace_id, b"l" * 101)

    inline = api.get(f"/workspaces/{workspace_id}/files/{file_id_of(small['uri'])}", token=token)
    redirected = api.get(f"/workspaces/{workspace_id}/files/{file_id_of(large['uri'])}", token=token)

    assert (inline.status, inline.body) == (200, b"s" * 100)
    assert redirected.status == 302
    assert httpx.get(redirected.headers["location"]).content == b"l" * 101


# --- who may read ------------------------------------------------------------------------------------


@pytest.fixture
def family(api: ApiClient, dev: str) -> dict[str, tuple[str, str]]:
    """Two teams: root-a with child owner and its sibling; root-b with cousin. name → (id, token)."""
    root_a = poll_workspace(api, dev, name="root-a")
    root_b = poll_workspace(api, dev, name="root-b")
    return {
        "root-a": root_a,
        "owner": poll_workspace(api, dev, name="owner", parent_id=root_a[0]),
        "sibling": poll_workspace(api, dev, name="sibling", parent_id=root_a[0]),
        "root-b": root_b,
        "cousin": poll_workspace(api, dev, name="cousin", parent_id=root_b[0]),
    }


@pytest.mark.parametrize(
    ("reader", "allowed"), [("owner", True), ("sibling", True), ("root-a", True), ("cousin", False), ("root-b", False)]
)
def test_a_workspace_reads_a_staged_file_only_where_the_access_rule_lets_it_talk_to_the_owner(
    reader: str, allowed: bool, api: ApiClient, dev: str, bucket: LocalS3, family: dict[str, tuple[str, str]]
) -> None:
    entry = staged_one(api, dev, family["owner"][0])
    reader_id, reader_token = family[reader]

    by_id = api.get(f"/workspaces/{reader_id}/files/{file_id_of(entry['uri'])}", token=reader_token)
    by_uri = download(api, reader_token, reader_id, entry["uri"])

    for result in (by_id, by_uri):
        if allowed:
            assert (result.status, result.body) == (200, BINARY)
        else:
            assert result.status == 404
            assert result.json() == {"error": "file not found"}


def test_users_read_every_staged_file_and_a_workspace_token_cannot_borrow_another_path(
    api: ApiClient, dev: str, bucket: LocalS3, family: dict[str, tuple[str, str]]
) -> None:
    owner_id = family["owner"][0]
    entry = staged_one(api, dev, owner_id)
    file_id = file_id_of(entry["uri"])

    as_admin = api.get(f"/workspaces/{owner_id}/files/{file_id}", token=dev)
    cousin_on_owner_path = api.get(f"/workspaces/{owner_id}/files/{file_id}", token=family["cousin"][1])

    assert (as_admin.status, as_admin.body) == (200, BINARY)
    assert cousin_on_owner_path.status == 401  # a workspace token speaks only for its own workspace


def test_a_bearer_that_is_not_live_is_401_whether_or_not_the_file_exists(
    api: ApiClient, dev: str, bucket: LocalS3, family: dict[str, tuple[str, str]], database: str
) -> None:
    """The bearer is looked up in the statement that finds the file; the file must not leak."""
    owner_id, owner_token = family["owner"]
    file_id = file_id_of(staged_one(api, dev, owner_id)["uri"])
    with psycopg.connect(database) as conn:
        conn.execute("UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = %s", (owner_id,))
    missing = "00000000-0000-4000-8000-000000000001"

    results = [
        api.get(f"/workspaces/{owner_id}/files/{file_id}", token=owner_token),  # revoked
        api.get(f"/workspaces/{owner_id}/files/{missing}", token=owner_token),
        api.get(f"/workspaces/{owner_id}/files/{file_id}", token="mol_ws_not-a-token"),
        api.get(f"/workspaces/{owner_id}/files/{file_id}"),
    ]

    assert [r.status for r in results] == [401] * 4
    assert {r.json()["error"] for r in results[:3]} == {"invalid workspace auth token"}
    assert results[3].json()["error"] == "missing workspace auth token"


def test_reading_a_file_takes_one_round_trip_and_the_first_read_of_an_upload_one_more(
    api: ApiClient, dev: str, bucket: LocalS3, database: str
) -> None:
    """Issue 19: the caller's token and the file in one statement; the first read of a presigned
    upload then marks the file stored once it has seen the object in the bucket."""
    workspace_id, token = poll_workspace(api, dev)
    staged = f"/workspaces/{workspace_id}/files/{file_id_of(staged_one(api, dev, workspace_id)['uri'])}"
    grant = upload_url(api, token, workspace_id, name="a.bin", size=len(BINARY)).json()
    assert httpx.put(grant["upload_url"], content=BINARY, headers=grant["upload_headers"]).status_code == 200
    uploaded = f"/workspaces/{workspace_id}/files/{grant['file_id']}"

    read_staged = counted(database, lambda: api.get(staged, token=token))
    first_read = counted(database, lambda: api.get(uploaded, token=token))
    second_read = counted(database, lambda: api.get(uploaded, token=token))

    assert [r.answer.status for r in (read_staged, first_read, second_read)] == [200] * 3
    assert (read_staged.round_trips, read_staged.transactions) == (1, 0), read_staged.statements
    assert first_read.round_trips == 2, first_read.statements
    assert "UPDATE staged_files SET stored_at" in first_read.statements[1]
    assert second_read.round_trips == 1, second_read.statements


def test_unknown_expired_malformed_or_misnamed_files_are_404(
    api: ApiClient, dev: str, bucket: LocalS3, database: str
) -> None:
    workspace_id, token = poll_workspace(api, dev)
    entry = staged_one(api, dev, workspace_id)
    expired = staged_one(api, dev, workspace_id)
    with psycopg.connect(database) as conn:
        conn.execute(
            "UPDATE staged_files SET expires_at = now() - interval '1 second' WHERE id = %s",
            (file_id_of(expired["uri"]),),
        )
    base = f"/workspaces/{workspace_id}"

    results = [
        api.get(f"{base}/files/00000000-0000-4000-8000-000000000001", token=token),
        api.get(f"{base}/files/{file_id_of(expired['uri'])}", token=token),
        download(api, token, workspace_id, expired["uri"]),
        api.get(f"{base}/files/not-a-uuid", token=token),
        download(api, token, workspace_id, entry["uri"].replace("notes.bin", "other.bin")),
    ]

    assert [r.status for r in results] == [404] * 5
    malformed = download(api, token, workspace_id, "platform:/files/nope")
    assert (malformed.status, malformed.json()["field"]) == (400, "path")


def test_upload_url_for_a_removed_workspace_is_404(api: ApiClient, dev: str, bucket: LocalS3) -> None:
    workspace_id, _ = poll_workspace(api, dev)
    api.delete(f"/workspaces/{workspace_id}", token=dev)

    assert upload_url(api, dev, workspace_id, name="a", size=1).status == 404
    assert upload(api, dev, workspace_id, multipart(("a.txt", b"x", "text/plain"))).status == 404


# --- notify attachments ------------------------------------------------------------------------------


def notify(api: ApiClient, token: str, workspace_id: str, *attachments: dict[str, Any]) -> Any:
    return api.post(
        f"/workspaces/{workspace_id}/notify",
        json_body={"message": "see attached", "attachments": list(attachments)},
        token=token,
    )


def test_notify_carries_a_file_staged_for_the_workspace(api: ApiClient, dev: str, bucket: LocalS3) -> None:
    workspace_id, token = poll_workspace(api, dev)
    entry = staged_one(api, dev, workspace_id)

    result = notify(api, token, workspace_id, entry)

    assert result.status == 200, result.text
    (row,) = api.get(f"/workspaces/{workspace_id}/activity", token=token).json()
    assert row["response_body"]["parts"] == [{"kind": "file", "file": entry}]


def test_notify_with_a_platform_uri_that_is_not_the_workspaces_own_file_is_400(
    api: ApiClient, dev: str, bucket: LocalS3, family: dict[str, tuple[str, str]]
) -> None:
    owner_id, owner_token = family["owner"]
    sibling_file = staged_one(api, dev, family["sibling"][0])
    own = staged_one(api, dev, owner_id)

    for uri in (
        sibling_file["uri"],  # readable by the owner, but not its own
        "platform:/files/00000000-0000-4000-8000-000000000001/a.txt",
        own["uri"].replace("notes.bin", "renamed.bin"),
        "platform:/nothing",
    ):
        result = notify(api, owner_token, owner_id, own, {"uri": uri, "name": "x"})
        assert result.status == 400, uri
        assert result.json()["field"] == "attachments[1]"


def test_notify_attachments_with_other_uris_pass_as_before(api: ApiClient, dev: str, bucket: LocalS3) -> None:
    workspace_id, token = poll_workspace(api, dev)

    result = notify(api, token, workspace_id, {"uri": "/workspace/report.pdf", "name": "report.pdf"})

    assert result.status == 200


def test_the_retention_sweep_deletes_the_rows_of_expired_files_only(
    api: ApiClient, dev: str, bucket: LocalS3, database: str
) -> None:
    workspace_id, _ = poll_workspace(api, dev)
    live, expired = staged_one(api, dev, workspace_id), staged_one(api, dev, workspace_id)
    with psycopg.connect(database) as conn:
        conn.execute(
            "UPDATE staged_files SET expires_at = now() - interval '1 second' WHERE id = %s",
            (file_id_of(expired["uri"]),),
        )

    swept = FunctionRegistry().invoke("ActivityRetentionFunction", {})

    assert swept["expired_files"] == 1
    with psycopg.connect(database) as conn:
        left = [str(r[0]) for r in conn.execute("SELECT id FROM staged_files").fetchall()]
    assert left == [file_id_of(live["uri"])]
