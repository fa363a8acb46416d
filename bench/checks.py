"""Active checks at scale (issue #15): N HTTP monitors at a 60 s interval, one worker.

    .venv/bin/python -m bench.checks [--monitors 1000 10000] [--seconds 120]
                                     [--database-url postgresql+asyncpg://…/postgres]

For each N: a scratch database (a SQLite file, or a PostgreSQL database created next to
the one named, and dropped after), migrated, with one organization and N HTTP monitors
at 60 s whose first checks are spread over the first minute (the steady state a worker
reaches after a while). `statusgraph worker` as shipped, pinned to CPU 0, checks them
against a bare Starlette route under uvicorn pinned to CPU 1 on loopback (with
STATUSGRAPH_CHECKS_ALLOW_PRIVATE_NETWORKS=true). After a warm-up of one report period,
the worker's own report lines (`STATUSGRAPH_CHECK_REPORT_SECONDS`, here 20 s) give the
checks done, their scheduling lag (from due time to probe start) and its transactions;
/proc gives its CPU time over the same window.

The table: checks per second sustained against what N monitors at 60 s need, the
worker's CPU per check and share of its core, lag p50 (median of the periods' medians)
and p99 (the worst period's), transactions per check, and the ceiling one core allows
(1 s / CPU per check). The baseline, in the same run: a bare aiohttp loop in this
process, pinned to CPU 0, fetching the same route on a fresh connection per request,
16 at a time: the least a check can cost.
"""

import argparse
import asyncio
import os
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, make_url, text

from bench.harness import ROOT, UvicornServer, cpu_seconds, pinned
from bench.http_clients import aiohttp_session, pin_to, run
from statusgraph.db import migrate
from statusgraph.db.engine import create_engine
from statusgraph.db.models import Monitor, Organization

INTERVAL = 60
REPORT_SECONDS = 20
REPORT = re.compile(
    r"checks: (?P<checks>\d+) in \d+ s \([\d.]+/s\); lag p50 (?P<p50>[\d.]+) s, "
    r"p99 (?P<p99>[\d.]+) s, max [\d.]+ s; (?P<claims>\d+) claiming and "
    r"(?P<writes>\d+) writing transactions; (?P<waiting>\d+) results waiting"
)


@dataclass
class Period:
    checks: int
    p50: float
    p99: float
    transactions: int
    waiting: int


@dataclass
class Figures:
    monitors: int
    checks_per_second: float
    cpu_us_per_check: float
    cpu_share: float
    lag_p50: float
    lag_p99: float
    transactions_per_check: float
    waiting: int


class ScratchDatabase:
    """A SQLite file, or a PostgreSQL database made beside the one named."""

    def __init__(self, given: str | None, folder: Path) -> None:
        self.admin = given
        if given is None:
            self.url = f"sqlite+aiosqlite:///{folder / 'checks.db'}"
            self.name = ""
        else:
            self.name = f"statusgraph_bench_{uuid.uuid4().hex[:8]}"
            self.url = make_url(given).set(database=self.name).render_as_string(False)

    async def _admin(self, statement: str) -> None:
        assert self.admin is not None
        engine = create_engine(self.admin, isolation_level="AUTOCOMMIT")
        async with engine.connect() as connection:
            await connection.execute(text(statement))
        await engine.dispose()

    def create(self) -> None:
        if self.admin is not None:
            asyncio.run(self._admin(f'CREATE DATABASE "{self.name}"'))
        migrate.upgrade(self.url)

    def drop(self) -> None:
        if self.admin is not None:
            asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))

    async def transactions(self) -> int:
        """Transactions committed in the scratch database so far (PostgreSQL only)."""
        if self.admin is None:
            return 0
        engine = create_engine(self.url)
        async with engine.connect() as connection:
            found = await connection.execute(
                text("SELECT xact_commit FROM pg_stat_database WHERE datname = :name"),
                {"name": self.name},
            )
            value = int(found.scalar_one())
        await engine.dispose()
        return value


async def add_monitors(url: str, target: str, count: int) -> None:
    """One organization and `count` HTTP monitors, their first checks spread over the
    first interval from a few seconds on."""
    engine = create_engine(url)
    now = datetime.now(UTC)
    start = now + timedelta(seconds=5)
    async with engine.begin() as connection:
        await connection.execute(
            insert(Organization.__table__),  # type: ignore[attr-defined]
            [{"id": "org_bench", "name": "Bench", "slug": "bench", "plan": "enterprise",
              "created_at": now}],
        )  # fmt: skip
        for first in range(0, count, 1000):
            rows = [
                {
                    "id": f"mon_bench{n:08d}",
                    "organization_id": "org_bench",
                    "name": f"site {n}",
                    "type": "http",
                    "settings": {
                        "url": f"{target}/ping",
                        "method": "GET",
                        "follow_redirects": True,
                        "verify_tls": True,
                        "confirmations": 2,
                        "retry_interval_seconds": 20,
                    },
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
            await connection.execute(insert(Monitor.__table__), rows)  # type: ignore[attr-defined]
    await engine.dispose()


def periods(log: Path) -> list[Period]:
    found = []
    for line in log.read_text().splitlines():
        match = REPORT.search(line)
        if match:
            found.append(
                Period(
                    checks=int(match["checks"]),
                    p50=float(match["p50"]),
                    p99=float(match["p99"]),
                    transactions=int(match["claims"]) + int(match["writes"]),
                    waiting=int(match["waiting"]),
                )
            )
    return found


def measure(count: int, seconds: float, database_url: str | None, target: str) -> Figures:
    folder = Path(tempfile.mkdtemp(prefix="statusgraph-bench-checks-"))
    database = ScratchDatabase(database_url, folder)
    database.create()
    try:
        asyncio.run(add_monitors(database.url, target, count))
        log = folder / "worker.log"
        env = {
            **os.environ,
            "STATUSGRAPH_DATABASE_URL": database.url,
            "STATUSGRAPH_DATA_DIR": str(folder / "data"),
            "STATUSGRAPH_CHECKS_ALLOW_PRIVATE_NETWORKS": "true",
            "STATUSGRAPH_CHECK_REPORT_SECONDS": str(REPORT_SECONDS),
            "STATUSGRAPH_LOG_LEVEL": "info",
        }
        with log.open("w") as output:
            worker = subprocess.Popen(
                pinned(0, [sys.executable, "-m", "statusgraph", "worker"]),
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            try:
                # Warm-up: the first report period (imports, connections, first checks).
                time.sleep(5 + REPORT_SECONDS + 1)
                before_reports = len(periods(log))
                cpu_before = cpu_seconds(worker.pid)
                xact_before = asyncio.run(database.transactions())
                time.sleep(seconds)
                cpu_used = cpu_seconds(worker.pid) - cpu_before
                xact = asyncio.run(database.transactions()) - xact_before
            finally:
                worker.terminate()
                worker.wait(30)
        window = periods(log)[before_reports:]
        if not window:
            raise RuntimeError(f"no report from the worker:\n{log.read_text()[-3000:]}")
        rate = sum(period.checks for period in window) / (REPORT_SECONDS * len(window))
        # PostgreSQL counts every transaction (the other jobs' too); SQLite has no such
        # counter, so there the checker's own count from its reports.
        transactions = (
            xact / (rate * seconds)
            if database_url
            else sum(p.transactions for p in window) / sum(p.checks for p in window)
        )
        return Figures(
            monitors=count,
            checks_per_second=rate,
            cpu_us_per_check=cpu_used / (rate * seconds) * 1e6,
            cpu_share=cpu_used / seconds,
            lag_p50=statistics.median(period.p50 for period in window),
            lag_p99=max(period.p99 for period in window),
            transactions_per_check=transactions,
            waiting=max(period.waiting for period in window),
        )
    finally:
        database.drop()


def baseline(url: str, requests: int = 3000) -> float:
    """CPU µs per fresh-connection GET from a bare aiohttp loop on CPU 0."""
    pin_to(0)

    async def fetch_all() -> float:
        async with aiohttp_session(ssl.create_default_context(), fresh=True) as session:

            async def fetch() -> int:
                async with session.get(url) as response:
                    await response.read()
                    return response.status

            cpu, _wall = await run(fetch, requests, 16)
            return cpu

    return asyncio.run(fetch_all())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--monitors", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument(
        "--seconds", type=float, default=120, help="measured window after the warm-up"
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL URL (its server hosts the scratch databases); SQLite by default",
    )
    args = parser.parse_args()
    target = UvicornServer("bench.apps:bare", cpu=1)
    try:
        base = f"http://127.0.0.1:{target.port}"
        rows = [measure(count, args.seconds, args.database_url, base) for count in args.monitors]
        bare = baseline(f"{base}/ping")
    finally:
        target.stop()
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"\n`statusgraph worker` on CPU 0, {database}, HTTP monitors every {INTERVAL} s "
        f"against a bare route on CPU 1; {args.seconds:g} s measured after a warm-up\n"
    )
    print(
        f"{'monitors':>8} {'checks/s':>9} {'needed':>7} {'CPU µs/check':>13} {'CPU %':>6} "
        f"{'lag p50':>8} {'lag p99':>8} {'xact/check':>10} {'ceiling/s':>10}"
    )
    for row in rows:
        print(
            f"{row.monitors:>8} {row.checks_per_second:>9.1f} {row.monitors / INTERVAL:>7.1f} "
            f"{row.cpu_us_per_check:>13.0f} {row.cpu_share * 100:>6.1f} "
            f"{row.lag_p50:>7.3f}s {row.lag_p99:>7.3f}s {row.transactions_per_check:>10.3f} "
            f"{1e6 / row.cpu_us_per_check:>10.0f}"
        )
    print(
        f"\nbaseline: a bare aiohttp GET on a fresh connection costs {bare:.0f} CPU µs "
        f"(ceiling {1e6 / bare:.0f}/s on one core)"
    )


if __name__ == "__main__":
    main()
