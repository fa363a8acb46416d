"""Group commit for heartbeat pings.

Pings that arrive while a transaction is committing wait for the next one, and that
one carries them all: one BEGIN, one locked read of the monitors, one UPDATE per
monitor touched, one INSERT of the group's pings run by the driver's executemany (and
of transitions), one COMMIT for the whole group. Each caller is answered only after
the commit that holds its ping, so a 2xx still means the ping is durable. Under load
the groups grow by themselves; a lone ping is committed at once.

The statements are SQLAlchemy Core on plain rows, not ORM objects: the ORM's identity
map and unit of work cost more than the rest of a ping together. They are compiled once
per dialect and run by the driver itself (ingest/driver.py), on SQLite in a thread of
their own (SqliteWriter), on PostgreSQL over a connection kept for them
(PostgresWriter).
"""

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from statusgraph.db import page_versions
from statusgraph.errors import ConflictError, NotFoundError
from statusgraph.events import outbox
from statusgraph.ids import new_ordered_ids
from statusgraph.ingest.writers import (
    INSERT_CHANGES,
    INSERT_PINGS,
    UPDATE_MONITORS,
    UPDATED,
    GroupWriter,
    MonitorState,
    Outcome,
    Writes,
)
from statusgraph.resolvers import heartbeats

logger = logging.getLogger("statusgraph.heartbeats")

MAX_GROUP = 500


@dataclass(slots=True)
class PendingPing:
    organization_id: str
    monitor_id: str
    kind: heartbeats.PingKind
    message: str | None
    duration_ms: int | None
    ip: str | None
    now: datetime
    answer: asyncio.Future[dict[str, Any]]


Describe = Callable[[MonitorState, heartbeats.Derived], dict[str, Any]]


class PingBatcher:
    def __init__(self, writer: GroupWriter, describe: Describe) -> None:
        self.writer = writer
        self.describe = describe
        self.pending: list[PendingPing] = []
        self.commits = 0  # transactions committed, for tests and a glance at group sizes
        self.worker: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the worker's, set with it

    def submit(
        self,
        *,
        organization_id: str,
        monitor_id: str,
        kind: heartbeats.PingKind,
        message: str | None,
        duration_ms: int | None,
        ip: str | None,
        now: datetime,
    ) -> asyncio.Future[dict[str, Any]]:
        """Queue a ping; the future gets describe()'s answer once the ping is committed.
        (A plain method returning the future, not a coroutine: one frame less on every
        ping, there and back.)"""
        # The worker drains `pending` until it is empty, then ends; on one event loop
        # it cannot end between this check and our append (its first step runs later).
        loop = self.loop
        if loop is None or self.worker is None or self.worker.done():
            # The loop is looked up once per worker, not per ping: on Python 3.11
            # get_running_loop() makes a getpid() system call every time.
            self.loop = loop = asyncio.get_running_loop()
            # A context of its own: it serves every request's pings, so it must not keep
            # the request id (logs.current_request_id) of the one that happened to start it.
            self.worker = loop.create_task(self._run(), context=contextvars.Context())
        answer: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.pending.append(
            PendingPing(organization_id, monitor_id, kind, message, duration_ms, ip, now, answer)
        )
        # A caller that goes away (client disconnect) cancels `answer`; the worker skips it.
        return answer

    async def _run(self) -> None:
        while self.pending:
            # Two turns of the event loop before taking a group: in the first, the
            # requests that arrived in the same poll are read and their tasks created; in
            # the second, those tasks run up to submit(). Without them a commit starts on
            # the first ping and the rest wait a whole commit for the next: groups of 8 at
            # 16 connections instead of 16, and 20 % fewer pings a second.
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            group, self.pending = self.pending[:MAX_GROUP], self.pending[MAX_GROUP:]
            try:
                outcomes = await self.writer.commit(group, self._apply)
                self.commits += 1
            except Exception as error:  # the whole transaction failed: nobody's ping is stored
                for ping in group:
                    if not ping.answer.done():
                        ping.answer.set_exception(error)
                continue
            for ping, outcome in zip(group, outcomes, strict=True):
                if ping.answer.done():
                    continue
                if isinstance(outcome, Exception):
                    ping.answer.set_exception(outcome)
                else:
                    ping.answer.set_result(outcome)

    def _apply(
        self, group: list[PendingPing], found: Sequence[Sequence[Any]]
    ) -> tuple[list[Outcome], Writes]:
        """Each ping's outcome, and the statements that store the pings that succeeded."""
        states = (MonitorState(*row) for row in found)  # columns in field order
        monitors = {monitor.id: monitor for monitor in states}
        ping_ids = iter(new_ordered_ids("png", len(group)))
        outcomes: list[Outcome] = []
        pings: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []  # transitions worth telling (events/outbox.py)
        touched: dict[str, datetime] = {}  # monitor id -> time of its latest ping
        for ping in group:
            monitor = monitors.get(ping.monitor_id)
            if monitor is None or monitor.organization_id != ping.organization_id:
                outcomes.append(NotFoundError.of("Monitor"))
                continue
            if monitor.paused:
                outcomes.append(ConflictError("Monitor is paused"))
                continue
            derived, row, change = heartbeats.apply_ping(
                monitor,
                ping_id=next(ping_ids),
                kind=ping.kind,
                message=ping.message,
                duration_ms=ping.duration_ms,
                ip=ping.ip,
                now=ping.now,
            )
            pings.append(row)
            if change is not None:
                changes.append(change)
                event = outbox.transition_row(
                    monitor.organization_id,
                    monitor_id=monitor.id,
                    from_status=change["from_status"],
                    to_status=change["to_status"],
                    reason=change["reason"],
                    at=change["created_at"],
                )
                if event is not None:
                    events.append(event)
            touched[monitor.id] = ping.now
            outcomes.append(self.describe(monitor, derived))
        writes: Writes = []
        if touched:
            rows = [_monitor_update(monitors[id_], now) for id_, now in touched.items()]
            writes.append((UPDATE_MONITORS, rows))
            writes.append((INSERT_PINGS, pings))
        if changes:
            writes.append((INSERT_CHANGES, changes))
            # A transition changes the bars of the pages showing the monitor: their
            # counters rise in this transaction, in organization order (page_versions.py).
            changed = sorted({monitors[c["monitor_id"]].organization_id for c in changes})
            writes.append((page_versions.BUMP, [{"organization_id": o} for o in changed]))
        if events:
            writes.append((outbox.INSERT_EVENTS, events))
        return outcomes, writes

    async def close(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.worker
        await self.writer.close()


def _monitor_update(monitor: MonitorState, now: datetime) -> dict[str, Any]:
    row = {name: getattr(monitor, name) for name in UPDATED}
    row["monitor_id"] = monitor.id
    row["updated_at"] = now
    return row
