"""Group commit for heartbeat pings.

Pings that arrive while a transaction is committing wait for the next one, and that
one carries them all: one BEGIN, one locked read of the monitors, one multi-row
insert, one COMMIT for the whole group. Each caller is answered only after the commit
that holds its ping, so a 2xx still means the ping is durable. Under load the groups
grow by themselves; a lone ping is committed at once.
"""

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert
from sqlmodel import Session, col, select

from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import HeartbeatPing, Monitor
from statusgraph.errors import ConflictError, NotFoundError
from statusgraph.resolvers import heartbeats

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
    answer: asyncio.Future[dict[str, Any]] = field(repr=False)


Describe = Callable[[Monitor, heartbeats.Derived], dict[str, Any]]


def _locked_monitors(group: list[PendingPing]) -> Any:
    # Locked, so other processes' pings to the same monitors wait their turn
    # (PostgreSQL; SQLite's write transaction already serializes).
    ids = {ping.monitor_id for ping in group}
    return (
        select(Monitor)
        .where(col(Monitor.id).in_(ids), Monitor.type == "heartbeat")
        .with_for_update()
    )


class PingBatcher:
    def __init__(
        self, db: SessionFactory, describe: Describe, sqlite_writer: Engine | None = None
    ) -> None:
        self.db = db
        self.sqlite_writer = sqlite_writer
        self.describe = describe
        self.queue: asyncio.Queue[PendingPing] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None

    async def submit(self, **ping: Any) -> dict[str, Any]:
        """Queue a ping and wait until it is committed; returns describe()'s answer."""
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(PendingPing(answer=answer, **ping))
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self._run())
        return await asyncio.shield(answer)

    async def _run(self) -> None:
        while True:
            group = [await self.queue.get()]
            while not self.queue.empty() and len(group) < MAX_GROUP:
                group.append(self.queue.get_nowait())
            try:
                outcomes = await self._commit(group)
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

    async def _commit(self, group: list[PendingPing]) -> list[dict[str, Any] | Exception]:
        if self.sqlite_writer is not None:
            # The whole transaction in one worker thread: one hop instead of five.
            return await asyncio.to_thread(self._commit_in_thread, group)
        async with self.db.begin() as session:
            rows = await session.exec(_locked_monitors(group))
            outcomes, pings = self._apply(group, rows.all(), session)
            await heartbeats.insert_pings(session, pings)
        return outcomes

    def _commit_in_thread(self, group: list[PendingPing]) -> list[dict[str, Any] | Exception]:
        assert self.sqlite_writer is not None
        with Session(self.sqlite_writer, expire_on_commit=False) as session, session.begin():
            rows = session.exec(_locked_monitors(group))
            outcomes, pings = self._apply(group, rows.all(), session)
            if pings:
                session.connection().execute(insert(HeartbeatPing), pings)
        return outcomes

    def _apply(
        self, group: list[PendingPing], found: Sequence[Monitor], session: Any
    ) -> tuple[list[dict[str, Any] | Exception], list[dict[str, Any]]]:
        monitors = {monitor.id: monitor for monitor in found}
        outcomes: list[dict[str, Any] | Exception] = []
        pings: list[dict[str, Any]] = []
        for ping in group:
            monitor = monitors.get(ping.monitor_id)
            if monitor is None or monitor.organization_id != ping.organization_id:
                outcomes.append(NotFoundError.of("Monitor"))
                continue
            if monitor.paused:
                outcomes.append(ConflictError("Monitor is paused"))
                continue
            derived = heartbeats.record_ping(
                session,
                monitor,
                kind=ping.kind,
                message=ping.message,
                duration_ms=ping.duration_ms,
                ip=ping.ip,
                now=ping.now,
                pings=pings,
            )
            outcomes.append(self.describe(monitor, derived))
        return outcomes, pings

    async def close(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.worker
