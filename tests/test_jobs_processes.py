"""`statusgraph worker` and `serve` as real processes: the SQLite rule, SIGTERM, every job
run exactly once by several processes on PostgreSQL, and a `kill -9`'d holder's job
taken over once its lease expires. Intervals are a fraction of a second (settings from
the environment) so that each test takes a few seconds."""

import asyncio
import itertools
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import col, func, select

from statusgraph.clock import utcnow
from statusgraph.db.engine import SessionFactory, create_engine, create_session_factory
from statusgraph.db.models import AuditEvent, JobLease, MonitorStatusChange, Worker
from statusgraph.ids import new_id
from statusgraph.jobs import liveness
from tests.helpers import PEPPER, create_org
from tests.servers import Server, free_port
from tests.test_jobs_evaluator import overdue_monitors

RUNNING = re.compile(r"statusgraph worker (wrk_\w+) running jobs")
WEB_STACK = ("starlette", "strawberry", "graphql", "uvicorn")


class WorkerProcess:
    """`python -m statusgraph worker`, its stderr collected line by line. Every one
    started is killed after its test if still running (`no_worker_left`): a failing
    assertion must not leave a worker eating the machine for the rest of the run."""

    started: ClassVar[list["WorkerProcess"]] = []

    def __init__(self, env: dict[str, str], *python_options: str) -> None:
        self.env = env
        self.python_options = python_options
        self.lines: list[str] = []
        self.worker_id = ""

    async def start(self) -> "WorkerProcess":
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            *self.python_options,
            "-m",
            "statusgraph",
            "worker",
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        WorkerProcess.started.append(self)
        self.reader = asyncio.create_task(self._read())
        started = time.monotonic()
        while not self.worker_id:
            if self.process.returncode is not None or time.monotonic() - started > 30:
                raise AssertionError("worker did not start:\n" + "".join(self.lines))
            await asyncio.sleep(0.02)
        return self

    async def _read(self) -> None:
        assert self.process.stderr
        async for raw in self.process.stderr:
            line = raw.decode()
            self.lines.append(line)
            if found := RUNNING.search(line):
                self.worker_id = found.group(1)

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signum)
        code = await asyncio.wait_for(self.process.wait(), 10)
        await self.reader
        return code


@pytest.fixture(autouse=True)
async def no_worker_left() -> AsyncIterator[None]:
    yield
    while WorkerProcess.started:
        worker = WorkerProcess.started.pop()
        if worker.process.returncode is None:
            worker.process.kill()
            await worker.process.wait()


@pytest.fixture
def jobs_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGRAPH_")}
    env |= {
        "STATUSGRAPH_DATA_DIR": str(tmp_path / "data"),
        "STATUSGRAPH_DATABASE_URL": database_url,
        "STATUSGRAPH_SECRET_KEY": PEPPER,
        "STATUSGRAPH_HEARTBEAT_EVALUATE_SECONDS": "0.2",
        "STATUSGRAPH_AUDIT_PURGE_SECONDS": "0.2",
        "STATUSGRAPH_KEY_POLICY_SECONDS": "0.2",
        "STATUSGRAPH_CHECK_RETENTION_SECONDS": "0.2",
        "STATUSGRAPH_MAINTENANCE_EVENTS_SECONDS": "0.2",
        "STATUSGRAPH_REMINDERS_SECONDS": "0.2",
        "STATUSGRAPH_JOBS_LEASE_SECONDS": "1.5",
        "STATUSGRAPH_JOBS_SHUTDOWN_SECONDS": "2",
    }
    return env


@pytest.fixture
async def jobs_db(database_url: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


async def eventually(check: Callable[[], Any], seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := await check()):
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.05)
    return found


async def leases_by_name(db: SessionFactory) -> dict[str, JobLease]:
    async with db() as session:
        return {row.name: row for row in (await session.exec(select(JobLease))).all()}


async def test_a_second_worker_on_sqlite_refuses_and_the_first_stops_cleanly_on_sigterm(
    database_url, jobs_env, jobs_db
):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite only: on PostgreSQL any number of workers run jobs")
    # -X importtime lists every module the worker loads, on stderr.
    first = await WorkerProcess(jobs_env, "-X", "importtime").start()

    second = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "statusgraph",
        "worker",
        env=jobs_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(second.communicate(), 30)
    async with jobs_db() as session:
        [record] = (await session.exec(select(Worker))).all()
    assert second.returncode == 1
    assert out == b""
    assert err.decode().splitlines()[-1] == (
        f"error: jobs already run by worker {first.worker_id} "
        f"(pid {first.process.pid} on {record.host}); on SQLite one process runs the jobs: "
        "stop it first, or keep it and start no worker"
    )

    async def both_jobs_ran() -> bool:
        rows = (await leases_by_name(jobs_db)).values()
        return len(rows) == len(JOB_NAMES) and all(row.last_finished_at for row in rows)

    await eventually(both_jobs_ran)
    began = time.monotonic()
    assert await first.stop(signal.SIGTERM) == 0
    assert time.monotonic() - began < 2 + 1  # the shutdown timeout, and some slack
    released = [row.expires_at for row in (await leases_by_name(jobs_db)).values()]
    assert released == [None] * len(JOB_NAMES)
    async with jobs_db() as session:
        stopped = await session.get(Worker, first.worker_id, populate_existing=True)
    assert stopped is not None
    assert stopped.stopped_at is not None
    assert any("stopping: runs in flight get 2 s to finish" in line for line in first.lines)

    loaded = {
        line.rsplit("|", 1)[1].strip() for line in first.lines if line.startswith("import time:")
    }
    assert "statusgraph.jobs.worker" in loaded
    assert [name for name in loaded if name.split(".")[0] in WEB_STACK] == []


async def test_two_workers_and_a_web_process_on_postgresql_run_every_job_exactly_once(
    database_url, jobs_env, jobs_db, clock
):
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: on SQLite one process runs the jobs")
    organization = await create_org(jobs_db, clock, slug="acme")
    monitors = await overdue_monitors(jobs_db, organization, utcnow(), 300)
    async with jobs_db.begin() as session:
        for n in range(40):
            session.add(
                AuditEvent(
                    id=new_id("aud"),
                    organization_id=organization.id,
                    created_at=utcnow() - timedelta(days=366, minutes=n),
                    actor_type="system",
                    actor_label="test",
                    action="test.old",
                )
            )
    # Every finished run, as each process recorded it in the job's row.
    runs_log = [
        "CREATE TABLE job_run_log (name text, holder text, started_at timestamptz, "
        "finished_at timestamptz)",
        "CREATE FUNCTION log_job_run() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.last_finished_at IS DISTINCT FROM OLD.last_finished_at THEN "
        "INSERT INTO job_run_log VALUES "
        "(NEW.name, NEW.holder, NEW.last_started_at, NEW.last_finished_at); "
        "END IF; RETURN NEW; END $$",
        "CREATE TRIGGER job_run_log AFTER UPDATE ON job_lease "
        "FOR EACH ROW EXECUTE FUNCTION log_job_run()",
    ]
    async with jobs_db.begin() as session:
        for statement in runs_log:
            await session.exec(text(statement))
    try:

        async def runs() -> list[tuple[str, str, Any, Any]]:
            async with jobs_db() as session:
                found = await session.exec(
                    text("SELECT name, holder, started_at, finished_at FROM job_run_log")
                )
                return [tuple(row) for row in found]

        async def done() -> bool:
            async with jobs_db() as session:
                old = (
                    await session.exec(
                        select(func.count()).where(col(AuditEvent.action) == "test.old")
                    )
                ).one()
            names = [name for name, *_ in await runs()]
            return old == 0 and min(names.count(n) for n in JOB_NAMES) >= 8

        workers = await asyncio.gather(*(WorkerProcess(jobs_env).start() for _ in range(2)))
        async with Server(jobs_env):
            await eventually(done)
            async with jobs_db() as session:
                alive = await liveness.alive(session, now=utcnow(), lease=timedelta(seconds=1.5))
            assert sorted(worker.role for worker in alive) == ["serve", "worker", "worker"]
        for worker in workers:
            assert await worker.stop() == 0
        log = await runs()
        async with jobs_db() as session:
            records = (await session.exec(select(Worker))).all()
        # serve's shutdown (SIGINT) released its leases and recorded it stopped, too.
        assert sorted((record.role, record.stopped_at is not None) for record in records) == [
            ("serve", True),
            ("worker", True),
            ("worker", True),
        ]
        released = [row.expires_at for row in (await leases_by_name(jobs_db)).values()]
        assert released == [None] * len(JOB_NAMES)
    finally:
        async with jobs_db.begin() as session:
            await session.exec(text("DROP TABLE job_run_log"))
            await session.exec(text("DROP FUNCTION log_job_run() CASCADE"))

    async with jobs_db() as session:
        changes = (
            await session.exec(
                select(MonitorStatusChange.monitor_id, MonitorStatusChange.to_status).order_by(
                    col(MonitorStatusChange.monitor_id)
                )
            )
        ).all()
    assert [tuple(change) for change in changes] == [(id_, "late") for id_ in sorted(monitors)]
    for name in JOB_NAMES:
        spans = sorted(
            (started, finished, holder) for job, holder, started, finished in log if job == name
        )
        for (_, finished, _), (started, _, _) in itertools.pairwise(spans):
            assert started >= finished, (name, spans)  # one run at a time, across processes
        assert len({holder for _, _, holder in spans}) >= 2, (name, spans)


JOB_NAMES = (
    "heartbeat_evaluation",
    "audit_purge",
    "key_policy",
    "check_retention",
    "maintenance_events",
    "monitor_reminders",
)


async def test_a_killed_workers_job_is_taken_over_once_its_lease_expires(
    database_url, jobs_env, jobs_db
):
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: on SQLite one process runs the jobs")
    started = await asyncio.gather(*(WorkerProcess(jobs_env).start() for _ in range(2)))
    workers = {worker.worker_id: worker for worker in started}
    engine = create_engine(database_url)
    try:
        async with engine.connect() as blocker:
            # The purge's DELETE waits behind this lock: its run stays in flight.
            await blocker.execute(text("LOCK TABLE audit_event IN ACCESS EXCLUSIVE MODE"))

            async def purge_in_flight() -> JobLease | None:
                row = (await leases_by_name(jobs_db)).get("audit_purge")
                if row is None or row.expires_at is None or row.last_started_at is None:
                    return None
                finished = row.last_finished_at
                ours = row.holder is not None and row.holder in workers
                return row if ours and (not finished or row.last_started_at > finished) else None

            victim_lease = await eventually(purge_in_flight)
            victim = workers.pop(victim_lease.holder)
            victim.process.kill()  # SIGKILL: no release, no goodbye
            await victim.process.wait()
            await asyncio.sleep(0.1)
            held = (await leases_by_name(jobs_db))["audit_purge"]
            assert held.holder == victim.worker_id
            assert held.expires_at is not None
            await blocker.rollback()
    finally:
        await engine.dispose()
    [survivor] = workers.values()

    async def taken_over() -> JobLease | None:
        row = (await leases_by_name(jobs_db))["audit_purge"]
        return row if row.holder == survivor.worker_id and row.last_finished_at else None

    row = await eventually(taken_over, seconds=10)
    assert row.last_started_at is not None
    assert row.last_started_at >= held.expires_at  # not a moment before the lease ran out

    async def only_the_survivor_alive() -> bool:
        async with jobs_db() as session:
            alive = await liveness.alive(session, now=utcnow(), lease=timedelta(seconds=1.5))
        return [worker.id for worker in alive] == [survivor.worker_id]

    await eventually(only_the_survivor_alive, seconds=5)
    status = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "statusgraph",
        "worker",
        "--status",
        env=jobs_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(status.communicate(), 30)
    assert status.returncode == 0
    lines = out.decode().splitlines()
    assert lines[0] == "workers alive: 1"
    assert lines[1].startswith(f"  worker {survivor.worker_id} (pid {survivor.process.pid} on ")
    assert lines[2] == "jobs:"
    assert lines[3].startswith("  audit_purge (every 0.2 s): ")
    assert lines[4].startswith("  check_retention (every 0.2 s): ")
    assert lines[5].startswith("  heartbeat_evaluation (every 0.2 s): ")
    assert lines[6].startswith("  key_policy (every 0.2 s): ")
    assert lines[7].startswith("  maintenance_events (every 0.2 s): ")
    assert lines[8].startswith("  monitor_reminders (every 0.2 s): ")
    assert await survivor.stop() == 0


async def test_serve_with_no_jobs_answers_requests_and_runs_no_job(database_url, jobs_env, jobs_db):
    if not database_url.startswith("sqlite"):
        pytest.skip("the flag does the same on PostgreSQL; once is enough")
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "statusgraph",
        "serve",
        "--no-jobs",
        "--port",
        str(port),
        env=jobs_env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

            async def healthy() -> bool:
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(healthy, seconds=30)
        await asyncio.sleep(0.5)  # over two intervals of both jobs
        async with jobs_db() as session:
            assert (await session.exec(select(Worker))).all() == []
            assert (await session.exec(select(JobLease))).all() == []
    finally:
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 15) == 0
