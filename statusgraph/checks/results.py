"""Writing what checks found: results, status transitions, rollups and the next check
(DESIGN §10), many checks in one transaction.

The rules, per monitor, in the order its checks ran:

- one success makes it UP and clears its failure count;
- a failure counts; the monitor turns DOWN once `confirmations` failures in a row are
  counted (default 2), and until then it is checked again after `retryIntervalSeconds`
  (default 20) instead of a whole interval, so one timeout or DNS hiccup never alarms;
- while maintenance is in progress on the monitor's service a failure is stored but not
  counted: no DOWN is raised;
- a monitor paused, resumed, edited or deleted while its check ran is left as the
  change left it (its result is kept, unless it was deleted).

Transitions are recorded with the check's reason ("status 503", "connection to
example.com:443 refused", ...). Hourly and daily rollups are counted here, by upserts
that add, so no reader ever scans raw results.
"""

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col
from sqlmodel import select as model_select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.checks import histogram, tables
from statusgraph.checks.prober import Target
from statusgraph.checks.probes import Failure, Outcome
from statusgraph.db import page_versions
from statusgraph.db.models import (
    MaintenanceService,
    MaintenanceWindow,
    Monitor,
)
from statusgraph.db.rows import core_connection
from statusgraph.events import outbox
from statusgraph.ids import new_id, new_ordered_ids
from statusgraph.resolvers.heartbeats import MonitorStatus

DEFAULT_CONFIRMATIONS = 2
DEFAULT_RETRY_SECONDS = 20
JITTER = 0.025  # each next check lands within ±2.5 % of an interval, spreading bursts
MAX_REASON = 200

BUCKET_COLUMNS = tuple(f"b{index:02d}" for index in range(histogram.BUCKETS))
_ADDED = ("checks", "failures", "response_count", "response_ms_sum", *BUCKET_COLUMNS)


@dataclass(frozen=True, slots=True)
class Checked:
    """One check done: of what, when it started, what it found."""

    target: Target
    checked_at: datetime
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class Transition:
    monitor_id: str
    from_status: str
    to_status: str
    reason: str
    at: datetime
    organization_id: str
    failure: str | None  # the failed check's Failure, for the event's type


@dataclass(slots=True)
class Recorded:
    """What record() wrote: the results' ids in the order given (None for a monitor that
    was deleted meanwhile) and the transitions."""

    result_ids: list[str | None] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)


def next_due(due: datetime, interval: int, now: datetime) -> datetime:
    """The next check after one due at `due`: an interval on, jittered; a check that ran
    late skips the times already past instead of catching up on them."""
    step = timedelta(seconds=interval * random.uniform(1 - JITTER, 1 + JITTER))  # noqa: S311
    following = due + step
    if following <= now:
        missed = math.floor((now - following) / timedelta(seconds=interval)) + 1
        following += missed * timedelta(seconds=interval)
    return following


async def _locked_monitors(session: AsyncSession, ids: set[str]) -> dict[str, Monitor]:
    # In id order: two workers writing overlapping batches lock in the same order.
    statement = (
        model_select(Monitor)
        .where(col(Monitor.id).in_(sorted(ids)))
        .order_by(col(Monitor.id))
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    return {row.id: row for row in (await session.exec(statement)).all()}


async def services_in_maintenance(
    session: AsyncSession, service_ids: Sequence[str], now: datetime
) -> set[str]:
    if not service_ids:
        return set()
    statement = (
        model_select(MaintenanceService.service_id)
        .join(MaintenanceWindow, col(MaintenanceWindow.id) == MaintenanceService.maintenance_id)
        .where(
            col(MaintenanceService.service_id).in_(service_ids),
            col(MaintenanceWindow.cancelled_at).is_(None),
            col(MaintenanceWindow.starts_at) <= now,
            col(MaintenanceWindow.ends_at) > now,
        )
    )
    return set((await session.exec(statement)).all())


def _following(monitor: Monitor, checked: Checked, now: datetime) -> datetime:
    interval = monitor.interval_seconds or checked.target.interval_seconds or 60
    return next_due(checked.target.due, interval, now)


def _still_claimed(monitor: Monitor, now: datetime) -> bool:
    """Whether `next_check_at` is still a claim's lease (in the future), not a time an
    edit or a resume set (now or before)."""
    return monitor.next_check_at is not None and monitor.next_check_at > now


def _reason(outcome: Outcome) -> str:
    return outcome.reason[:MAX_REASON]


def _settle(
    monitor: Monitor,
    checked: Checked,
    *,
    maintenance: bool,
    manual: bool,
    now: datetime,
) -> Transition | None:
    """Applies one check to the monitor's state; the transition it caused, if any."""
    outcome, settings = checked.outcome, monitor.settings
    to: MonitorStatus | None = None
    retry = False
    if outcome.up:
        monitor.failures = 0
        to = MonitorStatus.UP
    elif not maintenance:
        monitor.failures += 1
        if monitor.failures >= settings.get("confirmations", DEFAULT_CONFIRMATIONS):
            to = MonitorStatus.DOWN
        else:
            retry = monitor.recorded_status != MonitorStatus.DOWN
    if retry:
        again = checked.checked_at + timedelta(
            seconds=settings.get("retry_interval_seconds", DEFAULT_RETRY_SECONDS)
        )
        if not manual or monitor.next_check_at is None or again < monitor.next_check_at:
            monitor.next_check_at = again
    elif not manual:
        monitor.next_check_at = _following(monitor, checked, now)
    if to is None or to == monitor.recorded_status:
        return None
    change = Transition(
        monitor.id,
        monitor.recorded_status,
        to.value,
        _reason(outcome),
        checked.checked_at,
        monitor.organization_id,
        outcome.failure.value if outcome.failure is not None else None,
    )
    monitor.recorded_status = to.value
    return change


# A check that fails only because a certificate or a registration is about to expire
# tells of that, under its own type, rather than of an outage.
_EXPIRING = {
    Failure.CERTIFICATE.value: outbox.EventType.CERTIFICATE_EXPIRING,
    Failure.REGISTRATION.value: outbox.EventType.DOMAIN_EXPIRING,
}


def _events(transitions: Sequence[Transition]) -> list[dict[str, Any]]:
    """The outbox's rows for the transitions worth telling."""
    rows = []
    for change in transitions:
        event = outbox.transition_row(
            change.organization_id,
            monitor_id=change.monitor_id,
            from_status=change.from_status,
            to_status=change.to_status,
            reason=change.reason,
            at=change.at,
        )
        if event is None:
            continue
        if change.to_status == "down" and change.failure in _EXPIRING:
            event["type"] = _EXPIRING[change.failure].value
        event["data"]["failure"] = change.failure
        rows.append(event)
    return rows


def _result_row(result_id: str, checked: Checked) -> dict[str, Any]:
    outcome = checked.outcome
    details: dict[str, Any] = {}
    if outcome.phases:
        details["phases"] = {name: round(ms, 3) for name, ms in outcome.phases.items()}
    if outcome.certificate is not None:
        certificate = outcome.certificate
        details["certificate"] = {
            "subject": certificate.subject,
            "issuer": certificate.issuer,
            "not_after": certificate.not_after.isoformat(),
        }
    if outcome.registration is not None:
        registration = outcome.registration
        details["registration"] = {
            "registrar": registration.registrar,
            "expires_at": registration.expires_at.isoformat(),
        }
    return {
        "id": result_id,
        "monitor_id": checked.target.monitor_id,
        "checked_at": checked.checked_at,
        "up": outcome.up,
        "failure": outcome.failure.value if outcome.failure is not None else None,
        "reason": outcome.reason[:500],
        "response_ms": outcome.response_ms,
        "status_code": outcome.status_code,
        "details": details,
    }


def period_start(moment: datetime, period: str) -> datetime:
    moment = moment.astimezone(UTC)
    if period == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _rollup_rows(checks: Sequence[Checked]) -> list[dict[str, Any]]:
    """The batch's checks added up per monitor, hour and day."""
    sums: dict[tuple[str, str, datetime], dict[str, Any]] = defaultdict(
        lambda: dict.fromkeys(_ADDED, 0)
    )
    for checked in checks:
        outcome = checked.outcome
        for period in ("hour", "day"):
            row = sums[
                (checked.target.monitor_id, period, period_start(checked.checked_at, period))
            ]
            row["checks"] += 1
            row["failures"] += 0 if outcome.up else 1
            if outcome.response_ms is not None:
                row["response_count"] += 1
                row["response_ms_sum"] += outcome.response_ms
                row[BUCKET_COLUMNS[histogram.bucket_of(outcome.response_ms)]] += 1
    # Sorted: two workers upserting overlapping rows take their locks in one order.
    return [
        {"monitor_id": monitor_id, "period": period, "starts_at": starts_at, **values}
        for (monitor_id, period, starts_at), values in sorted(sums.items())
    ]


async def _add_rollups(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(tables.ROLLUPS)
    statement = statement.on_conflict_do_update(
        index_elements=["monitor_id", "period", "starts_at"],
        set_={name: tables.ROLLUPS.c[name] + statement.excluded[name] for name in _ADDED},
    )
    await session.exec(statement, params=rows)


async def record(
    session: AsyncSession, checks: Sequence[Checked], *, now: datetime, manual: bool = False
) -> Recorded:
    """Writes `checks` (in the order they ran) in the caller's transaction. `manual`: a
    "check now", which changes the status like any check but keeps the schedule, unless
    it calls for a confirming retry sooner."""
    recorded = Recorded()
    if not checks:
        return recorded
    monitors = await _locked_monitors(session, {c.target.monitor_id for c in checks})
    service_ids = sorted({m.service_id for m in monitors.values() if m.service_id is not None})
    maintained = await services_in_maintenance(session, service_ids, now)
    kept = [checked for checked in checks if checked.target.monitor_id in monitors]
    ids = iter(new_ordered_ids("chk", len(kept)))
    results: list[dict[str, Any]] = []
    for checked in checks:
        monitor = monitors.get(checked.target.monitor_id)
        if monitor is None:  # deleted while it was being checked
            recorded.result_ids.append(None)
            continue
        result_id = next(ids)
        recorded.result_ids.append(result_id)
        results.append(_result_row(result_id, checked))
        if monitor.paused or monitor.updated_at != checked.target.version:
            # Paused, resumed or edited since its settings were read: the result is kept,
            # but it tried the old settings. A change that set the next check did so; one
            # that did not (a rename) leaves it to us, or it would wait for the lease.
            if not monitor.paused and _still_claimed(monitor, now):
                monitor.next_check_at = _following(monitor, checked, now)
                session.add(monitor)
            continue
        if monitor.last_checked_at is not None and checked.checked_at < monitor.last_checked_at:
            # Older than a result already applied (a slow check overtaken by "check now"):
            # kept, not applied, so that the transitions stay in the order they happened.
            continue
        monitor.last_checked_at = checked.checked_at
        change = _settle(
            monitor,
            checked,
            maintenance=monitor.service_id in maintained,
            manual=manual,
            now=now,
        )
        if change is not None:
            recorded.transitions.append(change)
        session.add(monitor)
    if results:
        await session.exec(insert(tables.RESULTS), params=results)
    await _add_rollups(session, _rollup_rows(kept))
    if recorded.transitions:
        await session.exec(
            insert(tables.CHANGES),
            params=[
                {
                    "id": new_id("chg"),
                    "monitor_id": change.monitor_id,
                    "from_status": change.from_status,
                    "to_status": change.to_status,
                    "reason": change.reason,
                    "created_at": change.at,
                }
                for change in recorded.transitions
            ],
        )
        await outbox.insert_rows(session, _events(recorded.transitions))
        # Inserted without the ORM: the pages showing these monitors' bars are stale.
        page_versions.touch(session, {change.organization_id for change in recorded.transitions})
    await session.flush()
    return recorded


async def claim(
    session: AsyncSession, *, now: datetime, limit: int, lease: timedelta
) -> list[Target]:
    """Up to `limit` monitors whose check is due, oldest due first, claimed: their
    `next_check_at` moves to the end of the lease, so no other worker takes them while
    the check runs, and a worker killed mid-check lets them go when the lease ends.
    On PostgreSQL rows another worker is claiming are skipped (SKIP LOCKED); on SQLite
    the write transaction is the lock."""
    statement = (
        select(
            tables.MONITORS.c.id,
            tables.MONITORS.c.type,
            tables.MONITORS.c.settings,
            tables.MONITORS.c.timeout_seconds,
            tables.MONITORS.c.interval_seconds,
            tables.MONITORS.c.next_check_at,
            tables.MONITORS.c.updated_at,
        )
        .where(tables.MONITORS.c.next_check_at <= now, tables.MONITORS.c.paused.is_(False))
        .order_by(tables.MONITORS.c.next_check_at)
        .limit(limit)
        .with_for_update(skip_locked=True, key_share=True)
    )
    rows = (await (await core_connection(session)).execute(statement)).all()
    if not rows:
        return []
    targets = [
        Target(
            monitor_id=row.id,
            type=row.type,
            settings=row.settings,
            timeout_seconds=row.timeout_seconds,
            interval_seconds=row.interval_seconds,
            due=row.next_check_at,
            version=row.updated_at,
        )
        for row in rows
    ]
    await session.exec(
        tables.MONITORS.update()
        .where(tables.MONITORS.c.id.in_([target.monitor_id for target in targets]))
        .values(next_check_at=now + lease)
    )
    return targets


async def release(session: AsyncSession, monitor_ids: Sequence[str], *, now: datetime) -> None:
    """Claims given back unchecked (a worker stopping): due again at once, for another."""
    if not monitor_ids:
        return
    await session.exec(
        tables.MONITORS.update()
        .where(
            tables.MONITORS.c.id.in_(list(monitor_ids)),
            tables.MONITORS.c.next_check_at.is_not(None),
        )
        .values(next_check_at=now)
    )
