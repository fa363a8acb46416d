"""The outbox of events, notification channels, and their deliveries with every attempt.

No `from __future__ import annotations` here: it breaks SQLModel's column inference.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from statusgraph.db.models.base import utc_column


class Event(SQLModel, table=True):
    """Something worth telling, written in the transaction of the change it tells of
    (events/outbox.py). The dispatcher turns undispatched events into deliveries and
    stamps `dispatched_at`, in one transaction that locks the events it takes."""

    __tablename__ = "event"
    __table_args__ = (
        # The dispatcher asks for undispatched events only: O(pending), not O(all).
        Index("ix_event_pending", "dispatched_at", "created_at"),
        Index("ix_event_org_created", "organization_id", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    type: str = Field(max_length=64)
    # What channels filter on: the monitor the event is about, and the services it touches.
    monitor_id: str | None = Field(default=None, max_length=32)
    service_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Everything a message needs (names, statuses, reasons, links), so that sending reads
    # nothing else: the message tells what was true when the change was made.
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = utc_column()
    dispatched_at: datetime | None = utc_column(nullable=True)


class NotificationChannel(SQLModel, table=True):
    __tablename__ = "notification_channel"
    __table_args__ = (
        Index("ix_notification_channel_org_created", "organization_id", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=16)  # webhook | slack | discord | email
    # url (webhook, slack, discord) or addresses (email).
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Empty: every event type / monitor / service.
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    monitor_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    service_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, max_length=200)
    # Webhook signing secrets, encrypted with the server's key (notifications/secrets.py):
    # HMAC signing needs the secret itself, so it cannot be hashed. During a rotation's
    # overlap the previous one signs too, until `previous_secret_until`.
    secret: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    previous_secret: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    previous_secret_until: datetime | None = utc_column(nullable=True)
    # Since when every attempt has failed (None after a success): failing for
    # DISABLE_AFTER disables the channel.
    failing_since: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()


class Subscriber(SQLModel, table=True):
    """Someone who asked a status page for news (DESIGN §12): by email, or by webhook
    (with an email address for the confirmation). Nothing is sent before the address is
    confirmed through the link mailed to it; unsubscribing deletes the row."""

    __tablename__ = "subscriber"
    __table_args__ = (
        UniqueConstraint("page_id", "kind", "target", name="uq_subscriber_page_kind_target"),
        Index("ix_subscriber_org_created", "organization_id", "created_at", "id"),
        Index("ix_subscriber_page", "page_id", "confirmed_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    page_id: str = Field(foreign_key="status_page.id", ondelete="CASCADE", max_length=32)
    kind: str = Field(max_length=16)  # email | webhook
    target: str = Field(max_length=2048)  # the address, or the webhook's URL
    email: str = Field(max_length=254)  # where the confirmation goes
    # Empty: every service of the page.
    service_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    confirmed_at: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()


class Delivery(SQLModel, table=True):
    """One event to one channel, or to one subscriber. Its id is the `webhook-id` a
    receiver deduplicates on: the same on every retry and on a redelivery after a crash."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("event_id", "channel_id", name="uq_delivery_event_channel"),
        UniqueConstraint("event_id", "subscriber_id", name="uq_delivery_event_subscriber"),
        # The sender asks for deliveries due now: O(due), not O(all).
        Index("ix_delivery_due", "next_attempt_at"),
        Index("ix_delivery_channel_created", "channel_id", "created_at", "id"),
        Index("ix_delivery_org_created", "organization_id", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    event_id: str = Field(foreign_key="event.id", ondelete="CASCADE", max_length=32)
    # One of the two.
    channel_id: str | None = Field(
        default=None, foreign_key="notification_channel.id", ondelete="CASCADE", max_length=32
    )
    subscriber_id: str | None = Field(
        default=None, foreign_key="subscriber.id", ondelete="CASCADE", max_length=32
    )
    event_type: str = Field(max_length=64)
    status: str = Field(default="pending", max_length=16)  # pending | succeeded | failed
    attempts: int = 0
    # When the next attempt is due; while one runs, until when its claim holds; None once
    # the delivery succeeded or failed for good.
    next_attempt_at: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    last_attempt_at: datetime | None = utc_column(nullable=True)


class DeliveryAttempt(SQLModel, table=True):
    """The delivery log: every attempt, as the receiver answered it."""

    __tablename__ = "delivery_attempt"
    __table_args__ = (Index("ix_delivery_attempt_delivery", "delivery_id", "attempted_at"),)

    id: str = Field(primary_key=True, max_length=32)
    delivery_id: str = Field(foreign_key="delivery.id", ondelete="CASCADE", max_length=32)
    attempted_at: datetime = utc_column()
    duration_ms: int
    succeeded: bool
    status_code: int | None = None
    # dns | connect | tls | timeout | status | refused (SSRF guard) | smtp | ...
    error_class: str | None = Field(default=None, max_length=32)
    error: str | None = Field(default=None, max_length=500)
    response_excerpt: str | None = Field(default=None, max_length=1024)
