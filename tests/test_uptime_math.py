"""Uptime spans, maintenance cuts, daily bars, the service union (checks/uptime.py) and
response-time histograms (checks/histogram.py) at their edges; the cases
test_uptime_spans.py leaves out. Every expected figure is worked out by hand in a
comment, never by the code under test."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from statusgraph.checks import histogram, uptime
from statusgraph.checks.uptime import DayBar, Span, Uptime

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def t(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


# spans


def test_without_changes_the_status_before_holds_throughout() -> None:
    assert uptime.spans([], before="pending", since=t(0), until=t(3)) == [
        Span(t(0), t(3), "pending")
    ]


def test_a_change_exactly_at_since_replaces_the_status_before() -> None:
    # No zero-length "down" span is left at t(0).
    assert uptime.spans([(t(0), "up")], before="down", since=t(0), until=t(2)) == [
        Span(t(0), t(2), "up")
    ]


def test_changes_before_since_count_only_through_the_status_before() -> None:
    changes = [(t(-5), "down"), (t(-1), "late")]
    assert uptime.spans(changes, before="up", since=t(0), until=t(1)) == [Span(t(0), t(1), "up")]


def test_a_change_at_until_or_later_is_ignored() -> None:
    changes = [(t(2), "down"), (t(3), "late")]
    assert uptime.spans(changes, before="up", since=t(0), until=t(2)) == [Span(t(0), t(2), "up")]


def test_of_several_changes_at_one_moment_the_last_holds() -> None:
    changes = [(t(1), "down"), (t(1), "late")]
    assert uptime.spans(changes, before="up", since=t(0), until=t(2)) == [
        Span(t(0), t(1), "up"),
        Span(t(1), t(2), "late"),
    ]


def test_a_change_to_the_status_in_force_merges_into_one_span() -> None:
    changes = [(t(1), "up"), (t(2), "up"), (t(3), "down")]
    assert uptime.spans(changes, before="up", since=t(0), until=t(4)) == [
        Span(t(0), t(3), "up"),
        Span(t(3), t(4), "down"),
    ]


def test_an_empty_or_inverted_stretch_has_no_spans() -> None:
    assert uptime.spans([(t(1), "down")], before="up", since=t(2), until=t(2)) == []
    assert uptime.spans([(t(1), "down")], before="up", since=t(3), until=t(2)) == []


# without


def test_a_window_inside_a_span_splits_it() -> None:
    assert uptime.without([Span(t(0), t(4), "up")], [(t(1), t(2))]) == [
        Span(t(0), t(1), "up"),
        Span(t(2), t(4), "up"),
    ]


def test_a_window_over_a_whole_span_removes_it_and_trims_its_neighbours() -> None:
    spans = [Span(t(0), t(2), "up"), Span(t(2), t(3), "down"), Span(t(3), t(5), "up")]
    assert uptime.without(spans, [(t(1.5), t(3.5))]) == [
        Span(t(0), t(1.5), "up"),
        Span(t(3.5), t(5), "up"),
    ]


def test_touching_and_nested_windows_cut_their_union_once() -> None:
    spans = [Span(t(0), t(4), "down")]
    # (1, 2) and (2, 3) touch, (1.5, 2.5) lies inside both: one cut from 1 to 3.
    assert uptime.without(spans, [(t(2), t(3)), (t(1), t(2)), (t(1.5), t(2.5))]) == [
        Span(t(0), t(1), "down"),
        Span(t(3), t(4), "down"),
    ]


def test_empty_and_inverted_windows_cut_nothing() -> None:
    spans = [Span(t(0), t(4), "up")]
    assert uptime.without(spans, [(t(2), t(2)), (t(3), t(1))]) == spans
    assert uptime.without(spans, []) == spans


def test_a_window_over_everything_leaves_no_span() -> None:
    spans = [Span(t(0), t(1), "up"), Span(t(1), t(2), "down")]
    assert uptime.without(spans, [(t(-1), t(3))]) == []


def test_maintenance_periods_merge_sorted_with_empty_ones_dropped() -> None:
    periods = [(t(5), t(6)), (t(2), t(3)), (t(1), t(2)), (t(4), t(4)), (t(1.5), t(1.75))]
    # 1.5-1.75 lies inside 1-2, which touches 2-3: 1-3; 4-4 is empty; 5-6 stands alone.
    assert uptime.merge_periods(periods) == [(t(1), t(3)), (t(5), t(6))]


# uptime


def test_pending_and_paused_time_is_neither_up_nor_down() -> None:
    spans = [
        Span(t(0), t(6), "pending"),
        Span(t(6), t(12), "up"),
        Span(t(12), t(18), "down"),
        Span(t(18), t(24), "paused"),
    ]
    # Up 6 h = 21,600 s, down 6 h = 21,600 s: 50 %; the other 12 h are not known.
    assert uptime.uptime(spans) == Uptime(21_600, 21_600)
    assert uptime.uptime(spans).percent == 50.0


def test_late_time_counts_as_up() -> None:
    assert uptime.uptime([Span(t(0), t(1), "late")]).percent == 100.0


def test_only_down_is_zero_percent_and_no_known_time_is_none() -> None:
    assert uptime.uptime([Span(t(0), t(1), "down")]).percent == 0.0
    assert uptime.uptime([Span(t(0), t(1), "paused")]).percent is None
    assert uptime.uptime([]).percent is None
    assert Uptime(0, 0).percent is None


def test_half_an_hour_down_in_a_day_is_by_the_second() -> None:
    spans = [Span(t(0), t(1), "up"), Span(t(1), t(1.5), "down"), Span(t(1.5), t(24), "up")]
    found = uptime.uptime(spans)
    # Up 23.5 h = 84,600 s, down 0.5 h = 1,800 s: 100 * 23.5 / 24 = 97.9166... %.
    assert (found.up_seconds, found.down_seconds) == (84_600, 1_800)
    assert found.percent == pytest.approx(100 * 23.5 / 24)


# daily bars


def test_daily_bars_of_a_constructed_history_by_hand() -> None:
    # The monitor is created 03-02 06:00 and is PENDING for 30 s. It is DOWN across
    # midnight 03-02 23:45 to 03-03 00:15 and 03-03 01:00 to 01:30. On 03-04 it is DOWN
    # 02:10 to 02:50, inside maintenance 02:00 to 03:00 given as two overlapping
    # windows. On 03-05 it is LATE 10:00 to 10:05 after maintenance 08:00 to 09:00; now
    # is 03-05 12:00.
    changes = [
        (at(2, 6, 0, 30), "up"),
        (at(2, 23, 45), "down"),
        (at(3, 0, 15), "up"),
        (at(3, 1), "down"),
        (at(3, 1, 30), "up"),
        (at(4, 2, 10), "down"),
        (at(4, 2, 50), "up"),
        (at(5, 10), "late"),
        (at(5, 10, 5), "up"),
    ]
    maintenance = [(at(4, 2), at(4, 2, 40)), (at(4, 2, 20), at(4, 3)), (at(5, 8), at(5, 9))]
    history = uptime.spans(changes, before="pending", since=at(2, 6), until=at(5, 12))
    bars = uptime.daily_bars(
        uptime.without(history, maintenance), maintenance, days=5, last_day=date(2026, 3, 5)
    )
    found = [
        (b.day.isoformat(), b.worst, b.up_seconds, b.down_seconds, b.maintenance_seconds)
        for b in bars
    ]
    assert found == [
        # Before the monitor existed.
        ("2026-03-01", "no_data", 0, 0, 0),
        # Up 06:00:30 to 23:45 = 17 h 44 min 30 s = 63,870 s; down 15 min = 900 s.
        ("2026-03-02", "down", 63_870, 900, 0),
        # Down 15 + 30 min = 2,700 s; up the rest, 86,400 - 2,700 = 83,700 s.
        ("2026-03-03", "down", 83_700, 2_700, 0),
        # Up 00:00-02:00 and 03:00-24:00 = 23 h = 82,800 s; the downtime inside
        # maintenance is not counted; maintenance is 02:00-03:00 once, 3,600 s, not
        # 40 + 40 min. Maintenance outranks up.
        ("2026-03-04", "maintenance", 82_800, 0, 3_600),
        # Up and late 00:00-12:00 less the maintenance hour: 11 h = 39,600 s. Late
        # outranks maintenance.
        ("2026-03-05", "late", 39_600, 0, 3_600),
    ]
    assert [b.downtime_minutes for b in bars] == [0, 15, 45, 0, 0]
    assert bars[0].uptime_percent is None
    assert bars[1].uptime_percent == pytest.approx(100 * 63_870 / (63_870 + 900))
    assert bars[3].uptime_percent == 100.0


def test_a_day_of_only_paused_or_pending_time_has_no_data() -> None:
    spans = [Span(at(1, 0), at(1, 12), "pending"), Span(at(1, 12), at(2, 0), "paused")]
    [bar] = uptime.daily_bars(spans, [], days=1, last_day=date(2026, 3, 1))
    assert bar == DayBar(date(2026, 3, 1), 0, 0, 0, "no_data")
    assert bar.uptime_percent is None


def test_a_day_of_maintenance_and_paused_time_is_maintenance() -> None:
    spans = [Span(at(1, 0), at(1, 2), "paused"), Span(at(1, 3), at(2, 0), "paused")]
    [bar] = uptime.daily_bars(spans, [(at(1, 2), at(1, 3))], days=1, last_day=date(2026, 3, 1))
    assert (bar.worst, bar.maintenance_seconds, bar.uptime_percent) == ("maintenance", 3600, None)


def test_maintenance_across_midnight_counts_on_both_days() -> None:
    # 23:00 to 01:00: one hour on each side of midnight.
    bars = uptime.daily_bars([], [(at(1, 23), at(2, 1))], days=2, last_day=date(2026, 3, 2))
    assert [(b.maintenance_seconds, b.worst) for b in bars] == [
        (3600, "maintenance"),
        (3600, "maintenance"),
    ]


def test_spans_count_on_their_utc_day_whatever_their_offset() -> None:
    plus_two = timezone(timedelta(hours=2))
    # 03-01 23:00+02:00 to 03-02 01:00+02:00 is 03-01 21:00 to 23:00 UTC: 2 h on 03-01.
    spans = [
        Span(
            datetime(2026, 3, 1, 23, tzinfo=plus_two),
            datetime(2026, 3, 2, 1, tzinfo=plus_two),
            "down",
        )
    ]
    bars = uptime.daily_bars(spans, [], days=2, last_day=date(2026, 3, 2))
    assert [(b.down_seconds, b.worst) for b in bars] == [(7200, "down"), (0, "no_data")]


def test_time_outside_the_bars_days_is_left_out() -> None:
    # Up from 02-20 to 03-01 06:00 and from 03-03 00:00 on: of the two days shown, 03-01
    # has 6 h = 21,600 s and 03-02 nothing.
    spans = [
        Span(datetime(2026, 2, 20, tzinfo=UTC), at(1, 6), "up"),
        Span(at(3, 0), at(4, 0), "up"),
    ]
    maintenance = [(datetime(2026, 2, 27, tzinfo=UTC), at(1, 1))]  # 1 h inside 03-01
    bars = uptime.daily_bars(spans, maintenance, days=2, last_day=date(2026, 3, 2))
    assert [(b.up_seconds, b.maintenance_seconds, b.worst) for b in bars] == [
        (21_600, 3600, "maintenance"),
        (0, 0, "no_data"),
    ]


def test_no_days_asked_means_no_bars() -> None:
    assert (
        uptime.daily_bars([Span(at(1, 0), at(2, 0), "up")], [], days=0, last_day=date(2026, 3, 1))
        == []
    )


def test_downtime_minutes_round_partial_minutes_up() -> None:
    def minutes(down_seconds: float) -> int:
        return DayBar(date(2026, 3, 1), 0, down_seconds, 0, "down").downtime_minutes

    # 0 s -> 0; 0.5 s -> 1; 60 s -> exactly 1; 61 s -> 2; 1,800 s -> 30.
    assert [minutes(s) for s in (0, 0.5, 60, 61, 1800)] == [0, 1, 1, 2, 30]


# the service union


def test_a_service_shows_its_worst_monitor_and_its_uptime_follows() -> None:
    first = [Span(t(0), t(1), "up"), Span(t(1), t(2), "down"), Span(t(2), t(4), "up")]
    second = [Span(t(0), t(1.5), "up"), Span(t(1.5), t(3), "late"), Span(t(3), t(4), "up")]
    union = uptime.down_union([first, second])
    # down 1-2 (first), late 2-3 (second, first back up), up elsewhere.
    assert union == [
        Span(t(0), t(1), "up"),
        Span(t(1), t(2), "down"),
        Span(t(2), t(3), "late"),
        Span(t(3), t(4), "up"),
    ]
    # Up 1 + 1 + 1 = 3 h (late counted up), down 1 h: 75 %.
    assert uptime.uptime(union).percent == 75.0


def test_pending_outranks_paused_and_anything_watched_outranks_both() -> None:
    first = [Span(t(0), t(2), "pending")]
    second = [Span(t(0), t(1), "paused"), Span(t(1), t(2), "up")]
    third = [Span(t(2), t(3), "paused")]
    assert uptime.down_union([first, second, third]) == [
        Span(t(0), t(1), "pending"),
        Span(t(1), t(2), "up"),
        Span(t(2), t(3), "paused"),
    ]


def test_a_maintenance_gap_in_every_monitor_stays_a_gap() -> None:
    first = [Span(t(0), t(2), "up"), Span(t(3), t(5), "up")]
    second = [Span(t(1), t(2), "down"), Span(t(3), t(5), "up")]
    # Nobody has 2-3: the service has no span there; first alone holds 0-1.
    assert uptime.down_union([first, second]) == [
        Span(t(0), t(1), "up"),
        Span(t(1), t(2), "down"),
        Span(t(3), t(5), "up"),
    ]


def test_one_monitor_is_its_own_union_and_none_is_empty() -> None:
    spans = [Span(t(0), t(1), "up"), Span(t(1), t(2), "late")]
    assert uptime.down_union([spans]) == spans
    assert uptime.down_union([]) == []
    assert uptime.down_union([[], []]) == []


def test_monitors_down_in_turn_for_a_quarter_keep_the_service_down_throughout() -> None:
    # 90 days = 2,160 hours: the first monitor is down on even hours, the second on odd
    # ones, so one of them is always down: one span, down all 2,160 h.
    hours = range(24 * 90)
    first = [Span(t(h), t(h + 1), "down" if h % 2 == 0 else "up") for h in hours]
    second = [Span(t(h), t(h + 1), "up" if h % 2 == 0 else "down") for h in hours]
    assert uptime.down_union([first, second]) == [Span(t(0), t(24 * 90), "down")]


# histograms


def test_the_bucket_bounds_are_the_stored_columns() -> None:
    # Rollup rows hold b00..b11 by these bounds: changing them misreads every stored row.
    assert histogram.BOUNDS_MS == (25, 50, 100, 200, 300, 500, 750, 1000, 2000, 5000, 10000)
    assert histogram.BUCKETS == 12


def test_every_bound_is_inclusive() -> None:
    cases = [
        (0, 0),
        (25, 0),
        (25.01, 1),
        (50, 1),
        (50.5, 2),
        (100, 2),
        (200, 3),
        (300, 4),
        (500, 5),
        (750, 6),
        (1000, 7),
        (2000, 8),
        (5000, 9),
        (10000, 10),
        (10000.5, 11),
        (10001, 11),
        (600_000, 11),
    ]
    assert [histogram.bucket_of(ms) for ms, _ in cases] == [bucket for _, bucket in cases]


def test_no_samples_count_nothing_and_answer_none() -> None:
    assert histogram.counts_of([]) == [0] * 12
    assert histogram.percentile([0] * 12, 0.99) is None


def test_percentiles_of_a_known_distribution() -> None:
    # 100 samples: 50 in 50-100 ms, 40 in 200-300, 9 in 750-1000, 1 above 10 s.
    samples = [60.0] * 50 + [250.0] * 40 + [800.0] * 9 + [30_000.0]
    counts = histogram.counts_of(samples)
    assert counts == [0, 0, 50, 0, 40, 0, 0, 9, 0, 0, 0, 1]
    # p1: the 1st sample, 1 of 50 into 50-100: 50 + 50 * 1/50 = 51.
    assert histogram.percentile(counts, 0.01) == 51.0
    # p50: the 50th, the last of the 50 in 50-100: the bucket's top, 100.
    assert histogram.percentile(counts, 0.5) == 100.0
    # p95: the 95th, 5 of 9 into 750-1000 (90 before it): 750 + 250 * 5/9 = 888.88...
    assert histogram.percentile(counts, 0.95) == pytest.approx(750 + 250 * 5 / 9)
    # p99: the 99th, the last of the 9: 1000.
    assert histogram.percentile(counts, 0.99) == 1000.0
    # p100: the sample above 10 s; the last bucket answers its floor, 10,000.
    assert histogram.percentile(counts, 1.0) == 10_000.0


def test_the_first_bucket_interpolates_from_zero() -> None:
    # 4 samples in 0-25; p50 is the 2nd: 0 + 25 * 2/4 = 12.5.
    assert histogram.percentile(histogram.counts_of([1, 2, 3, 4]), 0.5) == 12.5


def test_merged_rollups_answer_as_one() -> None:
    merged = histogram.merge(histogram.counts_of([10, 20, 30]), histogram.counts_of([40, 400]))
    # 10, 20 in 0-25; 30, 40 in 25-50; 400 in 300-500.
    assert merged == [2, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    # p50 of 5: the 2.5th, 0.5 of 2 into 25-50: 25 + 25 * 0.5/2 = 31.25.
    assert histogram.percentile(merged, 0.5) == 31.25


def test_rollups_of_different_shapes_do_not_merge() -> None:
    with pytest.raises(ValueError, match=r"shorter|longer"):
        histogram.merge([1] * 12, [1] * 11)
