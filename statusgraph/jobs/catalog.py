"""Every background job, with its interval from the settings, and the runner for them."""

from statusgraph.checks.guard import Guard
from statusgraph.checks.prober import Prober
from statusgraph.checks.scheduler import Checker
from statusgraph.clock import Clock, utcnow
from statusgraph.config import Settings
from statusgraph.db.engine import SessionFactory
from statusgraph.jobs import audit_purge, check_retention, heartbeat_evaluation
from statusgraph.jobs.runner import Job, JobRunner


def jobs_for(settings: Settings) -> list[Job]:
    return [
        heartbeat_evaluation.job(settings.heartbeat_evaluate_seconds),
        audit_purge.job(settings.audit_purge_seconds),
        check_retention.job(
            settings.check_retention_seconds,
            results_days=settings.check_results_retention_days,
        ),
    ]


def prober_for(settings: Settings) -> Prober:
    return Prober(
        Guard(allow_private=settings.checks_allow_private_networks),
        rdap_bootstrap_url=settings.rdap_bootstrap_url,
        concurrency=settings.check_concurrency,
    )


def checker_for(
    settings: Settings, db: SessionFactory, *, clock: Clock = utcnow, prober: Prober | None = None
) -> Checker:
    """The active checks' scheduler (checks/scheduler.py), run by every process that runs
    the jobs; `prober`: how to reach targets (tests give one that trusts their servers)."""
    return Checker(
        db,
        prober or prober_for(settings),
        concurrency=settings.check_concurrency,
        clock=clock,
        report_seconds=settings.check_report_seconds,
    )


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
        services=[checker_for(settings, db, clock=clock)],
    )
