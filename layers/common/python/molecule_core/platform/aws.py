"""AWS clients, created once per execution environment and per (service, region). boto3 is
imported here on first use, never at module load, so functions that never call AWS (and every cold
start) do not pay for it (SPEC §2). boto3 clients are thread-safe once made; making them is not,
hence the lock."""

from __future__ import annotations

import threading
from typing import Any

_clients: dict[tuple[str, str | None], Any] = {}
_lock = threading.Lock()


def client(service: str, *, region: str | None = None) -> Any:
    """The cached boto3 client for `service` (endpoint and credentials from the environment)."""
    key = (service, region)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        if key not in _clients:
            import boto3  # type: ignore[import-untyped]

            _clients[key] = boto3.client(service, region_name=region) if region else boto3.client(service)
        return _clients[key]


def reset_clients() -> None:
    """Forget every client (tests that move an endpoint or change credentials)."""
    with _lock:
        _clients.clear()


def secret_value(secret_arn: str, *, max_age_seconds: int = 300) -> str:
    """A Secrets Manager secret's string, through Powertools Parameters (cached per execution
    environment for `max_age_seconds`, so a rotated secret is picked up within that time)."""
    from aws_lambda_powertools.utilities import parameters  # boto3 only on this path

    return str(parameters.get_secret(secret_arn, max_age=max_age_seconds))
