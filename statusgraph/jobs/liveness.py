"""The record of each process that runs jobs: registered at start, seen every third of a
lease, stopped at shutdown. A process is alive while it is not stopped and was seen
within a lease; one killed with `kill -9` stops being seen and so stops being alive.
"""

import os
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.db.models import Worker

# Records of processes that stopped (or vanished) this long ago are deleted.
KEEP_STOPPED = timedelta(days=7)
# The records this process made: a second runner in one process (tests) has our pid and
# still counts as another process that runs the jobs.
REGISTERED: set[str] = set()


async def alive(session: AsyncSession, *, now: datetime, lease: timedelta) -> list[Worker]:
    """The processes running jobs now, oldest first."""
    statement = (
        select(Worker)
        .where(col(Worker.stopped_at).is_(None), col(Worker.seen_at) > now - lease)
        .order_by(col(Worker.started_at), col(Worker.id))
    )
    return list((await session.exec(statement)).all())


async def register(
    session: AsyncSession,
    worker: Worker,
    *,
    lease: timedelta,
    exclusive: bool,
) -> Worker | None:
    """Records `worker`, unless `exclusive` and another process runs jobs: then that one,
    and nothing is written. Forgets processes gone for a week."""
    now = worker.started_at
    await session.exec(delete(Worker).where(col(Worker.seen_at) < now - KEEP_STOPPED))
    if exclusive:
        # In the caller's write transaction: on SQLite it holds the database's write lock,
        # so of two processes starting at once the second sees the first.
        others = [
            other
            for other in await alive(session, now=now, lease=lease)
            if not _predecessor(other, worker)
        ]
        if others:
            return others[0]
    session.add(worker)
    await session.flush()
    REGISTERED.add(worker.id)
    return None


def _predecessor(other: Worker, worker: Worker) -> bool:
    """Whether `other`, recorded on `worker`'s host, is a process that no longer runs:
    its pid is gone, or is now `worker`'s own (a restarted container's process has the
    pid of the one before). A process restarted right after a crash would otherwise be
    refused for a lease, and serve would keep to requests for its whole life. A process
    of another host is judged by its `seen_at` alone."""
    if other.host != worker.host or other.id in REGISTERED:
        return False
    if other.pid == worker.pid:
        return True
    try:
        os.kill(other.pid, 0)  # signal 0: only whether the pid exists
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, as another user's process
        return False
    return False


async def seen(session: AsyncSession, worker_id: str, *, now: datetime) -> bool:
    """Refreshes a process's `seen_at`; False if its record is gone or marked stopped."""
    result = await session.exec(
        update(Worker)
        .where(col(Worker.id) == worker_id, col(Worker.stopped_at).is_(None))
        .values(seen_at=now)
    )
    return bool(result.rowcount)


async def stopped(session: AsyncSession, worker_id: str, *, now: datetime) -> None:
    await session.exec(
        update(Worker).where(col(Worker.id) == worker_id).values(stopped_at=now, seen_at=now)
    )


def describe(worker: Worker) -> str:
    """`worker wrk_… (pid 1234 on host)`, for messages."""
    return f"{worker.role} {worker.id} (pid {worker.pid} on {worker.host})"
