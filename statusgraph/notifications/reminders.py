"""Re-notification while DOWN (Uptime Kuma's "resend every N minutes"): a monitor with
`renotify_minutes` that is still DOWN that long after it went DOWN, or after its last
reminder, writes its monitor.down event again, marked as a reminder."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.db.rows import core_connection
from statusgraph.events import outbox
from statusgraph.notifications.tables import CHANGES, MONITORS

BATCH = 500


async def remind(session: AsyncSession, *, now: datetime) -> int:
    """Writes the reminders due; returns how many. Every DOWN monitor with a re-notify
    interval is looked at, a batch at a time in id order (not only the first batch: those
    not yet due would otherwise hide the rest). On PostgreSQL monitors another process is
    reminding of are skipped; each reminder moves `down_notified_at` in the transaction
    of its event, so it is written once."""
    reminded, after = 0, ""
    while True:
        batch = await _candidates(session, after=after)
        reminded += await _remind(session, batch, now=now)
        if len(batch) < BATCH:
            return reminded
        after = batch[-1].id


async def _candidates(session: AsyncSession, *, after: str) -> Sequence[Any]:
    connection = await core_connection(session)
    return (
        await connection.execute(
            select(
                MONITORS.c.id,
                MONITORS.c.organization_id,
                MONITORS.c.renotify_minutes,
                MONITORS.c.down_notified_at,
            )
            .where(
                MONITORS.c.id > after,
                MONITORS.c.recorded_status == "down",
                MONITORS.c.renotify_minutes.is_not(None),
                MONITORS.c.paused.is_(False),
            )
            .order_by(MONITORS.c.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
    ).all()


async def _remind(session: AsyncSession, monitors: Sequence[Any], *, now: datetime) -> int:
    if not monitors:
        return 0
    connection = await core_connection(session)
    went_down = dict(
        (
            await connection.execute(
                select(CHANGES.c.monitor_id, func.max(CHANGES.c.created_at))
                .where(
                    CHANGES.c.monitor_id.in_([m.id for m in monitors]),
                    CHANGES.c.to_status == "down",
                )
                .group_by(CHANGES.c.monitor_id)
            )
        ).all()
    )
    reminded = 0
    for monitor in monitors:
        since = went_down.get(monitor.id)
        if since is None:
            continue
        if monitor.down_notified_at is not None and monitor.down_notified_at > since:
            since = monitor.down_notified_at
        if since + timedelta(minutes=monitor.renotify_minutes) > now:
            continue
        await connection.execute(
            update(MONITORS).where(MONITORS.c.id == monitor.id).values(down_notified_at=now)
        )
        event = outbox.transition_row(
            monitor.organization_id,
            monitor_id=monitor.id,
            from_status="down",
            to_status="down",
            reason=f"still DOWN after {_minutes(now - since)} more minutes",
            at=now,
            reminder=True,
        )
        await outbox.insert_rows(session, [event] if event else [])
        reminded += 1
    return reminded


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)
