"""Organizations, API keys and the audit log.

No `from __future__ import annotations` here: it breaks SQLModel's column inference.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from statusgraph.db.models.base import utc_column


class Plan(StrEnum):
    starter = "starter"
    pro = "pro"
    team = "team"
    enterprise = "enterprise"


class Organization(SQLModel, table=True):
    __tablename__ = "organization"

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    slug: str = Field(max_length=64, unique=True)
    # Plain text, not a native enum: adding a plan must not need a PostgreSQL ALTER TYPE.
    plan: str = Field(max_length=16)
    created_at: datetime = utc_column()
    # Organization settings (DESIGN §15, resolvers/organization_settings.py).
    time_zone: str = Field(default="UTC", max_length=64)
    # Key policy: new keys must expire within this many days (None: no maximum) ...
    key_max_lifetime_days: int | None = None
    # ... and keys older than this many days are revoked by a job (None: never).
    key_disable_after_days: int | None = None
    # How long a browser session lasts (the sign-in and consent pages).
    session_hours: int = 12


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    __table_args__ = (Index("ix_api_key_org_created", "organization_id", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    name: str = Field(max_length=200)
    display_prefix: str = Field(max_length=16)
    secret_hash: str = Field(max_length=64, unique=True)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    sandbox: bool = False
    legacy: bool = False
    ip_allowlist: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    expires_at: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    created_by_type: str = Field(max_length=16)
    created_by_id: str | None = Field(default=None, max_length=32)
    created_by_label: str = Field(max_length=200)
    last_used_at: datetime | None = utc_column(nullable=True)
    last_used_ip: str | None = Field(default=None, max_length=45)
    revoked_at: datetime | None = utc_column(nullable=True)
    replaced_by_id: str | None = Field(default=None, max_length=32)


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_org_created", "organization_id", "created_at", "id"),
        Index("ix_audit_event_created", "created_at"),
        # The filters by credential (an API key, an OAuth grant) and by OAuth app.
        Index("ix_audit_event_org_actor", "organization_id", "actor_id", "created_at"),
        Index("ix_audit_event_org_app", "organization_id", "oauth_app_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    created_at: datetime = utc_column()
    actor_type: str = Field(max_length=16)
    actor_id: str | None = Field(default=None, max_length=32)
    actor_label: str = Field(max_length=200)
    action: str = Field(max_length=64)
    target_type: str | None = Field(default=None, max_length=32)
    target_id: str | None = Field(default=None, max_length=32)
    ip: str | None = Field(default=None, max_length=45)
    user_agent: str | None = Field(default=None, max_length=512)
    request_id: str | None = Field(default=None, max_length=128)
    scopes_used: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The OAuth app whose access token acted (actor type "oauth_token"), for the filter.
    oauth_app_id: str | None = Field(default=None, max_length=32)


class ScopeUsage(SQLModel, table=True):
    """When a credential (an API key, or an OAuth grant for all its tokens) last
    exercised a scope. Written by flushes of usage/counters.py, not per request."""

    __tablename__ = "scope_usage"

    credential_id: str = Field(primary_key=True, max_length=32)
    scope: str = Field(primary_key=True, max_length=64)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    last_used_at: datetime = utc_column()
