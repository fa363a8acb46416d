"""The tables notifications read and write as Core tables, declared once (as the checks
do in checks/tables.py, whose monitor and status-change tables are these too)."""

from sqlalchemy import Table

from statusgraph.checks.tables import CHANGES, MONITORS
from statusgraph.db.models import (
    Delivery,
    DeliveryAttempt,
    NotificationChannel,
    Organization,
    Service,
    StatusPage,
    StatusPageService,
    Subscriber,
)
from statusgraph.events.outbox import EVENTS

__all__ = [
    "ATTEMPTS",
    "CHANGES",
    "CHANNELS",
    "DELIVERIES",
    "EVENTS",
    "MONITORS",
    "ORGANIZATIONS",
    "PAGES",
    "PAGE_SERVICES",
    "SERVICES",
    "SUBSCRIBERS",
]

CHANNELS: Table = NotificationChannel.__table__  # type: ignore[attr-defined]
DELIVERIES: Table = Delivery.__table__  # type: ignore[attr-defined]
ATTEMPTS: Table = DeliveryAttempt.__table__  # type: ignore[attr-defined]
SUBSCRIBERS: Table = Subscriber.__table__  # type: ignore[attr-defined]
PAGES: Table = StatusPage.__table__  # type: ignore[attr-defined]
PAGE_SERVICES: Table = StatusPageService.__table__  # type: ignore[attr-defined]
ORGANIZATIONS: Table = Organization.__table__  # type: ignore[attr-defined]
SERVICES: Table = Service.__table__  # type: ignore[attr-defined]
