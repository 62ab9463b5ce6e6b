"""Database setup for SQLite (default) and PostgreSQL (asyncpg), and dialect-neutral upserts."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import aiosqlite.context
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

_T = TypeVar("_T")
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# aiosqlite logs every call at DEBUG with its arguments, i.e. the bound values of every statement.
_DRIVER_LOGGERS_WITH_VALUES = ("aiosqlite",)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# PostgreSQL connections one engine keeps (``DATABASE_POOL_SIZE`` for the bot); opened only when needed.
DEFAULT_POOL_SIZE = 20


def create_engine(url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> AsyncEngine:
    """An engine tuned per backend.

    Bound values are never logged (``hide_parameters``): with LOG_LEVEL=DEBUG the statements show, but not
    the OA tokens or phone numbers that go with them.

    SQLite: WAL (readers do not block the writer), foreign keys on, ``BEGIN IMMEDIATE`` so that a
    transaction takes the write lock up front instead of failing when it upgrades a read lock, and statements
    run on the event loop's thread (``_InlineCursor``), waiting for the write lock without blocking the loop.
    """
    _quiet_driver_logs()
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, connect_args={"timeout": 30, "async_creator_fn": _inline_connect}, hide_parameters=True
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=0")  # waits for the write lock are awaited (_inline)
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # A ``search_path`` query option (…/ocop?search_path=bot) keeps our tables in their own schema.
    parsed = make_url(url)
    connect_args: dict[str, Any] = {}
    search_path = parsed.query.get("search_path")
    if search_path:
        parsed = parsed.difference_update_query(["search_path"])
        connect_args["server_settings"] = {"search_path": str(search_path)}
    # A fixed pool, no overflow: under load an overflow connection is opened for one update and closed when it
    # comes back to a full pool, so a busy bot kept connecting (TLS attempt, startup, type introspection) and
    # preparing its statements again on each new connection. An update that finds every connection busy waits
    # for one (``pool_timeout``), which costs nothing while the CPU is the limit anyway.
    engine = create_async_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=0,
        connect_args=connect_args,
        hide_parameters=True,
    )
    _ping_when_idle(engine)
    return engine


# A connection back in the pool for longer than this is pinged before use; one in use moments ago is not.
PING_AFTER_IDLE_SECONDS = 2.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """``pool_pre_ping``, for connections that sat idle: under load every update would otherwise pay a round
    trip for the ping. A connection that went bad within the last seconds (a restart right now) fails on its
    first statement instead; that error invalidates the whole pool and the engine runs the update again on a
    fresh connection (``bot.resilience``)."""
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("checked_in", 0.0) < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            if dialect.is_disconnect(error, dbapi_connection, None):  # type: ignore[arg-type]
                raise DisconnectionError from error  # the pool drops it and takes (or opens) another
            raise


# How long a statement waits for another connection's write lock (SQLite's own busy timeout, now awaited).
SQLITE_BUSY_SECONDS = 30.0


class _InlineCursor(aiosqlite.Cursor):
    """A statement run right here on the event loop's thread, all its rows fetched at once.

    aiosqlite sends every cursor call to the connection's own thread (create, execute, fetch, close: four
    trips per statement); each trip waits for the OS to schedule that thread and hands the GIL over and back,
    which on a busy machine costs milliseconds, far more than the statement (microseconds on a WAL database).
    Waiting for another connection's write lock is the one slow part, and it is awaited, not slept in SQLite
    (``_inline``), so the loop keeps running while it lasts.
    """

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._conn = connection
        self.iter_chunk_size = connection._iter_chunk_size
        self._rows: list[Any] = []
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> aiosqlite.Cursor:
        done = await _inline(_run, self._conn._conn, sql, parameters or (), False)
        self._rows, self._description, self._rowcount, self._lastrowid = done
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> aiosqlite.Cursor:
        done = await _inline(_run, self._conn._conn, sql, parameters, True)
        self._rows, self._description, self._rowcount, self._lastrowid = done
        return self

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = self.iter_chunk_size if size is None else size
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def close(self) -> None:
        self._rows = []

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._lastrowid

    @property
    def description(self) -> Any:
        return self._description


def _run(connection: sqlite3.Connection, sql: str, parameters: Any, many: bool) -> tuple[Any, ...]:
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return rows, cursor.description, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


async def _inline(function: Callable[..., _T], *args: Any) -> _T:
    """``function`` now; when another connection holds the write lock, again after a short await."""
    delay = 0.001
    deadline: float | None = None
    while True:
        try:
            return function(*args)
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            now = time.monotonic()
            deadline = deadline if deadline is not None else now + SQLITE_BUSY_SECONDS
            if now >= deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)


class _InlineConnection(aiosqlite.Connection):
    """aiosqlite's connection (its thread still opens and closes it) whose statements run inline."""

    @aiosqlite.context.contextmanager
    async def cursor(self) -> aiosqlite.Cursor:
        return _InlineCursor(self)

    async def commit(self) -> None:
        await _inline(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()


def _inline_connect(database: str, **kwargs: Any) -> aiosqlite.Connection:
    """What ``aiosqlite.connect`` does, for a connection whose statements run on the event loop's thread.
    No busy timeout inside SQLite: it would block the loop while another connection holds the lock."""
    kwargs.update(check_same_thread=False, timeout=0)

    def connector() -> sqlite3.Connection:
        opened: sqlite3.Connection = sqlite3.connect(database, **kwargs)
        return opened

    connection = _InlineConnection(connector, 64)
    connection._thread.daemon = True  # as SQLAlchemy's own aiosqlite connect does: exit never waits for it
    return connection


def _quiet_driver_logs() -> None:
    """Keep the drivers' own DEBUG lines (which carry the bound values) out of a DEBUG log."""
    for name in _DRIVER_LOGGERS_WITH_VALUES:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.INFO:
            logger.setLevel(logging.INFO)


_DISCONNECT_WORDS = (
    "connection was closed",
    "connection is closed",
    "terminating connection",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "cannot connect now",
    "connection refused",
    "connect call failed",
    "server closed the connection",
)


def is_disconnect(error: BaseException) -> bool:
    """The database went away (restart, failover, network), as opposed to a statement that failed: worth
    waiting for and trying again. Looks through the chain of causes (SQLAlchemy wraps the driver's error)."""
    seen: BaseException | None = error
    for _depth in range(5):
        if seen is None:
            return False
        if isinstance(seen, ConnectionError | OSError):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        message = str(seen).casefold()
        if any(words in message for words in _DISCONNECT_WORDS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def detached_sessions(session: AsyncSession) -> async_sessionmaker[AsyncSession]:
    """Sessions on connections of their own, for work that outlives the update that started it (a file built
    in the background): the update's own connection is busy with its transaction."""
    bind = session.bind
    engine = bind.engine if isinstance(bind, AsyncConnection) else bind
    assert isinstance(engine, AsyncEngine)
    return session_factory(engine)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration."""
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))


def insert_ignore(table: Table, values: Mapping[str, Any] | list[dict[str, Any]], dialect: str) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` on either backend."""
    if dialect == "postgresql":
        return postgresql.insert(table).values(values).on_conflict_do_nothing()
    return sqlite.insert(table).values(values).on_conflict_do_nothing()


def dialect_of(session: AsyncSession) -> str:
    """ "sqlite" or "postgresql": the few statements that differ (upserts, locks) ask this."""
    return session.get_bind().dialect.name
