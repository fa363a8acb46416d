"""Usage metering (DESIGN §15): requests per credential and day, and the addresses each
API key was used from. Written by the usage flush (resolvers/key_usage.py), never once
per request.

No `from __future__ import annotations` here: it breaks SQLModel's column inference.
"""

from datetime import date, datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from statusgraph.db.models.base import utc_column


class RequestCount(SQLModel, table=True):
    """Requests a credential (an API key, or an OAuth grant for all its tokens) made on
    one UTC day; each flush adds its tallies with an upsert."""

    __tablename__ = "request_count"
    __table_args__ = (Index("ix_request_count_org_day", "organization_id", "day"),)

    credential_id: str = Field(primary_key=True, max_length=32)
    day: date = Field(primary_key=True)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    credential_kind: str = Field(max_length=16)  # "api_key" | "oauth_token"
    requests: int = 0
    last_request_at: datetime = utc_column()


class KeyAddress(SQLModel, table=True):
    """An address an API key was used from, and when last (refreshed at most once a day
    per process): use from one not seen for 30 days is an `api_key.new_ip` alert."""

    __tablename__ = "key_address"

    api_key_id: str = Field(
        foreign_key="api_key.id", ondelete="CASCADE", primary_key=True, max_length=32
    )
    ip: str = Field(primary_key=True, max_length=45)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    first_seen_at: datetime = utc_column()
    last_seen_at: datetime = utc_column()
    # The flush that last raised an alert for this address: the one whose token comes
    # back from the upsert fired it, so concurrent processes alert once.
    alert_token: str | None = Field(default=None, max_length=32)
