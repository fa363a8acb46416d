"""Sending deliveries: claim the due ones with a lease, read what their messages need,
and record each attempt in the delivery log with the next one scheduled.

A claim moves `next_attempt_at` to the end of a lease (LEASE), as the checks' claims do:
no other worker sends the delivery meanwhile, and a worker killed mid-send lets it go
when the lease ends; the next attempt then carries the same `webhook-id`, which is how
a receiver recognises the duplicate that at-least-once delivery allows.
"""

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.sealed import Sealer, SealError
from statusgraph.auth.subscriber_tokens import Purpose, SubscriberTokens
from statusgraph.db.rows import core_connection
from statusgraph.events import outbox
from statusgraph.ids import new_id
from statusgraph.notifications.integrations import Outgoing
from statusgraph.notifications.messages import Subject
from statusgraph.notifications.tables import (
    ATTEMPTS,
    CHANNELS,
    DELIVERIES,
    EVENTS,
    MONITORS,
    ORGANIZATIONS,
    PAGES,
    SERVICES,
    SUBSCRIBERS,
)
from statusgraph.notifications.transport import Attempt

# DESIGN §12: the first attempt at once, then these waits; after the last, failed.
RETRY_DELAYS = tuple(
    timedelta(seconds=s) for s in (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600)
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
LEASE = timedelta(seconds=120)
# An endpoint whose every attempt failed for this long is disabled.
DISABLE_AFTER = timedelta(days=5)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: str
    event_id: str
    channel_id: str | None
    attempts: int
    lease_until: datetime
    subscriber_id: str | None = None


async def due(session: AsyncSession, *, now: datetime) -> bool:
    """Whether any delivery is due (a read: no lock taken)."""
    connection = await core_connection(session)
    found = await connection.execute(
        select(DELIVERIES.c.id).where(DELIVERIES.c.next_attempt_at <= now).limit(1)
    )
    return found.first() is not None


async def claim(
    session: AsyncSession, *, now: datetime, limit: int, lease: timedelta = LEASE
) -> list[Claimed]:
    """Up to `limit` due deliveries, the longest due first, now ours until the lease
    ends. On PostgreSQL rows another worker is claiming are skipped (SKIP LOCKED)."""
    connection = await core_connection(session)
    rows = (
        await connection.execute(
            select(DELIVERIES.c.id, DELIVERIES.c.event_id, DELIVERIES.c.channel_id)
            .add_columns(DELIVERIES.c.attempts, DELIVERIES.c.subscriber_id)
            .where(DELIVERIES.c.next_attempt_at <= now)
            .order_by(DELIVERIES.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not rows:
        return []
    until = now + lease
    await connection.execute(
        update(DELIVERIES)
        .where(DELIVERIES.c.id.in_([row.id for row in rows]))
        .values(next_attempt_at=until)
    )
    return [
        Claimed(row.id, row.event_id, row.channel_id, row.attempts, until, row.subscriber_id)
        for row in rows
    ]


def target_of(settings: dict[str, Any]) -> str | None:
    """What a monitor watches, as people read it."""
    if "url" in settings:
        return str(settings["url"])
    if "port" in settings and "host" in settings:
        return f"{settings['host']}:{settings['port']}"
    return settings.get("host") or settings.get("domain")


async def outgoing(
    session: AsyncSession,
    claimed: Sequence[Claimed],
    *,
    sealer: Sealer,
    tokens: SubscriberTokens,
    now: datetime,
) -> tuple[list[Outgoing], list[Claimed]]:
    """What each claimed delivery sends, read in one query per table; and the
    deliveries that cannot be sent (their channel was disabled or lost its secret)."""
    connection = await core_connection(session)
    events = {
        row.id: row
        for row in await connection.execute(
            select(EVENTS).where(EVENTS.c.id.in_({c.event_id for c in claimed}))
        )
    }
    channels = {
        row.id: row
        for row in await connection.execute(
            select(CHANNELS).where(CHANNELS.c.id.in_({c.channel_id for c in claimed}))
        )
    }
    subscribers = await _subscribers(session, {c.subscriber_id for c in claimed}, tokens)
    organizations = {
        row.id: (row.name, row.time_zone)
        for row in await connection.execute(
            select(ORGANIZATIONS.c.id, ORGANIZATIONS.c.name, ORGANIZATIONS.c.time_zone).where(
                ORGANIZATIONS.c.id.in_({e.organization_id for e in events.values()})
            )
        )
    }
    monitor_ids = {e.monitor_id for e in events.values() if e.monitor_id}
    monitors = {
        row.id: row
        for row in await connection.execute(
            select(
                MONITORS.c.id,
                MONITORS.c.name,
                MONITORS.c.type,
                MONITORS.c.settings,
                MONITORS.c.service_id,
            ).where(MONITORS.c.id.in_(monitor_ids))
        )
    }
    service_ids = {s for e in events.values() for s in e.service_ids} | {
        m.service_id for m in monitors.values() if m.service_id
    }
    services = dict(
        (
            await connection.execute(
                select(SERVICES.c.id, SERVICES.c.name).where(SERVICES.c.id.in_(service_ids))
            )
        ).all()
    )
    ready, unsendable = [], []
    for delivery in claimed:
        event, channel = events[delivery.event_id], channels.get(delivery.channel_id)
        subscriber = subscribers.get(delivery.subscriber_id or "")
        if subscriber is None and (channel is None or not channel.enabled):
            unsendable.append(delivery)
            continue
        try:
            secrets = _secrets(channel, sealer, now) if channel is not None else ()
        except SealError:
            unsendable.append(delivery)
            continue
        monitor = monitors.get(event.monitor_id) if event.monitor_id else None
        touched = list(event.service_ids)
        if monitor is not None and monitor.service_id and monitor.service_id not in touched:
            touched.append(monitor.service_id)
        organization_name, time_zone = organizations.get(event.organization_id, ("", "UTC"))
        subject = Subject(
            id=event.id,
            type=event.type,
            organization_id=event.organization_id,
            organization_name=organization_name,
            time_zone=time_zone,
            created_at=event.created_at.isoformat(),
            data=event.data,
            monitor=None
            if monitor is None
            else {
                "id": monitor.id,
                "name": monitor.name,
                "type": monitor.type.upper(),
                "target": target_of(monitor.settings),
            },
            services=[{"id": s, "name": services[s]} for s in touched if s in services],
        )
        target = subscriber if subscriber is not None else channel
        assert target is not None
        ready.append(
            Outgoing(
                delivery_id=delivery.id,
                subject=subject,
                channel_id=target.id,
                channel_name=target.name,
                kind=target.kind,
                settings=target.settings,
                secrets=secrets,
                # The wall clock, not the injected one: a receiver compares it with
                # its own to refuse replays (Standard Webhooks: within 5 minutes).
                timestamp=int(time.time()),
            )
        )
    return ready, unsendable


@dataclass(frozen=True, slots=True)
class Recipient:
    """A subscriber as the integrations see it: its kind (`subscriber_email`,
    `subscriber_webhook`) and settings (address or URL, the page, the links' paths)."""

    id: str
    name: str
    kind: str
    settings: dict[str, Any]


async def _subscribers(
    session: AsyncSession, ids: set[str | None], tokens: SubscriberTokens
) -> dict[str, Recipient]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    connection = await core_connection(session)
    rows = await connection.execute(
        select(
            SUBSCRIBERS.c.id,
            SUBSCRIBERS.c.kind,
            SUBSCRIBERS.c.target,
            SUBSCRIBERS.c.email,
            PAGES.c.name,
        )
        .join(PAGES, PAGES.c.id == SUBSCRIBERS.c.page_id)
        .where(SUBSCRIBERS.c.id.in_(wanted))
    )
    found = {}
    for row in rows:
        found[row.id] = Recipient(
            id=row.id,
            name=row.name,
            kind=f"subscriber_{row.kind}",
            settings={
                "target": row.target,
                "email": row.email,
                "page_name": row.name,
                "confirm_path": (
                    f"/subscription/confirm?token={tokens.make(Purpose.CONFIRM, row.id)}"
                ),
                "unsubscribe_path": (
                    f"/subscription/unsubscribe?token={tokens.make(Purpose.UNSUBSCRIBE, row.id)}"
                ),
            },
        )
    return found


def _secrets(channel: Any, sealer: Sealer, now: datetime) -> tuple[str, ...]:
    if channel.secret is None:
        return ()
    found = [sealer.open(channel.secret)]
    until = channel.previous_secret_until
    if channel.previous_secret is not None and until is not None and until > now:
        # One that no longer opens (the server's key changed since) is left out: the
        # current one, rotated after the change, signs alone.
        with contextlib.suppress(SealError):
            found.append(sealer.open(channel.previous_secret))
    return tuple(found)


def next_attempt(attempts_made: int, at: datetime) -> datetime | None:
    """When to try again after `attempts_made` attempts, the last failed at `at`; None
    once the schedule is spent."""
    if attempts_made >= MAX_ATTEMPTS:
        return None
    return at + RETRY_DELAYS[attempts_made - 1]


_UPDATE_DELIVERY = (
    update(DELIVERIES)
    .where(
        and_(
            DELIVERIES.c.id == bindparam("delivery_id"),
            # Still ours: a lease that expired and was taken is the new holder's to record.
            DELIVERIES.c.next_attempt_at == bindparam("lease_until"),
        )
    )
    .values(
        status=bindparam("status"),
        attempts=bindparam("attempts"),
        next_attempt_at=bindparam("next_at"),
        last_attempt_at=bindparam("at"),
    )
)


@dataclass(frozen=True, slots=True)
class Sent:
    delivery: Claimed
    attempt: Attempt
    at: datetime  # when the attempt started


async def record(session: AsyncSession, sent: Sequence[Sent], *, now: datetime) -> int:
    """Writes the attempts and the deliveries' next steps, and each channel's failing
    streak; disables the channels failing for DISABLE_AFTER, with an event. Returns how
    many channels it disabled."""
    if not sent:
        return 0
    connection = await core_connection(session)
    await connection.execute(
        insert(ATTEMPTS),
        [
            {
                "id": new_id("att"),
                "delivery_id": item.delivery.id,
                "attempted_at": item.at,
                "duration_ms": item.attempt.duration_ms,
                "succeeded": item.attempt.succeeded,
                "status_code": item.attempt.status_code,
                "error_class": item.attempt.error_class,
                "error": item.attempt.error,
                "response_excerpt": item.attempt.response_excerpt,
            }
            for item in sent
        ],
    )
    updates = []
    for item in sent:
        made = item.delivery.attempts + 1
        following = None if item.attempt.succeeded else next_attempt(made, item.at)
        status = "succeeded" if item.attempt.succeeded else "pending" if following else "failed"
        updates.append(
            {
                "delivery_id": item.delivery.id,
                "lease_until": item.delivery.lease_until,
                "status": status,
                "attempts": made,
                "next_at": following,
                "at": item.at,
            }
        )
    await connection.execute(_UPDATE_DELIVERY, updates)
    return await _streaks(session, sent, now=now)


async def _streaks(session: AsyncSession, sent: Sequence[Sent], *, now: datetime) -> int:
    """Each channel's failing streak: since its first failure after a success. Sorted
    by channel, so two workers take the channels' row locks in one order."""
    connection = await core_connection(session)
    latest: dict[str, Sent] = {}
    for item in sorted(sent, key=lambda item: item.at):
        if item.delivery.channel_id is not None:  # subscribers have no streak
            latest[item.delivery.channel_id] = item
    if not latest:
        return 0
    # Read first, so that a batch of successes to channels not failing (the usual case)
    # costs one SELECT rather than an UPDATE per channel.
    failing = dict(
        (
            await connection.execute(
                select(CHANNELS.c.id, CHANNELS.c.failing_since).where(CHANNELS.c.id.in_(latest))
            )
        ).all()
    )
    disabled = 0
    for channel_id in sorted(latest):
        item = latest[channel_id]
        if item.attempt.succeeded:
            if failing.get(channel_id) is None:
                continue
            await connection.execute(
                update(CHANNELS)
                .where(CHANNELS.c.id == channel_id, CHANNELS.c.failing_since.is_not(None))
                .values(failing_since=None)
            )
            continue
        await connection.execute(
            update(CHANNELS)
            .where(CHANNELS.c.id == channel_id, CHANNELS.c.failing_since.is_(None))
            .values(failing_since=item.at)
        )
        reason = f"every delivery failed for {DISABLE_AFTER.days} days (last: {item.attempt.error})"
        gone = (
            await connection.execute(
                update(CHANNELS)
                .where(
                    CHANNELS.c.id == channel_id,
                    CHANNELS.c.enabled.is_(True),
                    CHANNELS.c.failing_since <= item.at - DISABLE_AFTER,
                )
                .values(enabled=False, disabled_reason=reason[:200], updated_at=now)
                .returning(CHANNELS.c.organization_id, CHANNELS.c.name)
            )
        ).first()
        if gone is not None:
            disabled += 1
            outbox.emit(
                session,
                organization_id=gone.organization_id,
                type=outbox.EventType.CHANNEL_DISABLED,
                data={"channelId": channel_id, "name": gone.name, "reason": reason},
                now=now,
            )
    return disabled


async def give_up(session: AsyncSession, deliveries: Sequence[Claimed], *, now: datetime) -> None:
    """Deliveries of a disabled channel (or one whose secret no longer opens): failed,
    without an attempt."""
    if not deliveries:
        return
    connection = await core_connection(session)
    await connection.execute(
        update(DELIVERIES)
        .where(DELIVERIES.c.id.in_([d.id for d in deliveries]))
        .values(status="failed", next_attempt_at=None)
    )


async def release(session: AsyncSession, deliveries: Sequence[Claimed], *, now: datetime) -> None:
    """Claims given back unsent (at shutdown): due again at once, for any worker."""
    connection = await core_connection(session)
    for delivery in deliveries:
        await connection.execute(
            update(DELIVERIES)
            .where(
                DELIVERIES.c.id == delivery.id,
                DELIVERIES.c.next_attempt_at == delivery.lease_until,
            )
            .values(next_attempt_at=now)
        )
