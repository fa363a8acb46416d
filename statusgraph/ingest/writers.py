"""The group writers: one transaction for a group of pings, on SQLite in a thread of
its own (SqliteWriter), on PostgreSQL over a connection kept for them (PostgresWriter),
with the statements compiled once per dialect and run by the driver (ingest/driver.py).
"""

import asyncio
import contextlib
import json
import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Dialect,
    Engine,
    Executable,
    PoolProxiedConnection,
    String,
    any_,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from statusgraph.db import page_versions
from statusgraph.db.models import HeartbeatPing, Monitor, MonitorStatusChange
from statusgraph.events import outbox
from statusgraph.ingest.driver import DriverStatement

if TYPE_CHECKING:
    from statusgraph.ingest.batcher import PendingPing

logger = logging.getLogger("statusgraph.heartbeats")

# The writer checkpoints the WAL itself once about this many pages were written since
# its last checkpoint: SQLite's own default for wal_autocheckpoint.
CHECKPOINT_PAGES = 1000


@dataclass(slots=True)
class MonitorState:
    """The batcher's copy of a heartbeat monitor (heartbeats.HeartbeatState)."""

    id: str
    organization_id: str
    name: str
    paused: bool
    period_seconds: int | None
    grace_seconds: int | None
    last_ping_at: datetime | None
    last_ping_kind: str | None
    last_start_at: datetime | None
    recorded_status: str
    next_deadline_at: datetime | None


MONITOR = Monitor.__table__  # type: ignore[attr-defined]
STATE_COLUMNS = [MONITOR.c[f.name] for f in fields(MonitorState)]
# What a ping changes; the monitor's id goes in as `monitor_id` (executemany by id).
UPDATED = ("last_ping_at", "last_ping_kind", "last_start_at", "recorded_status", "next_deadline_at")
UPDATE_MONITORS = update(MONITOR).where(MONITOR.c.id == bindparam("monitor_id"))
INSERT_PINGS = insert(HeartbeatPing)
INSERT_CHANGES = insert(MonitorStatusChange)


# PostgreSQL reads a group's monitors in one statement, locked, so other processes'
# pings to the same monitors wait their turn.
LOCKED_MONITORS = (
    select(*STATE_COLUMNS)
    .where(
        MONITOR.c.id == any_(bindparam("ids", type_=ARRAY(String))),
        MONITOR.c.type == "heartbeat",
    )
    # Locked in id order (PostgreSQL locks rows as the sorted result comes out), so two
    # processes' groups that share monitors wait for each other instead of deadlocking.
    .order_by(MONITOR.c.id)
    .with_for_update()
)
# SQLite's write transaction already serializes, so nothing is locked; the group's ids
# go in as one JSON array, unpacked by json_each, so that one statement (the same SQL
# whatever the group's size) reads every monitor of the group. Read one by one, a group
# spread over 32 monitors cost +46 % instructions per ping (issue #14).
_GROUP_IDS = func.json_each(bindparam("ids", type_=String)).table_valued("value")
MONITORS_BY_IDS = select(*STATE_COLUMNS).where(
    MONITOR.c.id.in_(select(_GROUP_IDS.c.value)), MONITOR.c.type == "heartbeat"
)


def _compiled_writes(dialect: Dialect) -> dict[Executable, DriverStatement]:
    return {
        UPDATE_MONITORS: DriverStatement(UPDATE_MONITORS, dialect, [*UPDATED, "updated_at"]),
        INSERT_PINGS: DriverStatement(INSERT_PINGS, dialect),
        INSERT_CHANGES: DriverStatement(INSERT_CHANGES, dialect),
        outbox.INSERT_EVENTS: DriverStatement(outbox.INSERT_EVENTS, dialect),
        page_versions.BUMP: DriverStatement(page_versions.upsert(dialect.name), dialect),
    }


Outcome = dict[str, Any] | Exception
Writes = list[tuple[Executable, list[dict[str, Any]]]]
Apply = Callable[[list["PendingPing"], Sequence[Sequence[Any]]], tuple[list[Outcome], Writes]]
# A group for SqliteWriter's thread: the loop and future to answer on, the pings, apply().
Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[list[Outcome]]", list["PendingPing"], Apply]


class SqliteWriter:
    """A group's transaction on SQLite: on one thread of its own, over one connection
    it keeps, with the statements run on the driver's cursor (ingest/driver.py). A thread,
    because the transaction may wait for SQLite's write lock (busy_timeout), and waiting
    on the event loop would stall the very requests that hold it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        dialect = engine.dialect
        self.monitors_by_ids = DriverStatement(MONITORS_BY_IDS, dialect)
        self.writes = _compiled_writes(dialect)
        # Jobs for the thread; None tells it to disconnect and end. A queue and a thread
        # of our own rather than an executor: run_in_executor() wraps each job in two
        # futures chained by callbacks, ~10 µs more per group on one core.
        self.jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None  # started by the first group
        self.connection: PoolProxiedConnection | None = None  # used on self.thread only
        self.checkpoint_pages = CHECKPOINT_PAGES
        self.unchecked_pages = 0  # WAL pages written since the last checkpoint, estimated
        self.checkpoints = 0

    async def commit(self, group: list["PendingPing"], apply: Apply) -> list[Outcome]:
        loop = asyncio.get_running_loop()
        if self.thread is None:
            self.thread = threading.Thread(target=self._serve, name="heartbeat-writer", daemon=True)
            self.thread.start()
        done: asyncio.Future[list[Outcome]] = loop.create_future()
        self.jobs.put((loop, done, group, apply))
        return await done

    def _serve(self) -> None:
        _yield_on_wakeup()
        while (job := self.jobs.get()) is not None:
            loop, done, group, apply = job
            result: list[Outcome] | Exception
            try:
                result = self._transaction(group, apply)
            except Exception as error:
                result = error
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, done, result)
            if not isinstance(result, Exception):
                # ~5 pages a transaction (the ping table, its two indexes, the monitor
                # and its deadline index), and one more per ~3 pings as pages fill.
                self.unchecked_pages += 5 + len(group) // 3
                if self.unchecked_pages >= self.checkpoint_pages:
                    self._checkpoint()
        self._disconnect()

    def _checkpoint(self) -> None:
        """Copies the WAL into the database, after the group that filled it was answered.
        SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold,
        and its two fsyncs held that group's answers for 1-3 ms while the event loop,
        every connection waiting on that commit, sat idle (~1.5 % of pings a second at
        16 connections). The writer's connection turns it off (_connect); every other
        connection keeps it."""
        self.unchecked_pages = 0
        if self.connection is None:
            return
        cursor = self.connection.cursor()
        try:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except Exception:  # nothing is lost: the next checkpoint copies the same pages
            logger.warning("WAL checkpoint after a group of pings failed", exc_info=True)
        finally:
            cursor.close()

    def _transaction(self, group: list["PendingPing"], apply: Apply) -> list[Outcome]:
        if self.connection is None:
            self.connection = self._connect()
        cursor = self.connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")  # the write lock up front, as engine.py does
            ids = json.dumps(list({ping.monitor_id for ping in group}))
            found = self.monitors_by_ids.fetchall(cursor, {"ids": ids})
            outcomes, writes = apply(group, found)
            for statement, rows in writes:
                self.writes[statement].executemany(cursor, rows)
            self.connection.commit()
        except Exception:
            with contextlib.suppress(Exception):
                self._disconnect()  # the pool rolls back whatever was left open
            raise
        finally:
            cursor.close()
        return outcomes

    def _connect(self) -> PoolProxiedConnection:
        connection = self.engine.raw_connection()
        # Every ping's monitor is read in the same write transaction before its row is
        # inserted, so SQLite's own check of heartbeat_ping.monitor_id cannot fail here;
        # it cost ~1 µs a ping (6 % of this thread's work). This connection only inserts
        # pings and updates monitors, and deletes nothing, so no cascade is skipped; every
        # other connection keeps foreign_keys=ON.
        cursor = connection.cursor()
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.execute("PRAGMA wal_autocheckpoint=0")  # _checkpoint() instead
        cursor.close()
        return connection

    def _disconnect(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    async def close(self) -> None:
        if self.thread is None:
            return
        self.jobs.put(None)  # after any group still queued
        await asyncio.to_thread(self.thread.join)
        self.thread = None


def _yield_on_wakeup() -> None:
    """Puts the calling thread under SCHED_BATCH where there is one (Linux): a thread
    that the event loop wakes then no longer takes the CPU from it on the spot. Only
    one thread at a time holds the GIL, so a writer woken by a new group (or by the loop
    letting go of the GIL) only ran until it had to wait for the GIL, and the loop
    waited in turn: ~7 context switches per group, ~8 % of a ping's CPU with both
    threads on one core. Under SCHED_BATCH the writer runs when the loop waits
    (as it does once every ping in flight waits for the commit) or at the next tick.
    It keeps its full share of the CPU: only the preemption on wakeup goes."""
    if hasattr(os, "SCHED_BATCH"):
        with contextlib.suppress(OSError):  # a sandbox may refuse it: only speed is lost
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


def _settle(done: asyncio.Future[list[Outcome]], result: list[Outcome] | Exception) -> None:
    """On the event loop: hands a group's outcome to the batcher, if it still waits."""
    if done.cancelled():
        return
    if isinstance(result, Exception):
        done.set_exception(result)
    else:
        done.set_result(result)


class PostgresWriter:
    """A group's transaction on PostgreSQL, over one asyncpg connection it keeps (no
    pool checkout and pre-ping per group), with the statements run by asyncpg itself
    (ingest/driver.py): SQLAlchemy's async layer switched greenlets on every statement and
    cost more CPU than the rest of a ping."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.locked_monitors = DriverStatement(LOCKED_MONITORS, engine.dialect)
        self.writes = _compiled_writes(engine.dialect)
        self.connection: AsyncConnection | None = None
        self.driver: Any = None  # the asyncpg connection under self.connection

    async def commit(self, group: list["PendingPing"], apply: Apply) -> list[Outcome]:
        if self.driver is not None and self.driver.is_closed():  # the server went away
            await self.close()
        if self.driver is None:
            self.connection = await self.engine.connect()
            self.driver = (await self.connection.get_raw_connection()).driver_connection
        driver, read = self.driver, self.locked_monitors
        try:
            async with driver.transaction():
                ids = {"ids": list({ping.monitor_id for ping in group})}
                found = [
                    read.read(row) for row in await driver.fetch(read.sql, *read.parameters(ids))
                ]
                outcomes, writes = apply(group, found)
                for statement, rows in writes:
                    write = self.writes[statement]
                    await driver.executemany(write.sql, [write.parameters(row) for row in rows])
        except Exception:
            # Whatever went wrong, the next group starts on a new connection.
            with contextlib.suppress(Exception):
                await self.close()
            raise
        return outcomes

    async def close(self) -> None:
        if self.connection is not None:
            connection, self.connection, self.driver = self.connection, None, None
            await connection.close()


GroupWriter = SqliteWriter | PostgresWriter


def group_writer(engine: AsyncEngine, sqlite_writer: Engine | None) -> GroupWriter:
    """SQLite's writer when there is one (db.engine.create_sqlite_writer), else PostgreSQL's."""
    return SqliteWriter(sqlite_writer) if sqlite_writer is not None else PostgresWriter(engine)
