"""The record of each process that runs jobs: registered at start, seen every third of a
lease, stopped at shutdown. A process is alive while it is not stopped and was seen
within a lease; one killed with `kill -9` stops being seen and so stops being alive.
"""

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.db.models import Worker

# Records of processes that stopped (or vanished) this long ago are deleted.
KEEP_STOPPED = timedelta(days=7)


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
        others = await alive(session, now=now, lease=lease)
        if others:
            return others[0]
    session.add(worker)
    await session.flush()
    return None


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
