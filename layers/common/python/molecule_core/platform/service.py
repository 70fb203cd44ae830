"""What the platform's own functions call: health (liveness and readiness) and schema management
for the `migrate` Lambda and the CLI — up/down/status, and the CloudFormation custom-resource
protocol so a deploy migrates before traffic arrives."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Literal

from molecule_core.platform import db, migrations
from molecule_core.platform.observability import logger

MigrationAction = Literal["up", "down", "status"]


def check_health(*, deep: bool) -> dict[str, str]:
    """`{"status":"ok"}`; with deep=True the database must answer too (DatastoreUnavailable → 503)."""
    if deep:
        db.ping()
        return {"status": "ok", "database": "ok"}
    return {"status": "ok"}


def run_migrations(action: MigrationAction, dsn: str | None = None) -> dict[str, Any]:
    if action == "up":
        return {"action": "up", "applied": migrations.up(dsn)}
    if action == "down":
        return {"action": "down", "reverted": migrations.down(dsn)}
    if action == "status":
        return {
            "action": "status",
            "migrations": [
                {"version": s.version, "name": s.name, "applied": s.applied} for s in migrations.status(dsn)
            ],
        }
    raise ValueError(f"unknown migration action {action!r}; use up, down or status")


def is_custom_resource_event(event: dict[str, Any]) -> bool:
    return "RequestType" in event and "ResponseURL" in event


def handle_custom_resource(
    event: dict[str, Any], checks: Sequence[Callable[[], dict[str, str]]] = ()
) -> dict[str, Any]:
    """Create/Update → migrate up, then run `checks` (what the new code needs before it takes
    traffic, e.g. the secrets key source); Delete → nothing (a stack delete must never drop data).
    A failed migration or check fails the deploy. The outcome is PUT to the pre-signed ResponseURL,
    as CloudFormation expects."""
    status, reason, data = "SUCCESS", "", {}
    try:
        if event["RequestType"] in ("Create", "Update"):
            data = {"Applied": ",".join(migrations.up())}
            for check in checks:
                data |= check()
    except Exception as exc:  # every failure must reach CloudFormation or the deploy hangs
        logger.exception("migration failed")
        status, reason = "FAILED", f"migration failed: {getattr(exc, 'message', exc)}"[:1000]
    response = {
        "Status": status,
        "Reason": reason or "ok",
        "PhysicalResourceId": event.get("PhysicalResourceId") or "molecule-schema",
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data,
    }
    import httpx  # only the deploy-time custom resource answers CloudFormation; Health loads this module

    httpx.put(
        event["ResponseURL"],
        content=json.dumps(response).encode("utf-8"),
        headers={"Content-Type": ""},  # the pre-signed URL is signed without a content type
        timeout=httpx.Timeout(30.0, connect=10.0),
    ).raise_for_status()
    return response
