"""Heartbeat pings under load, against a bare Starlette JSON route in the same run.

    .venv/bin/python -m bench.heartbeat [--seconds 5] [--rounds 3]

Serves a fresh SQLite database with uvicorn (one worker), drives both targets with wrk
(apt-get install wrk) at 16 and 64 connections, checks that every 2xx ping is a
committed row, and prints requests/s, p50, p99 and the ratio. Target: >= 0.5 x the
bare route at 16 connections. The heartbeat rate limit is raised for the run (the
limiter itself stays on).
"""

import argparse
import asyncio
import os
import sqlite3
import tempfile
from pathlib import Path

import httpx

from bench.harness import Result, UvicornServer, median_of, print_table, wrk
from statusgraph.app import create_app
from statusgraph.clock import utcnow
from statusgraph.config import Settings
from statusgraph.db import migrate
from statusgraph.db.engine import create_engine, create_session_factory
from statusgraph.resolvers import organizations


async def seed(settings: Settings) -> tuple[str, str]:
    engine = create_engine(settings.database_url)
    async with create_session_factory(engine).begin() as session:
        key = await organizations.bootstrap(session, now=utcnow(), pepper=settings.pepper())
    await engine.dispose()
    assert key is not None
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://seed"
    ) as http:
        body = (
            await http.post(
                "/graphql",
                headers={"X-API-Key": key},
                json={
                    "query": 'mutation { createMonitor(input: {name: "bench", type: HEARTBEAT, periodSeconds: 3600, graceSeconds: 600}) { monitor { id } } }'
                },
            )
        ).json()
    await app.state.engine.dispose()
    return key, body["data"]["createMonitor"]["monitor"]["id"]


def committed_pings(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return int(connection.execute("SELECT count(*) FROM heartbeat_ping").fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; medians are shown"
    )
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="statusgraph-bench-"))
    env = {
        "STATUSGRAPH_DATA_DIR": str(data_dir),
        "STATUSGRAPH_RATE_LIMIT_HEARTBEAT": "1000000000/minute",
        "STATUSGRAPH_LOG_LEVEL": "warning",
    }
    os.environ.update(env)
    settings = Settings()
    migrate.upgrade(settings.database_url)
    key, monitor = asyncio.run(seed(settings))
    script = data_dir / "ping.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["X-API-Key"] = "{key}"\n'
        'wrk.body = \'{"status": "up", "duration_ms": 12}\'\n'
    )
    bare = UvicornServer("bench.apps:bare")
    pings = UvicornServer("statusgraph.app:create_app_from_environment", env)
    rows: dict[int, tuple[int, int]] = {}
    tables: dict[int, list[Result]] = {}
    try:
        for connections in (16, 64):
            runs: dict[str, list[Result]] = {"bare": [], "ping": []}
            ok = 0
            before = committed_pings(data_dir / "statusgraph.db")
            for _ in range(args.rounds):
                runs["bare"].append(
                    wrk(
                        f"bare Starlette JSON route, c={connections}",
                        bare,
                        "/ping",
                        connections=connections,
                        seconds=args.seconds,
                    )
                )
                result = wrk(
                    f"POST /api/heartbeat (SQLite), c={connections}",
                    pings,
                    f"/api/heartbeat/{monitor}",
                    connections=connections,
                    seconds=args.seconds,
                    script=script,
                    warmup=0,
                )
                runs["ping"].append(result)
                ok += result.requests - result.non_2xx
            rows[connections] = (ok, committed_pings(data_dir / "statusgraph.db") - before)
            tables[connections] = [median_of(runs["bare"]), median_of(runs["ping"])]
    finally:
        bare.stop()
        pings.stop()

    for connections, results in tables.items():
        print(
            f"\n{connections} connections, median of {args.rounds} interleaved rounds of {args.seconds:g} s\n"
        )
        print_table(results, results[0])
        ratio = results[1].requests_per_second / results[0].requests_per_second
        ok, committed = rows[connections]
        print(
            f"heartbeat / bare route: {ratio:.3f}"
            + (" (target >= 0.5)" if connections == 16 else "")
        )
        print(
            f"2xx pings answered: {ok}; rows committed: {committed} ({'every 2xx is a row' if committed >= ok else 'ROWS MISSING'})"
        )


if __name__ == "__main__":
    main()
