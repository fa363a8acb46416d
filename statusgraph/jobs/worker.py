"""`statusgraph worker`: the process that runs the background jobs and nothing else (it
never imports the web stack), and `statusgraph worker --status`, what every process
running jobs is doing.

Messages go to stderr, the status report to stdout, as the rest of the CLI does.
"""

import asyncio
import logging
import signal
import sys
from datetime import datetime, timedelta

from statusgraph.checks import history
from statusgraph.clock import Clock, utcnow
from statusgraph.config import Settings
from statusgraph.db import migrate
from statusgraph.db.engine import create_engine, create_session_factory
from statusgraph.db.models import JobLease, Worker
from statusgraph.jobs import leases, liveness
from statusgraph.jobs.catalog import jobs_for, runner_for
from statusgraph.jobs.runner import JobsAlreadyRunning

logger = logging.getLogger("statusgraph.jobs")

SCHEMA_BEHIND = "error: the database schema is behind this release; run `statusgraph migrate` first"


def _say(message: str) -> None:
    print(message, file=sys.stderr)  # noqa: T201


def run_worker(settings: Settings) -> int:
    """Runs the jobs until SIGTERM or SIGINT; 0 after a clean stop, 1 if the schema is
    behind or (SQLite) another live process already runs the jobs."""
    if settings.is_sqlite:
        migrate.upgrade(settings.database_url)  # as `serve` does on SQLite
    elif asyncio.run(_pending_migrations(settings)):
        _say(SCHEMA_BEHIND)
        return 1
    return asyncio.run(_work(settings))


async def _pending_migrations(settings: Settings) -> bool:
    engine = create_engine(settings.database_url)
    try:
        return await migrate.pending_revisions(engine)
    finally:
        await engine.dispose()


async def _work(settings: Settings) -> int:
    engine = create_engine(settings.database_url)
    runner = runner_for(settings, create_session_factory(engine), role="worker")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        try:
            await runner.start()
        except JobsAlreadyRunning as error:
            _say(
                f"error: {error}; on SQLite one process runs the jobs: stop it first, "
                "or keep it and start no worker"
            )
            return 1
        logger.info("statusgraph worker %s running jobs; SIGTERM stops it", runner.worker_id)
        await stop.wait()
        logger.info(
            "stopping: runs in flight get %g s to finish, then leases are released",
            settings.jobs_shutdown_seconds,
        )
        await runner.stop()
        logger.info("stopped")
        return 0
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await engine.dispose()


def worker_status(settings: Settings, *, clock: Clock = utcnow) -> int:
    """Prints the live processes that run jobs and each job's last run and lag; 0 if
    some process runs the jobs, 1 if none does (for a health check) or the schema is behind."""
    if asyncio.run(_pending_migrations(settings)):
        _say(SCHEMA_BEHIND)
        return 1
    workers, rows, checks = asyncio.run(_read_status(settings, clock))
    intervals = {job.name: job.interval for job in jobs_for(settings)}
    sys.stdout.write(render_status(workers, rows, intervals, now=clock()))
    sys.stdout.write(render_checks(checks, now=clock()))
    return 0 if workers else 1


async def _read_status(
    settings: Settings, clock: Clock
) -> tuple[list[Worker], list[JobLease], history.Backlog]:
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            workers = await liveness.alive(
                session, now=clock(), lease=timedelta(seconds=settings.jobs_lease_seconds)
            )
            rows = await leases.read_all(session)
            return workers, rows, await history.backlog(session, clock())
    finally:
        await engine.dispose()


def render_status(
    workers: list[Worker], rows: list[JobLease], intervals: dict[str, float], *, now: datetime
) -> str:
    lines = [f"workers alive: {len(workers) or 'none'}"]
    lines += [
        f"  {liveness.describe(worker)}: started {_when(worker.started_at)}, "
        f"seen {_seconds(now - worker.seen_at)} ago"
        for worker in workers
    ]
    lines.append("jobs:")
    by_name = {row.name: row for row in rows}
    for name in sorted(set(intervals) | set(by_name)):
        interval = intervals.get(name)
        every = f"every {interval:g} s" if interval is not None else "not a job of this version"
        row = by_name.get(name)
        lines.append(f"  {name} ({every}): {_job_state(row, now)}")
    return "\n".join(lines) + "\n"


def render_checks(checks: history.Backlog, *, now: datetime) -> str:
    """The active checks' backlog: monitors due and not yet claimed are late."""
    line = f"checks: {checks.active} active monitors, {checks.due} due"
    if checks.oldest_due is not None:
        line += f", the oldest for {_seconds(now - checks.oldest_due)}"
    return line + "\n"


def _job_state(row: JobLease | None, now: datetime) -> str:
    if row is None:
        return "never run; due when a process runs jobs"
    if row.expires_at is not None and row.expires_at > now:
        return (
            f"running since {_when(row.last_started_at)} by {row.holder}, "
            f"lease until {_when(row.expires_at)}"
        )
    if row.last_finished_at is None:
        last = "never run"
    else:
        outcome = f"failed: {row.last_error}" if row.last_error else "ok"
        last = (
            f"last run {_when(row.last_started_at)} by {row.holder}, "
            f"{row.last_duration_ms} ms, {row.last_items if row.last_items is not None else '-'}"
            f" items, {outcome}"
        )
    if row.next_run_at > now:
        return f"{last}; next in {_seconds(row.next_run_at - now)}"
    return f"{last}; lag {_seconds(now - row.next_run_at)} (due since {_when(row.next_run_at)})"


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment is not None else "-"


def _seconds(delta: timedelta) -> str:
    return f"{delta.total_seconds():.1f} s"
