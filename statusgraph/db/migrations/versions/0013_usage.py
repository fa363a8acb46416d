"""usage metering: requests per credential and day, addresses per API key

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import statusgraph.db.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _string(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "request_count",
        sa.Column("credential_id", _string(32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("organization_id", _string(32), nullable=False),
        sa.Column("credential_kind", _string(16), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column(
            "last_request_at", statusgraph.db.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_request_count_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("credential_id", "day", name=op.f("pk_request_count")),
    )
    op.create_index(
        "ix_request_count_org_day", "request_count", ["organization_id", "day"], unique=False
    )
    op.create_table(
        "key_address",
        sa.Column("api_key_id", _string(32), nullable=False),
        sa.Column("ip", _string(45), nullable=False),
        sa.Column("organization_id", _string(32), nullable=False),
        sa.Column("first_seen_at", statusgraph.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", statusgraph.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("alert_token", _string(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_key.id"],
            name=op.f("fk_key_address_api_key_id_api_key"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_key_address_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("api_key_id", "ip", name=op.f("pk_key_address")),
    )


def downgrade() -> None:
    op.drop_table("key_address")
    op.drop_index("ix_request_count_org_day", table_name="request_count")
    op.drop_table("request_count")
