"""Beacon keys and events (from browsers), metrics and their points (from scripts).

No `from __future__ import annotations` here: it breaks SQLModel's column inference.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Float, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from statusgraph.db.models.base import utc_column


class BeaconKey(SQLModel, table=True):
    """A `bpk_` key. Public by design (it ships in web pages): it only lets a browser post
    events for its organization, from the origins listed."""

    __tablename__ = "beacon_key"
    __table_args__ = (Index("ix_beacon_key_org_created", "organization_id", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    name: str = Field(max_length=200)
    key: str = Field(max_length=64, unique=True)
    allowed_origins: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = utc_column()
    revoked_at: datetime | None = utc_column(nullable=True)


class BeaconEvent(SQLModel, table=True):
    __tablename__ = "beacon_event"
    __table_args__ = (Index("ix_beacon_event_org_created", "organization_id", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    beacon_key_id: str = Field(foreign_key="beacon_key.id", ondelete="CASCADE", max_length=32)
    type: str = Field(max_length=64)
    name: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=2048)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    occurred_at: datetime = utc_column()
    ip: str | None = Field(default=None, max_length=45)
    user_agent: str | None = Field(default=None, max_length=512)
    created_at: datetime = utc_column()


class Metric(SQLModel, table=True):
    __tablename__ = "metric"
    __table_args__ = (
        UniqueConstraint("organization_id", "name", name="uq_metric_org_name"),
        Index("ix_metric_org_created", "organization_id", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    name: str = Field(max_length=200)
    created_at: datetime = utc_column()


class MetricPoint(SQLModel, table=True):
    __tablename__ = "metric_point"
    __table_args__ = (Index("ix_metric_point_metric_time", "metric_id", "timestamp"),)

    id: str = Field(primary_key=True, max_length=32)
    metric_id: str = Field(foreign_key="metric.id", ondelete="CASCADE", max_length=32)
    timestamp: datetime = utc_column()
    value: float = Field(sa_column=Column(Float, nullable=False))
    tags: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
