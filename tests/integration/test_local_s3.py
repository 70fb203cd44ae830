"""The local stack's S3 (`LocalS3`): the template's buckets on a moto server, the endpoint and bucket
names exported to the in-process functions and restored afterwards, and presigned URLs signed by
the platform's own S3 client that a client on this machine can use."""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit

import httpx
from molecule_core.files import bucket
from molecule_local.s3 import LocalS3
from molecule_local.template import default_template


def test_the_templates_buckets_are_created_and_their_names_exported_then_restored() -> None:
    before = os.environ.get("FILES_BUCKET"), os.environ.get("AWS_ENDPOINT_URL_S3")
    s3 = LocalS3(default_template(), port=0, name_prefix=f"t{uuid.uuid4().hex[:8]}-")

    s3.start()
    try:
        name = s3.bucket_names["FilesBucket"]
        assert name.endswith("-filesbucket") and name == name.lower()
        assert name in [b["Name"] for b in s3.client().list_buckets()["Buckets"]]
        assert os.environ["FILES_BUCKET"] == name
        assert os.environ["AWS_ENDPOINT_URL_S3"] == s3.endpoint_url
        assert s3.describe() == f"S3         {s3.endpoint_url}  (moto; buckets: {name})"
    finally:
        s3.stop()

    assert (os.environ.get("FILES_BUCKET"), os.environ.get("AWS_ENDPOINT_URL_S3")) == before


def test_presigned_urls_of_the_platform_name_the_local_endpoint_and_work_from_this_machine() -> None:
    s3 = LocalS3(default_template(), port=0, name_prefix=f"t{uuid.uuid4().hex[:8]}-")
    s3.start()
    try:
        put_url = bucket.presigned_put("staged/w/f", size=5, content_type="text/plain", sha256=None, expires_in=60)
        get_url = bucket.presigned_get(
            "staged/w/f", content_type="text/plain", content_disposition="attachment", expires_in=60
        )

        put = httpx.put(put_url, content=b"hello", headers={"Content-Type": "text/plain"})
        got = httpx.get(get_url)
        endpoint = urlsplit(s3.endpoint_url)
    finally:
        s3.stop()

    assert urlsplit(put_url).netloc == endpoint.netloc == f"127.0.0.1:{endpoint.port}"
    assert urlsplit(put_url).path == f"/{s3.bucket_names['FilesBucket']}/staged/w/f"  # path-style
    assert put.status_code == 200
    assert (got.status_code, got.content) == (200, b"hello")
