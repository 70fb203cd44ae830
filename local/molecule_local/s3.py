"""S3 in miniature: `LocalS3` runs a moto server on 127.0.0.1 with every bucket of template.yaml and
points the in-process functions at it (a `MotoEndpoint`: AWS_ENDPOINT_URL_S3, and each
`NAME: !Ref <bucket>` such as FILES_BUCKET). The endpoint is on 127.0.0.1, so the presigned URLs the
functions sign name a host a client on this machine reaches (path-style: botocore never puts a
bucket in front of an IP address). MOLECULE_S3_PORT fixes its port (default: any free one)."""

from __future__ import annotations

from typing import Any

from molecule_local.moto_endpoint import MotoEndpoint
from molecule_local.template import Template


class LocalS3(MotoEndpoint):
    name = "s3"
    port_variable = "MOLECULE_S3_PORT"

    def __init__(self, template: Template, **options: Any) -> None:
        super().__init__(template, **options)
        self.bucket_names: dict[str, str] = {}  # logical id → bucket name

    def describe(self) -> str:
        buckets = ", ".join(self.bucket_names.values()) or "none"
        return f"S3         {self.endpoint_url}  (moto; buckets: {buckets})"

    def create_resources(self) -> None:
        client = self.client()
        for logical_id in self.template.buckets:
            # CloudFormation generates a lower-case name; so does this (bucket names allow no capitals).
            name = (self.name_prefix + logical_id).lower()
            client.create_bucket(Bucket=name)
            self.bucket_names[logical_id] = name

    def environment(self) -> dict[str, str]:
        environment = {"AWS_ENDPOINT_URL_S3": self.endpoint_url}
        for name, logical_id in self.template.bucket_name_environment().items():
            environment[name] = self.bucket_names[logical_id]
        return environment
