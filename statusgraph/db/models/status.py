"""Status pages, services, incidents and maintenance windows.

Enumerations are stored as plain text (lower case), not native enums, so adding a
value never needs a PostgreSQL ALTER TYPE.

No `from __future__ import annotations` here: it breaks SQLModel's column inference.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from statusgraph.db.models.base import utc_column


class ServiceGroup(SQLModel, table=True):
    __tablename__ = "service_group"
    __table_args__ = (Index("ix_service_group_org_position", "organization_id", "position"),)

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    name: str = Field(max_length=200)
    position: int = 0
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()


class Service(SQLModel, table=True):
    __tablename__ = "service"
    __table_args__ = (Index("ix_service_org_position", "organization_id", "position", "id"),)

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    group_id: str | None = Field(
        default=None, foreign_key="service_group.id", ondelete="SET NULL", max_length=32
    )
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    position: int = 0
    # The status set by hand; what pages show is derived (resolvers/service_status.py).
    status: str = Field(default="operational", max_length=32)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()


class StatusPage(SQLModel, table=True):
    __tablename__ = "status_page"
    __table_args__ = (
        # Plan page limits hold under concurrent creates: a page takes one of the plan's
        # numbered slots, and two pages cannot hold the same slot. Unlimited plans use
        # NULL, which unique indexes do not compare.
        UniqueConstraint("organization_id", "slot", name="uq_status_page_org_slot"),
        # At most one default page per organization, also under concurrency.
        Index(
            "uq_status_page_one_default",
            "organization_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
        Index("ix_status_page_org_created", "organization_id", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    name: str = Field(max_length=200)
    slug: str = Field(max_length=64, unique=True)
    visibility: str = Field(default="public", max_length=16)
    is_default: bool = False
    slot: int | None = None
    primary_color: str | None = Field(default=None, max_length=7)
    secondary_color: str | None = Field(default=None, max_length=7)
    tagline: str | None = Field(default=None, max_length=300)
    logo_url: str | None = Field(default=None, max_length=2048)
    favicon_url: str | None = Field(default=None, max_length=2048)
    theme_mode: str = Field(default="system", max_length=16)
    theme: str = Field(default="default", max_length=16)
    font_family: str = Field(default="inter", max_length=32)
    header_layout: str = Field(default="centered", max_length=16)
    border_radius: str = Field(default="rounded", max_length=16)
    show_subscribe: bool = True
    show_incident_history: bool = True
    show_uptime: bool = True
    announcement: str | None = Field(default=None, max_length=1000)
    announcement_style: str = Field(default="info", max_length=16)
    announcement_visible: bool = False
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()


class StatusPageService(SQLModel, table=True):
    """Which services a page shows, in which order."""

    __tablename__ = "status_page_service"

    page_id: str = Field(
        foreign_key="status_page.id", ondelete="CASCADE", primary_key=True, max_length=32
    )
    service_id: str = Field(
        foreign_key="service.id", ondelete="CASCADE", primary_key=True, max_length=32, index=True
    )
    position: int


class StatusPageViewerToken(SQLModel, table=True):
    """Lets a reader see one PRIVATE page. Shown once; stored as an HMAC like API keys."""

    __tablename__ = "status_page_viewer_token"

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    page_id: str = Field(
        foreign_key="status_page.id", ondelete="CASCADE", max_length=32, index=True
    )
    name: str = Field(max_length=200)
    display_prefix: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = utc_column()
    revoked_at: datetime | None = utc_column(nullable=True)


class Incident(SQLModel, table=True):
    __tablename__ = "incident"
    __table_args__ = (
        Index("ix_incident_org_created", "organization_id", "created_at", "id"),
        Index("ix_incident_org_resolved", "organization_id", "resolved_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    title: str = Field(max_length=200)
    status: str = Field(max_length=16)
    impact: str = Field(max_length=16)
    started_at: datetime = utc_column()
    resolved_at: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()


class IncidentService(SQLModel, table=True):
    """A service an incident affects, and the status the incident holds it at."""

    __tablename__ = "incident_service"

    incident_id: str = Field(
        foreign_key="incident.id", ondelete="CASCADE", primary_key=True, max_length=32
    )
    service_id: str = Field(
        foreign_key="service.id", ondelete="CASCADE", primary_key=True, max_length=32, index=True
    )
    status: str = Field(max_length=32)


class IncidentUpdate(SQLModel, table=True):
    """One entry of an incident's timeline. Append-only: never updated or deleted alone."""

    __tablename__ = "incident_update"
    __table_args__ = (Index("ix_incident_update_incident_created", "incident_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=32)
    incident_id: str = Field(foreign_key="incident.id", ondelete="CASCADE", max_length=32)
    status: str = Field(max_length=16)
    message: str = Field(sa_column=Column(Text, nullable=False))
    # {"svc_…": "major_outage"}: what this update set, kept for the timeline.
    service_statuses: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    author_type: str = Field(max_length=16)
    author_id: str | None = Field(default=None, max_length=32)
    author_label: str = Field(max_length=200)
    created_at: datetime = utc_column()


class MaintenanceWindow(SQLModel, table=True):
    __tablename__ = "maintenance_window"
    __table_args__ = (
        Index("ix_maintenance_window_org_created", "organization_id", "created_at", "id"),
        Index("ix_maintenance_window_org_ends", "organization_id", "ends_at"),
        # The maintenance events job asks for windows with an event still to write.
        Index("ix_maintenance_window_announced", "announced", "starts_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=10000)
    starts_at: datetime = utc_column()
    ends_at: datetime = utc_column()
    cancelled_at: datetime | None = utc_column(nullable=True)
    # Which of its events have been written: scheduled, then started, then completed
    # (jobs/maintenance_events.py moves it on as the clock passes starts_at and ends_at).
    announced: str = Field(default="scheduled", max_length=16)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()


class MaintenanceService(SQLModel, table=True):
    __tablename__ = "maintenance_service"

    maintenance_id: str = Field(
        foreign_key="maintenance_window.id", ondelete="CASCADE", primary_key=True, max_length=32
    )
    service_id: str = Field(
        foreign_key="service.id", ondelete="CASCADE", primary_key=True, max_length=32, index=True
    )


class PageVersion(SQLModel, table=True):
    """A counter per organization, raised in the transaction of every write that can
    change what one of its status pages shows (db/page_versions.py), so that every
    process knows when its cached pages went stale. No foreign key: a counter left
    behind by a deleted organization is harmless, and the bump never waits on it."""

    __tablename__ = "page_version"

    organization_id: str = Field(primary_key=True, max_length=32)
    version: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
