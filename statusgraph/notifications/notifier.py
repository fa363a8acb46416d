"""The notifier: runs all along in every process that runs the jobs (a Service of
jobs/runner.py), like the checker.

Three tasks. The dispatcher turns new events into deliveries every `poll_seconds`
(dispatcher.py). The claimer keeps up to `concurrency` deliveries in flight, claiming
more when half the slots are free, each sent on a task of its own so that one slow
receiver never holds up the others. The writer records finished attempts in batches
(deliveries.record), off the senders' path, every WRITE_SECONDS. `stop()` stops claiming,
lets sends in flight finish within the grace period, writes what finished, and gives
the rest of its claims back.

The dispatcher also publishes every event it dispatched to the live event bus
(events/bus.py), after its transaction commits; with a bus, it looks for new events
every LIVE_POLL_SECONDS at most, so that a subscriber hears of a change within a fraction
of a second (the look is a read of an index of undispatched events: cheap).
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from statusgraph.auth.sealed import Sealer
from statusgraph.auth.subscriber_tokens import SubscriberTokens
from statusgraph.clock import Clock, utcnow
from statusgraph.db.engine import SessionFactory
from statusgraph.events.bus import Bus, BusEvent
from statusgraph.notifications import deliveries, dispatcher
from statusgraph.notifications.deliveries import Claimed, Sent
from statusgraph.notifications.integrations import Outgoing, kinds
from statusgraph.notifications.transport import Attempt, Transport

logger = logging.getLogger("statusgraph.notifications")

WRITE_SECONDS = 0.1
FAN_OUT_BATCH = 500
LIVE_POLL_SECONDS = 0.1


class Notifier:
    def __init__(
        self,
        db: SessionFactory,
        transport: Transport,
        sealer: Sealer,
        tokens: SubscriberTokens,
        *,
        concurrency: int = 200,
        poll_seconds: float = 0.25,
        clock: Clock = utcnow,
        bus: Bus | None = None,
        owns_bus: bool = False,
    ) -> None:
        self.db = db
        self.transport = transport
        self.sealer = sealer
        self.tokens = tokens
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.bus = bus
        self.owns_bus = owns_bus  # started and closed with the notifier (a worker's)
        self.dispatch_poll = min(poll_seconds, LIVE_POLL_SECONDS) if bus else poll_seconds
        self.kinds = kinds()
        self.stopping = asyncio.Event()
        self.wake = asyncio.Event()  # new deliveries, or free slots
        self.in_flight: dict[str, tuple[Claimed, asyncio.Task[None]]] = {}
        self.finished: list[Sent] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self.bus is not None and self.owns_bus:
            await self.bus.start()
        self.tasks = [
            asyncio.create_task(self._loop(self._dispatch, "dispatch"), name="notify: dispatch"),
            asyncio.create_task(self._loop(self._claim, "claim"), name="notify: claim"),
            asyncio.create_task(self._loop(self._write, "write"), name="notify: write"),
        ]

    async def stop(self, grace_seconds: float) -> None:
        self.stopping.set()
        self.wake.set()
        for task in self.tasks[:2]:
            task.cancel()
        sends = [task for _claim, task in self.in_flight.values()]
        if sends:
            await asyncio.wait(sends, timeout=grace_seconds)
        for _claim, task in list(self.in_flight.values()):
            task.cancel()
        self.tasks[2].cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._flush()
        unsent = [claim for claim, _task in self.in_flight.values()]
        if unsent:
            async with self.db.begin() as session:
                await deliveries.release(session, unsent, now=self.clock())
        await self.transport.close()
        if self.bus is not None and self.owns_bus:
            await self.bus.close()

    async def _loop(self, step: Callable[[], Awaitable[None]], name: str) -> None:
        while not self.stopping.is_set():
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("notifications: %s failed; trying again", name)
                await asyncio.sleep(1)

    async def _dispatch(self) -> None:
        # Looked for with a read first: on SQLite a write transaction takes the one
        # write lock, which an idle notifier polling four times a second would take from
        # the heartbeat pings' writer for nothing.
        async with self.db() as session:
            waiting = await dispatcher.pending(session)
        made = 0
        published: list[BusEvent] = []
        if waiting:
            async with self.db.begin() as session:
                made = await dispatcher.fan_out(
                    session, now=self.clock(), limit=FAN_OUT_BATCH, published=published
                )
            await self._publish(published)
        if made:
            self.wake.set()
        elif not published:
            await asyncio.sleep(self.dispatch_poll)

    async def _publish(self, events: list[BusEvent]) -> None:
        """After the commit: an event published before it could be dispatched again
        after a rollback, and a subscriber reading the change would see it anyway."""
        if self.bus is None:
            return
        for event in events:
            try:
                await self.bus.publish(event)
            except Exception:  # live updates are best-effort; deliveries are not
                logger.exception("notifications: publishing event %s failed", event.id)

    async def _claim(self) -> None:
        free = self.concurrency - len(self.in_flight)
        if free * 2 < self.concurrency:
            self.wake.clear()
            await self._sleep(self.poll_seconds)
            return
        now = self.clock()
        async with self.db() as session:  # a read first, as in _dispatch
            due = await deliveries.due(session, now=now)
        if not due:
            self.wake.clear()
            await self._sleep(self.poll_seconds)
            return
        claimed, ready = await self._take(now, free)
        if not claimed:
            self.wake.clear()
            await self._sleep(self.poll_seconds)
            return
        for claim, item in ready:
            task = asyncio.create_task(self._send(claim, item), name=f"notify: {claim.id}")
            self.in_flight[claim.id] = (claim, task)

    async def _take(self, now: datetime, limit: int) -> tuple[int, list[tuple[Claimed, Outgoing]]]:
        """Claims up to `limit` due deliveries and reads what each sends, in one
        transaction; those that cannot be sent fail there. (How many were claimed, the
        ones to send.)"""
        async with self.db.begin() as session:
            claimed = await deliveries.claim(session, now=now, limit=limit)
            if not claimed:
                return 0, []
            ready, unsendable = await deliveries.outgoing(
                session, claimed, sealer=self.sealer, tokens=self.tokens, now=now
            )
            await deliveries.give_up(session, unsendable, now=now)
        by_id = {claim.id: claim for claim in claimed}
        return len(claimed), [(by_id[item.delivery_id], item) for item in ready]

    async def _send(self, claim: Claimed, item: Outgoing) -> None:
        # Awaited before `self.finished` is read: the writer swaps that list for a new one
        # while the send runs, and an attempt added to the list it took would be lost.
        sent = await self._attempt(claim, item)
        self.finished.append(sent)
        self.in_flight.pop(claim.id, None)
        self.wake.set()

    async def _attempt(self, claim: Claimed, item: Outgoing) -> Sent:
        at = self.clock()
        try:
            attempt = await self.kinds[item.kind](self.transport, item)
        except Exception as error:  # a bug must not lose the delivery: it is retried
            logger.exception("notifications: sending %s failed", claim.id)
            attempt = Attempt(False, 0, error_class="internal", error=type(error).__name__)
        return Sent(claim, attempt, at)

    async def run_once(self) -> int:
        """Dispatches every new event, then sends every due delivery and writes the
        attempts, waiting for each: one step of the loops, for tests, whose clock stands
        still. Returns how many attempts it made."""
        while True:
            published: list[BusEvent] = []
            async with self.db.begin() as session:
                made = await dispatcher.fan_out(session, now=self.clock(), published=published)
            await self._publish(published)
            if made == 0 and not published:
                break
        made = 0
        while True:
            claimed, ready = await self._take(self.clock(), self.concurrency)
            if not claimed:
                return made
            sent = await asyncio.gather(*(self._attempt(claim, item) for claim, item in ready))
            async with self.db.begin() as session:
                await deliveries.record(session, sent, now=self.clock())
            made += len(sent)

    async def _write(self) -> None:
        await asyncio.sleep(WRITE_SECONDS)
        await self._flush()

    async def _flush(self) -> None:
        if not self.finished:
            return
        batch, self.finished = self.finished, []
        try:
            async with self.db.begin() as session:
                await deliveries.record(session, batch, now=self.clock())
        except Exception:
            self.finished = batch + self.finished  # tried again on the next round
            raise

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)
