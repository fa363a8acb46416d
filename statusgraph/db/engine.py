"""Async engine and session factory for SQLite (aiosqlite) or PostgreSQL (asyncpg)."""

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

SessionFactory = async_sessionmaker[AsyncSession]

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

    return engine


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    # expire_on_commit=False: reading a row after commit must not trigger a lazy load.
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
