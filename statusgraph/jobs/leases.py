"""Job leases: which process runs a job's next run, and the record of its last one.

A run is claimed by one conditional UPDATE of the job's row: it must be due
(`next_run_at` passed) and free (no unexpired lease, or a lease of our own that a failed
release left behind). The claim moves `next_run_at` one interval on, so of any number
of processes trying at once exactly one runs the job, and the others wait for the next
interval. On PostgreSQL the row is picked `FOR UPDATE SKIP LOCKED`: a process whose
rival is claiming right now goes back to sleep instead of queueing on the row lock.
On SQLite the claim's write transaction (BEGIN IMMEDIATE) is the lock.

The holder renews its lease while the run lasts; a holder killed with `kill -9`
renews nothing, and once its lease expires the next process to try takes the job over.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Table, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col
from sqlmodel import select as model_select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.db.models import JobLease

LEASE: Table = JobLease.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Run:
    """A claimed run: whose, of which job, started when (also its lease's identity)."""

    job: str
    holder: str
    started_at: datetime


async def ensure(session: AsyncSession, names: Iterable[str], *, now: datetime) -> None:
    """Adds the rows of jobs that have none yet, due at once; leaves existing rows alone
    (another process may be starting with the same jobs at the same moment)."""
    rows = [{"name": name, "next_run_at": now} for name in names]
    if not rows:
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.exec(insert(LEASE).values(rows).on_conflict_do_nothing(index_elements=["name"]))


async def claim(
    session: AsyncSession,
    *,
    job: str,
    holder: str,
    now: datetime,
    expires_at: datetime,
    next_run_at: datetime,
) -> Run | None:
    """The job's run if it is due and free, now ours until `expires_at`; else None."""
    candidate = (
        select(LEASE.c.name)
        .where(
            LEASE.c.name == job,
            LEASE.c.next_run_at <= now,
            or_(
                LEASE.c.expires_at.is_(None),
                LEASE.c.expires_at <= now,
                # Our own lease outlives a run only when its release failed; each process
                # runs a job from one loop, so it is free for us.
                LEASE.c.holder == holder,
            ),
            # A process that read its clock just before another's run finished and
            # released the job claims it next time: a run never starts, by the clocks,
            # before the one before it finished.
            or_(LEASE.c.last_finished_at.is_(None), LEASE.c.last_finished_at <= now),
        )
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(LEASE)
        .where(LEASE.c.name.in_(candidate.scalar_subquery()))
        .values(holder=holder, expires_at=expires_at, next_run_at=next_run_at, last_started_at=now)
        .returning(LEASE.c.name)
    )
    claimed = (await session.exec(statement)).first()
    return Run(job, holder, now) if claimed is not None else None


def _ours(run: Run) -> ColumnElement[bool]:
    return and_(
        LEASE.c.name == run.job,
        LEASE.c.holder == run.holder,
        LEASE.c.last_started_at == run.started_at,
    )


async def renew(session: AsyncSession, run: Run, *, expires_at: datetime) -> bool:
    """Extends a run's lease; False if it is no longer ours (it expired and was taken)."""
    result = await session.exec(
        update(LEASE)
        .where(_ours(run), LEASE.c.expires_at.is_not(None))
        .values(expires_at=expires_at)
    )
    return bool(result.rowcount)


async def finish(
    session: AsyncSession,
    run: Run,
    *,
    now: datetime,
    items: int | None,
    error: str | None,
    rerun_at: datetime | None = None,
) -> bool:
    """Records how the run went and releases its lease; `rerun_at` brings the next run
    forward (a run cut short at shutdown is due again at once, for another process).
    False if the lease was no longer ours: the record is then the newer holder's."""
    values: dict[str, object] = {
        "expires_at": None,
        "last_finished_at": now,
        "last_duration_ms": round((now - run.started_at).total_seconds() * 1000),
        "last_items": items,
        "last_error": error,
    }
    if rerun_at is not None:
        values["next_run_at"] = rerun_at
    result = await session.exec(update(LEASE).where(_ours(run)).values(**values))
    return bool(result.rowcount)


async def release_all(session: AsyncSession, *, holder: str) -> int:
    """Releases every lease `holder` still has (at shutdown, after its runs ended)."""
    result = await session.exec(
        update(LEASE)
        .where(LEASE.c.holder == holder, LEASE.c.expires_at.is_not(None))
        .values(expires_at=None)
    )
    return int(result.rowcount)


async def read(session: AsyncSession, job: str) -> JobLease | None:
    return await session.get(JobLease, job, populate_existing=True)


async def read_all(session: AsyncSession) -> list[JobLease]:
    return list((await session.exec(model_select(JobLease).order_by(col(JobLease.name)))).all())
