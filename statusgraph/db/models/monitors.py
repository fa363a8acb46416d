"""Monitors, heartbeat pings and the log of status changes.

No `from __future__ import annotations` here: it breaks SQLModel's column inference.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Float, Index, Text
from sqlmodel import Field, SQLModel

from statusgraph.db.models.base import utc_column
from statusgraph.db.types import UtcDateTime


class Monitor(SQLModel, table=True):
    __tablename__ = "monitor"
    __table_args__ = (
        Index("ix_monitor_org_created", "organization_id", "created_at", "id"),
        # The heartbeat evaluator asks only for monitors whose deadline has passed, so
        # finding overdue monitors costs O(overdue), not O(all).
        Index("ix_monitor_next_deadline", "next_deadline_at"),
        # The checker claims monitors whose next check is due: O(due), not O(all).
        Index("ix_monitor_next_check", "next_check_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    service_id: str | None = Field(
        default=None, foreign_key="service.id", ondelete="SET NULL", max_length=32
    )
    name: str = Field(max_length=200)
    type: str = Field(max_length=16)
    # Per-type settings (url, method, expected codes, keyword, host, port, domain, ...).
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    interval_seconds: int | None = None
    timeout_seconds: int | None = None
    period_seconds: int | None = None
    grace_seconds: int | None = None
    paused: bool = False
    last_ping_at: datetime | None = utc_column(nullable=True)
    last_ping_kind: str | None = Field(default=None, max_length=16)
    last_start_at: datetime | None = utc_column(nullable=True)
    # What the last recorded transition said; compared with the derived status to
    # decide whether a change must be logged.
    recorded_status: str = Field(default="pending", max_length=16)
    next_deadline_at: datetime | None = utc_column(nullable=True)
    # Active checks (checks/scheduler.py): when the next check is due, or, while one runs,
    # until when its claim holds (a worker killed mid-check lets it go at that time);
    # empty for heartbeats and paused monitors. `failures`: consecutive failed checks,
    # counted towards the confirmations that turn a monitor DOWN.
    next_check_at: datetime | None = utc_column(nullable=True)
    # When the newest applied check started: an older one written later is not applied.
    last_checked_at: datetime | None = utc_column(nullable=True)
    failures: int = 0
    # What the linked service shows while this monitor is DOWN (a LATE heartbeat shows
    # at most degraded_performance); `operational` leaves the service alone.
    status_when_down: str = Field(default="major_outage", max_length=32)
    # Notifications (notifications/dispatcher.py): the channels this monitor's events go
    # to (None: every channel whose filters match), and how often to remind while DOWN
    # (None: never); `down_notified_at`: when the last DOWN event or reminder was written.
    notify_channel_ids: list[str] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )
    renotify_minutes: int | None = None
    down_notified_at: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()


class HeartbeatPing(SQLModel, table=True):
    __tablename__ = "heartbeat_ping"
    __table_args__ = (Index("ix_heartbeat_ping_monitor_created", "monitor_id", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=32)
    monitor_id: str = Field(foreign_key="monitor.id", ondelete="CASCADE", max_length=32)
    kind: str = Field(max_length=16)  # success | fail | start
    message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    duration_ms: int | None = None
    ip: str | None = Field(default=None, max_length=45)
    created_at: datetime = utc_column()


class MonitorStatusChange(SQLModel, table=True):
    __tablename__ = "monitor_status_change"
    __table_args__ = (
        Index("ix_monitor_status_change_monitor_created", "monitor_id", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=32)
    monitor_id: str = Field(foreign_key="monitor.id", ondelete="CASCADE", max_length=32)
    from_status: str = Field(max_length=16)
    to_status: str = Field(max_length=16)
    reason: str = Field(max_length=200)
    created_at: datetime = utc_column()


class CheckResult(SQLModel, table=True):
    """One check of an active monitor, kept STATUSGRAPH_CHECK_RESULTS_RETENTION_DAYS."""

    __tablename__ = "check_result"
    __table_args__ = (
        Index("ix_check_result_monitor_checked", "monitor_id", "checked_at", "id"),
        Index("ix_check_result_checked_at", "checked_at"),  # the retention purge
    )

    id: str = Field(primary_key=True, max_length=32)
    monitor_id: str = Field(foreign_key="monitor.id", ondelete="CASCADE", max_length=32)
    checked_at: datetime = utc_column()
    up: bool
    failure: str | None = Field(default=None, max_length=16)  # probes.Failure
    reason: str = Field(max_length=500)
    response_ms: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    status_code: int | None = None
    # Phases in milliseconds; the certificate (SSL) or registration (DOMAIN) found.
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class CheckRollup(SQLModel, table=True):
    """Checks of one monitor over one hour or one day, kept 400 days: counted as results
    are written (an upsert that adds), so uptime pages never scan raw results. `b00`..`b11`
    count response times per bucket of checks/histogram.py, for percentiles."""

    __tablename__ = "check_rollup"
    __table_args__ = (Index("ix_check_rollup_period_starts", "period", "starts_at"),)

    monitor_id: str = Field(
        foreign_key="monitor.id", ondelete="CASCADE", max_length=32, primary_key=True
    )
    period: str = Field(max_length=8, primary_key=True)  # hour | day
    starts_at: datetime = Field(sa_column=Column(UtcDateTime(), primary_key=True))
    checks: int = 0
    failures: int = 0
    response_count: int = 0
    response_ms_sum: float = Field(default=0.0, sa_column=Column(Float, nullable=False))
    b00: int = 0
    b01: int = 0
    b02: int = 0
    b03: int = 0
    b04: int = 0
    b05: int = 0
    b06: int = 0
    b07: int = 0
    b08: int = 0
    b09: int = 0
    b10: int = 0
    b11: int = 0
