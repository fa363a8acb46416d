"""Async engine and session factory for SQLite (aiosqlite) or PostgreSQL (asyncpg)."""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

# Imported for its session listeners: every commit raises the page versions it changed.
from statusgraph.db import page_versions  # noqa: F401

WRITE_OPTION = "statusgraph_write"
SQLITE_PRAGMAS = (
    # Readers keep working while one writer commits.
    "journal_mode=WAL",
    # Wait for the writer lock instead of failing at once with "database is locked".
    "busy_timeout=5000",
    # SQLite ignores REFERENCES unless told otherwise, per connection.
    "foreign_keys=ON",
    # In WAL mode NORMAL is still durable against application crashes; it only risks
    # the last commits on power loss, and saves an fsync per commit.
    "synchronous=NORMAL",
)


def _configure_sqlite(sync_engine: Engine) -> None:
    @event.listens_for(sync_engine, "connect")
    def _set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()
        # The sqlite3 driver's own transaction handling delays BEGIN until the first
        # write and so breaks SAVEPOINT; we emit BEGIN ourselves (SQLAlchemy's recipe).
        dbapi_connection.isolation_level = None

    @event.listens_for(sync_engine, "begin")
    def _begin(connection: Any) -> None:
        # Write transactions take the write lock up front (waiting up to busy_timeout).
        # A deferred one that reads, then writes after another writer committed, fails
        # at once with "database is locked": its snapshot is stale.
        immediate = connection.get_execution_options().get(WRITE_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _sqlite_path(url: str) -> bool:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return False
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return True


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if not _sqlite_path(url):
        return create_async_engine(url, pool_pre_ping=True, **kwargs)
    engine = create_async_engine(url, **kwargs)
    _configure_sqlite(engine.sync_engine)
    return engine


def create_sqlite_writer(url: str) -> Engine | None:
    """A synchronous engine for hot write paths on SQLite, used from one worker thread.

    aiosqlite sends every statement to its thread and back, ~0.3-0.5 ms a round trip
    here; a transaction of five statements run entirely inside one thread costs one.
    None for other databases (asyncpg has no such hop).
    """
    if not _sqlite_path(url):
        return None
    engine = sa_create_engine(make_url(url).set(drivername="sqlite"), pool_size=1, max_overflow=0)
    _configure_sqlite(engine)
    return engine.execution_options(**{WRITE_OPTION: True})


class SessionFactory(async_sessionmaker[AsyncSession]):
    """`db()` opens a read session; `db.begin()` a write transaction (IMMEDIATE on SQLite).

    `generation` counts the write transactions this process committed, so caches of
    derived data (schema/response_cache.py) know when they may be stale.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        # expire_on_commit=False: reading a row after commit must not trigger a lazy load.
        super().__init__(engine, class_=AsyncSession, expire_on_commit=False)
        self.writer = async_sessionmaker(
            engine.execution_options(**{WRITE_OPTION: True}),
            class_=AsyncSession,
            expire_on_commit=False,
        )
        self.generation = 0

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncSession]:  # type: ignore[override]
        async with self.writer.begin() as session:
            yield session
        self.generation += 1  # only reached once the commit succeeded


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return SessionFactory(engine)
