"""PostgreSQL connections for Lambda and for the local stack.

In Lambda there is one connection per execution environment, opened lazily on first use (not at
import, so a cold start that never touches the database never pays for it) and reopened after any
connection-level failure. Work runs in explicit transactions: `with transaction() as conn:` commits
on success and rolls back on error.

Connected straight to PostgreSQL, a statement a connection runs often is server-side prepared
(psycopg's threshold: from its sixth run), so its plan is made once per connection instead of on
every run — planning is most of a short statement's time on the server. Behind RDS Proxy nothing is
prepared (`prepare_threshold=None`): a prepared statement pins the client to one database
connection and the proxy could no longer multiplex. A prepared statement whose result columns a
migration changed (`SELECT *` after ADD COLUMN) fails without running; `single_statement` forgets
the connection's plans and runs it again, a transaction answers 503 (its rollback forgets them).

Where connections come from is one interface, `ConnectionSource`, chosen once per process:
`LambdaConnectionSource` (the single connection of an execution environment) unless the local
stack, which serves requests on several threads, installs a `PooledConnectionSource` (`use_pool`).
Callers only see `transaction()` and `single_statement()`.

Any connection-level error surfaces as `DatastoreUnavailable` (503 `platform_unavailable`), and the
broken connection is discarded so the next request reconnects. A connection that died while the
environment sat idle (database restart or failover, RDS Proxy's idle-client timeout) is noticed at
BEGIN, before any work has run, and replaced on the spot instead of failing one more request. The
local stack's pool pings a connection before handing it out only if it sat idle for a second or
more (`PingWhenIdle`): a request that follows another is not charged that round trip.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import set_json_dumps, set_json_loads
from pydantic_core import from_json, to_json

from molecule_core.platform import aws, snapstart
from molecule_core.platform.errors import DatastoreUnavailable
from molecule_core.platform.observability import count, logger
from molecule_core.platform.settings import get_settings

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

Connection = psycopg.Connection[DictRow]
T = TypeVar("T")

# jsonb in and out through pydantic-core's JSON (Rust) instead of the json module: ~2.5× faster
# to read, and a page of 100 activity rows carries 100 request bodies. Same values both ways.
set_json_loads(from_json)
set_json_dumps(to_json)

# psycopg's own default: a statement is prepared on its sixth run on a connection.
PREPARE_THRESHOLD = 5
# PostgreSQL's refusal to run a prepared statement whose result row type changed since it was planned.
STALE_PLAN = "cached plan must not change result type"

_dsn_override: str | None = None
_cursor_factory: type[psycopg.Cursor[Any]] | None = None


def resolve_dsn() -> str:
    """DATABASE_URL, or the RDS-style JSON secret named by DATABASE_SECRET_ARN."""
    if _dsn_override:
        return _dsn_override
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    if settings.database_secret_arn:
        secret = json.loads(aws.secret_value(settings.database_secret_arn))
        return psycopg.conninfo.make_conninfo(
            host=settings.database_host_override or secret["host"],
            port=str(secret.get("port", 5432)),
            user=secret["username"],
            password=secret["password"],
            dbname=secret.get("dbname", "postgres"),
            sslmode=secret.get("sslmode", "require"),
        )
    raise DatastoreUnavailable("no DATABASE_URL or DATABASE_SECRET_ARN configured")


def session_options() -> str:
    """Server settings every connection starts with: no statement may outlive the API's own
    deadline, and no transaction may sit idle holding locks (a function that died mid-transaction)."""
    settings = get_settings()
    options = []
    if settings.db_statement_timeout_ms:
        options.append(f"-c statement_timeout={settings.db_statement_timeout_ms}")
    if settings.db_idle_in_transaction_timeout_ms:
        options.append(f"-c idle_in_transaction_session_timeout={settings.db_idle_in_transaction_timeout_ms}")
    return " ".join(options)


def connect_kwargs() -> dict[str, Any]:
    settings = get_settings()
    kwargs: dict[str, Any] = {
        "autocommit": True,
        "prepare_threshold": None if settings.database_host_override else PREPARE_THRESHOLD,
        "row_factory": dict_row,
        "connect_timeout": settings.db_connect_timeout_seconds,
    }
    # Startup options pin a connection behind RDS Proxy: there, the role carries these settings.
    if not settings.database_host_override and (options := session_options()):
        kwargs["options"] = options
    if _cursor_factory is not None:
        kwargs["cursor_factory"] = _cursor_factory
    return kwargs


def open_connection(dsn: str | None = None) -> Connection:
    try:
        return psycopg.connect(dsn or resolve_dsn(), **connect_kwargs())
    except psycopg.OperationalError as exc:
        # The DatabaseConnectionFailures alarm watches this count (template.yaml).
        count("DatabaseConnectionFailures")
        logger.warning("database connection failed", extra={"error": str(exc)[:300]})
        raise DatastoreUnavailable(str(exc)) from exc


def _is_connection_failure(exc: BaseException, conn: Connection) -> bool:
    """The connection itself is gone (replace it), as opposed to a statement the server refused
    or cancelled (a statement or lock timeout is an OperationalError too, on a healthy connection)."""
    if conn.broken or conn.closed or isinstance(exc, psycopg.InterfaceError):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(exc, psycopg.OperationalError) and (sqlstate is None or sqlstate.startswith("08"))


def _as_unavailable(exc: BaseException) -> DatastoreUnavailable | None:
    """What a failed unit of work means for the caller: the database could not serve it (503) for a
    lost connection and for a statement it cancelled (statement or lock timeout: overload)."""
    return (
        DatastoreUnavailable(str(exc)) if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) else None
    )


class ConnectionSource(Protocol):
    """Where a unit of work gets its connection."""

    def transaction(self) -> contextlib.AbstractContextManager[Connection]: ...

    def single_statement(self, work: Callable[[Connection], T], *, idempotent: bool) -> T: ...

    def close(self) -> None: ...


class LambdaConnectionSource:
    """One connection per execution environment, opened on first use and replaced after a
    connection-level failure."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connection: Connection | None = None

    def _discard(self, conn: Connection) -> None:
        with self._lock:
            if self._connection is conn:
                self._connection = None
        with contextlib.suppress(Exception):  # closing a broken connection may raise anything
            conn.close()

    def _kept(self) -> Connection | None:
        conn = self._connection
        return conn if conn is not None and not conn.closed and not conn.broken else None

    def _connect(self) -> Connection:
        conn = self._kept()
        if conn is None:
            conn = open_connection()
            with self._lock:
                self._connection = conn
        return conn

    def _begin(self, stack: contextlib.ExitStack) -> Connection:
        """BEGIN on this environment's connection. A kept connection that died while idle fails
        here, before the caller's work has run, so it is safe to replace it once and begin again; a
        fresh connection that fails means the database really is down."""
        kept = self._kept()
        if kept is not None:
            try:
                stack.enter_context(kept.transaction())
                return kept
            except (psycopg.OperationalError, psycopg.InterfaceError):
                self._discard(kept)
        conn = self._connect()
        try:
            stack.enter_context(conn.transaction())
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self._discard(conn)
            raise DatastoreUnavailable(str(exc)) from exc
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        conn: Connection | None = None
        try:
            with contextlib.ExitStack() as stack:
                conn = self._begin(stack)
                yield conn
        except DatastoreUnavailable:
            raise
        except Exception as exc:
            if conn is not None and _is_connection_failure(exc, conn):
                self._discard(conn)
            if (unavailable := _as_unavailable(exc)) is not None:
                raise unavailable from exc
            raise

    def single_statement(self, work: Callable[[Connection], T], *, idempotent: bool) -> T:
        kept = self._kept()
        if kept is not None:
            try:
                return work(kept)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if not _is_connection_failure(exc, kept):
                    raise DatastoreUnavailable(str(exc)) from exc  # cancelled: no point in running it again
                self._discard(kept)
                if not idempotent:
                    raise DatastoreUnavailable(str(exc)) from exc
        conn = self._connect()
        try:
            return work(conn)
        except Exception as exc:
            if _is_connection_failure(exc, conn):
                self._discard(conn)
            if (unavailable := _as_unavailable(exc)) is not None:
                raise unavailable from exc
            raise

    def close(self) -> None:
        with self._lock:
            conn, self._connection = self._connection, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


# When each pooled connection was last given back by a unit of work (PooledConnectionSource).
_returned_at: weakref.WeakKeyDictionary[Connection, float] = weakref.WeakKeyDictionary()


class PingWhenIdle:
    """A pool's `check`: ping a connection (an empty query, one round trip) before handing it out
    only when it has sat in the pool for `idle_seconds` or more, or was never handed out. A
    connection that died while idle (database restart, failover) is still replaced before use; one
    in steady use is not pinged before every unit of work (on the A2A proxy that was a round trip
    before dispatch and one more before the receipt)."""

    def __init__(self, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds

    def __call__(self, conn: Connection) -> None:
        returned = _returned_at.get(conn)
        if returned is None or time.monotonic() - returned >= self.idle_seconds:
            from psycopg_pool import ConnectionPool

            ConnectionPool.check_connection(conn)


# A pooled connection back in use within this long is not pinged first (HikariCP's
# aliveBypassWindowMs is 500 ms): a request that follows another is not charged a round trip.
PING_IDLE_SECONDS = 1.0


class PooledConnectionSource:
    """The local stack's threaded server: a connection from the pool for each unit of work."""

    def __init__(self, pool: ConnectionPool[Connection]) -> None:
        self.pool = pool

    @contextmanager
    def _pooled(self) -> Iterator[Connection]:
        """Pool and connection failures → DatastoreUnavailable."""
        try:
            with self.pool.connection() as conn:
                try:
                    yield conn
                finally:
                    _returned_at[conn] = time.monotonic()
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise DatastoreUnavailable(str(exc)) from exc
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg_pool"):  # e.g. PoolTimeout: no connection to be had
                raise DatastoreUnavailable(str(exc)) from exc
            raise

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self._pooled() as conn, conn.transaction():
            yield conn

    def single_statement(self, work: Callable[[Connection], T], *, idempotent: bool) -> T:
        with self._pooled() as conn:
            return work(conn)

    def close(self) -> None:
        """The pool belongs to whoever made it (the local stack closes it)."""


_source: ConnectionSource = LambdaConnectionSource()


def _is_stale_plan(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.errors.FeatureNotSupported) and STALE_PLAN in str(exc)


@contextmanager
def transaction() -> Iterator[Connection]:
    """Run a unit of work in one transaction; connection failures become DatastoreUnavailable, and
    so does a prepared statement a migration changed under it (the rollback forgot the connection's
    plans: the client's retry is planned afresh)."""
    try:
        with _source.transaction() as conn:
            yield conn
    except psycopg.errors.FeatureNotSupported as exc:
        if not _is_stale_plan(exc):
            raise
        raise DatastoreUnavailable("a statement was planned before a schema change; retry") from exc


def _replanning(work: Callable[[Connection], T]) -> Callable[[Connection], T]:
    """`work`, run once more after forgetting the connection's prepared statements if one of them
    no longer matches its table (it failed without running, so running it again is safe)."""

    def run(conn: Connection) -> T:
        try:
            return work(conn)
        except psycopg.errors.FeatureNotSupported as exc:
            if not _is_stale_plan(exc):
                raise
            conn.execute("DEALLOCATE ALL")  # psycopg sees the command and forgets its own cache too
            return work(conn)

    return run


def single_statement(work: Callable[[Connection], T], *, idempotent: bool = True) -> T:
    """Run a unit of work that is ONE statement, without BEGIN/COMMIT: on an autocommit connection
    the statement is its own transaction, so it costs one round trip instead of three. Hot paths
    use it (auth lookup, heartbeat, register, the A2A receipt). A kept connection that died while
    idle is replaced and an idempotent statement re-run once; a non-idempotent one (an INSERT) is
    not re-run — the caller gets DatastoreUnavailable rather than a possible duplicate."""
    return _source.single_statement(_replanning(work), idempotent=idempotent)


def use_pool(pool: ConnectionPool[Connection] | None) -> None:
    """Serve connections from a pool (the local stack's threaded server) or, with None, go back
    to one connection per process."""
    global _source
    _source.close()
    _source = PooledConnectionSource(pool) if pool is not None else LambdaConnectionSource()


@contextmanager
def pooled(dsn: str, *, max_size: int = 20, ping_idle_seconds: float = PING_IDLE_SECONDS) -> Iterator[None]:
    """Serve this process from a pool for the duration of the block, then close it (threaded
    servers in tests and tools)."""
    pool = make_pool(dsn, max_size=max_size, ping_idle_seconds=ping_idle_seconds)
    use_pool(pool)
    try:
        yield
    finally:
        use_pool(None)
        pool.close()


def make_pool(
    dsn: str, *, max_size: int = 20, ping_idle_seconds: float = PING_IDLE_SECONDS
) -> ConnectionPool[Connection]:
    from psycopg_pool import ConnectionPool

    pool: ConnectionPool[Connection] = ConnectionPool(
        dsn,
        min_size=1,
        max_size=max_size,
        kwargs=connect_kwargs(),
        connection_class=psycopg.Connection[DictRow],
        open=True,
        timeout=10,
        check=PingWhenIdle(ping_idle_seconds),
    )
    return pool


def configure(*, dsn: str | None = None, cursor_factory: type[psycopg.Cursor[Any]] | None = None) -> None:
    """Point this process at a database (tests, local stack, bench) and drop the current connection."""
    global _dsn_override, _cursor_factory
    _dsn_override = dsn
    _cursor_factory = cursor_factory
    reset()


@snapstart.on_snapshot
def reset() -> None:
    """Close this environment's connection (the next unit of work opens a new one). Also run
    before a SnapStart snapshot: a connection must not be shared by every restored environment."""
    _source.close()


def ping() -> None:
    """One round trip; raises DatastoreUnavailable when the database is down."""
    single_statement(lambda conn: conn.execute("SELECT 1"))
