"""PostgreSQL connections for Lambda and for the local stack.

In Lambda there is one connection per execution environment, opened lazily on first use (not at
import, so a cold start that never touches the database never pays for it) and reopened after any
connection-level failure. Statements are never server-side prepared (`prepare_threshold=None`) so
RDS Proxy can multiplex the connection. Work runs in explicit transactions: `with transaction() as
conn:` commits on success and rolls back on error.

The local stack serves requests on several threads, so it installs a pool instead
(`use_pool`); callers do not know the difference.

Any connection-level error surfaces as `DatastoreUnavailable` (503 `platform_unavailable`), and the
broken connection is discarded so the next request reconnects. A connection that died while the
environment sat idle (database restart or failover, RDS Proxy's idle-client timeout) is noticed at
BEGIN, before any work has run, and replaced on the spot instead of failing one more request.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from psycopg.rows import DictRow, dict_row

from molecule_core.errors import DatastoreUnavailable
from molecule_core.settings import get_settings

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

Connection = psycopg.Connection[DictRow]
T = TypeVar("T")

_lock = threading.Lock()
_connection: Connection | None = None
_pool: ConnectionPool[Connection] | None = None
_cursor_factory: type[psycopg.Cursor[Any]] | None = None
_dsn_override: str | None = None


def resolve_dsn() -> str:
    """DATABASE_URL, or the RDS-style JSON secret named by DATABASE_SECRET_ARN."""
    if _dsn_override:
        return _dsn_override
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    if settings.database_secret_arn:
        from aws_lambda_powertools.utilities import parameters  # boto3 only on this path

        secret = json.loads(str(parameters.get_secret(settings.database_secret_arn, max_age=300)))
        return psycopg.conninfo.make_conninfo(
            host=secret["host"],
            port=str(secret.get("port", 5432)),
            user=secret["username"],
            password=secret["password"],
            dbname=secret.get("dbname", "postgres"),
            sslmode=secret.get("sslmode", "require"),
        )
    raise DatastoreUnavailable("no DATABASE_URL or DATABASE_SECRET_ARN configured")


def connect_kwargs() -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "autocommit": True,
        "prepare_threshold": None,
        "row_factory": dict_row,
        "connect_timeout": get_settings().db_connect_timeout_seconds,
    }
    if _cursor_factory is not None:
        kwargs["cursor_factory"] = _cursor_factory
    return kwargs


def open_connection(dsn: str | None = None) -> Connection:
    try:
        return psycopg.connect(dsn or resolve_dsn(), **connect_kwargs())
    except psycopg.OperationalError as exc:
        raise DatastoreUnavailable(str(exc)) from exc


def _discard_connection(conn: Connection) -> None:
    global _connection
    with _lock:
        if _connection is conn:
            _connection = None
    with contextlib.suppress(Exception):  # closing a broken connection may raise anything
        conn.close()


def _lambda_connection() -> Connection:
    global _connection
    conn = _connection
    if conn is None or conn.closed or conn.broken:
        conn = open_connection()
        with _lock:
            _connection = conn
    return conn


def _is_connection_failure(exc: BaseException, conn: Connection) -> bool:
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) or conn.broken


def _begin_lambda_transaction(stack: contextlib.ExitStack) -> Connection:
    """BEGIN on this environment's connection. A kept connection that died while idle fails here,
    before the caller's work has run, so it is safe to replace it once and begin again; a fresh
    connection that fails means the database really is down."""
    kept = _connection
    if kept is not None and not kept.closed and not kept.broken:
        try:
            stack.enter_context(kept.transaction())
            return kept
        except (psycopg.OperationalError, psycopg.InterfaceError):
            _discard_connection(kept)
    conn = _lambda_connection()
    try:
        stack.enter_context(conn.transaction())
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        _discard_connection(conn)
        raise DatastoreUnavailable(str(exc)) from exc
    return conn


@contextmanager
def _pooled() -> Iterator[Connection]:
    """A connection from the local stack's pool; pool and connection failures → DatastoreUnavailable."""
    assert _pool is not None
    try:
        with _pool.connection() as conn:
            yield conn
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raise DatastoreUnavailable(str(exc)) from exc
    except Exception as exc:
        if type(exc).__module__.startswith("psycopg_pool"):  # e.g. PoolTimeout: no connection to be had
            raise DatastoreUnavailable(str(exc)) from exc
        raise


@contextmanager
def transaction() -> Iterator[Connection]:
    """Run a unit of work in one transaction; connection failures become DatastoreUnavailable."""
    if _pool is not None:
        with _pooled() as conn, conn.transaction():
            yield conn
        return
    lambda_conn: Connection | None = None
    try:
        with contextlib.ExitStack() as stack:
            lambda_conn = _begin_lambda_transaction(stack)
            yield lambda_conn
    except DatastoreUnavailable:
        raise
    except Exception as exc:
        if lambda_conn is not None and _is_connection_failure(exc, lambda_conn):
            _discard_connection(lambda_conn)
            raise DatastoreUnavailable(str(exc)) from exc
        raise


def single_statement(work: Callable[[Connection], T], *, idempotent: bool = True) -> T:
    """Run a unit of work that is ONE statement, without BEGIN/COMMIT: on an autocommit connection
    the statement is its own transaction, so it costs one round trip instead of three. Hot paths
    use it (auth lookup, heartbeat, register, the A2A receipt). A kept connection that died while
    idle is replaced and an idempotent statement re-run once; a non-idempotent one (an INSERT) is
    not re-run — the caller gets DatastoreUnavailable rather than a possible duplicate."""
    if _pool is not None:
        with _pooled() as conn:
            return work(conn)
    kept = _connection
    if kept is not None and not kept.closed and not kept.broken:
        try:
            return work(kept)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            _discard_connection(kept)
            if not idempotent:
                raise DatastoreUnavailable(str(exc)) from exc
    conn = _lambda_connection()
    try:
        return work(conn)
    except Exception as exc:
        if _is_connection_failure(exc, conn):
            _discard_connection(conn)
            raise DatastoreUnavailable(str(exc)) from exc
        raise


def use_pool(pool: ConnectionPool[Connection] | None) -> None:
    """Serve connections from a pool (the local stack's threaded server) or, with None, go back
    to one connection per process."""
    global _pool
    _pool = pool


def make_pool(dsn: str, *, max_size: int = 20) -> ConnectionPool[Connection]:
    from psycopg_pool import ConnectionPool

    pool: ConnectionPool[Connection] = ConnectionPool(
        dsn,
        min_size=1,
        max_size=max_size,
        kwargs=connect_kwargs(),
        connection_class=psycopg.Connection[DictRow],
        open=True,
        timeout=10,
        check=ConnectionPool.check_connection,
    )
    return pool


def configure(*, dsn: str | None = None, cursor_factory: type[psycopg.Cursor[Any]] | None = None) -> None:
    """Point this process at a database (tests, local stack, bench) and drop the current connection."""
    global _dsn_override, _cursor_factory
    _dsn_override = dsn
    _cursor_factory = cursor_factory
    reset()


def reset() -> None:
    global _connection
    with _lock:
        conn, _connection = _connection, None
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()


def ping() -> None:
    """One round trip; raises DatastoreUnavailable when the database is down."""
    with transaction() as conn:
        conn.execute("SELECT 1")
