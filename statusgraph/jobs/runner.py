"""The job runner: one asyncio loop per job, each run claimed through a lease
(jobs/leases.py), and a record of the process kept fresh (jobs/liveness.py).

Every loop tries to claim its job's run when the job is due, at a jittered moment so
that many processes do not all try at once; the process that wins runs it, the others
sleep until the next run is due. `stop()` stops claiming, lets runs in flight finish
within the shutdown timeout, cancels what is left, and releases every lease.
"""

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from statusgraph.clock import Clock, utcnow
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import Worker
from statusgraph.ids import new_id
from statusgraph.jobs import leases, liveness

logger = logging.getLogger("statusgraph.jobs")

JITTER = 0.1  # each interval is drawn within ±10 % of its length
# A loop that could not reach the database tries again after this share of its interval.
RETRY_SHARE = 0.5
# However far off the next run is, a loop looks again after at most one interval (the
# row may have been changed, e.g. a run cut short at shutdown is due again at once) and
# at least this share of one (no busy loop when a lease is about to expire).
MIN_SLEEP_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a run gets: the database, the clock, and whether the process is stopping (a
    long run checks it between its transactions and ends early)."""

    db: SessionFactory
    clock: Clock
    stopping: asyncio.Event


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    interval: float  # seconds from the start of one run to the start of the next
    run: Callable[[JobContext], Awaitable[int]]  # returns how many items it handled


class Service(Protocol):
    """Work that runs all along rather than at intervals (the checker, checks/scheduler.py):
    started once this process may run jobs, stopped before its leases are released. It
    claims its own units of work, with leases of its own."""

    async def start(self) -> None: ...

    async def stop(self, grace_seconds: float) -> None: ...


class JobsAlreadyRunning(Exception):
    """On SQLite, another live process already runs the jobs."""

    def __init__(self, other: Worker) -> None:
        super().__init__(f"jobs already run by {liveness.describe(other)}")
        self.other = other


class JobRunner:
    def __init__(
        self,
        db: SessionFactory,
        jobs: Sequence[Job],
        *,
        role: str,
        lease_seconds: float,
        shutdown_seconds: float,
        exclusive: bool,
        clock: Clock = utcnow,
        services: Sequence[Service] = (),
    ) -> None:
        """`exclusive`: at most one live process runs jobs (SQLite); start() refuses
        while another one does."""
        self.db = db
        self.jobs = list(jobs)
        self.services = list(services)
        self.role = role
        self.lease = timedelta(seconds=lease_seconds)
        self.shutdown_seconds = shutdown_seconds
        self.exclusive = exclusive
        self.clock = clock
        self.worker_id = new_id("wrk")
        self.stopping = asyncio.Event()
        self.context = JobContext(db, clock, self.stopping)
        self.loops: dict[str, asyncio.Task[None]] = {}
        self.running: set[str] = set()  # jobs with a run in flight
        self.keeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Registers this process and starts a loop per job; raises JobsAlreadyRunning
        (having started nothing) when `exclusive` and another live process runs them."""
        now = self.clock()
        me = Worker(
            id=self.worker_id,
            role=self.role,
            host=socket.gethostname()[:255],
            pid=os.getpid(),
            started_at=now,
            seen_at=now,
        )
        async with self.db.begin() as session:
            other = await liveness.register(session, me, lease=self.lease, exclusive=self.exclusive)
            if other is None:
                await leases.ensure(session, [job.name for job in self.jobs], now=now)
        if other is not None:
            raise JobsAlreadyRunning(other)
        logger.info(
            "%s runs jobs: %s", liveness.describe(me), ", ".join(job.name for job in self.jobs)
        )
        self.keeper = asyncio.create_task(self._keep_alive(), name="jobs: liveness")
        for job in self.jobs:
            self.loops[job.name] = asyncio.create_task(self._loop(job), name=f"job: {job.name}")
        for service in self.services:
            await service.start()

    async def stop(self) -> None:
        """Stops claiming, waits up to the shutdown timeout for runs in flight, cancels
        the rest (their leases are released and their jobs due again at once), releases
        whatever is left and marks this process stopped."""
        self.stopping.set()
        if self.loops:  # started: the services too
            for service in self.services:
                try:
                    await service.stop(self.shutdown_seconds)
                except Exception:
                    logger.exception("could not stop %s cleanly", type(service).__name__)
        loops = list(self.loops.values())
        if loops:
            _done, late = await asyncio.wait(loops, timeout=self.shutdown_seconds)
            for task in late:
                logger.warning("%s did not finish within the shutdown timeout", task.get_name())
                task.cancel()
            for task in loops:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.keeper is not None:
            self.keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.keeper
        if not self.loops:
            return  # never started: nothing registered, nothing held
        try:
            async with self.db.begin() as session:
                await leases.release_all(session, holder=self.worker_id)
                await liveness.stopped(session, self.worker_id, now=self.clock())
        except Exception:
            logger.exception("could not release the leases of %s", self.worker_id)
        self.loops.clear()

    async def _loop(self, job: Job) -> None:
        while not self.stopping.is_set():
            delay = await self._attempt(job)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)

    async def _attempt(self, job: Job) -> float:
        """Runs the job if this process wins its claim; the seconds to sleep after."""
        if self.stopping.is_set():
            return 0.0
        now = self.clock()
        next_run_at = now + timedelta(seconds=job.interval * _jitter())
        lease = None
        try:
            async with self.db.begin() as session:
                run = await leases.claim(
                    session,
                    job=job.name,
                    holder=self.worker_id,
                    now=now,
                    expires_at=now + self.lease,
                    next_run_at=next_run_at,
                )
                if run is None:
                    lease = await leases.read(session, job.name)
        except Exception:
            logger.exception("could not claim job %s; trying again shortly", job.name)
            return job.interval * RETRY_SHARE
        if run is not None:
            await self._run(job, run)
            wake = next_run_at
        else:
            # Not due yet: wake when it is. Due, but another process still runs it (past
            # its interval): wake when that run's lease would expire, unless it ends first.
            wake = now + timedelta(seconds=job.interval)
            if lease is not None:
                wake = lease.next_run_at
                if wake <= now and lease.expires_at is not None:
                    wake = lease.expires_at
        # Every process wakes a random moment after the run is due, the last runner too:
        # whoever comes first runs it, so the runs spread over the processes.
        return self._sleep_until(job, wake) + random.uniform(0, JITTER * job.interval)  # noqa: S311

    def _sleep_until(self, job: Job, wake: datetime) -> float:
        seconds = (wake - self.clock()).total_seconds()
        return min(max(seconds, MIN_SLEEP_SHARE * job.interval), job.interval)

    async def _run(self, job: Job, run: leases.Run) -> None:
        self.running.add(job.name)
        renewer = asyncio.create_task(self._renew(run), name=f"job: {job.name}: lease")
        items: int | None = None
        error: str | None = None
        try:
            items = await job.run(self.context)
        except asyncio.CancelledError:
            error = "cancelled at shutdown"
            raise
        except Exception as failure:
            logger.exception("job %s failed; it runs again at its next interval", job.name)
            error = f"{type(failure).__name__}: {failure}"[:2000]
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            cancelled = error == "cancelled at shutdown"
            await self._finish(job, run, items, error, rerun=cancelled)
            self.running.discard(job.name)

    async def _finish(
        self, job: Job, run: leases.Run, items: int | None, error: str | None, *, rerun: bool
    ) -> None:
        now = self.clock()
        try:
            async with self.db.begin() as session:
                kept = await leases.finish(
                    session, run, now=now, items=items, error=error, rerun_at=now if rerun else None
                )
        except Exception:
            logger.exception("could not release job %s's lease; it expires by itself", job.name)
            return
        if not kept:
            logger.warning("job %s ran past its lease, which another process took over", job.name)
        # One line per run, for tests and for whoever debugs a schedule.
        logger.debug(
            "job %s run by %s from %s to %s: %s items%s",
            job.name,
            run.holder,
            run.started_at.isoformat(),
            now.isoformat(),
            items,
            f", error: {error}" if error else "",
        )

    async def _renew(self, run: leases.Run) -> None:
        """Keeps a run's lease while it lasts: a third of a lease apart, so two renewals
        can fail (a slow database) before the lease runs out."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                async with self.db.begin() as session:
                    kept = await leases.renew(session, run, expires_at=self.clock() + self.lease)
            except Exception:
                logger.warning("could not renew job %s's lease", run.job, exc_info=True)
                continue
            if not kept:
                logger.warning("job %s's lease was taken over while it ran", run.job)
                return

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                async with self.db.begin() as session:
                    await liveness.seen(session, self.worker_id, now=self.clock())
            except Exception:
                logger.warning("could not refresh %s's liveness", self.worker_id, exc_info=True)


def _jitter() -> float:
    return random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 (spreading load, not a secret)
