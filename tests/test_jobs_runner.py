"""The job runner in this process, on both dialects: runs, leases, shutdown, takeover,
the SQLite rule, and `worker --status`."""

import asyncio
import itertools
import logging
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.app import create_app
from statusgraph.clock import FrozenClock, utcnow
from statusgraph.config import Settings
from statusgraph.db.engine import SessionFactory, create_engine, create_session_factory
from statusgraph.db.models import JobLease, Worker
from statusgraph.jobs import catalog, worker
from statusgraph.jobs.runner import Job, JobContext, JobRunner, JobsAlreadyRunning
from tests.helpers import START


@pytest.fixture
async def jobs_db(database_url: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


def runner(db: SessionFactory, *jobs: Job, **options: Any) -> JobRunner:
    settings: dict[str, Any] = {"lease_seconds": 3.0, "shutdown_seconds": 5.0, "exclusive": False}
    return JobRunner(db, jobs, role="worker", **(settings | options))


def counting(name: str, interval: float, runs: list[str], seconds: float = 0.0) -> Job:
    """A job that takes `seconds` and appends its name to `runs` once it is done."""

    async def run(_context: JobContext) -> int:
        await asyncio.sleep(seconds)
        runs.append(name)
        return 7

    return Job(name, interval, run)


async def lease(db: SessionFactory, name: str) -> JobLease:
    async with db() as session:
        row = await session.get(JobLease, name)
    assert row is not None
    return row


def write(settings: Settings, work: Callable[[AsyncSession], Any]) -> None:
    """Runs `work` in a write transaction, outside any event loop (as the CLI does)."""

    async def run() -> None:
        engine = create_engine(settings.database_url)
        async with create_session_factory(engine).begin() as session:
            done = work(session)
            if asyncio.iscoroutine(done):
                await done
        await engine.dispose()

    asyncio.run(run())


async def eventually(check: Callable[[], Any], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.01)


async def test_a_runner_runs_each_job_at_its_interval_and_records_its_last_run(jobs_db):
    runs: list[str] = []
    jobs = runner(jobs_db, counting("fast", 0.05, runs), counting("slow", 60, runs))
    await jobs.start()
    await eventually(lambda: runs.count("fast") >= 3)
    await jobs.stop()
    assert runs.count("slow") == 1  # due at once, then not for a minute
    fast = await lease(jobs_db, "fast")
    assert (fast.holder, fast.expires_at, fast.last_items, fast.last_error) == (
        jobs.worker_id,
        None,
        7,
        None,
    )
    assert fast.last_finished_at is not None
    assert fast.last_started_at is not None
    assert fast.last_finished_at >= fast.last_started_at
    async with jobs_db() as session:
        record = await session.get(Worker, jobs.worker_id)
    assert record is not None
    assert record.role == "worker"
    assert record.stopped_at is not None


async def test_stop_lets_a_run_in_flight_finish_then_releases_its_lease(jobs_db):
    runs: list[str] = []
    jobs = runner(jobs_db, counting("backup", 60, runs, seconds=0.3))
    await jobs.start()
    await eventually(lambda: "backup" in jobs.running)
    await jobs.stop()
    assert runs == ["backup"]
    row = await lease(jobs_db, "backup")
    assert (row.expires_at, row.last_error, row.last_items) == (None, None, 7)


async def test_stop_cancels_a_run_past_the_shutdown_timeout_and_makes_it_due_again(jobs_db):
    runs: list[str] = []
    jobs = runner(jobs_db, counting("stuck", 60, runs, seconds=30), shutdown_seconds=0.2)
    await jobs.start()
    await eventually(lambda: "stuck" in jobs.running)
    began = time.monotonic()
    await jobs.stop()
    assert time.monotonic() - began < 2
    assert runs == []
    row = await lease(jobs_db, "stuck")
    assert (row.expires_at, row.last_error, row.last_items) == (None, "cancelled at shutdown", None)
    assert row.next_run_at <= utcnow()  # another process runs it at once


async def test_a_failing_run_is_recorded_and_the_job_runs_again(jobs_db, caplog):
    attempts: list[int] = []

    async def broken(_context: JobContext) -> int:
        attempts.append(1)
        raise ValueError("disk full")

    jobs = runner(jobs_db, Job("broken", 0.05, broken))
    with caplog.at_level(logging.ERROR, logger="statusgraph.jobs"):
        await jobs.start()
        await eventually(lambda: len(attempts) >= 2)
        await jobs.stop()
    row = await lease(jobs_db, "broken")
    assert (row.expires_at, row.last_error, row.last_items) == (None, "ValueError: disk full", None)
    assert "job broken failed; it runs again at its next interval" in caplog.messages


async def test_a_lease_held_by_a_vanished_process_is_taken_over_once_it_expires(jobs_db):
    runs: list[str] = []
    now = utcnow()
    async with jobs_db.begin() as session:
        # What a process killed with kill -9 in the middle of a run leaves behind.
        session.add(
            JobLease(
                name="orphan",
                holder="wrk_killed",
                expires_at=now + timedelta(seconds=0.6),
                next_run_at=now - timedelta(seconds=1),
                last_started_at=now - timedelta(seconds=1),
            )
        )
    jobs = runner(jobs_db, counting("orphan", 0.05, runs))
    await jobs.start()
    await eventually(lambda: runs)
    taken_over = utcnow()
    await jobs.stop()
    assert taken_over >= now + timedelta(seconds=0.6)
    assert (await lease(jobs_db, "orphan")).holder == jobs.worker_id


async def test_a_run_longer_than_its_lease_keeps_it_by_renewing(jobs_db):
    runs: list[str] = []
    first = runner(jobs_db, counting("long", 0.05, runs, seconds=0.8), lease_seconds=0.3)
    second = runner(jobs_db, counting("long", 0.05, runs, seconds=0.8), lease_seconds=0.3)
    await first.start()
    await eventually(lambda: "long" in first.running)
    await second.start()
    await asyncio.sleep(0.6)  # twice the lease: without renewal the second would take it
    assert "long" not in second.running
    await first.stop()
    await second.stop()
    assert runs.count("long") >= 1


async def test_two_runners_never_run_one_job_at_once(jobs_db):
    spans: list[tuple[float, float, str]] = []

    def timed(owner: list[str]) -> Job:
        async def run(_context: JobContext) -> int:
            began = time.monotonic()
            await asyncio.sleep(0.01)
            spans.append((began, time.monotonic(), owner[0]))
            return 1

        return Job("shared", 0.03, run)

    a_name: list[str] = []
    b_name: list[str] = []
    a, b = runner(jobs_db, timed(a_name)), runner(jobs_db, timed(b_name))
    a_name.append(a.worker_id)
    b_name.append(b.worker_id)
    await a.start()
    await b.start()
    await eventually(lambda: len(spans) >= 20, seconds=10)
    await a.stop()
    await b.stop()
    spans.sort()
    for (_, ended, _), (began, _, _) in itertools.pairwise(spans):
        assert began >= ended, spans
    assert {owner for _, _, owner in spans} == {a.worker_id, b.worker_id}


async def test_on_sqlite_a_second_runner_refuses_and_serve_keeps_to_requests(
    jobs_db, settings, caplog
):
    if not settings.is_sqlite:
        pytest.skip("SQLite only: on PostgreSQL any number of processes run jobs")
    first = catalog.runner_for(settings, jobs_db, role="worker")
    await first.start()
    second = catalog.runner_for(settings, jobs_db, role="worker")
    with pytest.raises(JobsAlreadyRunning) as refused:
        await second.start()
    assert refused.value.other.id == first.worker_id
    assert str(refused.value) == (
        f"jobs already run by worker {first.worker_id} "
        f"(pid {refused.value.other.pid} on {refused.value.other.host})"
    )
    app = create_app(settings)
    with caplog.at_level(logging.WARNING, logger="statusgraph"):
        async with app.router.lifespan_context(app):
            pass
    assert f"{refused.value}; this process serves requests only" in caplog.messages
    await first.stop()
    await second.start()  # the first one stopped: the jobs are free again
    await second.stop()
    async with jobs_db() as session:
        roles = [w.role for w in (await session.exec(select(Worker))).all()]
    assert sorted(roles) == ["worker", "worker"]  # the app registered nothing


async def test_on_sqlite_a_process_of_this_host_that_no_longer_runs_does_not_keep_the_jobs(
    jobs_db, settings
):
    if not settings.is_sqlite:
        pytest.skip("SQLite only: on PostgreSQL any number of processes run jobs")
    # What a crash leaves behind when the process is restarted at once (systemd, a
    # container's restart policy): records seen a moment ago, of processes gone.
    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await gone.wait()
    now = utcnow()
    host = socket.gethostname()[:255]
    async with jobs_db.begin() as session:
        for worker_id, pid in (("wrk_killed", gone.pid), ("wrk_same_pid", os.getpid())):
            # A restarted container runs its new process as the same pid on the same host.
            session.add(
                Worker(
                    id=worker_id,
                    role="serve",
                    host=host,
                    pid=pid,
                    started_at=now - timedelta(hours=1),
                    seen_at=now,
                )
            )
    restarted = catalog.runner_for(settings, jobs_db, role="serve")
    await restarted.start()
    await restarted.stop()


async def test_on_sqlite_a_process_of_another_host_counts_until_it_is_not_seen(jobs_db, settings):
    if not settings.is_sqlite:
        pytest.skip("SQLite only: on PostgreSQL any number of processes run jobs")
    now = utcnow()
    async with jobs_db.begin() as session:
        session.add(
            Worker(
                id="wrk_elsewhere",
                role="worker",
                host="another-host",
                pid=os.getpid(),  # its pid says nothing about processes of this host
                started_at=now - timedelta(hours=1),
                seen_at=now,
            )
        )
    with pytest.raises(JobsAlreadyRunning) as refused:
        await catalog.runner_for(settings, jobs_db, role="serve").start()
    assert refused.value.other.id == "wrk_elsewhere"


async def test_serve_with_jobs_off_registers_nothing_and_runs_nothing(jobs_db, settings):
    app = create_app(settings.model_copy(update={"run_jobs": False}))
    async with app.router.lifespan_context(app):
        pass
    async with jobs_db() as session:
        assert (await session.exec(select(Worker))).all() == []
        assert (await session.exec(select(JobLease))).all() == []


def test_worker_status_prints_the_live_processes_and_each_jobs_last_run_and_lag(settings, capsys):
    now = START
    write(
        settings,
        lambda session: session.add_all(
            [
                Worker(
                    id="wrk_a",
                    role="worker",
                    host="box1",
                    pid=41,
                    started_at=now - timedelta(hours=1),
                    seen_at=now - timedelta(seconds=2),
                ),
                Worker(  # killed: not seen for longer than a lease
                    id="wrk_gone",
                    role="worker",
                    host="box2",
                    pid=42,
                    started_at=now - timedelta(hours=1),
                    seen_at=now - timedelta(seconds=31),
                ),
                Worker(  # stopped cleanly
                    id="wrk_b",
                    role="serve",
                    host="box3",
                    pid=43,
                    started_at=now - timedelta(hours=1),
                    seen_at=now,
                    stopped_at=now,
                ),
                JobLease(
                    name="heartbeat_evaluation",
                    holder="wrk_a",
                    next_run_at=now - timedelta(seconds=25),
                    last_started_at=now - timedelta(seconds=35),
                    last_finished_at=now - timedelta(seconds=35),
                    last_duration_ms=12,
                    last_items=3,
                ),
                JobLease(
                    name="audit_purge",
                    holder="wrk_a",
                    expires_at=now + timedelta(seconds=20),
                    next_run_at=now + timedelta(hours=24),
                    last_started_at=now - timedelta(seconds=10),
                    last_finished_at=now - timedelta(days=1),
                    last_duration_ms=40,
                    last_items=0,
                    last_error="OperationalError: disk full",
                ),
            ]
        ),
    )
    assert worker.worker_status(settings, clock=FrozenClock(now)) == 0
    assert capsys.readouterr().out == (
        "workers alive: 1\n"
        "  worker wrk_a (pid 41 on box1): started 2026-03-02 08:00:00Z, seen 2.0 s ago\n"
        "jobs:\n"
        "  audit_purge (every 86400 s): running since 2026-03-02 08:59:50Z by wrk_a, "
        "lease until 2026-03-02 09:00:20Z\n"
        "  check_retention (every 3600 s): never run; due when a process runs jobs\n"
        "  heartbeat_evaluation (every 10 s): last run 2026-03-02 08:59:25Z by wrk_a, 12 ms, "
        "3 items, ok; lag 25.0 s (due since 2026-03-02 08:59:35Z)\n"
        "  key_policy (every 3600 s): never run; due when a process runs jobs\n"
        "  maintenance_events (every 15 s): never run; due when a process runs jobs\n"
        "  monitor_reminders (every 60 s): never run; due when a process runs jobs\n"
        "checks: 0 active monitors, 0 due\n"
    )
    write(settings, lambda session: session.exec(update(JobLease).values(expires_at=None)))
    later = FrozenClock(now + timedelta(minutes=1))
    assert worker.worker_status(settings, clock=later) == 1  # nobody runs the jobs
    assert capsys.readouterr().out == (
        "workers alive: none\n"
        "jobs:\n"
        "  audit_purge (every 86400 s): last run 2026-03-02 08:59:50Z by wrk_a, 40 ms, 0 items, "
        "failed: OperationalError: disk full; next in 86340.0 s\n"
        "  check_retention (every 3600 s): never run; due when a process runs jobs\n"
        "  heartbeat_evaluation (every 10 s): last run 2026-03-02 08:59:25Z by wrk_a, 12 ms, "
        "3 items, ok; lag 85.0 s (due since 2026-03-02 08:59:35Z)\n"
        "  key_policy (every 3600 s): never run; due when a process runs jobs\n"
        "  maintenance_events (every 15 s): never run; due when a process runs jobs\n"
        "  monitor_reminders (every 60 s): never run; due when a process runs jobs\n"
        "checks: 0 active monitors, 0 due\n"
    )


def test_the_job_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("STATUSGRAPH_RUN_JOBS", "false")
    monkeypatch.setenv("STATUSGRAPH_JOBS_LEASE_SECONDS", "4.5")
    monkeypatch.setenv("STATUSGRAPH_JOBS_SHUTDOWN_SECONDS", "0")
    monkeypatch.setenv("STATUSGRAPH_AUDIT_PURGE_SECONDS", "60")
    settings = Settings()
    assert (
        settings.run_jobs,
        settings.jobs_lease_seconds,
        settings.jobs_shutdown_seconds,
        settings.audit_purge_seconds,
    ) == (False, 4.5, 0.0, 60.0)
    assert [(job.name, job.interval) for job in catalog.jobs_for(settings)] == [
        ("heartbeat_evaluation", 10.0),
        ("audit_purge", 60.0),
        ("key_policy", 3600.0),
        ("check_retention", 3600.0),
        ("maintenance_events", 15.0),
        ("monitor_reminders", 60.0),
    ]


def test_worker_status_on_a_database_not_yet_migrated_says_so(tmp_path, capsys):
    empty = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    assert worker.worker_status(empty) == 1
    assert capsys.readouterr() == (
        "",
        "error: the database schema is behind this release; run `statusgraph migrate` first\n",
    )
