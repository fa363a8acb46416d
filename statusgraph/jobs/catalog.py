"""Every background job, with its interval from the settings, and the runner for them."""

from statusgraph.clock import Clock, utcnow
from statusgraph.config import Settings
from statusgraph.db.engine import SessionFactory
from statusgraph.jobs import audit_purge, heartbeat_evaluation
from statusgraph.jobs.runner import Job, JobRunner


def jobs_for(settings: Settings) -> list[Job]:
    return [
        heartbeat_evaluation.job(settings.heartbeat_evaluate_seconds),
        audit_purge.job(settings.audit_purge_seconds),
    ]


def runner_for(
    settings: Settings, db: SessionFactory, *, role: str, clock: Clock = utcnow
) -> JobRunner:
    """The runner of every job for a process of `role` (serve or worker). On SQLite one
    process runs the jobs: the runner is exclusive there."""
    return JobRunner(
        db,
        jobs_for(settings),
        role=role,
        lease_seconds=settings.jobs_lease_seconds,
        shutdown_seconds=settings.jobs_shutdown_seconds,
        exclusive=settings.is_sqlite,
        clock=clock,
    )
