"""Schema migrations: `migrations/NNN_name.up.sql` / `.down.sql`, applied in order, each once.

Runs hold a session-level advisory lock so two deploys (or a deploy and a laptop) never migrate
at the same time; each file runs in its own transaction together with its `schema_migrations`
row, so a failed file leaves no trace. The same code serves the CLI and the `migrate` Lambda.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import NamedTuple

from molecule_core.platform import db, store

MIGRATION_LOCK_KEY = store.MIGRATION_LOCK_KEY
LOCK_WAIT_SECONDS = 120
_FILE_RE = re.compile(r"^(?P<version>\d{3,})_(?P<name>[a-z0-9_]+)\.up\.sql$")


class Migration(NamedTuple):
    version: str
    name: str
    up_path: Path
    down_path: Path


class MigrationStatus(NamedTuple):
    version: str
    name: str
    applied: bool


def default_migrations_dir() -> Path:
    """MIGRATIONS_DIR, else the `migrations/` folder next to the function (Lambda package), else
    the repository's."""
    override = os.environ.get("MIGRATIONS_DIR")
    if override:
        return Path(override)
    here = Path(__file__).resolve()
    for candidate in (Path.cwd() / "migrations", *(parent / "migrations" for parent in here.parents)):
        if candidate.is_dir() and any(candidate.glob("*.up.sql")):
            return candidate
    raise FileNotFoundError("no migrations directory found; set MIGRATIONS_DIR")


def discover(directory: Path | None = None) -> list[Migration]:
    directory = directory or default_migrations_dir()
    found: list[Migration] = []
    for path in sorted(directory.glob("*.up.sql")):
        match = _FILE_RE.match(path.name)
        if not match:
            raise ValueError(f"migration file name {path.name!r} is not NNN_name.up.sql")
        down = path.with_name(path.name.replace(".up.sql", ".down.sql"))
        if not down.exists():
            raise ValueError(f"migration {path.name} has no {down.name}")
        found.append(Migration(match["version"], match["name"], path, down))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {directory}")
    return found


class MigrationDrift(ValueError):
    """An applied migration's file no longer matches what was applied: the schema in the database is
    not what the code expects. Editing an applied migration is never the fix — add a new one."""


def checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_applied_unchanged(conn: db.Connection, migrations: list[Migration]) -> None:
    by_version = {m.version: m for m in migrations}
    changed = [
        f"{version}_{by_version[version].name}"
        for version, recorded in store.applied_checksums(conn).items()
        if recorded is not None and version in by_version and checksum(by_version[version].up_path) != recorded
    ]
    if changed:
        raise MigrationDrift(
            f"applied migration(s) changed since they ran: {', '.join(changed)}. The database schema is not the one "
            "these files describe; restore the files, or (a disposable local database) delete it and start again"
        )


class _Locked:
    """A dedicated connection holding the migration advisory lock for its lifetime."""

    def __init__(self, dsn: str | None) -> None:
        self.conn = db.open_connection(dsn)

    def __enter__(self) -> db.Connection:
        try:
            # Bounded wait: a deploy whose migration cannot get the lock must fail and say so
            # (CloudFormation then rolls back) rather than hang until the Lambda times out.
            store.acquire_migration_lock(self.conn, LOCK_WAIT_SECONDS)
        except BaseException:
            self.conn.close()
            raise
        return self.conn

    def __exit__(self, *exc: object) -> None:
        try:
            if not self.conn.broken:
                store.release_migration_lock(self.conn)
        finally:
            self.conn.close()


def _applied(conn: db.Connection) -> set[str]:
    return set(store.applied_checksums(conn))


def up(dsn: str | None = None, directory: Path | None = None) -> list[str]:
    """Apply every pending migration in order; returns the versions applied (empty = no-op)."""
    migrations = discover(directory)
    done: list[str] = []
    with _Locked(dsn) as conn:
        _check_applied_unchanged(conn, migrations)
        applied = _applied(conn)
        for migration in migrations:
            if migration.version in applied:
                continue
            with conn.transaction():
                store.run_script(conn, migration.up_path.read_text())
                store.record_applied(conn, migration.version, migration.name, checksum(migration.up_path))
            done.append(migration.version)
    return done


def down(dsn: str | None = None, directory: Path | None = None) -> str | None:
    """Revert the most recently applied migration; returns its version, or None when none is."""
    by_version = {m.version: m for m in discover(directory)}
    with _Locked(dsn) as conn:
        version = store.latest_applied(conn)
        if version is None:
            return None
        migration = by_version.get(version)
        if migration is None:
            raise ValueError(f"applied migration {version} has no file to revert it")
        with conn.transaction():
            store.run_script(conn, migration.down_path.read_text())
            store.forget_applied(conn, version)
        return version


def status(dsn: str | None = None, directory: Path | None = None) -> list[MigrationStatus]:
    migrations = discover(directory)
    with _Locked(dsn) as conn:
        applied = _applied(conn)
    return [MigrationStatus(m.version, m.name, m.version in applied) for m in migrations]
