"""Server-side prepared statements (platform/db.py): connected straight to PostgreSQL, a statement a
connection runs often is prepared, so it is planned once per connection; behind RDS Proxy nothing is
(a prepared statement would pin the proxy's connection); a prepared statement whose result columns
a migration changed is planned afresh instead of failing for the life of the connection."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from molecule_core.platform import db
from molecule_core.platform.errors import DatastoreUnavailable

from tests.conftest import set_env

RUNS = db.PREPARE_THRESHOLD + 2


def prepared_statements(conn: db.Connection) -> list[str]:
    rows = conn.execute("SELECT statement FROM pg_prepared_statements").fetchall()
    return [row["statement"] for row in rows]


@pytest.fixture
def probe_table(database: str) -> Iterator[str]:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS prepared_probe")
        conn.execute("CREATE TABLE prepared_probe (id int PRIMARY KEY)")
        conn.execute("INSERT INTO prepared_probe VALUES (1)")
    yield database
    db.configure(dsn=database)  # a fresh connection: no plan of the dropped table is kept
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("DROP TABLE prepared_probe")


def add_column(dsn: str) -> None:
    """What a migration does while warm environments keep their connections."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE prepared_probe ADD COLUMN note text DEFAULT 'added'")


def read_probe(conn: db.Connection) -> list[dict[str, object]]:
    return conn.execute("SELECT * FROM prepared_probe ORDER BY id").fetchall()


def test_a_statement_run_often_on_a_direct_connection_is_prepared_on_the_server(probe_table: str) -> None:
    for _ in range(RUNS):
        assert db.single_statement(read_probe) == [{"id": 1}]

    statements = db.single_statement(prepared_statements)

    assert any("FROM prepared_probe" in statement for statement in statements), statements


def test_behind_rds_proxy_nothing_is_prepared(probe_table: str, platform_env: pytest.MonkeyPatch) -> None:
    set_env(platform_env, DATABASE_HOST_OVERRIDE="proxy.example.internal")  # DATABASE_URL still wins
    db.configure(dsn=probe_table)  # connections opened from here on see the setting

    for _ in range(RUNS):
        assert db.single_statement(read_probe) == [{"id": 1}]

    assert db.connect_kwargs()["prepare_threshold"] is None
    assert db.single_statement(prepared_statements) == []


def test_a_single_statement_planned_before_a_migration_is_planned_again(probe_table: str) -> None:
    for _ in range(RUNS):
        db.single_statement(read_probe)
    add_column(probe_table)

    assert db.single_statement(read_probe) == [{"id": 1, "note": "added"}]
    assert db.single_statement(read_probe) == [{"id": 1, "note": "added"}]  # and stays so


def test_a_transaction_planned_before_a_migration_answers_503_once_then_works(probe_table: str) -> None:
    for _ in range(RUNS):
        with db.transaction() as conn:
            read_probe(conn)
    add_column(probe_table)

    with pytest.raises(DatastoreUnavailable), db.transaction() as conn:
        read_probe(conn)

    with db.transaction() as conn:
        assert read_probe(conn) == [{"id": 1, "note": "added"}]


def unsupported(conn: db.Connection) -> object:
    return conn.execute("SELECT count(*) FROM pg_class FOR UPDATE")  # 0A000, as a stale plan is


def test_other_unsupported_features_are_not_mistaken_for_a_stale_plan(database: str) -> None:
    with pytest.raises(psycopg.errors.FeatureNotSupported):
        db.single_statement(unsupported)
    with pytest.raises(psycopg.errors.FeatureNotSupported), db.transaction() as conn:
        unsupported(conn)
