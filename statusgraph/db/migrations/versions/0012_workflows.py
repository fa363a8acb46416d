"""workflows and their runs

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import statusgraph.db.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _string(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "workflow",
        sa.Column("id", _string(32), nullable=False),
        sa.Column("organization_id", _string(32), nullable=False),
        sa.Column("name", _string(200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("trigger", _string(16), nullable=False),
        sa.Column("monitor_ids", sa.JSON(), nullable=False),
        sa.Column("monitor_types", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("created_at", statusgraph.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", statusgraph.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_workflow_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow")),
    )
    with op.batch_alter_table("workflow", schema=None) as batch_op:
        batch_op.create_index(
            "ix_workflow_org_created", ["organization_id", "created_at", "id"], unique=False
        )
    op.create_table(
        "workflow_run",
        sa.Column("id", _string(32), nullable=False),
        sa.Column("organization_id", _string(32), nullable=False),
        sa.Column("workflow_id", _string(32), nullable=False),
        sa.Column("event_id", _string(32), nullable=True),
        sa.Column("trigger", _string(16), nullable=False),
        sa.Column("monitor_id", _string(32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("status", _string(16), nullable=False),
        sa.Column("outcomes", sa.JSON(), nullable=False),
        sa.Column("incident_id", _string(32), nullable=True),
        sa.Column("actor_type", _string(16), nullable=False),
        sa.Column("actor_id", _string(64), nullable=True),
        sa.Column("actor_label", _string(200), nullable=False),
        sa.Column("created_at", statusgraph.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_workflow_run_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflow.id"],
            name=op.f("fk_workflow_run_workflow_id_workflow"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_run")),
        sa.UniqueConstraint("workflow_id", "event_id", name="uq_workflow_run_workflow_event"),
    )
    with op.batch_alter_table("workflow_run", schema=None) as batch_op:
        batch_op.create_index(
            "ix_workflow_run_workflow_created", ["workflow_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_workflow_run_org_monitor",
            ["organization_id", "monitor_id", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table("workflow_run")
    op.drop_table("workflow")
