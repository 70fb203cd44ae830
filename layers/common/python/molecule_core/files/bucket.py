"""The staging bucket (SPEC §5.13): object keys, the platform's own writes and reads, the check that
a presigned upload arrived whole, and presigned URLs. Keys are made here from the workspace and file
ids under `staged/` — the prefix the bucket's lifecycle rule expires and the functions' IAM policy
allows — never from anything a client sent. An S3 failure is a 503 the caller can retry, never a
stack trace."""

from __future__ import annotations

import base64
from typing import Any
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


def _unavailable(op: str, key: str, exc: Exception) -> StagingUnavailable:
    logger.warning(f"staged files: S3 {op} failed", extra={"key": key, "detail": repr(exc)[:300]})
    return StagingUnavailable("file storage unavailable — retry shortly", retry_after=RETRY_AFTER_SECONDS)


def _is_missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("404", "NoSuchKey", "NotFound") or status == 404


def put_object(key: str, content: bytes, content_type: str) -> None:
    try:
        _s3().put_object(Bucket=_bucket(), Key=key, Body=content, ContentType=content_type)
    except StagingUnavailable:
        raise
    except Exception as exc:
        raise _unavailable("put", key, exc) from exc


def stored_size(key: str) -> int | None:
    """The size of the object at `key`, or None when there is none (not uploaded yet)."""
    try:
        head = _s3().head_object(Bucket=_bucket(), Key=key)
    except StagingUnavailable:
        raise
    except Exception as exc:
        if _is_missing(exc):
            return None
        raise _unavailable("head", key, exc) from exc
    return int(head["ContentLength"])


def read_object(key: str) -> bytes | None:
    """The object's bytes (small files only: the caller has checked the size), None when missing."""
    try:
        answer = _s3().get_object(Bucket=_bucket(), Key=key)
        return bytes(answer["Body"].read())
    except StagingUnavailable:
        raise
    except Exception as exc:
        if _is_missing(exc):
            return None
        raise _unavailable("get", key, exc) from exc


def sha256_checksum(sha256_hex: str) -> str:
    """S3's x-amz-checksum-sha256 value (base64 of the digest) for a hex SHA-256."""
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")


def presigned_put(key: str, *, size: int, content_type: str, sha256: str | None, expires_in: int) -> str:
    """A URL that accepts one PUT of exactly `size` bytes of `content_type` (and, with `sha256`,
    exactly those bytes): all of it is part of the signature."""
    params: dict[str, Any] = {"Bucket": _bucket(), "Key": key, "ContentLength": size, "ContentType": content_type}
    if sha256 is not None:
        params["ChecksumSHA256"] = sha256_checksum(sha256)
    try:
        return str(_s3().generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in))
    except Exception as exc:
        raise _unavailable("presign put", key, exc) from exc


def presigned_get(key: str, *, content_type: str, content_disposition: str, expires_in: int) -> str:
    """A URL that serves the object with the recorded type and an attachment disposition (both
    signed, so S3 answers them instead of whatever the uploader sent)."""
    params = {
        "Bucket": _bucket(),
        "Key": key,
        "ResponseContentType": content_type,
        "ResponseContentDisposition": content_disposition,
    }
    try:
        return str(_s3().generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in))
    except Exception as exc:
        raise _unavailable("presign get", key, exc) from exc
