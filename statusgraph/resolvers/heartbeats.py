"""Heartbeat monitors, with Healthchecks' semantics.

After a ping a monitor is UP; when `last ping + period` passes it is LATE; when the
grace time has passed too it is DOWN. A ping with status "down" makes it DOWN at once;
"start" opens a run that must be followed by a ping within the grace time, or the
monitor is DOWN. The status is always derived from timestamps at read time; the
evaluator (evaluate_due) only *records* transitions, using the indexed
`next_deadline_at` so it looks at overdue monitors alone.
"""

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.db.models import Event, Monitor, MonitorStatusChange
from statusgraph.db.scoping import for_org
from statusgraph.errors import NotFoundError
from statusgraph.events import outbox
from statusgraph.ids import new_id

MAX_STORED_MESSAGE = 10_000  # characters kept of a ping's message
EVALUATE_BATCH = 500


class MonitorStatus(StrEnum):
    PENDING = "pending"
    UP = "up"
    LATE = "late"
    DOWN = "down"
    PAUSED = "paused"


class PingKind(StrEnum):
    SUCCESS = "success"
    FAIL = "fail"
    START = "start"


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which
# doubled the cost of making one, and one is made for every ping.
@dataclass(slots=True)
class Derived:
    status: MonitorStatus
    next_deadline: datetime | None  # when the status next changes without a ping


class HeartbeatState(Protocol):
    """What the state machine reads and writes: a Monitor row, or the batcher's copy."""

    id: str
    paused: bool
    period_seconds: int | None
    grace_seconds: int | None
    last_ping_at: datetime | None
    last_ping_kind: str | None
    last_start_at: datetime | None
    recorded_status: str
    next_deadline_at: datetime | None


def derive(monitor: HeartbeatState, now: datetime) -> Derived:
    if monitor.paused:
        return Derived(MonitorStatus.PAUSED, None)
    if monitor.last_ping_at is None and monitor.last_start_at is None:
        return Derived(MonitorStatus.PENDING, None)
    period = _seconds(monitor.period_seconds or 0)
    grace = _seconds(monitor.grace_seconds or 0)
    started = monitor.last_start_at
    if started is not None and (monitor.last_ping_at is None or started > monitor.last_ping_at):
        run_deadline = started + grace
        if now >= run_deadline:
            return Derived(MonitorStatus.DOWN, None)
        # While a run is open the previous ping's schedule still applies.
        if monitor.last_ping_at is None:
            return Derived(MonitorStatus.UP, run_deadline)
        schedule = _from_ping(monitor, now, period, grace)
        if schedule.status is MonitorStatus.DOWN:
            return schedule
        deadlines = [d for d in (schedule.next_deadline, run_deadline) if d is not None]
        return Derived(schedule.status, min(deadlines))
    return _from_ping(monitor, now, period, grace)


@functools.lru_cache(maxsize=1024)
def _seconds(seconds: int) -> timedelta:
    """timedelta(seconds=...), remembered: building one costs more than the rest of a
    derive(), and monitors share a few periods and grace times."""
    return timedelta(seconds=seconds)


def _from_ping(
    monitor: HeartbeatState, now: datetime, period: timedelta, grace: timedelta
) -> Derived:
    assert monitor.last_ping_at is not None
    if monitor.last_ping_kind == PingKind.FAIL:
        return Derived(MonitorStatus.DOWN, None)
    late_at = monitor.last_ping_at + period
    down_at = late_at + grace
    if now < late_at:
        return Derived(MonitorStatus.UP, late_at)
    if now < down_at:
        return Derived(MonitorStatus.LATE, down_at)
    return Derived(MonitorStatus.DOWN, None)


async def heartbeat_monitor(
    session: AsyncSession, organization_id: str, monitor_id: str
) -> Monitor:
    """The caller's heartbeat monitor; unknown, foreign and other types are all "not found"."""
    statement = for_org(Monitor, organization_id).where(
        Monitor.id == monitor_id, Monitor.type == "heartbeat"
    )
    monitor = (await session.exec(statement)).first()
    if monitor is None:
        raise NotFoundError.of("Monitor")
    return monitor


def settle(
    monitor: HeartbeatState, *, reason: str, now: datetime
) -> tuple[Derived, dict[str, Any] | None]:
    """Recompute a monitor's status and deadline after a change; the transition's row
    (for monitor_status_change) when the status moved, else None."""
    derived = derive(monitor, now)
    change = None
    if derived.status != monitor.recorded_status:
        change = {
            "id": new_id("chg"),
            "monitor_id": monitor.id,
            "from_status": monitor.recorded_status,
            "to_status": derived.status.value,
            "reason": reason,
            "created_at": now,
        }
        monitor.recorded_status = derived.status.value
    monitor.next_deadline_at = derived.next_deadline
    return derived, change


def refresh(session: AsyncSession, monitor: Monitor, *, reason: str, now: datetime) -> Derived:
    """settle() for a Monitor held by a session: the transition is added to it."""
    derived, change = settle(monitor, reason=reason, now=now)
    if change is not None:
        session.add(MonitorStatusChange(**change))
        event = outbox.transition_row(
            monitor.organization_id,
            monitor_id=monitor.id,
            from_status=change["from_status"],
            to_status=change["to_status"],
            reason=change["reason"],
            at=now,
        )
        if event is not None:
            session.add(Event(**event))
    session.add(monitor)
    return derived


PING_REASONS = {
    PingKind.SUCCESS: "ping",
    PingKind.FAIL: "ping with status down",
    PingKind.START: "run started",
}


def apply_ping(
    monitor: HeartbeatState,
    *,
    ping_id: str,
    kind: PingKind,
    message: str | None,
    duration_ms: int | None,
    ip: str | None,
    now: datetime,
) -> tuple[Derived, dict[str, Any], dict[str, Any] | None]:
    """Applies a ping to the monitor: (new status, the ping's row, the transition's row or
    None). The caller writes the rows, many pings' at once (ingest/batcher.py), and gives
    the ids (ids.new_ordered_ids: one draw of randomness for the group)."""
    kind_value = kind.value  # an enum property, computed in Python: read it once
    ping = {
        "id": ping_id,
        "monitor_id": monitor.id,
        "kind": kind_value,
        "message": message[:MAX_STORED_MESSAGE] if message is not None else None,
        "duration_ms": duration_ms,
        "ip": ip,
        "created_at": now,
    }
    if kind is PingKind.START:
        monitor.last_start_at = now
    else:
        monitor.last_ping_at = now
        monitor.last_ping_kind = kind_value
    derived, change = settle(monitor, reason=PING_REASONS[kind], now=now)
    return derived, ping, change


async def evaluate_due(session: AsyncSession, *, now: datetime, limit: int = EVALUATE_BATCH) -> int:
    """Record the transitions of up to `limit` monitors whose deadline has passed; how
    many were evaluated. Safe with any number of evaluators and pings at once.

    On PostgreSQL the overdue monitors are read locked, skipping those locked by someone
    else: a monitor being pinged gets a new deadline from its ping anyway, and one held by
    another evaluator is being recorded there. Unlocked, two evaluators recorded the same
    transition, and an evaluator whose UPDATE waited behind a ping's lock wrote its stale
    deadline over the one the ping had just committed. The status is derived from the row
    as locked (PostgreSQL re-checks the deadline against the newest committed version).
    SQLite renders no FOR UPDATE: the caller's write transaction (BEGIN IMMEDIATE, see
    db/engine.py) already holds the database's one write lock while it reads.
    """
    overdue = (
        await session.exec(
            select(Monitor)
            .where(col(Monitor.next_deadline_at) <= now)
            .order_by(col(Monitor.next_deadline_at))
            .limit(limit)
            # FOR NO KEY UPDATE, as resolvers/locks.py takes for edits: the evaluator
            # changes no key, so inserts that reference a monitor need not wait for it.
            .with_for_update(skip_locked=True, key_share=True)
            # A Monitor the session already holds is overwritten with the row as locked.
            .execution_options(populate_existing=True)
        )
    ).all()
    for monitor in overdue:
        refresh(session, monitor, reason=_deadline_reason(monitor, derive(monitor, now)), now=now)
    await session.flush()
    return len(overdue)


def _deadline_reason(monitor: HeartbeatState, derived: Derived) -> str:
    run_open = monitor.last_start_at is not None and (
        monitor.last_ping_at is None or monitor.last_start_at > monitor.last_ping_at
    )
    if derived.status is MonitorStatus.DOWN:
        return (
            "run did not complete within the grace time"
            if run_open
            else "no ping within the grace time"
        )
    if derived.status is MonitorStatus.LATE:
        return "no ping within the period"
    return "deadline passed"
