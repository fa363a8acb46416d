"""Fan-out: undispatched events become deliveries, one per channel that wants them.

One transaction takes a batch of events (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so two
workers take different events; on SQLite the write transaction is the lock), writes
their deliveries and stamps them dispatched. A worker killed half-way commits nothing:
the events are still undispatched and the next worker takes them. So every event is
fanned out exactly once, and each delivery is then sent at least once (deliveries.py).

Which channels want an event (`wants`): an enabled channel of the event's organization
whose filters all match. Event types: listed, or any. Monitors: a channel that names
monitors gets events about those monitors only. Services: a channel that names services
gets events touching one of them (a monitor's event touches its service). And a monitor
that names its channels (Monitor.notify_channel_ids) notifies those only. A disabled
channel gets nothing, the event telling of its own disabling included.

Every event dispatched is also handed back (`published`) for the live event bus
(events/bus.py), which the notifier publishes to once the transaction has committed:
this is how a change made by any process reaches every GraphQL subscription.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.db.rows import core_connection
from statusgraph.events.bus import BusEvent
from statusgraph.events.outbox import OPT_IN, SUBSCRIBED, EventType
from statusgraph.ids import new_id
from statusgraph.notifications.tables import (
    CHANNELS,
    DELIVERIES,
    EVENTS,
    MONITORS,
    PAGE_SERVICES,
    SUBSCRIBERS,
)
from statusgraph.workflows import engine as workflows


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    event_types: list[str]
    monitor_ids: list[str]
    service_ids: list[str]


def wants(
    channel: Channel,
    *,
    type: str,
    monitor_id: str | None,
    service_ids: Sequence[str],
    monitor_channels: Sequence[str] | None,
) -> bool:
    if channel.event_types and type not in channel.event_types:
        return False
    if not channel.event_types and type in OPT_IN:
        return False
    if channel.monitor_ids and monitor_id not in channel.monitor_ids:
        return False
    if channel.service_ids and not set(channel.service_ids) & set(service_ids):
        return False
    return monitor_channels is None or channel.id in monitor_channels


async def pending(session: AsyncSession) -> bool:
    """Whether any event waits to be dispatched (a read: no lock taken)."""
    connection = await core_connection(session)
    found = await connection.execute(
        select(EVENTS.c.id).where(EVENTS.c.dispatched_at.is_(None)).limit(1)
    )
    return found.first() is not None


# Told to one recipient only, never published to the bus.
PRIVATE = frozenset({EventType.TEST, EventType.SUBSCRIBER_CONFIRMATION})


async def fan_out(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int = 500,
    published: list[BusEvent] | None = None,
) -> int:
    """Dispatches up to `limit` events, oldest first; returns how many deliveries it made
    (in the caller's transaction). Adds each event worth telling live to `published`."""
    connection = await core_connection(session)
    events = (
        await connection.execute(
            select(
                EVENTS.c.id,
                EVENTS.c.organization_id,
                EVENTS.c.type,
                EVENTS.c.monitor_id,
                EVENTS.c.service_ids,
                EVENTS.c.data,
            )
            .where(EVENTS.c.dispatched_at.is_(None))
            .order_by(EVENTS.c.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not events:
        return 0
    channels = await _channels(session, {event.organization_id for event in events})
    monitors = await _monitors(session, {e.monitor_id for e in events if e.monitor_id})
    subscribers = await _subscribers(session, events)
    rows: list[dict[str, Any]] = []

    def deliver(
        event: Any, *, channel_id: str | None = None, subscriber_id: str | None = None
    ) -> None:
        rows.append(
            {
                "id": new_id("msg"),
                "organization_id": event.organization_id,
                "event_id": event.id,
                "channel_id": channel_id,
                "subscriber_id": subscriber_id,
                "event_type": event.type,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "last_attempt_at": None,
            }
        )

    for event in events:
        if published is not None and event.type not in PRIVATE:
            published.append(
                BusEvent(
                    id=event.id,
                    organization_id=event.organization_id,
                    type=event.type,
                    monitor_id=event.monitor_id,
                    service_ids=tuple(event.service_ids),
                    data=dict(event.data),
                )
            )
        if event.type == EventType.TEST:
            continue
        if event.type == EventType.SUBSCRIBER_CONFIRMATION:
            if event.data["subscriberId"] in subscribers.known:
                deliver(event, subscriber_id=event.data["subscriberId"])
            continue
        if event.type in SUBSCRIBED:
            for subscriber_id in subscribers.wanting(event.organization_id, event.service_ids):
                deliver(event, subscriber_id=subscriber_id)
        service_ids = list(event.service_ids)
        monitor_channels = None
        if event.monitor_id is not None and event.monitor_id in monitors:
            monitor_service, monitor_channels = monitors[event.monitor_id]
            if monitor_service is not None:
                service_ids.append(monitor_service)
        for channel in channels[event.organization_id]:
            if wants(
                channel,
                type=event.type,
                monitor_id=event.monitor_id,
                service_ids=service_ids,
                monitor_channels=monitor_channels,
            ):
                deliver(event, channel_id=channel.id)
    if rows:
        await connection.execute(insert(DELIVERIES), rows)
    # Monitor transitions run the workflows they trigger, in this transaction
    # (workflows/engine.py): with the event's dispatch, or not at all.
    await workflows.on_events(session, events, now=now)
    await connection.execute(
        update(EVENTS)
        .where(EVENTS.c.id.in_([event.id for event in events]))
        .values(dispatched_at=now)
    )
    return len(rows)


async def _channels(session: AsyncSession, organization_ids: set[str]) -> dict[str, list[Channel]]:
    connection = await core_connection(session)
    rows = await connection.execute(
        select(
            CHANNELS.c.id,
            CHANNELS.c.organization_id,
            CHANNELS.c.event_types,
            CHANNELS.c.monitor_ids,
            CHANNELS.c.service_ids,
        )
        .where(CHANNELS.c.organization_id.in_(organization_ids), CHANNELS.c.enabled.is_(True))
        .order_by(CHANNELS.c.created_at, CHANNELS.c.id)
    )
    found: dict[str, list[Channel]] = defaultdict(list)
    for row in rows:
        found[row.organization_id].append(
            Channel(row.id, row.event_types, row.monitor_ids, row.service_ids)
        )
    return found


async def _monitors(
    session: AsyncSession, monitor_ids: set[str]
) -> dict[str, tuple[str | None, list[str] | None]]:
    """Each monitor's service and the channels it names, if it names any."""
    if not monitor_ids:
        return {}
    connection = await core_connection(session)
    rows = await connection.execute(
        select(MONITORS.c.id, MONITORS.c.service_id, MONITORS.c.notify_channel_ids).where(
            MONITORS.c.id.in_(monitor_ids)
        )
    )
    return {row.id: (row.service_id, row.notify_channel_ids) for row in rows}


@dataclass
class Subscribers:
    """The subscribers a batch of events may reach: `known`, every subscriber a
    confirmation event names that still exists; `confirmed`, per organization, the
    confirmed ones with their page's services and their own choice."""

    known: set[str] = field(default_factory=set)
    confirmed: dict[str, list[tuple[str, set[str], set[str]]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def wanting(self, organization_id: str, service_ids: Sequence[str]) -> list[str]:
        """Who hears of an event touching `service_ids`: a subscriber whose page shows
        one of them and who chose every service or one of them. An event that names no
        service (an incident affecting none) goes to every subscriber of the organization."""
        touched = set(service_ids)
        return [
            subscriber_id
            for subscriber_id, shown, chosen in self.confirmed[organization_id]
            if not touched or (shown & touched and (not chosen or chosen & touched))
        ]


async def _subscribers(session: AsyncSession, events: Sequence[Any]) -> Subscribers:
    found = Subscribers()
    connection = await core_connection(session)
    named = {e.data["subscriberId"] for e in events if e.type == EventType.SUBSCRIBER_CONFIRMATION}
    if named:
        existing = await connection.execute(
            select(SUBSCRIBERS.c.id).where(SUBSCRIBERS.c.id.in_(named))
        )
        found.known = {row.id for row in existing}
    organizations = {e.organization_id for e in events if e.type in SUBSCRIBED}
    if not organizations:
        return found
    rows = (
        await connection.execute(
            select(SUBSCRIBERS.c.id, SUBSCRIBERS.c.organization_id, SUBSCRIBERS.c.page_id)
            .add_columns(SUBSCRIBERS.c.service_ids)
            .where(
                SUBSCRIBERS.c.organization_id.in_(organizations),
                SUBSCRIBERS.c.confirmed_at.is_not(None),
            )
            .order_by(SUBSCRIBERS.c.created_at, SUBSCRIBERS.c.id)
        )
    ).all()
    shown: dict[str, set[str]] = defaultdict(set)
    for page_id, service_id in await connection.execute(
        select(PAGE_SERVICES.c.page_id, PAGE_SERVICES.c.service_id).where(
            PAGE_SERVICES.c.page_id.in_({row.page_id for row in rows})
        )
    ):
        shown[page_id].add(service_id)
    for row in rows:
        found.confirmed[row.organization_id].append(
            (row.id, shown[row.page_id], set(row.service_ids))
        )
    return found
