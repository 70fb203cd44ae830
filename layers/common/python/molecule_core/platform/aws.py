"""AWS clients, created once per execution environment and per (service, region, config). boto3 is
imported here on first use, never at module load, so functions that never call AWS (and every cold
start) do not pay for it (SPEC §2). boto3 clients are thread-safe once made; making them is not,
hence the lock."""

from __future__ import annotations

import json
import threading
from typing import Any

from molecule_core.platform import snapstart

_clients: dict[tuple[str, str | None, str | None], Any] = {}
_lock = threading.Lock()


def client(service: str, *, region: str | None = None, config: dict[str, Any] | None = None) -> Any:
    """The cached boto3 client for `service` (endpoint and credentials from the environment);
    `config` is botocore's Config as keyword arguments (e.g. the S3 signature version)."""
    key = (service, region, json.dumps(config, sort_keys=True) if config else None)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        if key not in _clients:
            import boto3  # type: ignore[import-untyped]
            from botocore.config import Config  # type: ignore[import-untyped]

            options: dict[str, Any] = {"config": Config(**config)} if config else {}
            if region:
                options["region_name"] = region
            _clients[key] = boto3.client(service, **options)
        return _clients[key]


@snapstart.on_snapshot
def reset_clients() -> None:
    """Forget every client (tests that move an endpoint or change credentials; and before a
    SnapStart snapshot, so that restored environments do not share connections or credentials)."""
    with _lock:
        _clients.clear()


def secret_value(secret_arn: str, *, max_age_seconds: int = 300) -> str:
    """A Secrets Manager secret's string, through Powertools Parameters (cached per execution
    environment for `max_age_seconds`, so a rotated secret is picked up within that time)."""
    from aws_lambda_powertools.utilities import parameters  # boto3 only on this path

    return str(parameters.get_secret(secret_arn, max_age=max_age_seconds))
