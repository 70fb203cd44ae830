"""Embedded PostgreSQL (pgserver) for the local stack: data kept under .molecule/pgdata and
reused across runs, server stopped when the stack stops."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def start_embedded_postgres(pgdata: Path) -> tuple[str, Callable[[], None]]:
    import pgserver

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    return server.get_uri(), server.cleanup
