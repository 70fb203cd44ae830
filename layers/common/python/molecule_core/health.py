"""Liveness and readiness of the platform itself."""

from __future__ import annotations

from molecule_core import db


def check_health(*, deep: bool) -> dict[str, str]:
    """`{"status":"ok"}`; with deep=True the database must answer too (DatastoreUnavailable → 503)."""
    if deep:
        db.ping()
        return {"status": "ok", "database": "ok"}
    return {"status": "ok"}
