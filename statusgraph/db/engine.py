"""Async engine and session factory for SQLite (aiosqlite) or PostgreSQL (asyncpg)."""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

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


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()
        # The sqlite3 driver's own transaction handling delays BEGIN until the first
        # write and so breaks SAVEPOINT; we emit BEGIN ourselves (SQLAlchemy's recipe).
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        # Write transactions take the write lock up front (waiting up to busy_timeout).
        # A deferred one that reads, then writes after another writer committed, fails
        # at once with "database is locked": its snapshot is stale.
        immediate = connection.get_execution_options().get(WRITE_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


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
