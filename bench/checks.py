"""Active checks at scale (issue #15): N HTTP monitors every 60 s, one worker process.

    .venv/bin/python -m bench.checks [--monitors 1000 10000] [--seconds 120] [--quick]
                                     [--concurrency 100] [--database-url URL]
    .venv/bin/python -m bench.checks --instructions [--monitors 1000]

For each N, in a scratch database (a SQLite file; with `--database-url`, a PostgreSQL
database created on that server and dropped afterwards; the one named is only connected
to), migrated: `statusgraph worker` as shipped starts, its whole process pinned to CPU 0,
then one organization and N HTTP monitors at a 60 s interval are added, their first
checks spread over the next minute (the steady state a worker reaches anyway). They
check a bare Starlette route under uvicorn on loopback, pinned to CPU 1 with this
process, with STATUSGRAPH_CHECKS_ALLOW_PRIVATE_NETWORKS=true. After a warm-up, over
`--seconds`:

- checks per second: the results written with `checked_at` in the window;
- the worker's CPU (user + system, every thread, from /proc) per check and its share
  of its core; the ceiling one core allows is 1 s / CPU per check;
- scheduling lag, from the database rather than the worker's word: every minute of the
  window the bench reads each monitor's `next_check_at` (its due time; monitors claimed
  at that moment are left out, as the column then holds the claim's end), and the first
  result after that gives when the check started: lag = start - due. The gaps between
  one monitor's results cannot tell, as each next check is jittered by ±1.5 s;
- database work per check: transactions (PostgreSQL: `pg_stat_database.xact_commit`
  of the scratch database, every job's; SQLite counts none, so there the claiming and
  writing transactions of the worker's own report lines), rows written (PostgreSQL:
  inserted + updated + deleted) and bytes the worker wrote to storage (its /proc `io`:
  on SQLite the WAL and the checkpoints).

Baselines in the same run, in this process pinned to CPU 0 against the same route, 16
at a time: a bare aiohttp GET on a fresh connection, the least a check can cost, and
the worker's HTTP probe alone (`probe_http` in a session of the worker's own: the SSRF
guard's sockets, phase traces, the outcome), without scheduling or database.

`--instructions` runs the worker and the baselines under valgrind's callgrind instead
and counts the instructions executed per check and per request (user space, every
thread): the same figure for the same code whatever else the machine is doing. Valgrind
slows the worker ~50x: keep it to 1,000 monitors (the default there).
"""

import argparse
import asyncio
import math
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, insert, make_url, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.harness import CALLGRIND, ROOT, UvicornServer, cpu_seconds, pinned
from bench.http_clients import aiohttp_session, pin_to, run
from statusgraph.checks.guard import Guard
from statusgraph.checks.probes.http import HttpCheck, http_session, probe_http
from statusgraph.db import migrate
from statusgraph.db.engine import create_engine
from statusgraph.db.models import CheckResult, Monitor, Organization

INTERVAL = 60
REPORT_SECONDS = 10  # the worker's report lines (STATUSGRAPH_CHECK_REPORT_SECONDS)
WARMUP_SECONDS = 15
# Until the window's last results are in the database (the writer's batches: 0.5 s).
SETTLE_SECONDS = 3
IN_FLIGHT = 16  # the baselines' requests at a time
GOAL_MONITORS, GOAL_P99 = 10_000, 1.0
# Asks for more checks a second than one core does (~2,000/s measured): the rate the
# worker sustains is then the ceiling, measured rather than extrapolated.
CEILING_MONITORS = 150_000
SETTINGS = {
    "method": "GET",
    "follow_redirects": True,
    "verify_tls": True,
    "confirmations": 2,
    "retry_interval_seconds": 20,
}
REPORT = re.compile(
    r"checks: (?P<checks>\d+) in .*? p99 (?P<p99>[\d.]+) s.*?; (?P<claims>\d+) claiming and "
    r"(?P<writes>\d+) writing transactions; (?P<waiting>\d+) results waiting, "
    r"(?P<dropped>\d+) dropped, (?P<failed>\d+) failed writes"
)
_MONITORS: Table = Monitor.__table__  # type: ignore[attr-defined]
_RESULTS: Table = CheckResult.__table__  # type: ignore[attr-defined]


class ScratchDatabase:
    """A SQLite file, or a PostgreSQL database made beside the one named (which is only
    connected to, to create, drop and read the statistics of the scratch one)."""

    def __init__(self, given: str | None, folder: Path) -> None:
        self.admin = given
        if given is None:
            self.url = f"sqlite+aiosqlite:///{folder / 'checks.db'}"
            self.name = ""
        else:
            self.name = f"statusgraph_bench_{uuid.uuid4().hex[:8]}"
            self.url = make_url(given).set(database=self.name).render_as_string(False)

    async def _admin(self, statement: str, **params: str) -> Any:
        assert self.admin is not None
        engine = create_engine(self.admin, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                result = await connection.execute(text(statement), params)
                return result.one() if result.returns_rows else None
        finally:
            await engine.dispose()

    def create(self) -> None:
        if self.admin is not None:
            asyncio.run(self._admin(f'CREATE DATABASE "{self.name}"'))
        migrate.upgrade(self.url)

    def drop(self) -> None:
        if self.admin is not None:
            asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))

    async def counters(self) -> tuple[int, int] | None:
        """(transactions committed, rows written) in the scratch database so far, as
        PostgreSQL counts them; None on SQLite, which counts neither."""
        if self.admin is None:
            return None
        row = await self._admin(
            "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted "
            "FROM pg_stat_database WHERE datname = :name",
            name=self.name,
        )
        return int(row[0]), int(row[1])


async def add_monitors(url: str, target: str, count: int, *, after: float = 5) -> None:
    """One organization and `count` HTTP monitors checking `target`/ping every minute,
    their first checks spread over one interval from `after` seconds on."""
    engine = create_engine(url)
    now = datetime.now(UTC)
    start = now + timedelta(seconds=after)
    organization = {"id": "org_bench", "name": "Bench", "slug": "bench", "plan": "enterprise"}
    async with engine.begin() as connection:
        await connection.execute(
            insert(Organization.__table__),  # type: ignore[attr-defined]
            [{**organization, "created_at": now}],
        )
        for first in range(0, count, 1000):
            rows = [
                {
                    "id": f"mon_bench{n:08d}",
                    "organization_id": "org_bench",
                    "name": f"site {n}",
                    "type": "http",
                    "settings": {"url": f"{target}/ping", **SETTINGS},
                    "interval_seconds": INTERVAL,
                    "timeout_seconds": 10,
                    "paused": False,
                    "recorded_status": "up",
                    "failures": 0,
                    "status_when_down": "major_outage",
                    "next_check_at": start + timedelta(seconds=INTERVAL * n / count),
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(first, min(first + 1000, count))
            ]
            await connection.execute(insert(_MONITORS), rows)
    await engine.dispose()


@dataclass
class Report:
    """One of the worker's report lines (scheduler.report)."""

    checks: int
    lag_p99: float  # the worker's own, from due to start, of the checks it started
    transactions: int  # claiming and writing
    waiting: int
    dropped: int
    failed: int


class Worker:
    """`statusgraph worker` as installed (`python -m statusgraph`), pinned to CPU 0,
    under `wrapper` when given, its log in a file; started once it says it runs jobs."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        *,
        wrapper: list[str] | None = None,
        start_seconds: float = 60,
    ) -> None:
        self.log = log
        command = [*(wrapper or []), sys.executable, "-m", "statusgraph", "worker"]
        with log.open("w") as output:
            self.process = subprocess.Popen(
                pinned(0, command), cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + start_seconds
        while "running jobs" not in log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def written(self) -> int:
        """Bytes this process has caused to be written to storage."""
        found = re.search(r"^write_bytes: (\d+)", Path(f"/proc/{self.pid}/io").read_text(), re.M)
        return int(found.group(1)) if found else 0

    def reports(self) -> list[Report]:
        return [
            Report(
                checks=int(match["checks"]),
                lag_p99=float(match["p99"]),
                transactions=int(match["claims"]) + int(match["writes"]),
                waiting=int(match["waiting"]),
                dropped=int(match["dropped"]),
                failed=int(match["failed"]),
            )
            for match in REPORT.finditer(self.log.read_text())
        ]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(120)

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def worker_env(database: ScratchDatabase, folder: Path, concurrency: int | None) -> dict[str, str]:
    return {
        **os.environ,
        "STATUSGRAPH_DATABASE_URL": database.url,
        "STATUSGRAPH_DATA_DIR": str(folder / "data"),
        "STATUSGRAPH_CHECKS_ALLOW_PRIVATE_NETWORKS": "true",
        "STATUSGRAPH_CHECK_REPORT_SECONDS": str(REPORT_SECONDS),
        "STATUSGRAPH_LOG_LEVEL": "info",
        **({"STATUSGRAPH_CHECK_CONCURRENCY": str(concurrency)} if concurrency else {}),
    }


@dataclass
class Snapshot:
    """The due times of the monitors not claimed at `at`, for those due within `horizon`."""

    at: datetime
    due: dict[str, datetime]


async def due_times(engine: AsyncEngine, horizon: timedelta) -> Snapshot:
    at = datetime.now(UTC)
    statement = select(_MONITORS.c.id, _MONITORS.c.next_check_at).where(
        _MONITORS.c.next_check_at < at + horizon
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(statement)).all()
    return Snapshot(at, {row.id: row.next_check_at for row in rows})


async def first_results(engine: AsyncEngine, since: datetime) -> dict[str, datetime]:
    """When each monitor's first check at or after `since` started."""
    statement = (
        select(_RESULTS.c.monitor_id, func.min(_RESULTS.c.checked_at))
        .where(_RESULTS.c.checked_at >= since)
        .group_by(_RESULTS.c.monitor_id)
    )
    async with engine.connect() as connection:
        return {row[0]: row[1] for row in (await connection.execute(statement)).all()}


async def results_between(engine: AsyncEngine, start: datetime, end: datetime) -> int:
    statement = select(func.count()).where(
        _RESULTS.c.checked_at >= start, _RESULTS.c.checked_at < end
    )
    async with engine.connect() as connection:
        return int((await connection.execute(statement)).scalar_one())


def percentile(ordered: list[float], share: float) -> float:
    """Nearest rank of `share` (0-1) in `ordered`, which is sorted."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else math.nan


@dataclass
class Figures:
    monitors: int
    seconds: float
    checks: int
    cpu_seconds: float
    lags: list[float]  # sorted
    unseen: int  # checks due in the window and not started by its end: lags above
    transactions: float | None  # per check
    rows: float | None  # per check
    bytes: float  # per check
    reports: list[Report]

    @property
    def cpu_us_per_check(self) -> float:
        return self.cpu_seconds / max(self.checks, 1) * 1e6


async def observe(database: ScratchDatabase, worker: Worker, count: int, seconds: float) -> Figures:
    """The worker's figures over the next `seconds`."""
    engine = create_engine(database.url)
    try:
        start, clock = datetime.now(UTC), time.monotonic()
        cpu, written, counted = worker.cpu(), worker.written(), await database.counters()
        reported = len(worker.reports())
        snapshots = []
        for offset in range(0, math.ceil(seconds), INTERVAL):
            horizon = min(INTERVAL, seconds - offset)
            snapshots.append(await due_times(engine, timedelta(seconds=horizon)))
            await asyncio.sleep(max(0.0, clock + offset + horizon - time.monotonic()))
        end = datetime.now(UTC)
        cpu, written = worker.cpu() - cpu, worker.written() - written
        counted_after = await database.counters()
        reports = worker.reports()[reported:]
        await asyncio.sleep(SETTLE_SECONDS)
        checks = await results_between(engine, start, end)
        lags, unseen = [], 0
        for snapshot in snapshots:
            started = await first_results(engine, snapshot.at)
            for monitor_id, due in snapshot.due.items():
                if monitor_id in started:
                    lags.append(max(0.0, (started[monitor_id] - due).total_seconds()))
                else:
                    unseen += 1
    finally:
        await engine.dispose()
    per_check = 1 / max(checks, 1)
    if counted is not None and counted_after is not None:
        transactions: float | None = (counted_after[0] - counted[0]) * per_check
        rows: float | None = (counted_after[1] - counted[1]) * per_check
    else:
        reported_checks = sum(report.checks for report in reports)
        transactions = sum(r.transactions for r in reports) / max(reported_checks, 1)
        rows = None
    return Figures(
        monitors=count,
        seconds=(end - start).total_seconds(),
        checks=checks,
        cpu_seconds=cpu,
        lags=sorted(lags),
        unseen=unseen,
        transactions=transactions,
        rows=rows,
        bytes=written * per_check,
        reports=reports,
    )


def measure(
    count: int, seconds: float, database_url: str | None, target: str, concurrency: int | None
) -> Figures:
    folder = Path(tempfile.mkdtemp(prefix="statusgraph-bench-checks-"))
    database = ScratchDatabase(database_url, folder)
    try:
        database.create()
        with Worker(worker_env(database, folder, concurrency), folder / "worker.log") as worker:
            asyncio.run(add_monitors(database.url, target, count))
            time.sleep(WARMUP_SECONDS)
            return asyncio.run(observe(database, worker, count, seconds))
    finally:
        database.drop()


# The baselines.


async def loop(kind: str, url: str, requests: int) -> float:
    """CPU µs per request of `requests` fresh-connection GETs of `url`, `IN_FLIGHT` at a
    time: by a bare aiohttp session (`aiohttp`) or by the worker's HTTP probe (`probe`)."""
    if kind == "aiohttp":
        async with aiohttp_session(ssl.create_default_context(), fresh=True) as session:

            async def get() -> int:
                async with session.get(url) as response:
                    await response.read()
                    return response.status

            return (await run(get, requests, IN_FLIGHT))[0]
    session = http_session(Guard(allow_private=True))
    check = HttpCheck(url=url, timeout=10)

    async def probe() -> int:
        outcome = await probe_http(session, check)
        return outcome.status_code or 0

    try:
        return (await run(probe, requests, IN_FLIGHT))[0]
    finally:
        await session.close()


BASELINES = {
    "aiohttp": "bare aiohttp GET, fresh connection",
    "probe": "the worker's HTTP probe alone (probe_http)",
}


def baselines(url: str, requests: int = 3000) -> dict[str, float]:
    """CPU µs per request of each baseline, in this process on CPU 0, after a warm-up."""
    pin_to(0)
    found = {}
    for kind in BASELINES:
        asyncio.run(loop(kind, url, 300))
        found[kind] = asyncio.run(loop(kind, url, requests))
    pin_to(1)
    return found


# Instructions, under callgrind.


def instructions_in(dump: Path) -> int:
    found = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(), re.MULTILINE)
    assert found is not None, dump
    return int(found.group(1))


def loop_instructions(kind: str, url: str, folder: Path) -> float:
    """Instructions per request of a baseline: two runs of different lengths under
    callgrind, so that starting and stopping Python cancel out."""
    counts = []
    for requests in (200, 1200):
        out = folder / f"callgrind.{kind}.{requests}"
        command = [*CALLGRIND, f"--callgrind-out-file={out}", sys.executable, "-m", "bench.checks"]
        subprocess.run(
            pinned(0, [*command, "--loop", kind, "--url", url, "--requests", str(requests)]),
            cwd=ROOT,
            check=True,
        )
        counts.append(instructions_in(out))
    return (counts[1] - counts[0]) / 1000


def worker_instructions(count: int, seconds: float, target: str) -> tuple[int, float]:
    """(checks, instructions per check) of the worker under callgrind on SQLite, over
    `seconds` after a minute of warm-up."""
    folder = Path(tempfile.mkdtemp(prefix="statusgraph-bench-checks-"))
    database = ScratchDatabase(None, folder)
    database.create()
    wrapper = [*CALLGRIND, f"--callgrind-out-file={folder}/callgrind.%p"]
    env = worker_env(database, folder, None)
    with Worker(env, folder / "worker.log", wrapper=wrapper, start_seconds=600) as worker:
        asyncio.run(add_monitors(database.url, target, count))
        time.sleep(INTERVAL)
        pid = str(worker.pid)
        subprocess.run(["callgrind_control", "-z", pid], capture_output=True, check=True)
        start = datetime.now(UTC)
        time.sleep(seconds)
        subprocess.run(["callgrind_control", "-d", pid], capture_output=True, check=True)
        end = datetime.now(UTC)
    engine = create_engine(database.url)

    async def counted() -> int:
        try:
            return await results_between(engine, start, end)
        finally:
            await engine.dispose()

    checks = asyncio.run(counted())
    dumps = sorted(folder.glob(f"callgrind.{pid}.*"), key=lambda f: f.stat().st_mtime)
    return checks, instructions_in(dumps[-1]) / max(checks, 1)


# The tables.


def print_figures(
    rows: list[Figures], ceiling: Figures | None, database: str, concurrency: int | None
) -> None:
    measured = [*rows, *([ceiling] if ceiling else [])]
    print(
        f"\n`statusgraph worker` on CPU 0 (check concurrency {concurrency or 'default'}), "
        f"{database}; HTTP monitors every {INTERVAL} s against a bare route on CPU 1; "
        f"{WARMUP_SECONDS} s of warm-up, then measured for the seconds shown\n"
    )
    print(
        f"{'monitors':>8} {'seconds':>7} {'needed/s':>8} {'checks/s':>8} {'CPU µs/check':>12} "
        f"{'CPU %':>6} {'lag p50':>8} {'lag p99':>8} {'lag max':>8} {'xact/check':>10} "
        f"{'rows/check':>10} {'KB/check':>8} {'ceiling/s':>9}"
    )
    for row in measured:
        rows_per_check = f"{row.rows:.2f}" if row.rows is not None else "-"
        transactions = f"{row.transactions:.3f}" if row.transactions is not None else "-"
        print(
            f"{row.monitors:>8} {row.seconds:>7.0f} {row.monitors / INTERVAL:>8.1f} "
            f"{row.checks / row.seconds:>8.1f} {row.cpu_us_per_check:>12.0f} "
            f"{row.cpu_seconds / row.seconds * 100:>6.1f} "
            f"{percentile(row.lags, 0.5):>7.3f}s {percentile(row.lags, 0.99):>7.3f}s "
            f"{percentile(row.lags, 1.0):>7.3f}s {transactions:>10} {rows_per_check:>10} "
            f"{row.bytes / 1024:>8.2f} {1e6 / row.cpu_us_per_check:>9.0f}"
        )
    for row in measured:
        lost = sum(r.dropped + r.failed for r in row.reports)
        waiting = max((r.waiting for r in row.reports), default=0)
        own_p99 = max((r.lag_p99 for r in row.reports), default=math.nan)
        print(
            f"  {row.monitors} monitors: lag of {len(row.lags)} checks"
            + (f", and {row.unseen} due in the window not started by its end" if row.unseen else "")
            + f"; the worker's own lag p99 at most {own_p99:.3f} s a report"
            + f"; results waiting for the database at most {waiting}"
            + (f"; {lost} results DROPPED or NOT WRITTEN" if lost else "")
        )
    for row in rows:
        if row.monitors == GOAL_MONITORS:
            p99 = percentile(row.lags, 0.99) if not row.unseen else math.inf
            verdict = (
                "MET"
                if p99 <= GOAL_P99 and row.checks >= 0.95 * row.monitors / INTERVAL * row.seconds
                else "MISSED"
            )
            print(
                f"goal: {GOAL_MONITORS} monitors at {INTERVAL} s on one worker with lag p99 "
                f"≤ {GOAL_P99:g} s: {verdict}"
            )
    if ceiling is not None:
        rate = ceiling.checks / ceiling.seconds
        kept_up = rate >= 0.98 * ceiling.monitors / INTERVAL
        print(
            f"ceiling of one core, measured: {'at least ' if kept_up else ''}{rate:.0f} checks/s "
            f"({ceiling.monitors} monitors asking {ceiling.monitors / INTERVAL:.0f}/s; the "
            f"worker at {ceiling.cpu_seconds / ceiling.seconds * 100:.0f} % of its core)"
        )


def print_baselines(found: dict[str, float], rows: list[Figures]) -> None:
    print(f"\nbaselines in this process on CPU 0, {IN_FLIGHT} at a time, same route")
    print(f"{'':<44} {'CPU µs/request':>14} {'ceiling/s':>9}")
    for kind, value in found.items():
        print(f"{BASELINES[kind]:<44} {value:>14.0f} {1e6 / value:>9.0f}")
    for row in rows:
        print(
            f"  {row.monitors} monitors: {row.cpu_us_per_check / found['aiohttp']:.2f} x the "
            f"bare GET, {row.cpu_us_per_check - found['probe']:.0f} µs a check beyond the "
            "probe (scheduling, the database, the other jobs)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--monitors", type=int, nargs="+", help="1000 10000 by default; 1000 with --instructions"
    )
    parser.add_argument("--seconds", type=float, default=120, help="measured after a warm-up")
    parser.add_argument("--quick", action="store_true", help="--seconds 60")
    parser.add_argument("--concurrency", type=int, help="STATUSGRAPH_CHECK_CONCURRENCY")
    parser.add_argument(
        "--ceiling-monitors",
        type=int,
        default=CEILING_MONITORS,
        help=f"monitors for the ceiling's run ({CEILING_MONITORS} by default; 0: none)",
    )
    parser.add_argument(
        "--database-url",
        help="PostgreSQL (postgresql+asyncpg://…): its server hosts the scratch databases; "
        "SQLite by default",
    )
    parser.add_argument(
        "--instructions", action="store_true", help="instructions per check under callgrind"
    )
    # One baseline loop on its own, for callgrind to count (--instructions runs it).
    parser.add_argument("--loop", choices=BASELINES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=1000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loop:
        asyncio.run(loop(args.loop, args.url, args.requests))
        return
    seconds = 60 if args.quick else args.seconds
    pin_to(1)
    target = UvicornServer("bench.apps:bare", cpu=1)
    try:
        if args.instructions:
            instructions(args.monitors or [1000], seconds, target.url)
            return
        rows = [
            measure(count, seconds, args.database_url, target.url, args.concurrency)
            for count in args.monitors or [1000, 10_000]
        ]
        ceiling = (
            measure(
                args.ceiling_monitors,
                min(seconds, INTERVAL),
                args.database_url,
                target.url,
                args.concurrency,
            )
            if args.ceiling_monitors
            else None
        )
        found = baselines(f"{target.url}/ping")
    finally:
        target.stop()
    print_figures(rows, ceiling, "PostgreSQL" if args.database_url else "SQLite", args.concurrency)
    print_baselines(found, rows)


def instructions(counts: list[int], seconds: float, url: str) -> None:
    if shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind is needed for --instructions: apt-get install valgrind")
    folder = Path(tempfile.mkdtemp(prefix="statusgraph-bench-checks-"))
    found = {kind: loop_instructions(kind, f"{url}/ping", folder) for kind in BASELINES}
    measured = [(count, *worker_instructions(count, seconds, url)) for count in counts]
    print(f"\ninstructions under callgrind (user space, every thread); SQLite; {seconds:g} s")
    print(f"{'monitors':>8} {'checks':>7} {'instructions/check':>19} {'vs bare GET':>12}")
    for count, checks, per_check in measured:
        print(f"{count:>8} {checks:>7} {per_check:>19,.0f} {per_check / found['aiohttp']:>11.2f}x")
    print(f"\nbaselines, each in a process of its own under callgrind, {IN_FLIGHT} at a time")
    for kind, value in found.items():
        print(f"{BASELINES[kind]:<44} {value:>12,.0f} instructions/request")


if __name__ == "__main__":
    main()
