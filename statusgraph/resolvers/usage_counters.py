"""Counting on the request path without a write per request: in-memory tallies, flushed
to the database by a timer in each process.

The mechanism (shared by scope usage, resolvers/scope_usage.py, and meant for the
requests-per-key counts of usage metering):

- `Counters.hit(key, now)` is all a request pays: one dict lookup and an increment, no
  I/O, no lock (the event loop runs one request's code at a time).
- `Flusher` runs in every process that serves requests (started by the app's lifespan,
  not by the job runner): every `interval` seconds it takes the tallies gathered since
  the last flush (swapping in an empty dict, so requests go on counting meanwhile) and
  hands them to `write`, which stores them in one transaction. With N web processes,
  each flushes its own tallies; the writes are upserts that merge (`max` of times, sum
  of counts), so the processes never need to know about each other. On SQLite, where
  one process runs the jobs, the web processes still flush their own: nothing here
  depends on the job runner.
- A key is written at most once per flush, so at most once per `interval` (60 s by
  default); a failed write puts its tallies back for the next flush; shutdown flushes
  once more. What a process killed with -9 counted since its last flush is lost: these
  are usage figures, not an audit trail.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

logger = logging.getLogger("statusgraph.usage")

Key = TypeVar("Key")


@dataclass(slots=True)
class Tally:
    count: int
    first_at: datetime
    last_at: datetime


class Counters(Generic[Key]):
    def __init__(self) -> None:
        self._tallies: dict[Key, Tally] = {}

    def hit(self, key: Key, now: datetime) -> None:
        tally = self._tallies.get(key)
        if tally is None:
            self._tallies[key] = Tally(1, now, now)
            return
        tally.count += 1
        if now > tally.last_at:
            tally.last_at = now

    def take(self) -> dict[Key, Tally]:
        taken, self._tallies = self._tallies, {}
        return taken

    def put_back(self, taken: dict[Key, Tally]) -> None:
        """After a failed write: merged into what was counted since."""
        for key, old in taken.items():
            tally = self._tallies.get(key)
            if tally is None:
                self._tallies[key] = old
                continue
            tally.count += old.count
            tally.first_at = min(tally.first_at, old.first_at)
            tally.last_at = max(tally.last_at, old.last_at)

    def __len__(self) -> int:
        return len(self._tallies)


class Flusher(Generic[Key]):
    """Writes `counters` every `interval` seconds while started, and once more on stop."""

    def __init__(
        self,
        counters: Counters[Key],
        write: Callable[[dict[Key, Tally]], Awaitable[None]],
        *,
        interval: float,
    ) -> None:
        self.counters = counters
        self.write = write
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def flush(self) -> int:
        taken = self.counters.take()
        if not taken:
            return 0
        try:
            await self.write(taken)
        except Exception:
            logger.exception(
                "could not write %d usage tallies; kept for the next flush", len(taken)
            )
            self.counters.put_back(taken)
            return 0
        return len(taken)

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)
            if not self._stopping.is_set():
                await self.flush()

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._loop(), name="usage-flusher")

    async def stop(self) -> None:
        """Lets a flush in progress finish (cancelling it mid-write would lose what it
        took), then flushes what was counted since."""
        if self._task is not None:
            self._stopping.set()
            await self._task
            self._task = None
        await self.flush()
