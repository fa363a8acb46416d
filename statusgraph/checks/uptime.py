"""Time-weighted uptime from status intervals (DESIGN §10).

A monitor's history is a list of transitions `(at, to_status)` plus the status in force
before the first one; `spans` turns it into half-open stretches [start, end) of one
status. UP and LATE count as up (LATE is a heartbeat in its grace time: degraded but
alive, as Healthchecks treats it), DOWN as down; PENDING and PAUSED are left out (not
known, not watched), and so is maintenance (`without`). Statuses are the plain strings
the monitor_status_change table holds.
"""

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

UP, LATE, DOWN, PENDING, PAUSED = "up", "late", "down", "pending", "paused"
MAINTENANCE, NO_DATA = "maintenance", "no_data"
COUNTED_UP = frozenset({UP, LATE})
# A day's worst status: down > late > maintenance > up > no data.
RANK = {NO_DATA: 0, UP: 1, MAINTENANCE: 2, LATE: 3, DOWN: 4}

Period = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class Span:
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
    [since, until) (sorted by time) from its moment on; changes outside are ignored."""
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
    """Overlapping or touching periods joined, sorted."""
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
    """The spans with the excluded periods (maintenance) cut out."""
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
    up_seconds: float
    down_seconds: float

    @property
    def percent(self) -> float | None:
        known = self.up_seconds + self.down_seconds
        return 100 * self.up_seconds / known if known else None


def uptime(spans: Sequence[Span]) -> Uptime:
    up = sum(span.seconds for span in spans if span.status in COUNTED_UP)
    down = sum(span.seconds for span in spans if span.status == DOWN)
    return Uptime(up, down)


@dataclass(frozen=True, slots=True)
class DayBar:
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
    of these is no_data (before the monitor existed, or only pending or paused)."""
    windows = merge_periods(maintenance)
    bars = []
    for offset in range(days - 1, -1, -1):
        day = last_day - timedelta(days=offset)
        low = datetime.combine(day, time(), UTC)
        high = low + timedelta(days=1)
        up = down = 0.0
        worst = NO_DATA
        for span in spans:
            seconds = _clip(span.start, span.end, low, high)
            if not seconds:
                continue
            if span.status in COUNTED_UP:
                up += seconds
            elif span.status == DOWN:
                down += seconds
            if span.status in RANK and RANK[span.status] > RANK[worst]:
                worst = span.status
        kept = sum(_clip(start, end, low, high) for start, end in windows)
        if kept and RANK[MAINTENANCE] > RANK[worst]:
            worst = MAINTENANCE
        bars.append(DayBar(day, up, down, kept, worst))
    return bars


def down_union(per_monitor: Sequence[Sequence[Span]]) -> list[Span]:
    """A service's statuses from its monitors': down while any is down, else late while
    any is late, else up while any is up, else the first other status found (pending or
    paused: left out of uptime)."""
    moments = sorted({m for spans in per_monitor for span in spans for m in (span.start, span.end)})
    found: list[Span] = []
    for start, end in itertools.pairwise(moments):
        statuses = {
            span.status
            for spans in per_monitor
            for span in spans
            if span.start <= start and span.end >= end
        }
        if not statuses:
            continue
        for status in (DOWN, LATE, UP, PENDING, PAUSED):
            if status in statuses:
                found.append(Span(start, end, status))
                break
    return _merged(found)
