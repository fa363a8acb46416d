"""Monitors, heartbeat pings and the log of status changes.

No `from __future__ import annotations` here: it breaks SQLModel's column inference.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

from statusgraph.db.models.base import utc_column


class Monitor(SQLModel, table=True):
    __tablename__ = "monitor"
    __table_args__ = (
        Index("ix_monitor_org_created", "organization_id", "created_at", "id"),
        # The heartbeat evaluator asks only for monitors whose deadline has passed, so
        # finding overdue monitors costs O(overdue), not O(all).
        Index("ix_monitor_next_deadline", "next_deadline_at"),
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
