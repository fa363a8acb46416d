"""Reading a monitor's history for the API: its last check, its results, uptime, daily
bars and response-time percentiles (DESIGN §10).

Uptime and bars come from status transitions (a few per day for a healthy monitor) and
maintenance windows, response times from the rollups: nothing here scans raw results.
The status in force when a window opens is the `from_status` of the first transition
inside it, or the monitor's current status when there is none, so purging transitions
older than 400 days (checks/retention.py) never changes a figure.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlmodel import col
from sqlmodel import select as model_select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.checks import histogram, tables, uptime
from statusgraph.checks.results import BUCKET_COLUMNS, period_start
from statusgraph.db.models import (
    CheckResult,
    Monitor,
)
from statusgraph.db.rows import core_connection
from statusgraph.resolvers.pagination import Page, PageArgs, Sort, paginate

NEWEST_CHECK_FIRST = Sort(columns=("checked_at", "id"))
Period = tuple[datetime, datetime]


async def last_results(session: AsyncSession, monitor_ids: Sequence[str]) -> dict[str, Any]:
    """Each monitor's newest result (a Core row), in one statement: a correlated
    subquery per monitor walks the (monitor_id, checked_at) index to its newest row."""
    if not monitor_ids:
        return {}
    inner = tables.RESULTS.alias("inner")
    newest = (
        select(inner.c.id)
        .where(inner.c.monitor_id == tables.RESULTS.c.monitor_id)
        .order_by(inner.c.checked_at.desc(), inner.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    statement = select(tables.RESULTS).where(
        tables.RESULTS.c.monitor_id.in_(list(monitor_ids)), tables.RESULTS.c.id == newest
    )
    rows = (await (await core_connection(session)).execute(statement)).all()
    return {row.monitor_id: row for row in rows}


async def list_results(
    session: AsyncSession, monitor_id: str, *, page: PageArgs, with_count: bool = False
) -> Page[CheckResult]:
    statement = model_select(CheckResult).where(CheckResult.monitor_id == monitor_id)
    return await paginate(
        session, statement, CheckResult, page, sort=NEWEST_CHECK_FIRST, with_count=with_count
    )


class MonitorLike(Protocol):
    """What the history needs of a monitor: a Monitor, or a Core row with these columns."""

    @property
    def id(self) -> str: ...
    @property
    def service_id(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def paused(self) -> bool: ...
    @property
    def recorded_status(self) -> str: ...


def current_status(monitor: MonitorLike) -> str:
    return "paused" if monitor.paused else monitor.recorded_status


async def spans_of(
    session: AsyncSession, monitors: Sequence[MonitorLike], since: datetime, until: datetime
) -> dict[str, list[uptime.Span]]:
    """Each monitor's statuses over [since, until), from its creation on; one statement."""
    if not monitors:
        return {}
    statement = (
        select(
            tables.CHANGES.c.monitor_id,
            tables.CHANGES.c.created_at,
            tables.CHANGES.c.from_status,
            tables.CHANGES.c.to_status,
        )
        .where(
            tables.CHANGES.c.monitor_id.in_([monitor.id for monitor in monitors]),
            tables.CHANGES.c.created_at >= since,
            tables.CHANGES.c.created_at < until,
        )
        .order_by(tables.CHANGES.c.created_at, tables.CHANGES.c.id)
    )
    changes: dict[str, list[Any]] = defaultdict(list)
    for row in await (await core_connection(session)).execute(statement):
        changes[row.monitor_id].append(row)
    found = {}
    for monitor in monitors:
        own = changes[monitor.id]
        before = own[0].from_status if own else current_status(monitor)
        found[monitor.id] = uptime.spans(
            [(row.created_at, row.to_status) for row in own],
            before=before,
            since=max(since, monitor.created_at),
            until=until,
        )
    return found


async def maintenance_of(
    session: AsyncSession, service_ids: Sequence[str], since: datetime, until: datetime
) -> dict[str, list[Period]]:
    """Each service's maintenance over [since, until), as it happened: from when a window
    both had begun and existed (one entered afterwards does not erase downtime already
    recorded) to its end or its cancellation, whichever came first."""
    if not service_ids:
        return {}
    statement = (
        select(
            tables.MAINTAINS.c.service_id,
            tables.WINDOWS.c.starts_at,
            tables.WINDOWS.c.ends_at,
            tables.WINDOWS.c.created_at,
            tables.WINDOWS.c.cancelled_at,
        )
        .join(tables.WINDOWS, tables.WINDOWS.c.id == tables.MAINTAINS.c.maintenance_id)
        .where(
            tables.MAINTAINS.c.service_id.in_(list(service_ids)),
            tables.WINDOWS.c.starts_at < until,
            tables.WINDOWS.c.ends_at > since,
        )
    )
    found: dict[str, list[Period]] = defaultdict(list)
    for row in await (await core_connection(session)).execute(statement):
        start = max(row.starts_at, row.created_at, since)
        end = min(row.ends_at, row.cancelled_at or row.ends_at, until)
        if start < end:
            found[row.service_id].append((start, end))
    return found


@dataclass(frozen=True, slots=True)
class History:
    """A monitor's (or a service's) statuses over a stretch of time, maintenance out."""

    spans: list[uptime.Span]  # maintenance removed
    maintenance: list[Period]


def windows_from(periods: Sequence[Period], created_at: datetime) -> list[Period]:
    """Maintenance periods from a monitor's creation on: before it, its days are no data."""
    return [(max(start, created_at), end) for start, end in periods if end > created_at]


async def histories(
    session: AsyncSession, monitors: Sequence[MonitorLike], since: datetime, until: datetime
) -> dict[str, History]:
    spans = await spans_of(session, monitors, since, until)
    service_ids = sorted({m.service_id for m in monitors if m.service_id is not None})
    maintained = await maintenance_of(session, service_ids, since, until)
    found = {}
    for monitor in monitors:
        periods = maintained.get(monitor.service_id, []) if monitor.service_id else []
        windows = windows_from(periods, monitor.created_at)
        found[monitor.id] = History(uptime.without(spans[monitor.id], windows), windows)
    return found


def service_history(
    monitors: Sequence[MonitorLike],
    spans: dict[str, list[uptime.Span]],
    periods: Sequence[Period],
) -> History:
    """One service's statuses from its monitors' `spans` (DOWN while any is down:
    uptime.down_union), each with the service's maintenance `periods` cut out from its
    creation on; the service's maintenance counts from its first monitor's creation."""
    return History(
        uptime.down_union(
            [uptime.without(spans[m.id], windows_from(periods, m.created_at)) for m in monitors]
        ),
        windows_from(periods, min(m.created_at for m in monitors)),
    )


def day_start(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(UTC).date(), time(), UTC)


def bars(history: History, *, days: int, now: datetime) -> list[uptime.DayBar]:
    return uptime.daily_bars(
        history.spans, history.maintenance, days=days, last_day=now.astimezone(UTC).date()
    )


def bars_since(days: int, now: datetime) -> datetime:
    """Where `days` daily bars ending today begin."""
    return day_start(now) - timedelta(days=days - 1)


@dataclass(frozen=True, slots=True)
class ResponseTimes:
    starts_at: datetime
    checks: int
    failures: int
    average_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


async def response_times(
    session: AsyncSession, monitor_id: str, *, since: datetime, until: datetime, period: str
) -> list[ResponseTimes]:
    """Per hour or day from the rollups, oldest first; periods without checks are left out."""
    statement = (
        select(tables.ROLLUPS)
        .where(
            tables.ROLLUPS.c.monitor_id == monitor_id,
            tables.ROLLUPS.c.period == period,
            tables.ROLLUPS.c.starts_at >= period_start(since, period),
            tables.ROLLUPS.c.starts_at < until,
        )
        .order_by(tables.ROLLUPS.c.starts_at)
    )
    found = []
    for row in await (await core_connection(session)).execute(statement):
        counts = [getattr(row, name) for name in BUCKET_COLUMNS]
        found.append(
            ResponseTimes(
                starts_at=row.starts_at,
                checks=row.checks,
                failures=row.failures,
                average_ms=row.response_ms_sum / row.response_count if row.response_count else None,
                p50_ms=histogram.percentile(counts, 0.50),
                p95_ms=histogram.percentile(counts, 0.95),
                p99_ms=histogram.percentile(counts, 0.99),
            )
        )
    return found


async def service_histories(
    session: AsyncSession, service_ids: Sequence[str], since: datetime, until: datetime
) -> dict[str, History]:
    """Each service's statuses from its linked monitors (DOWN while any is down:
    uptime.down_union), for services with at least one; maintenance left out."""
    if not service_ids:
        return {}
    monitors = (
        await session.exec(
            model_select(Monitor).where(col(Monitor.service_id).in_(list(service_ids)))
        )
    ).all()
    spans = await spans_of(session, monitors, since, until)
    maintained = await maintenance_of(session, service_ids, since, until)
    by_service: dict[str, list[Monitor]] = defaultdict(list)
    for monitor in monitors:
        assert monitor.service_id is not None
        by_service[monitor.service_id].append(monitor)
    return {
        service_id: service_history(each, spans, maintained.get(service_id, []))
        for service_id, each in by_service.items()
    }


@dataclass(frozen=True, slots=True)
class Backlog:
    """What `statusgraph worker --status` says of the checks."""

    active: int  # monitors with checks scheduled (neither heartbeats nor paused)
    due: int  # due now and not yet claimed
    oldest_due: datetime | None


async def backlog(session: AsyncSession, now: datetime) -> Backlog:
    monitors = tables.MONITORS
    scheduled = monitors.c.next_check_at.is_not(None) & monitors.c.paused.is_(False)
    connection = await core_connection(session)
    active = (await connection.execute(select(func.count()).where(scheduled))).scalar_one()
    due, oldest = (
        await connection.execute(
            select(func.count(), func.min(monitors.c.next_check_at)).where(
                scheduled, monitors.c.next_check_at <= now
            )
        )
    ).one()
    return Backlog(active, due, oldest)
