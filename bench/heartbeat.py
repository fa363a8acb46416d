"""Heartbeat pings under load, against a bare Starlette route in the same run.

    .venv/bin/python -m bench.heartbeat [--seconds 5] [--rounds 3] [--monitors 32]
                                        [--postgres postgresql+asyncpg://postgres@127.0.0.1/test]

What users run: `statusgraph serve` as shipped (uvloop, httptools, no access log,
background jobs on), with one difference, said here: the heartbeat rate limit is raised
so no ping is refused (the limiter itself stays on). The whole server process is pinned
to CPU 0 at launch and wrk to CPU 1. Pings are spread over `--monitors` heartbeat
monitors, each pinged with a key of its own (32 of each by default, as an installation
has many), round-robin. The yardstick is a bare Starlette route doing the least a ping
does: a POST with a path parameter whose body is read. Rounds are interleaved, 16 and
64 connections; the table gives each target's median round by CPU per request, and
checks that every 2xx ping is a committed row. Target (issue #14): >= 0.6 x the bare
route at 16 connections. With --postgres, the same against a throwaway database created
on that server (and dropped afterwards) instead of SQLite.

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
from typing import Any

import httpx
from sqlalchemy import make_url, text

from bench.harness import (
    Result,
    ShippedServe,
    UvicornServer,
    callgrind_serve,
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


async def seed(settings: Settings, monitors: int) -> list[tuple[str, str]]:
    """(monitor id, key) pairs: `monitors` heartbeat monitors, each with a key of its own
    holding heartbeat:write only."""
    engine = create_engine(settings.database_url)
    async with create_session_factory(engine).begin() as session:
        admin = await organizations.bootstrap(session, now=utcnow(), pepper=settings.pepper())
    await engine.dispose()
    assert admin is not None
    app = create_app(settings)
    pairs = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://seed", headers={"X-API-Key": admin}
    ) as http:

        async def call(document: str, variables: dict[str, Any]) -> dict[str, Any]:
            answer = (
                await http.post("/graphql", json={"query": document, "variables": variables})
            ).json()
            assert "errors" not in answer, answer
            return answer["data"]  # type: ignore[no-any-return]

        for n in range(monitors):
            monitor = await call(
                "mutation($n: String!) { createMonitor(input: {name: $n, type: HEARTBEAT, periodSeconds: 3600, graceSeconds: 600}) { monitor { id } } }",
                {"n": f"job {n}"},
            )
            key = await call(
                'mutation($n: String!) { createApiKey(input: {name: $n, scopes: ["heartbeat:write"]}) { secret } }',
                {"n": f"job {n}"},
            )
            pairs.append((monitor["createMonitor"]["monitor"]["id"], key["createApiKey"]["secret"]))
    await app.state.engine.dispose()
    return pairs


def ping_script(path: Path, pairs: list[tuple[str, str]]) -> Path:
    """A wrk script that sends each request to the next monitor, with that monitor's key."""
    entries = ",\n".join(f'  {{"/api/heartbeat/{monitor}", "{key}"}}' for monitor, key in pairs)
    path.write_text(
        f"local targets = {{\n{entries}\n}}\n"
        "local n = 0\n"
        "request = function()\n"
        "  n = n % #targets + 1\n"
        "  return wrk.format('POST', targets[n][1], {['Content-Type'] = 'application/json',"
        ' [\'X-API-Key\'] = targets[n][2]}, \'{"status": "up", "duration_ms": 12}\')\n'
        "end\n"
    )
    return path


def bare_script(path: Path) -> Path:
    path.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.body = \'{"status": "up", "duration_ms": 12}\'\n'
    )
    return path


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
    parser.add_argument(
        "--monitors", type=int, default=32, help="heartbeat monitors (and keys) pinged in turn"
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


BARE_PATH = "/ping/mon_bench"


def run(args: argparse.Namespace, database_url: str | None, database: str) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="statusgraph-bench-"))
    env = {
        "STATUSGRAPH_DATA_DIR": str(data_dir),
        "STATUSGRAPH_RATE_LIMIT_HEARTBEAT": "1000000000/minute",
        **({"STATUSGRAPH_DATABASE_URL": database_url} if database_url else {}),
    }
    os.environ.update(env)
    settings = Settings()
    migrate.upgrade(settings.database_url)
    pairs = asyncio.run(seed(settings, args.monitors))
    script = ping_script(data_dir / "ping.lua", pairs)
    bare_lua = bare_script(data_dir / "bare.lua")
    label = f"POST /api/heartbeat ({database}, {args.monitors} mon.)"
    if args.instructions:
        count_instructions(args.seconds, settings.database_url, data_dir, env, script, bare_lua)
        return
    bare = UvicornServer("bench.apps:bare")
    pings = ShippedServe(env)
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
                        f"bare POST route, c={connections}",
                        bare,
                        BARE_PATH,
                        connections=connections,
                        seconds=args.seconds,
                        script=bare_lua,
                    )
                )
                result = wrk(
                    f"{label}, c={connections}",
                    pings,
                    "/",
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
        cpu_ratio = results[0].cpu_us_per_request / results[1].cpu_us_per_request
        ok, committed = rows[connections]
        target = (
            f" (target >= 0.6: {'MET' if ratio >= 0.6 else 'MISSED'})" if connections == 16 else ""
        )
        print(f"heartbeat / bare route: {ratio:.3f} by requests/s, {cpu_ratio:.3f} by CPU{target}")
        print(
            f"2xx pings answered: {ok}; rows committed: {committed} ({'every 2xx is a row' if committed >= ok else 'ROWS MISSING'})"
        )


def count_instructions(
    seconds: float,
    database_url: str,
    data_dir: Path,
    env: dict[str, str],
    script: Path,
    bare_lua: Path,
) -> None:
    spaced = {
        "STATUSGRAPH_CREDENTIAL_CACHE_SECONDS": "86400",
        "STATUSGRAPH_HEARTBEAT_EVALUATE_SECONDS": "86400",
    }
    out_dir = data_dir / "callgrind"
    out_dir.mkdir()
    rows = []
    before = committed_pings(database_url)
    with callgrind_server("bench.apps:bare", out_dir) as server:
        requests, per_request = instructions_per_request(
            server, out_dir, BARE_PATH, connections=16, seconds=max(seconds, 20), script=bare_lua
        )
    rows.append(("bare POST route", requests, per_request))
    with callgrind_serve(out_dir, {**env, **spaced}) as server:
        requests, per_request = instructions_per_request(
            server, out_dir, "/", connections=16, seconds=max(seconds, 20), script=script
        )
    rows.append(("POST /api/heartbeat (serve)", requests, per_request))
    committed = committed_pings(database_url) - before
    print("\n16 connections, instructions counted by callgrind (user space, all threads)\n")
    print(f"{'target':<34} {'requests':>9} {'instructions/req':>17} {'vs bare':>8}")
    for name, requests, per_request in rows:
        print(f"{name:<34} {requests:>9} {per_request:>17,.0f} {rows[0][2] / per_request:>7.2f}x")
    print(f"rows committed in the run, warm-up included: {committed}")


if __name__ == "__main__":
    main()
