"""SQL of the migration runner: the `schema_migrations` bookkeeping table and the advisory lock
that keeps two runners (two deploys, or a deploy and a laptop) from migrating at once."""

from __future__ import annotations

from molecule_core.platform.db import Connection

# Arbitrary constant shared by every runner of this schema.
MIGRATION_LOCK_KEY = 0x6D6F6C6563756C65  # "molecule"

_ENSURE_TABLE = """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version     text PRIMARY KEY,
        name        text NOT NULL,
        applied_at  timestamptz NOT NULL DEFAULT now(),
        checksum    text
    );
    ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text;
"""


def acquire_migration_lock(conn: Connection, wait_seconds: int) -> None:
    """Take the session-level advisory lock, waiting at most `wait_seconds`, and make sure the
    bookkeeping table exists."""
    conn.execute(f"SET lock_timeout = '{int(wait_seconds)}s'")
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    conn.execute("SET lock_timeout = 0")
    conn.execute(_ENSURE_TABLE)


def release_migration_lock(conn: Connection) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def applied_checksums(conn: Connection) -> dict[str, str | None]:
    """version → checksum of every applied migration (None for rows older than checksums)."""
    return {
        str(row["version"]): row["checksum"] for row in conn.execute("SELECT version, checksum FROM schema_migrations")
    }


def record_applied(conn: Connection, version: str, name: str, checksum: str) -> None:
    conn.execute(
        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)", (version, name, checksum)
    )


def latest_applied(conn: Connection) -> str | None:
    row = conn.execute("SELECT version FROM schema_migrations ORDER BY version DESC LIMIT 1").fetchone()
    return str(row["version"]) if row else None


def forget_applied(conn: Connection, version: str) -> None:
    conn.execute("DELETE FROM schema_migrations WHERE version = %s", (version,))


def run_script(conn: Connection, script: str) -> None:
    """One migration file, as written (it may hold several statements)."""
    conn.execute(script)
