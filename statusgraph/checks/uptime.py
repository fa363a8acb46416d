"""Time-weighted uptime from status intervals (DESIGN §10).

A monitor's history is a list of transitions `(at, to_status)` plus the status in force
before the first one; `spans` turns it into half-open stretches [start, end) of one
status. UP and LATE count as up (LATE is a heartbeat in its grace time: degraded but
alive, as Healthchecks treats it), DOWN as down; PENDING and PAUSED are left out (not
known, not watched), and so is maintenance (`without`). Statuses are the plain strings
the monitor_status_change table holds.

`daily_bars` and `down_union` take each span once (plus a sort): a flapping monitor has
thousands of spans over 90 days, and the public page computes both on each request.
"""

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

UP, LATE, DOWN, PENDING, PAUSED = "up", "late", "down", "pending", "paused"
MAINTENANCE, NO_DATA = "maintenance", "no_data"
COUNTED_UP = frozenset({UP, LATE})
# A day's worst status: down > late > maintenance > up > no data. Maintenance outranks
# up so that a day with planned work shows it even when the rest of the day was fine.
RANK = {NO_DATA: 0, UP: 1, MAINTENANCE: 2, LATE: 3, DOWN: 4}
# What a service shows when its monitors differ: the first status any of them has.
UNION_ORDER = (DOWN, LATE, UP, PENDING, PAUSED)
ONE_DAY = timedelta(days=1)

Period = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class Span:
    """One status over the half-open stretch [start, end)."""

    start: datetime
    end: datetime
    status: str

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def _merged(spans: Sequence[Span]) -> list[Span]:
    """Adjacent spans of one status joined; empty ones dropped."""
    found: list[Span] = []
    for span in spans:
        if span.end <= span.start:
            continue
        if found and found[-1].status == span.status and found[-1].end == span.start:
            found[-1] = Span(found[-1].start, span.end, span.status)
        else:
            found.append(span)
    return found


def spans(
    changes: Sequence[tuple[datetime, str]], *, before: str, since: datetime, until: datetime
) -> list[Span]:
    """The statuses over [since, until): `before` holds at `since`, then each change in
    [since, until) (sorted by time) from its moment on; changes outside are ignored, and
    of several changes at one moment the last holds. Empty when since >= until."""
    if since >= until:
        return []
    found: list[Span] = []
    status, start = before, since
    for at, to in changes:
        if at < since or at >= until:
            continue
        found.append(Span(start, at, status))
        status, start = to, at
    found.append(Span(start, until, status))
    return _merged(found)


def merge_periods(periods: Sequence[Period]) -> list[Period]:
    """Overlapping or touching periods joined, sorted; empty ones dropped."""
    found: list[Period] = []
    for start, end in sorted(periods):
        if end <= start:
            continue
        if found and start <= found[-1][1]:
            found[-1] = (found[-1][0], max(found[-1][1], end))
        else:
            found.append((start, end))
    return found


def without(spans: Sequence[Span], excluded: Sequence[Period]) -> list[Span]:
    """The spans with the excluded periods (maintenance) cut out; the periods may
    overlap each other and hang over the spans' edges."""
    cuts = merge_periods(excluded)
    found: list[Span] = []
    for span in spans:
        start = span.start
        for cut_start, cut_end in cuts:
            if cut_end <= start or cut_start >= span.end:
                continue
            if cut_start > start:
                found.append(Span(start, cut_start, span.status))
            start = max(start, cut_end)
        if start < span.end:
            found.append(Span(start, span.end, span.status))
    return found


@dataclass(frozen=True, slots=True)
class Uptime:
    """Seconds counted up (UP, LATE) and down (DOWN) over some spans."""

    up_seconds: float
    down_seconds: float

    @property
    def percent(self) -> float | None:
        """100 * up / (up + down); None when no time is known either way."""
        known = self.up_seconds + self.down_seconds
        return 100 * self.up_seconds / known if known else None


def uptime(spans: Sequence[Span]) -> Uptime:
    """Up and down time of the spans; pending and paused time counts as neither. Summed
    as timedeltas (whole microseconds, exact), so the figure does not depend on how the
    stretch is cut: service_bars adds a service's finished days to today's and gets the
    same percent as this over the whole spans."""
    up, down = up_and_down(spans)
    return Uptime(up.total_seconds(), down.total_seconds())


def up_and_down(spans: Sequence[Span]) -> tuple[timedelta, timedelta]:
    """Exact up and down time of the spans."""
    up = down = timedelta()
    for span in spans:
        if span.status in COUNTED_UP:
            up += span.end - span.start
        elif span.status == DOWN:
            down += span.end - span.start
    return up, down


@dataclass(frozen=True, slots=True)
class DayBar:
    """One UTC day of a monitor or a service."""

    day: date
    up_seconds: float
    down_seconds: float
    maintenance_seconds: float
    worst: str  # no_data | up | maintenance | late | down

    @property
    def downtime_minutes(self) -> int:
        """Rounded up: any downtime shows as at least one minute."""
        return math.ceil(self.down_seconds / 60)

    @property
    def uptime_percent(self) -> float | None:
        return Uptime(self.up_seconds, self.down_seconds).percent


def _clip(start: datetime, end: datetime, low: datetime, high: datetime) -> float:
    return max((min(end, high) - max(start, low)).total_seconds(), 0.0)


def daily_bars(
    spans: Sequence[Span], maintenance: Sequence[Period], *, days: int, last_day: date
) -> list[DayBar]:
    """`days` bars of UTC days, oldest first, ending with `last_day`. `spans` come with
    maintenance already cut out; a day's maintenance seconds are the merged maintenance
    periods clipped to it. Worst status: down > late > maintenance > up; a day with none
    of these is no_data (before the monitor existed, or only pending or paused). One
    pass over the spans and periods, each cut at the day boundaries it crosses."""
    first = datetime.combine(last_day - timedelta(days=days - 1), time(), UTC)
    up = [0.0] * days
    down = [0.0] * days
    kept = [0.0] * days
    worst = [NO_DATA] * days

    def each_day(start: datetime, end: datetime) -> Iterator[tuple[int, float]]:
        """(day index, seconds) of [start, end) within the bars' days."""
        index = max((start - first) // ONE_DAY, 0)
        while index < days:
            low = first + index * ONE_DAY
            seconds = _clip(start, end, low, low + ONE_DAY)
            if low >= end:
                return
            if seconds:
                yield index, seconds
            index += 1

    for span in spans:
        for index, seconds in each_day(span.start, span.end):
            if span.status in COUNTED_UP:
                up[index] += seconds
            elif span.status == DOWN:
                down[index] += seconds
            if RANK.get(span.status, 0) > RANK[worst[index]]:
                worst[index] = span.status
    for start, end in merge_periods(maintenance):
        for index, seconds in each_day(start, end):
            kept[index] += seconds
            if RANK[MAINTENANCE] > RANK[worst[index]]:
                worst[index] = MAINTENANCE
    return [
        DayBar(first.date() + timedelta(days=n), up[n], down[n], kept[n], worst[n])
        for n in range(days)
    ]


def down_union(per_monitor: Sequence[Sequence[Span]]) -> list[Span]:
    """A service's statuses from its monitors': down while any is down, else late while
    any is late, else up while any is up, else pending or paused (left out of uptime).
    A sweep over the spans' ends, sorted: O(S log S) for S spans in all."""
    events: list[tuple[datetime, int, str]] = []  # (moment, +1 starts / -1 ends, status)
    for spans in per_monitor:
        for span in spans:
            events.append((span.start, 1, span.status))
            events.append((span.end, -1, span.status))
    events.sort(key=lambda event: (event[0], event[1]))  # ends before starts at a moment
    counts: dict[str, int] = dict.fromkeys(UNION_ORDER, 0)
    found: list[Span] = []
    previous: datetime | None = None
    for moment, change, status in events:
        if previous is not None and moment > previous:
            shown = next((s for s in UNION_ORDER if counts[s] > 0), None)
            if shown is not None:
                found.append(Span(previous, moment, shown))
        counts[status] = counts.get(status, 0) + change
        previous = moment
    return _merged(found)
