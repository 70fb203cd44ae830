"""The staging bucket (SPEC §5.13): object keys, the platform's own writes and reads, the check that
a presigned upload arrived whole, and presigned URLs. Keys are made here from the workspace and file
ids under `staged/` — the prefix the bucket's lifecycle rule expires and the functions' IAM policy
allows — never from anything a client sent. An S3 failure is a 503 the caller can retry, never a
stack trace."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from molecule_core.platform import aws
from molecule_core.platform.errors import ServiceUnavailable
from molecule_core.platform.observability import logger
from molecule_core.platform.settings import get_settings

STAGED_PREFIX = "staged/"
# SigV4, because it is the only signature that covers Content-Length (SigV2 signs only the type and
# MD5), so a presigned PUT of any other size than the declared one is refused by S3 itself. Virtual
# hosts, because then the URL names the bucket's regional endpoint (the default is the global one,
# which redirects for buckets outside us-east-1). Custom endpoints on an IP address (the local
# stack's moto server) get path-style URLs either way.
S3_CLIENT_CONFIG: dict[str, Any] = {"signature_version": "s3v4", "s3": {"addressing_style": "virtual"}}
RETRY_AFTER_SECONDS = 5
T = TypeVar("T")


class StagingUnavailable(ServiceUnavailable):
    """503: no bucket configured, or S3 did not answer usably."""


def object_key(workspace_id: UUID, file_id: UUID) -> str:
    return f"{STAGED_PREFIX}{workspace_id}/{file_id}"


def _bucket() -> str:
    bucket = get_settings().files_bucket
    if not bucket:
        raise StagingUnavailable("file staging is not configured on this platform (FILES_BUCKET is unset)")
    return bucket


def _s3() -> Any:
    return aws.client("s3", config=S3_CLIENT_CONFIG)


def _is_missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    # HEAD answers a bare 404 (no body, so no code but the status); GET says NoSuchKey.
    return str(response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey", "NotFound")


def _call(op: str, key: str, action: Callable[[Any, str], T], *, missing_is_none: bool = False) -> T | None:
    """`action(client, bucket)`; with `missing_is_none`, None when S3 says there is no such object;
    any other failure is a 503 (logged with the key, never a URL or a credential)."""
    bucket = _bucket()
    try:
        return action(_s3(), bucket)
    except Exception as exc:
        if missing_is_none and _is_missing(exc):
            return None
        logger.warning(f"staged files: S3 {op} failed", extra={"key": key, "detail": repr(exc)[:300]})
        raise StagingUnavailable("file storage unavailable — retry shortly", retry_after=RETRY_AFTER_SECONDS) from exc


def put_object(key: str, content: bytes, content_type: str) -> None:
    _call("put", key, lambda s3, bucket: s3.put_object(Bucket=bucket, Key=key, Body=content, ContentType=content_type))


def stored_size(key: str) -> int | None:
    """The size of the object at `key`, or None when there is none (not uploaded yet)."""
    head = _call("head", key, lambda s3, bucket: s3.head_object(Bucket=bucket, Key=key), missing_is_none=True)
    return None if head is None else int(head["ContentLength"])


def read_object(key: str) -> bytes | None:
    """The object's bytes (small files only: the caller has checked the size), None when missing."""
    return _call(
        "get", key, lambda s3, bucket: bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read()), missing_is_none=True
    )


def sha256_checksum(sha256_hex: str) -> str:
    """S3's x-amz-checksum-sha256 value (base64 of the digest) for a hex SHA-256."""
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")


def presigned_put(key: str, *, size: int, content_type: str, sha256: str | None, expires_in: int) -> str:
    """A URL that accepts one PUT of exactly `size` bytes of `content_type` (and, with `sha256`,
    exactly those bytes): all of it is part of the signature."""
    params: dict[str, Any] = {"Key": key, "ContentLength": size, "ContentType": content_type}
    if sha256 is not None:
        params["ChecksumSHA256"] = sha256_checksum(sha256)
    return _presign("put_object", params, expires_in)


def presigned_get(key: str, *, content_type: str, content_disposition: str, expires_in: int) -> str:
    """A URL that serves the object with the recorded type and an attachment disposition (both
    signed, so S3 answers them instead of whatever the uploader sent)."""
    params = {"Key": key, "ResponseContentType": content_type, "ResponseContentDisposition": content_disposition}
    return _presign("get_object", params, expires_in)


def _presign(operation: str, params: dict[str, Any], expires_in: int) -> str:
    """Signing is computed here: no request goes to S3."""
    url = _call(
        f"presign {operation}",
        params["Key"],
        lambda s3, bucket: s3.generate_presigned_url(
            operation, Params={"Bucket": bucket, **params}, ExpiresIn=expires_in
        ),
    )
    return str(url)
