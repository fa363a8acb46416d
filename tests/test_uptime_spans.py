"""The pure pieces of uptime (checks/uptime.py) and response-time histograms
(checks/histogram.py), with every expected figure worked out by hand."""

import time
from datetime import UTC, date, datetime, timedelta

import pytest

from statusgraph.checks import histogram, uptime
from statusgraph.checks.uptime import Span

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def t(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_no_changes_is_one_span_of_the_status_before() -> None:
    assert uptime.spans([], before="up", since=t(0), until=t(2)) == [Span(t(0), t(2), "up")]


def test_changes_outside_the_window_are_ignored_and_equal_neighbours_merge() -> None:
    changes = [(t(-1), "down"), (t(0), "up"), (t(1), "up"), (t(1.5), "down"), (t(3), "up")]
    assert uptime.spans(changes, before="down", since=t(0), until=t(2)) == [
        Span(t(0), t(1.5), "up"),  # the change at `since` applies from since
        Span(t(1.5), t(2), "down"),
    ]
    assert uptime.spans(changes, before="up", since=t(2), until=t(2)) == []


def test_without_cuts_overlapping_windows_and_windows_over_the_edges() -> None:
    spans = [Span(t(0), t(4), "up"), Span(t(4), t(6), "down")]
    cut = uptime.without(spans, [(t(-1), t(0.5)), (t(3), t(4.5)), (t(4), t(5)), (t(5.5), t(7))])
    assert cut == [Span(t(0.5), t(3), "up"), Span(t(5), t(5.5), "down")]


def test_uptime_counts_late_as_up_and_leaves_pending_and_paused_out() -> None:
    spans = [
        Span(t(0), t(1), "pending"),
        Span(t(1), t(4), "up"),
        Span(t(4), t(5), "late"),
        Span(t(5), t(6), "down"),
        Span(t(6), t(9), "paused"),
    ]
    found = uptime.uptime(spans)
    # up 3 h + late 1 h = 4 h; down 1 h: 80 %.
    assert (found.up_seconds, found.down_seconds, found.percent) == (4 * 3600, 3600, 80.0)
    assert uptime.uptime([Span(t(0), t(1), "pending")]).percent is None


def test_daily_bars_by_hand() -> None:
    # Day 1 (03-01): up from 12:00; day 2: down 01:00-01:30; day 3: maintenance
    # 02:00-03:00 (two overlapping windows) with the monitor down inside it.
    spans = [
        Span(t(12), t(24 + 1), "up"),
        Span(t(24 + 1), t(24 + 1.5), "down"),
        Span(t(24 + 1.5), t(48 + 2.25), "up"),
        Span(t(48 + 2.25), t(48 + 2.5), "down"),
        Span(t(48 + 2.5), t(72), "up"),
    ]
    maintenance = [(t(48 + 2), t(48 + 2.75)), (t(48 + 2.5), t(48 + 3))]
    bars = uptime.daily_bars(
        uptime.without(spans, maintenance), maintenance, days=4, last_day=date(2026, 3, 3)
    )
    assert [(b.day.isoformat(), b.worst, b.downtime_minutes) for b in bars] == [
        ("2026-02-28", "no_data", 0),
        ("2026-03-01", "up", 0),
        ("2026-03-02", "down", 30),
        ("2026-03-03", "maintenance", 0),
    ]
    assert bars[0].uptime_percent is None
    assert bars[2].uptime_percent == pytest.approx(100 * 23.5 / 24)
    # One hour of maintenance, the overlap counted once; the rest of the day up.
    assert (bars[3].maintenance_seconds, bars[3].up_seconds) == (3600, 23 * 3600)


def test_any_downtime_shows_as_a_minute_at_least() -> None:
    [bar] = uptime.daily_bars(
        [Span(t(1), t(1) + timedelta(seconds=5), "down")], [], days=1, last_day=date(2026, 3, 1)
    )
    assert (bar.downtime_minutes, bar.worst) == (1, "down")


def test_a_service_is_down_while_any_monitor_is() -> None:
    first = [Span(t(0), t(2), "up"), Span(t(2), t(3), "down"), Span(t(3), t(6), "up")]
    second = [Span(t(1), t(4), "late"), Span(t(4), t(5), "down"), Span(t(5), t(6), "paused")]
    assert uptime.down_union([first, second]) == [
        Span(t(0), t(1), "up"),
        Span(t(1), t(2), "late"),
        Span(t(2), t(3), "down"),
        Span(t(3), t(4), "late"),
        Span(t(4), t(5), "down"),
        Span(t(5), t(6), "up"),
    ]


def test_histogram_buckets_have_inclusive_upper_bounds() -> None:
    assert [histogram.bucket_of(ms) for ms in (0, 25, 25.01, 10000, 10001)] == [0, 0, 1, 10, 11]
    assert histogram.BUCKETS == 12


def test_percentiles_interpolate_inside_their_bucket() -> None:
    # 10 samples: 4 in 0-25 ms, 4 in 50-100 ms, 2 in 200-300 ms.
    counts = histogram.counts_of([5, 10, 15, 20, 60, 70, 80, 90, 250, 260])
    assert counts[:5] == [4, 0, 4, 0, 2]
    # p50: the 5th sample, the first of 4 in 50-100: 50 + 50 * 1/4 = 62.5.
    assert histogram.percentile(counts, 0.5) == 62.5
    # p95: the 9.5th sample, 1.5 of 2 into 200-300: 200 + 100 * 1.5/2 = 275.
    assert histogram.percentile(counts, 0.95) == 275.0
    # p10: the 1st sample, 1 of 4 into 0-25: 6.25.
    assert histogram.percentile(counts, 0.1) == 6.25
    assert histogram.percentile([0] * 12, 0.5) is None
    # Above the last bound, the answer is that bound, a floor.
    assert histogram.percentile(histogram.counts_of([20000]), 0.99) == 10000.0


def test_histograms_merge_by_adding() -> None:
    merged = histogram.merge(histogram.counts_of([10, 60]), histogram.counts_of([10, 400]))
    assert merged == histogram.counts_of([10, 10, 60, 400])


def test_a_flapping_quarter_is_read_in_linear_time() -> None:
    """90 days of a monitor flapping at every 30 s check: 259,200 spans. A quadratic
    union or a pass per day took minutes (review); a sweep takes about a second."""
    flapping = [
        Span(t(n / 120), t((n + 1) / 120), "down" if n % 2 else "up") for n in range(259_200)
    ]
    steady = [Span(t(0), t(24 * 90), "up")]
    started = time.perf_counter()
    union = uptime.down_union([flapping, steady])
    bars = uptime.daily_bars(union, [], days=90, last_day=date(2026, 5, 29))
    assert time.perf_counter() - started < 10
    assert len(union) == 259_200
    assert {bar.downtime_minutes for bar in bars} == {720}  # half of every day
