"""Heartbeat pings under load, against a bare Starlette JSON route in the same run.

    .venv/bin/python -m bench.heartbeat [--seconds 5] [--rounds 3]
                                        [--postgres postgresql+asyncpg://postgres@127.0.0.1/test]

Serves a fresh SQLite database with uvicorn (one worker), drives both targets with wrk
(apt-get install wrk) at 16 and 64 connections, checks that every 2xx ping is a
committed row, and prints requests/s, p50, p99 and the ratio. Target: >= 0.5 x the
bare route at 16 connections. The heartbeat rate limit is raised for the run (the
limiter itself stays on). With --postgres, the same run against a throwaway database
created on that server (and dropped afterwards) instead of SQLite.

With --instructions (needs valgrind), both servers run under callgrind instead and the
table gives the instructions each executes per request at 16 connections: a figure
that, unlike requests per second, does not move with the machine's load. Work done per
unit of time rather than per request (the credential cache's refresh, the heartbeat
evaluator) is spaced out for that run, since valgrind's ~50x slowdown would otherwise
charge it to 50x fewer requests.
"""

import argparse
import asyncio
import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy import make_url, text

from bench.harness import (
    Result,
    UvicornServer,
    callgrind_server,
    instructions_per_request,
    median_of,
    print_table,
    wrk,
)
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


def committed_pings(database_url: str) -> int:
    async def count() -> int:
        engine = create_engine(database_url)
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT count(*) FROM heartbeat_ping"))
            counted = int(rows.scalar_one())
        await engine.dispose()
        return counted

    return asyncio.run(count())


async def _admin(server_url: str, statement: str) -> None:
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(statement))
    await engine.dispose()


@contextlib.contextmanager
def throwaway_postgres(server_url: str) -> Iterator[str]:
    name = f"statusgraph_bench_{secrets.token_hex(5)}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; medians are shown"
    )
    parser.add_argument("--postgres", help="a PostgreSQL server URL to measure instead of SQLite")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per request under callgrind instead of timing",
    )
    args = parser.parse_args()
    if args.postgres:
        with throwaway_postgres(args.postgres) as database_url:
            run(args, database_url, "PostgreSQL")
    else:
        run(args, None, "SQLite")


def run(args: argparse.Namespace, database_url: str | None, database: str) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="statusgraph-bench-"))
    env = {
        "STATUSGRAPH_DATA_DIR": str(data_dir),
        "STATUSGRAPH_RATE_LIMIT_HEARTBEAT": "1000000000/minute",
        "STATUSGRAPH_LOG_LEVEL": "warning",
        **({"STATUSGRAPH_DATABASE_URL": database_url} if database_url else {}),
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
    if args.instructions:
        count_instructions(args.seconds, settings.database_url, data_dir, env, script, monitor)
        return
    bare = UvicornServer("bench.apps:bare")
    pings = UvicornServer("statusgraph.app:create_app_from_environment", env)
    rows: dict[int, tuple[int, int]] = {}
    tables: dict[int, list[Result]] = {}
    try:
        for connections in (16, 64):
            runs: dict[str, list[Result]] = {"bare": [], "ping": []}
            ok = 0
            before = committed_pings(settings.database_url)
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
                    f"POST /api/heartbeat ({database}), c={connections}",
                    pings,
                    f"/api/heartbeat/{monitor}",
                    connections=connections,
                    seconds=args.seconds,
                    script=script,
                    warmup=0,
                )
                runs["ping"].append(result)
                ok += result.requests - result.non_2xx
            rows[connections] = (ok, committed_pings(settings.database_url) - before)
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


def count_instructions(
    seconds: float,
    database_url: str,
    data_dir: Path,
    env: dict[str, str],
    script: Path,
    monitor: str,
) -> None:
    spaced = {
        "STATUSGRAPH_CREDENTIAL_CACHE_SECONDS": "86400",
        "STATUSGRAPH_HEARTBEAT_EVALUATE_SECONDS": "86400",
    }
    out_dir = data_dir / "callgrind"
    out_dir.mkdir()
    rows = []
    before = committed_pings(database_url)
    for name, factory, server_env, path, lua in (
        ("bare Starlette JSON route", "bench.apps:bare", None, "/ping", None),
        (
            "POST /api/heartbeat (SQLite)",
            "statusgraph.app:create_app_from_environment",
            {**env, **spaced},
            f"/api/heartbeat/{monitor}",
            script,
        ),
    ):
        with callgrind_server(factory, out_dir, server_env) as server:
            requests, per_request = instructions_per_request(
                server, out_dir, path, connections=16, seconds=max(seconds, 20), script=lua
            )
        rows.append((name, requests, per_request))
    committed = committed_pings(database_url) - before
    print("\n16 connections, instructions counted by callgrind (user space, all threads)\n")
    print(f"{'target':<34} {'requests':>9} {'instructions/req':>17} {'vs bare':>8}")
    for name, requests, per_request in rows:
        print(f"{name:<34} {requests:>9} {per_request:>17,.0f} {rows[0][2] / per_request:>7.2f}x")
    print(f"rows committed in the run, warm-up included: {committed}")


if __name__ == "__main__":
    main()
