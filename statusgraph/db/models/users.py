"""Users, their memberships and invitations, and the OAuth 2.0 provider's apps, codes,
grants and tokens (DESIGN §11).

A grant is what a user consented to for one app in one organization: every code
exchange makes one, and every access and refresh token issued from it, through any
number of refreshes, belongs to it. Revoking the grant stops them all; so does
presenting a refresh token that was already used (RFC 9700 §4.14.2).

No `from __future__ import annotations` here: it breaks SQLModel's column inference.
"""

from datetime import datetime

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from statusgraph.db.models.base import utc_column


class User(SQLModel, table=True):
    __tablename__ = "app_user"  # "user" is reserved on PostgreSQL

    id: str = Field(primary_key=True, max_length=32)
    # Stored lower-cased: one account per address whatever its spelling.
    email: str = Field(max_length=254, unique=True)
    name: str = Field(max_length=200)
    password_hash: str = Field(max_length=255)
    created_at: datetime = utc_column()
    last_login_at: datetime | None = utc_column(nullable=True)


class Membership(SQLModel, table=True):
    __tablename__ = "membership"
    __table_args__ = (
        UniqueConstraint("organization_id", "user_id", name="uq_membership_org_user"),
        Index("ix_membership_org_created", "organization_id", "created_at", "id"),
        Index("ix_membership_user", "user_id"),
    )

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    user_id: str = Field(foreign_key="app_user.id", ondelete="CASCADE", max_length=32)
    role: str = Field(max_length=16)
    created_at: datetime = utc_column()


class Invitation(SQLModel, table=True):
    __tablename__ = "invitation"
    __table_args__ = (Index("ix_invitation_org_created", "organization_id", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    email: str = Field(max_length=254)
    role: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = utc_column()
    expires_at: datetime = utc_column()
    created_by_type: str = Field(max_length=16)
    created_by_id: str | None = Field(default=None, max_length=32)
    created_by_label: str = Field(max_length=200)
    accepted_at: datetime | None = utc_column(nullable=True)
    accepted_by_user_id: str | None = Field(default=None, max_length=32)
    revoked_at: datetime | None = utc_column(nullable=True)


class OAuthApp(SQLModel, table=True):
    __tablename__ = "oauth_app"
    __table_args__ = (Index("ix_oauth_app_org_created", "organization_id", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    client_id: str = Field(max_length=64, unique=True)
    confidential: bool
    # HMAC of the client secret (confidential apps only), and what may be shown of it.
    secret_hash: str | None = Field(default=None, max_length=64)
    secret_display: str | None = Field(default=None, max_length=16)
    redirect_uris: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()
    created_by_type: str = Field(max_length=16)
    created_by_id: str | None = Field(default=None, max_length=32)
    created_by_label: str = Field(max_length=200)


class OAuthCode(SQLModel, table=True):
    """An authorization code: stored hashed, bound to everything the request said."""

    __tablename__ = "oauth_code"

    id: str = Field(primary_key=True, max_length=32)
    code_hash: str = Field(max_length=64, unique=True)
    app_id: str = Field(foreign_key="oauth_app.id", ondelete="CASCADE", max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    user_id: str = Field(foreign_key="app_user.id", ondelete="CASCADE", max_length=32)
    redirect_uri: str = Field(max_length=2048)
    code_challenge: str = Field(max_length=128)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = utc_column()
    expires_at: datetime = utc_column()
    used_at: datetime | None = utc_column(nullable=True)
    # The grant its exchange created: a second use of the code revokes it.
    grant_id: str | None = Field(default=None, max_length=32)


class OAuthGrant(SQLModel, table=True):
    __tablename__ = "oauth_grant"
    __table_args__ = (
        Index("ix_oauth_grant_org_created", "organization_id", "created_at", "id"),
        Index("ix_oauth_grant_user", "user_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    app_id: str = Field(foreign_key="oauth_app.id", ondelete="CASCADE", max_length=32)
    user_id: str = Field(foreign_key="app_user.id", ondelete="CASCADE", max_length=32)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = utc_column()
    last_used_at: datetime | None = utc_column(nullable=True)
    revoked_at: datetime | None = utc_column(nullable=True)
    # Why: "user", "organization", "code_reuse", "refresh_reuse", "client".
    revoked_reason: str | None = Field(default=None, max_length=32)


class OAuthToken(SQLModel, table=True):
    """An access (`sgo_`) or refresh (`sgr_`) token of a grant, stored hashed."""

    __tablename__ = "oauth_token"
    __table_args__ = (Index("ix_oauth_token_grant", "grant_id"),)

    id: str = Field(primary_key=True, max_length=32)
    grant_id: str = Field(foreign_key="oauth_grant.id", ondelete="CASCADE", max_length=32)
    kind: str = Field(max_length=8)  # "access" | "refresh"
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = utc_column()
    expires_at: datetime = utc_column()
    # A refresh token is used once: rotation sets this, atomically.
    used_at: datetime | None = utc_column(nullable=True)
    revoked_at: datetime | None = utc_column(nullable=True)
