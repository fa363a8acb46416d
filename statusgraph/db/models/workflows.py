"""Workflows (DESIGN §15): saved automations, and the log of their runs.

No `from __future__ import annotations` here: it breaks SQLModel's column inference.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from statusgraph.db.models.base import utc_column


class Workflow(SQLModel, table=True):
    __tablename__ = "workflow"
    __table_args__ = (Index("ix_workflow_org_created", "organization_id", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    name: str = Field(max_length=200)
    enabled: bool = True
    trigger: str = Field(max_length=16)  # monitor_down | monitor_up | manual
    # Filters of a monitor trigger; empty: every monitor / every type.
    monitor_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    monitor_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The ordered actions, each {"type": ..., and its settings} (workflows/actions.py).
    actions: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()


class WorkflowRun(SQLModel, table=True):
    """One run of a workflow. A run triggered by an event is claimed by inserting this
    row, unique per (workflow, event), before any action runs: an event handled twice,
    or by two workers at once, runs each workflow once (workflows/engine.py)."""

    __tablename__ = "workflow_run"
    __table_args__ = (
        UniqueConstraint("workflow_id", "event_id", name="uq_workflow_run_workflow_event"),
        Index("ix_workflow_run_workflow_created", "workflow_id", "created_at", "id"),
        # The incidents workflows opened for a monitor, found again by later runs.
        Index("ix_workflow_run_org_monitor", "organization_id", "monitor_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    organization_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=32)
    workflow_id: str = Field(foreign_key="workflow.id", ondelete="CASCADE", max_length=32)
    # The triggering event (None: a manual run, which nothing can deliver twice).
    event_id: str | None = Field(default=None, max_length=32)
    trigger: str = Field(max_length=16)  # monitor_down | monitor_up | manual
    monitor_id: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str = Field(default="succeeded", max_length=16)  # succeeded | failed
    # Each action's outcome, in order: {"type", "outcome": ok|failed|skipped, "reason",
    # "incidentId"}.
    outcomes: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # The incident this run opened, if it did.
    incident_id: str | None = Field(default=None, max_length=32)
    actor_type: str = Field(max_length=16)
    actor_id: str | None = Field(default=None, max_length=64)
    actor_label: str = Field(max_length=200)
    created_at: datetime = utc_column()
