"""The checker: runs every due check, on its own task, and writes results in batches
(DESIGN §10, §2).

Three parts, so that measuring never waits on storing:

- the claimer takes the monitors due now or within the next poll (a second) from the
  database with a lease (results.claim), as many as there are free slots;
- each claimed monitor is probed on a task of its own, at its due time, at most
  `STATUSGRAPH_CHECK_CONCURRENCY` (default 100) at once; what it found goes on a queue;
- the writer empties the queue every `batch_seconds` (or at `batch_size` results) into
  one transaction (results.record). A slow database makes results wait in memory, never
  a check late: the claims' leases hold the monitors meanwhile.

Any number of processes may run a checker on PostgreSQL; on SQLite one process runs
the jobs (jobs/runner.py). `stop()` stops claiming, lets checks in flight finish within
the timeout, gives back the claims of the rest and writes what was found.
"""

import asyncio
import contextlib
import dataclasses
import logging
import statistics
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta

from statusgraph.checks import results
from statusgraph.checks.prober import Prober, Target
from statusgraph.checks.results import Checked
from statusgraph.clock import Clock, utcnow
from statusgraph.db.engine import SessionFactory

logger = logging.getLogger("statusgraph.checks")

# A claim outlives the check's timeout by this much before another worker may take it.
LEASE_MARGIN = timedelta(seconds=60)
MAX_TIMEOUT = 60
CLAIM_BATCH = 500  # at most this many monitors per claiming transaction
# Results waiting for the database beyond this many are dropped, oldest first (with a
# warning): memory stays bounded through a long database outage, and the monitors whose
# results were lost are checked again when their claims expire.
MAX_WAITING = 100_000
LAG_SAMPLES = 10_000
MAX_WRITE_BACKOFF = 30.0  # seconds between tries to write while the database fails


@dataclass(slots=True)
class Stats:
    """What the checker did, for `worker --status`, logs and bench/checks.py."""

    checks: int = 0
    written: int = 0
    dropped: int = 0
    write_errors: int = 0
    transactions: int = 0  # writing results
    claims: int = 0  # claiming transactions that found something due
    started: int = 0  # checks started (each with its lag below)
    # Seconds between when each recent check was due and when it started.
    lags: deque[float] = field(default_factory=lambda: deque(maxlen=LAG_SAMPLES))


def report(now: Stats, before: Stats, seconds: float, waiting: int) -> str:
    """One log line on the last period: checks done, the lag of the checks started
    (as far as `LAG_SAMPLES` reach), transactions, results waiting."""
    checks = now.checks - before.checks
    started = min(now.started - before.started, len(now.lags))
    lags = sorted(list(now.lags)[len(now.lags) - started :]) or [0.0]
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
    return (
        f"checks: {checks} in {seconds:.0f} s ({checks / seconds:.1f}/s); lag p50 "
        f"{statistics.median(lags):.3f} s, p99 {p99:.3f} s, max {lags[-1]:.3f} s; "
        f"{now.claims - before.claims} claiming and {now.transactions - before.transactions} "
        f"writing transactions; {waiting} results waiting, "
        f"{now.dropped - before.dropped} dropped, {now.write_errors - before.write_errors} "
        "failed writes"
    )


class Checker:
    def __init__(
        self,
        db: SessionFactory,
        prober: Prober,
        *,
        concurrency: int = 100,
        clock: Clock = utcnow,
        poll_seconds: float = 1.0,
        lookahead_seconds: float | None = None,
        batch_seconds: float = 0.5,
        batch_size: int = 500,
        report_seconds: float = 0,
    ) -> None:
        """`lookahead_seconds` (default: `poll_seconds`): checks due this soon are claimed
        now and each started at its due time, so polling adds no lag. `report_seconds`:
        how often to log what was checked, with the lag (0: never)."""
        self.db = db
        self.prober = prober
        self.concurrency = concurrency
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.lookahead = timedelta(
            seconds=poll_seconds if lookahead_seconds is None else lookahead_seconds
        )
        # Probes in flight; claimed checks waiting for their due time hold no slot.
        self._probing = asyncio.Semaphore(concurrency)
        self.batch_seconds = batch_seconds
        self.batch_size = batch_size
        self.report_seconds = report_seconds
        self.stats = Stats()
        self.stopping = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._in_flight: dict[asyncio.Task[None], Target] = {}
        self._found: deque[Checked] = deque()
        self._found_event = asyncio.Event()
        self._claimer: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._reporter: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._claimer = asyncio.create_task(self._claim_loop(), name="checks: claimer")
        self._writer = asyncio.create_task(self._write_loop(), name="checks: writer")
        if self.report_seconds:
            self._reporter = asyncio.create_task(self._report_loop(), name="checks: reporter")

    async def _report_loop(self) -> None:
        while True:
            before = dataclasses.replace(self.stats, lags=deque())  # the counters
            await asyncio.sleep(self.report_seconds)
            logger.info(report(self.stats, before, self.report_seconds, len(self._found)))

    async def stop(self, grace_seconds: float) -> None:
        self.stopping.set()
        self._slot_freed.set()
        for task in (self._reporter, self._claimer):
            if task is None:
                continue
            # The claimer ends at its next turn; one stuck in a claim is cancelled.
            _done, late = await asyncio.wait(
                [task], timeout=0 if task is self._reporter else grace_seconds
            )
            for stuck in late:
                stuck.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await stuck
        unfinished: list[Target] = []
        if self._in_flight:
            _done, late = await asyncio.wait(list(self._in_flight), timeout=grace_seconds)
            for task in late:
                unfinished.append(self._in_flight[task])
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._writer is not None:
            self._found_event.set()
            await self._writer
        await self._write(list(self._found))  # whatever the writer had not taken
        self._found.clear()
        if unfinished:
            try:
                async with self.db.begin() as session:
                    ids = [target.monitor_id for target in unfinished]
                    await results.release(session, ids, now=self.clock())
            except Exception:
                logger.exception("could not give back %d claimed checks", len(unfinished))
        await self.prober.close()

    # Claiming and checking.

    async def claim_and_start(self) -> tuple[int, bool]:
        """Claims the monitors due now or within the lookahead, as many as there are free
        slots (twice the concurrency: half may be waiting for their due time), and starts
        their checks: (how many, whether more may be due: as many as asked were found)."""
        free = 2 * self.concurrency - len(self._in_flight)
        if free <= 0:
            return 0, True
        limit = min(free, CLAIM_BATCH)
        lease = timedelta(seconds=MAX_TIMEOUT) + LEASE_MARGIN
        async with self.db.begin() as session:
            targets = await results.claim(
                session, now=self.clock() + self.lookahead, limit=limit, lease=lease
            )
        if targets:
            self.stats.claims += 1
        for target in targets:
            task = asyncio.create_task(self._check(target), name=f"check {target.monitor_id}")
            self._in_flight[task] = target
            task.add_done_callback(self._done)
        return len(targets), len(targets) == limit

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        # The claimer, waiting for slots, is woken once a good share of them is free: a
        # claim per finished check would cost a transaction per check.
        if len(self._in_flight) <= 2 * self.concurrency - max(1, self.concurrency // 2):
            self._slot_freed.set()

    async def _check(self, target: Target) -> None:
        early = (target.due - self.clock()).total_seconds()
        if early > 0:
            await asyncio.sleep(early)
        async with self._probing:
            started = self.clock()
            self.stats.started += 1
            self.stats.lags.append(max((started - target.due).total_seconds(), 0.0))
            outcome = await self.prober.probe(target, started)
        self.stats.checks += 1
        self._found.append(Checked(target, started, outcome))
        if len(self._found) > MAX_WAITING:
            self._found.popleft()
            self.stats.dropped += 1
        if len(self._found) >= self.batch_size:
            self._found_event.set()

    async def _claim_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                _started, more = await self.claim_and_start()
            except Exception:
                logger.exception("could not claim due checks; trying again shortly")
                more = False
            full = len(self._in_flight) >= 2 * self.concurrency
            if more and not full:
                continue
            # More is due but the slots are full: claim again once one frees. Otherwise
            # all that is due within the lookahead is claimed: look again after a poll
            # interval (the lookahead covers it).
            wake = self._slot_freed if more else self.stopping
            self._slot_freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self.poll_seconds)

    async def drain(self) -> None:
        """Waits for the checks in flight and writes every result (tests, `check now`)."""
        while self._in_flight:
            await asyncio.wait(list(self._in_flight))
        batch = list(self._found)
        self._found.clear()
        await self._write(batch)

    # Writing.

    async def _write_loop(self) -> None:
        backoff = self.batch_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._found_event.wait(), backoff)
            self._found_event.clear()
            batch = [self._found.popleft() for _ in range(min(len(self._found), self.batch_size))]
            if await self._write(batch):
                backoff = self.batch_seconds
            else:
                # Back in front, in order, for the next try: a deadlock or a database
                # restart loses nothing. Meanwhile the claims hold the monitors; past
                # MAX_WAITING the oldest results go (see _check).
                self._found.extendleft(reversed(batch))
                backoff = min(backoff * 2, MAX_WRITE_BACKOFF)
            if self.stopping.is_set() and not self._in_flight:
                return

    async def _write(self, batch: list[Checked]) -> bool:
        """Writes `batch` in one transaction; False if that failed."""
        if not batch:
            return True
        try:
            async with self.db.begin() as session:
                await results.record(session, batch, now=self.clock())
        except Exception:
            self.stats.write_errors += 1
            logger.exception("could not write %d check results; trying again", len(batch))
            return False
        self.stats.written += len(batch)
        self.stats.transactions += 1
        return True
