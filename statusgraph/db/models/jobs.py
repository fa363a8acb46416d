"""The job runner's tables: a lease per background job, and a record per process that
runs jobs (statusgraph/jobs/).

No `from __future__ import annotations` here: it breaks SQLModel's column inference.
"""

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Column, Field, SQLModel

from statusgraph.db.models.base import utc_column


class JobLease(SQLModel, table=True):
    """One row per job. The process whose claim changed `next_run_at` runs it; it holds
    the lease until `expires_at` (renewed while the run lasts) and clears `expires_at`
    when done. `holder` and the `last_*` columns stay behind as the record of the last run.
    """

    __tablename__ = "job_lease"

    name: str = Field(primary_key=True, max_length=64)
    holder: str | None = Field(default=None, max_length=32)  # a Worker's id
    expires_at: datetime | None = utc_column(nullable=True)
    next_run_at: datetime = utc_column()
    last_started_at: datetime | None = utc_column(nullable=True)
    last_finished_at: datetime | None = utc_column(nullable=True)
    last_duration_ms: int | None = None
    last_items: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Worker(SQLModel, table=True):
    """A process that runs jobs: `statusgraph worker`, or `serve` with jobs on. Alive
    while `stopped_at` is empty and `seen_at` is recent (refreshed every third of a lease).
    """

    __tablename__ = "worker"

    id: str = Field(primary_key=True, max_length=32)
    role: str = Field(max_length=16)  # serve | worker
    host: str = Field(max_length=255)
    pid: int
    started_at: datetime = utc_column()
    seen_at: datetime = utc_column()
    stopped_at: datetime | None = utc_column(nullable=True)
