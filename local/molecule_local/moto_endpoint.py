"""One AWS service in miniature: a moto server on 127.0.0.1, the template's resources of that
service created in it, and its endpoint exported to the in-process functions — for that service
only (`AWS_ENDPOINT_URL_<SERVICE>`), so every other AWS client is untouched — with a region and
dummy credentials where the developer has configured none. Stopping restores the environment.
`LocalSqs` and `LocalS3` are the two the stack runs."""

from __future__ import annotations

import logging
import os
from typing import Any

from molecule_core.platform.aws import reset_clients
from molecule_core.platform.settings import reset_settings

from molecule_local.template import Template

# moto accepts any credentials; botocore only needs some to sign with.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "molecule-local", "AWS_SECRET_ACCESS_KEY": "molecule-local"}
DEFAULT_REGION = "us-east-1"


class MotoEndpoint:
    """Subclasses name the service and its port variable, create their resources and say which
    environment the functions need."""

    name = ""  # the boto3 service name: "sqs", "s3"
    port_variable = ""  # fixes the port (default: any free one)

    def __init__(
        self,
        template: Template,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        name_prefix: str = "molecule-",
        region: str | None = None,
    ) -> None:
        self.template = template
        self.host = host
        self.name_prefix = name_prefix  # of every resource created, so that tests can share a server
        self.port = int(os.environ.get(self.port_variable) or 0) if port is None else port
        self.region = region or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        self._server: Any = None
        self._saved_environment: dict[str, str | None] = {}

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def start(self) -> None:
        from moto.server import ThreadedMotoServer  # heavy; only the local stack and tests need it

        # werkzeug logs every request at INFO: one line per long poll otherwise.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        self.create_resources()
        self._export_environment()

    def stop(self) -> None:
        self._restore_environment()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client(self) -> Any:
        """A boto3 client for this endpoint (one per thread: creating clients is not thread-safe)."""
        import boto3

        return boto3.client(
            self.name,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def create_resources(self) -> None:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        """What the in-process functions need to reach this service's resources."""
        raise NotImplementedError

    def _environment_defaults(self) -> dict[str, str]:
        """Region and credentials, only where the developer has not configured their own (a real
        profile keeps working for other AWS clients; moto accepts any credentials)."""
        defaults = {"AWS_DEFAULT_REGION": self.region}
        if not os.environ.get("AWS_ACCESS_KEY_ID") and not os.environ.get("AWS_PROFILE"):
            defaults.update(DUMMY_CREDENTIALS)
        return {name: value for name, value in defaults.items() if not os.environ.get(name)}

    def _export_environment(self) -> None:
        for name, value in {**self._environment_defaults(), **self.environment()}.items():
            self._saved_environment.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        reset_settings()  # settings read the exported names on next use
        reset_clients()  # AWS clients were made for the previous endpoint

    def _restore_environment(self) -> None:
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment.clear()
        reset_settings()
        reset_clients()
