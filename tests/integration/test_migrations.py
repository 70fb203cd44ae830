"""The migration runner (SPEC §3 "Migrations") against real, fresh PostgreSQL databases: order,
idempotence, full down and back up, the 002 enum rebuild, the advisory lock, file-set validation
and per-file transactions."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from molecule_core.platform import migrations

from tests.conftest import _server_database

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
ALL_VERSIONS = sorted(path.name.split("_", 1)[0] for path in MIGRATIONS_DIR.glob("*.up.sql"))
SPEC_TABLES = {
    "workspaces",
    "workspace_auth_tokens",
    "org_api_tokens",
    "activity_logs",
    "structure_events",
    "a2a_queue",
    "delegations",
    "agent_memories",
    "workspace_memory",
    "staged_files",
    "schema_migrations",
    "workspace_secrets",
    "global_secrets",
    "secret_data_keys",
}
WORKSPACE_STATUSES = {
    "provisioning",
    "online",
    "offline",
    "degraded",
    "failed",
    "removed",
    "paused",
    "hibernated",
    "awaiting_agent",
    "hibernating",
}
DEADLINE_SECONDS = 30.0


@pytest.fixture
def fresh_dsn(postgres_base_url: str) -> Iterator[str]:
    """An empty database (no schema at all), dropped afterwards."""
    yield from _server_database(postgres_base_url)


def _query(dsn: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def _execute(dsn: str, sql: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def _public_tables(dsn: str) -> set[str]:
    return {row[0] for row in _query(dsn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def _enum_labels(dsn: str, type_name: str = "workspace_status") -> set[str]:
    rows = _query(
        dsn,
        "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = %s",
        (type_name,),
    )
    return {row[0] for row in rows}


def _type_exists(dsn: str, type_name: str) -> bool:
    return bool(_query(dsn, "SELECT 1 FROM pg_type WHERE typname = %s", (type_name,)))


def _recorded_versions(dsn: str) -> list[str]:
    return [row[0] for row in _query(dsn, "SELECT version FROM schema_migrations ORDER BY version")]


def _revert_newer_than(dsn: str, version: str) -> None:
    """Revert, one by one, every applied migration newer than `version` (later migrations have
    tests of their own; these tests pin what the first five do)."""
    while _recorded_versions(dsn)[-1] > version:
        migrations.down(dsn)


def _copy_migrations(target: Path) -> Path:
    target.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        shutil.copy(path, target / path.name)
    return target


def test_repository_has_the_expected_migration_files() -> None:
    # guards the constants below against an empty or misplaced folder, and versions against repeats
    # and disorder. Numbers are reserved per change and land in any order, so a branch may lack a
    # lower number for a while (009 before 007 and 008): a gap is allowed, a repeat is not.
    assert len(ALL_VERSIONS) >= 6
    assert ALL_VERSIONS[:1] == ["001"]
    assert sorted(set(ALL_VERSIONS)) == ALL_VERSIONS
    assert all(v.isdigit() and len(v) == 3 for v in ALL_VERSIONS)


def test_up_on_a_fresh_database_applies_every_version_in_order(fresh_dsn: str) -> None:
    applied = migrations.up(fresh_dsn)

    assert applied == ALL_VERSIONS
    assert _recorded_versions(fresh_dsn) == ALL_VERSIONS
    by_time = _query(fresh_dsn, "SELECT version FROM schema_migrations ORDER BY applied_at")
    assert [row[0] for row in by_time] == ALL_VERSIONS


def test_up_creates_every_table_of_the_data_model(fresh_dsn: str) -> None:
    assert _public_tables(fresh_dsn) == set()

    migrations.up(fresh_dsn)

    assert _public_tables(fresh_dsn) == SPEC_TABLES


def test_up_creates_the_full_workspace_status_enum(fresh_dsn: str) -> None:
    migrations.up(fresh_dsn)

    assert _enum_labels(fresh_dsn) == WORKSPACE_STATUSES
    column_type = _query(
        fresh_dsn,
        "SELECT udt_name FROM information_schema.columns WHERE table_name = 'workspaces' AND column_name = 'status'",
    )
    assert column_type == [("workspace_status",)]


def test_rerunning_up_is_a_no_op(fresh_dsn: str) -> None:
    migrations.up(fresh_dsn)
    before = _query(fresh_dsn, "SELECT version, applied_at FROM schema_migrations ORDER BY version")

    assert migrations.up(fresh_dsn) == []
    assert _query(fresh_dsn, "SELECT version, applied_at FROM schema_migrations ORDER BY version") == before


def test_down_step_by_step_reverts_newest_first_and_leaves_no_schema(fresh_dsn: str) -> None:
    migrations.up(fresh_dsn)

    reverted = [migrations.down(fresh_dsn) for _ in ALL_VERSIONS]

    assert reverted == list(reversed(ALL_VERSIONS))
    assert migrations.down(fresh_dsn) is None
    # only the runner's own bookkeeping table survives (it is recreated by every run), and it is empty
    assert _public_tables(fresh_dsn) == {"schema_migrations"}
    assert _recorded_versions(fresh_dsn) == []
    assert not _type_exists(fresh_dsn, "workspace_status")
    assert not _type_exists(fresh_dsn, "workspace_status_old")
    functions = _query(fresh_dsn, "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace")
    assert functions == []


def test_each_down_removes_exactly_its_own_tables(fresh_dsn: str) -> None:
    migrations.up(fresh_dsn)
    _revert_newer_than(fresh_dsn, "005")

    assert migrations.down(fresh_dsn) == "005"
    assert "a2a_queue" not in _public_tables(fresh_dsn)
    assert {"activity_logs", "structure_events"} <= _public_tables(fresh_dsn)
    assert migrations.down(fresh_dsn) == "004"
    assert not {"activity_logs", "structure_events"} & _public_tables(fresh_dsn)
    assert migrations.down(fresh_dsn) == "003"
    assert not {"workspace_auth_tokens", "org_api_tokens"} & _public_tables(fresh_dsn)
    assert _recorded_versions(fresh_dsn) == ["001", "002"]


def test_up_down_up_round_trip_restores_the_schema(fresh_dsn: str) -> None:
    migrations.up(fresh_dsn)
    while migrations.down(fresh_dsn) is not None:
        pass

    assert migrations.up(fresh_dsn) == ALL_VERSIONS
    assert _public_tables(fresh_dsn) == SPEC_TABLES
    assert _enum_labels(fresh_dsn) == WORKSPACE_STATUSES
    # the rebuilt schema is usable: a row with a status added by 002 goes in
    _execute(fresh_dsn, "INSERT INTO workspaces (name, runtime, status) VALUES ('w', 'x', 'awaiting_agent')")
    assert _query(fresh_dsn, "SELECT status::text FROM workspaces") == [("awaiting_agent",)]


def test_down_of_002_moves_new_statuses_to_their_older_equivalents(fresh_dsn: str) -> None:
    migrations.up(fresh_dsn)
    _revert_newer_than(fresh_dsn, "005")
    for expected in ("005", "004", "003"):
        assert migrations.down(fresh_dsn) == expected
    _execute(
        fresh_dsn,
        """
        INSERT INTO workspaces (name, runtime, status) VALUES
            ('awaiting', 'x', 'awaiting_agent'),
            ('going-to-sleep', 'x', 'hibernating'),
            ('up', 'x', 'online'),
            ('asleep', 'x', 'hibernated')
        """,
    )

    assert migrations.down(fresh_dsn) == "002"

    statuses = dict(_query(fresh_dsn, "SELECT name, status::text FROM workspaces"))
    assert statuses == {
        "awaiting": "offline",
        "going-to-sleep": "hibernated",
        "up": "online",
        "asleep": "hibernated",
    }
    assert _enum_labels(fresh_dsn) == WORKSPACE_STATUSES - {"awaiting_agent", "hibernating"}
    assert not _type_exists(fresh_dsn, "workspace_status_old")
    # the rebuilt column keeps its default and its partial indexes
    _execute(fresh_dsn, "INSERT INTO workspaces (name, runtime) VALUES ('fresh', 'x')")
    fresh = _query(fresh_dsn, "SELECT status::text FROM workspaces WHERE name = 'fresh'")
    assert fresh == [("provisioning",)]
    indexes = _query(fresh_dsn, "SELECT indexname FROM pg_indexes WHERE tablename = 'workspaces'")
    assert {"workspaces_created_idx", "workspaces_provisioning_idx"} <= {row[0] for row in indexes}


def test_status_reports_which_migrations_are_applied(fresh_dsn: str) -> None:
    def flags() -> list[tuple[str, bool]]:
        return [(s.version, s.applied) for s in migrations.status(fresh_dsn)]

    assert flags() == [(v, False) for v in ALL_VERSIONS]

    migrations.up(fresh_dsn)
    assert flags() == [(v, True) for v in ALL_VERSIONS]

    migrations.down(fresh_dsn)
    assert flags() == [(v, v != ALL_VERSIONS[-1]) for v in ALL_VERSIONS]
    assert next(s.name for s in migrations.status(fresh_dsn)) == "workspaces"


def test_concurrent_up_calls_apply_each_migration_exactly_once(fresh_dsn: str) -> None:
    start = threading.Barrier(2, timeout=DEADLINE_SECONDS)
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait()
            results[index] = migrations.up(fresh_dsn)
        except BaseException as exc:  # surfaced by the assertions below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_SECONDS)

    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert sorted(results[0] + results[1]) == ALL_VERSIONS
    assert _recorded_versions(fresh_dsn) == ALL_VERSIONS
    assert _enum_labels(fresh_dsn) == WORKSPACE_STATUSES


def test_up_waits_while_another_session_holds_the_migration_lock(fresh_dsn: str) -> None:
    holder = psycopg.connect(fresh_dsn, autocommit=True)
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", (migrations.MIGRATION_LOCK_KEY,))
        outcome: dict[str, Any] = {}
        finished = threading.Event()

        def run() -> None:
            try:
                outcome["applied"] = migrations.up(fresh_dsn)
            except BaseException as exc:
                outcome["error"] = exc
            finally:
                finished.set()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()

        # Given: the runner is observed blocked on our advisory lock ...
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not holder.execute(
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchall():
            assert time.monotonic() < deadline, "migration runner never queued on the advisory lock"
            # pacing between polls; also catches a runner that never waits at all
            assert not finished.wait(0.02), f"runner finished without waiting for the lock: {outcome}"
        # ... and has changed nothing yet
        assert not finished.is_set()
        assert _public_tables(fresh_dsn) == set()

        # When: the lock is released
        holder.execute("SELECT pg_advisory_unlock(%s)", (migrations.MIGRATION_LOCK_KEY,))

        # Then: the runner proceeds and migrates
        assert finished.wait(DEADLINE_SECONDS)
        assert outcome == {"applied": ALL_VERSIONS}
    finally:
        holder.close()


def test_up_gives_up_when_the_lock_stays_held(fresh_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A deploy must fail loudly (CloudFormation rolls back) instead of hanging until the Lambda times out.
    monkeypatch.setattr(migrations, "LOCK_WAIT_SECONDS", 1)
    with psycopg.connect(fresh_dsn, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (migrations.MIGRATION_LOCK_KEY,))
        with pytest.raises(psycopg.errors.LockNotAvailable):
            migrations.up(fresh_dsn)
        assert _public_tables(fresh_dsn) <= {"schema_migrations"}


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("missing_down", "has no"),
        ("bad_name", "is not NNN_name.up.sql"),
        ("uppercase_name", "is not NNN_name.up.sql"),
        ("duplicate_version", "duplicate migration versions"),
    ],
)
def test_an_invalid_migrations_folder_is_rejected_before_touching_the_database(
    fresh_dsn: str, tmp_path: Path, broken: str, message: str
) -> None:
    folder = _copy_migrations(tmp_path / "migrations")
    if broken == "missing_down":
        (folder / "003_tokens.down.sql").unlink()
    elif broken == "bad_name":
        (folder / "6_extra.up.sql").write_text("SELECT 1;")
        (folder / "6_extra.down.sql").write_text("SELECT 1;")
    elif broken == "uppercase_name":
        (folder / "999_Extra-Thing.up.sql").write_text("SELECT 1;")
        (folder / "999_Extra-Thing.down.sql").write_text("SELECT 1;")
    else:
        (folder / "005_other.up.sql").write_text("SELECT 1;")
        (folder / "005_other.down.sql").write_text("SELECT 1;")

    for run in (migrations.up, migrations.down, migrations.status):
        with pytest.raises(ValueError, match=message):
            run(fresh_dsn, folder)

    assert _public_tables(fresh_dsn) == set()


def test_a_failing_migration_leaves_no_row_and_no_partial_changes(fresh_dsn: str, tmp_path: Path) -> None:
    folder = _copy_migrations(tmp_path / "migrations")
    (folder / "999_broken.up.sql").write_text(
        """
        CREATE TABLE half_done (id integer);
        ALTER TABLE workspaces ADD COLUMN half_done_flag boolean;
        INSERT INTO table_that_does_not_exist VALUES (1);
        """
    )
    (folder / "999_broken.down.sql").write_text("DROP TABLE IF EXISTS half_done;")

    with pytest.raises(psycopg.errors.UndefinedTable):
        migrations.up(fresh_dsn, folder)

    # the earlier files committed one by one; the failing one left nothing behind
    assert _recorded_versions(fresh_dsn) == ALL_VERSIONS
    assert "half_done" not in _public_tables(fresh_dsn)
    columns = {
        row[0]
        for row in _query(
            fresh_dsn, "SELECT column_name FROM information_schema.columns WHERE table_name = 'workspaces'"
        )
    }
    assert "half_done_flag" not in columns
    assert "status" in columns
    # and the lock was released: a fixed file applies on the next run
    (folder / "999_broken.up.sql").write_text("CREATE TABLE half_done (id integer);")
    assert migrations.up(fresh_dsn, folder) == ["999"]
    assert "half_done" in _public_tables(fresh_dsn)


def test_an_applied_migration_that_changed_is_refused_with_a_clear_error(fresh_dsn: str, tmp_path: Path) -> None:
    # An edited migration that already ran means the database is not what the code expects (a
    # laptop database migrated by an older 003 failed later with "column origin does not exist").
    directory = _copy_migrations(tmp_path / "migrations")
    migrations.up(fresh_dsn, directory)
    edited = directory / "003_tokens.up.sql"
    edited.write_text(edited.read_text() + "\n-- edited after it ran\n")
    with pytest.raises(migrations.MigrationDrift, match="003_tokens"):
        migrations.up(fresh_dsn, directory)


def _activity_columns(dsn: str) -> set[str]:
    rows = _query(dsn, "SELECT column_name FROM information_schema.columns WHERE table_name = 'activity_logs'")
    return {row[0] for row in rows}


def test_007_moves_the_verbatim_request_into_request_body_and_back(fresh_dsn: str) -> None:
    # Given rows written before 007: the normalised body in request_body, the verbatim text in
    # request_raw (only when normalisation changed it), and a raw text jsonb cannot hold
    migrations.up(fresh_dsn)
    _revert_newer_than(fresh_dsn, "006")
    _execute(
        fresh_dsn,
        """
        INSERT INTO workspaces (id, name, runtime) VALUES ('00000000-0000-0000-0000-000000000001', 'w', 'x');
        INSERT INTO activity_logs (workspace_id, activity_type, summary, request_body, request_raw) VALUES
            ('00000000-0000-0000-0000-000000000001', 'a2a_receive', 'changed',
             '{"parts": [{"kind": "text", "text": "hi"}]}', '{"parts": [{"type": "text", "text": "hi"}]}'),
            ('00000000-0000-0000-0000-000000000001', 'a2a_receive', 'unchanged', '{"same": true}', NULL),
            ('00000000-0000-0000-0000-000000000001', 'a2a_receive', 'unreadable', '{"n": 1}', '{"n": "\\u0000"}');
        """,
    )
    # When 007 runs, then the verbatim body is request_body and the normalised one beside it
    assert migrations.up(fresh_dsn)[0] == "007"
    assert "request_raw" not in _activity_columns(fresh_dsn)
    rows = dict(
        (summary, (body, normalized))
        for summary, body, normalized in _query(
            fresh_dsn, "SELECT summary, request_body, request_normalized FROM activity_logs"
        )
    )
    assert rows == {
        "changed": ({"parts": [{"type": "text", "text": "hi"}]}, {"parts": [{"kind": "text", "text": "hi"}]}),
        "unchanged": ({"same": True}, None),
        "unreadable": ({"n": 1}, None),
    }
    # And down restores the earlier columns and contents
    _revert_newer_than(fresh_dsn, "007")
    assert migrations.down(fresh_dsn) == "007"
    assert "request_normalized" not in _activity_columns(fresh_dsn)
    restored = dict(
        (summary, (body, raw))
        for summary, body, raw in _query(fresh_dsn, "SELECT summary, request_body, request_raw FROM activity_logs")
    )
    assert restored["changed"][0] == {"parts": [{"kind": "text", "text": "hi"}]}
    assert restored["changed"][1] is not None and '"type"' in restored["changed"][1]
    assert restored["unchanged"] == ({"same": True}, None)
