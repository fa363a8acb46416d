"""The outbox (DESIGN §12): an event row written in the transaction of the change it
tells of, so that a change is never committed without its event, nor an event without
its change. The dispatcher (notifications/dispatcher.py) delivers them later, at least
once, with the event's id as the idempotency key.

Three kinds of writers add events: business operations through a session (`emit`), and
the two batched paths, the heartbeat ping path and the checks' results, as plain rows
(`row`, `transition_row`) added to their own multi-row inserts. A monitor's transition
carries only what the change knew (monitor, from, to, reason); the dispatcher adds the
monitor's name, target and service when it sends, reading them once per batch.
"""

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Table, insert
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.db.models import Event
from statusgraph.ids import new_id

EVENTS: Table = Event.__table__  # type: ignore[attr-defined]
INSERT_EVENTS = insert(EVENTS)


class EventType(StrEnum):
    INCIDENT_CREATED = "incident.created"
    INCIDENT_UPDATED = "incident.updated"
    INCIDENT_RESOLVED = "incident.resolved"
    MAINTENANCE_SCHEDULED = "maintenance.scheduled"
    MAINTENANCE_STARTED = "maintenance.started"
    MAINTENANCE_COMPLETED = "maintenance.completed"
    MAINTENANCE_CANCELLED = "maintenance.cancelled"
    MONITOR_DOWN = "monitor.down"
    MONITOR_UP = "monitor.up"
    SERVICE_STATUS_CHANGED = "service.status_changed"
    CERTIFICATE_EXPIRING = "certificate.expiring"
    DOMAIN_EXPIRING = "domain.expiring"
    CHANNEL_DISABLED = "channel.disabled"
    # Usage alerts per API key (DESIGN §15, resolvers/key_usage.py): its first request,
    # a rate-limit bucket 80 % spent in a window, use from an address new to it.
    API_KEY_FIRST_USE = "api_key.first_use"
    API_KEY_RATE_LIMIT_80 = "api_key.rate_limit_80"
    API_KEY_NEW_IP = "api_key.new_ip"
    # Sent by testNotificationChannel to one channel; never fanned out.
    TEST = "test"
    # The confirmation mail of a new subscription, sent to that subscriber only.
    SUBSCRIBER_CONFIRMATION = "subscriber.confirmation"
    # A workflow's NOTIFY_CHANNEL action, sent to the channel it names only.
    WORKFLOW = "workflow.notification"


# What a status page's confirmed subscribers hear of (DESIGN §12).
SUBSCRIBED = frozenset(
    {
        EventType.INCIDENT_CREATED,
        EventType.INCIDENT_UPDATED,
        EventType.INCIDENT_RESOLVED,
        EventType.MAINTENANCE_SCHEDULED,
        EventType.MAINTENANCE_STARTED,
        EventType.MAINTENANCE_COMPLETED,
        EventType.MAINTENANCE_CANCELLED,
    }
)

# Usage alerts are told only to channels that name them in their event types: a
# channel without a filter hears of incidents, maintenance and monitors, as it did
# before these existed, not of every key's first request.
OPT_IN = frozenset(
    {EventType.API_KEY_FIRST_USE, EventType.API_KEY_RATE_LIMIT_80, EventType.API_KEY_NEW_IP}
)

# What changes a status page as shown (its incidents, maintenance windows, monitors and
# services): such an event, heard from the bus, makes every web process read its
# organization's page version again at once (db/page_versions.py, wired in app.py).
PAGE_CHANGES = SUBSCRIBED | {
    EventType.MONITOR_DOWN,
    EventType.MONITOR_UP,
    EventType.SERVICE_STATUS_CHANGED,
}


def row(
    *,
    organization_id: str,
    type: EventType,
    data: dict[str, Any],
    now: datetime,
    monitor_id: str | None = None,
    service_ids: Sequence[str] = (),
) -> dict[str, Any]:
    """An event as a row of the event table, every column given (the ping path's
    compiled insert takes them all by name)."""
    return {
        "id": new_id("evt"),
        "organization_id": organization_id,
        "type": type.value,
        "monitor_id": monitor_id,
        "service_ids": list(service_ids),
        "data": data,
        "created_at": now,
        "dispatched_at": None,
    }


def transition_type(from_status: str, to_status: str) -> EventType | None:
    """The event a monitor's transition makes: DOWN, and UP again after DOWN. A first
    UP (from PENDING), LATE, PAUSED and resumed tell no one, as in Uptime Kuma."""
    if to_status == "down":
        return EventType.MONITOR_DOWN
    if to_status == "up" and from_status == "down":
        return EventType.MONITOR_UP
    return None


def transition_row(
    organization_id: str,
    *,
    monitor_id: str,
    from_status: str,
    to_status: str,
    reason: str,
    at: datetime,
    reminder: bool = False,
) -> dict[str, Any] | None:
    """The event row of a monitor's transition, or None when it tells no one."""
    kind = transition_type(from_status, to_status)
    if kind is None:
        return None
    data: dict[str, Any] = {
        "from": from_status,
        "to": to_status,
        "reason": reason,
        "at": at.isoformat(),
    }
    if reminder:
        data["reminder"] = True
    return row(organization_id=organization_id, type=kind, data=data, now=at, monitor_id=monitor_id)


def emit(
    session: AsyncSession,
    *,
    organization_id: str,
    type: EventType,
    data: dict[str, Any],
    now: datetime,
    monitor_id: str | None = None,
    service_ids: Sequence[str] = (),
) -> Event:
    """Adds an event to the session: it commits, or rolls back, with the change."""
    event = Event(
        **row(
            organization_id=organization_id,
            type=type,
            data=data,
            now=now,
            monitor_id=monitor_id,
            service_ids=service_ids,
        )
    )
    session.add(event)
    return event


async def insert_rows(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Events as rows in one multi-row insert (the checks' batched writes)."""
    if rows:
        await session.exec(INSERT_EVENTS, params=list(rows))
