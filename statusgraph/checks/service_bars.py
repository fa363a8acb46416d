"""Services' daily bars and uptime for the public page, with their finished days kept
(DESIGN §10, §13; issue #18's benchmark).

A day that is over cannot change by itself, so a service's finished bars are computed
once (history.service_histories' way, from every status change of the window) and kept
in a bounded in-process map; each request computes only today's bar, from the status
each monitor had at midnight and today's changes. Nothing has to invalidate the map:
its key is read from the database on every request, one statement for all the page's
monitors, and holds everything a finished day depends on:

- the day, so at midnight every service is computed afresh once;
- the service's monitors in the order read, each with its creation time, the status in
  force when the window opens (the first change's `from_status`, or the monitor's
  current status when it has no change in the window, so pausing one shows), and the
  number and the last of its changes before midnight (a change written late, or
  backdated, into a finished day changes the key);
- the service's maintenance periods before midnight as they counted (a window created,
  edited, linked, unlinked, cancelled or deleted changes them).

A key that changed is simply not found: the new one is computed and the old one ages
out of the map (least recently used first). Per process, so several web processes need
no coordination. What a bar and the uptime are is unchanged: today's bar and the
finished ones come from the same functions (checks/uptime.py) over the same spans cut at
midnight, and uptime is summed exactly (uptime.up_and_down), so the split changes no
figure; tests/test_service_bars.py compares both ways, across midnight too.
"""

from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.checks import history, tables, uptime
from statusgraph.db.rows import core_connection
from statusgraph.db.types import UtcDateTime

MAX_SERVICES = 512  # kept services' finished days (~90 bars each), per process


@dataclass(frozen=True, slots=True, eq=False)
class Finished:
    """A service's bars of the days before today and their exact up and down time."""

    bars: tuple[uptime.DayBar, ...]
    up: timedelta
    down: timedelta
    # What the layers above derive from these bars (their API type, their HTML), kept
    # with them under a name of each layer's own; as immutable as the bars.
    derived: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServiceBars:
    finished: Finished
    today: uptime.DayBar
    up: timedelta  # over all the bars' time, today's included
    down: timedelta

    @property
    def bars(self) -> list[uptime.DayBar]:
        return [*self.finished.bars, self.today]

    @property
    def uptime_percent(self) -> float | None:
        return uptime.Uptime(self.up.total_seconds(), self.down.total_seconds()).percent


class FinishedDays:
    """The bounded map of services' finished days, least recently used out first."""

    def __init__(self, max_entries: int = MAX_SERVICES) -> None:
        self.max_entries = max_entries
        self.entries: OrderedDict[tuple[Any, ...], Finished] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: tuple[Any, ...]) -> Finished | None:
        found = self.entries.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
            self.entries.move_to_end(key)
        return found

    def put(self, key: tuple[Any, ...], finished: Finished) -> None:
        self.entries[key] = finished
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)


FINISHED = FinishedDays()

# Each monitor of the services with what its finished days depend on, in one statement
# (each subquery walks the (monitor_id, created_at, id) index). Built once.
_CHANGES = tables.CHANGES.alias("change")
_MONITORS = tables.MONITORS
_SINCE = bindparam("since", type_=UtcDateTime)
_TODAY = bindparam("today", type_=UtcDateTime)
_NOW = bindparam("now", type_=UtcDateTime)
_OWN = _CHANGES.c.monitor_id == _MONITORS.c.id
_BEFORE_TODAY = (_OWN, _CHANGES.c.created_at >= _SINCE, _CHANGES.c.created_at < _TODAY)
_NEWEST_FIRST = (_CHANGES.c.created_at.desc(), _CHANGES.c.id.desc())
_STATE = select(
    _MONITORS.c.id,
    _MONITORS.c.service_id,
    _MONITORS.c.created_at,
    _MONITORS.c.paused,
    _MONITORS.c.recorded_status,
    select(_CHANGES.c.from_status)
    .where(_OWN, _CHANGES.c.created_at >= _SINCE, _CHANGES.c.created_at < _NOW)
    .order_by(_CHANGES.c.created_at, _CHANGES.c.id)
    .limit(1)
    .scalar_subquery()
    .label("first_from"),
    select(func.count()).where(*_BEFORE_TODAY).scalar_subquery().label("past_count"),
    select(func.count())
    .where(_OWN, _CHANGES.c.created_at >= _TODAY, _CHANGES.c.created_at < _NOW)
    .scalar_subquery()
    .label("today_count"),
    select(_CHANGES.c.to_status)
    .where(*_BEFORE_TODAY)
    .order_by(*_NEWEST_FIRST)
    .limit(1)
    .scalar_subquery()
    .label("last_to"),
    select(_CHANGES.c.created_at)
    .where(*_BEFORE_TODAY)
    .order_by(*_NEWEST_FIRST)
    .limit(1)
    .scalar_subquery()
    .label("last_at"),
).where(_MONITORS.c.service_id.in_(bindparam("ids", expanding=True)))
_TODAYS_CHANGES = (
    select(tables.CHANGES.c.monitor_id, tables.CHANGES.c.created_at, tables.CHANGES.c.to_status)
    .where(
        tables.CHANGES.c.monitor_id.in_(bindparam("monitors", expanding=True)),
        tables.CHANGES.c.created_at >= _TODAY,
        tables.CHANGES.c.created_at < _NOW,
    )
    .order_by(tables.CHANGES.c.created_at, tables.CHANGES.c.id)
)


def _before(monitor: Any) -> str:
    """The status in force when the window opens, as history.spans_of takes it."""
    first: str | None = monitor.first_from
    return first if first is not None else history.current_status(monitor)


def _split(spans: Sequence[uptime.Span], at: datetime) -> tuple[list[uptime.Span], ...]:
    """The spans before `at` and from `at` on, a span across it cut in two."""
    before, after = [], []
    for span in spans:
        if span.end <= at:
            before.append(span)
        elif span.start >= at:
            after.append(span)
        else:
            before.append(uptime.Span(span.start, at, span.status))
            after.append(uptime.Span(at, span.end, span.status))
    return before, after


async def service_bars(
    session: AsyncSession,
    service_ids: Sequence[str],
    *,
    days: int,
    now: datetime,
    kept: FinishedDays = FINISHED,
) -> dict[str, ServiceBars]:
    """`days` daily bars ending today and the uptime over them, for each of the services
    that has a monitor; the same figures as history.service_histories and history.bars."""
    if not service_ids:
        return {}
    today = history.day_start(now)
    since = history.bars_since(days, now)
    connection = await core_connection(session)
    monitors = (
        await connection.execute(
            _STATE, {"ids": list(service_ids), "since": since, "today": today, "now": now}
        )
    ).all()
    if not monitors:
        return {}
    by_service: dict[str, list[Any]] = defaultdict(list)
    for monitor in monitors:
        by_service[monitor.service_id].append(monitor)
    maintained = await history.maintenance_of(session, sorted(by_service), since, now)
    found: dict[str, ServiceBars] = {}
    missing: dict[str, tuple[Any, ...]] = {}
    hits: dict[str, Finished] = {}
    for service_id, own in by_service.items():
        periods = maintained.get(service_id, [])
        key = (
            service_id,
            days,
            today,
            tuple(
                (m.id, m.created_at, _before(m), m.past_count, m.last_at, m.last_to) for m in own
            ),
            tuple(sorted((start, min(end, today)) for start, end in periods if start < today)),
        )
        finished = kept.get(key)
        if finished is None:
            missing[service_id] = key
        else:
            hits[service_id] = finished
    if missing:
        # Computed as history.service_histories does, over the whole window.
        wanted = [m for service_id in missing for m in by_service[service_id]]
        spans = await history.spans_of(session, wanted, since, now)
        for service_id, key in missing.items():
            past = history.service_history(
                by_service[service_id], spans, maintained.get(service_id, [])
            )
            bars = history.bars(past, days=days, now=now)
            before, after = _split(past.spans, today)
            up, down = uptime.up_and_down(before)
            finished = Finished(tuple(bars[:-1]), up, down)
            kept.put(key, finished)
            up_today, down_today = uptime.up_and_down(after)
            found[service_id] = ServiceBars(finished, bars[-1], up + up_today, down + down_today)
    if hits:
        # Today's changes, for the monitors that have any (a healthy one has none).
        ids = [m.id for service_id in hits for m in by_service[service_id] if m.today_count]
        changes: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        if ids:
            for row in await connection.execute(
                _TODAYS_CHANGES, {"monitors": ids, "today": today, "now": now}
            ):
                changes[row.monitor_id].append((row.created_at, row.to_status))
        for service_id, finished in hits.items():
            own = by_service[service_id]
            spans = {}
            for m in own:
                # The status at midnight: the last change before it (from the monitor's
                # creation on, as uptime.spans counts them), else the window's first.
                start = max(since, m.created_at)
                at_midnight = m.last_to if m.last_at is not None and m.last_at >= start else None
                spans[m.id] = uptime.spans(
                    changes[m.id],
                    before=at_midnight or _before(m),
                    since=max(today, m.created_at),
                    until=now,
                )
            current = history.service_history(own, spans, maintained.get(service_id, []))
            [bar] = uptime.daily_bars(
                current.spans, current.maintenance, days=1, last_day=today.date()
            )
            up_today, down_today = uptime.up_and_down(current.spans)
            found[service_id] = ServiceBars(
                finished, bar, finished.up + up_today, finished.down + down_today
            )
    return found
