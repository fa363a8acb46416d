"""GraphQL reads under load against a Starlette route running the same SQL, in the same run.

    .venv/bin/python -m bench.graphql_reads [--seconds 3] [--rounds 3] [--connections 16]

Three reads a dashboard or a visitor makes, each measured two ways:

- through GraphQL, served by `statusgraph serve` as shipped (a subprocess, one worker,
  uvloop and httptools, no access log, background jobs on, the whole process pinned to
  one core) with these differences: the anonymous and enterprise-plan rate limits are
  raised so no request is refused (the limiter itself stays on), and
  `STATUSGRAPH_PUBLIC_CACHE_SECONDS=0` turns the public page's response cache off, so
  every request executes;
- through a hand-written Starlette route (uvicorn, one worker) that executes exactly the
  SQL statements the GraphQL request ran, with the same parameters, through an engine
  made by the same `create_engine`, and returns the rows as JSON. The statements are
  captured from one warm GraphQL request in this process, with a `before_cursor_execute`
  listener on the app's engine. The route has no middleware: authentication, limits and
  GraphQL are exactly what the ratio charges to the GraphQL request.

A bare Starlette JSON route is the yardstick for the `x bare` figures. The data: 20
services, one status page over them, 10 active incidents of 3 updates each (the opening
one and two more), each affecting two services; seeded through the GraphQL API into a
fresh SQLite database. Every server runs pinned to CPU 0 and wrk (apt-get install wrk) to
CPU 1; the rounds are interleaved and the table shows each target's median round by CPU
per request, read from the server's /proc/<pid>/stat.

Targets (issue #14): GraphQL <= 1.5 x the same-SQL route's CPU per request for each
read; the uncached public page >= 0.05 x bare and the authenticated 20-row list >= 0.1 x
bare (requests per second); the services read sent as a GET whose answer the client
holds (If-None-Match with its ETag, answered 304) >= 0.3 x bare.
"""

import argparse
import asyncio
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import event
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.harness import (
    Result,
    ShippedServe,
    UvicornServer,
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

SERVICES = "{ services(first: 50) { edges { node { id name status } } } }"
INCIDENTS = """{
  incidents(first: 10) { edges { node {
    id title status impact startedAt
    affectedServices { status service { id name } }
    updates { id status message createdAt }
  } } }
}"""
PAGE = """query Page($slug: String!) {
  publicStatusPage(slug: $slug) {
    name tagline primaryColor themeMode overallStatus
    services { name groupName status }
    activeIncidents { title status impact affectedServices { name status } updates { status message createdAt } }
    maintenance { title status startsAt endsAt }
  }
}"""


@dataclass(frozen=True)
class Read:
    """One of the table's reads: its GraphQL request and the same-SQL route's path."""

    label: str
    path: str
    body: dict[str, Any]
    authenticated: bool


READS = [
    Read(
        "services(first: 50), 20 rows, authenticated",
        "/services",
        {"query": SERVICES},
        authenticated=True,
    ),
    Read(
        "incidents(first: 10) + services, updates, authenticated",
        "/incidents",
        {"query": INCIDENTS},
        authenticated=True,
    ),
    Read(
        "publicStatusPage, response cache off",
        "/page",
        {"query": PAGE, "variables": {"slug": "bench"}},
        authenticated=False,
    ),
]

# A key of the enterprise plan (the one bootstrap creates) reads under the plan's `read`
# limit: raised, like the anonymous one, so the run measures answers and not 429s.
UNLIMITED = "1000000000/minute"
SERVE_ENV = {
    "STATUSGRAPH_PUBLIC_CACHE_SECONDS": "0",
    "STATUSGRAPH_RATE_LIMIT_ANONYMOUS": UNLIMITED,
    "STATUSGRAPH_RATE_LIMIT_PLANS": json.dumps(
        {"enterprise": {"read": UNLIMITED, "write": UNLIMITED}}
    ),
}


async def seed(settings: Settings) -> str:
    """Bootstrap the organization and seed the reads' data; returns the API key."""
    engine = create_engine(settings.database_url)
    async with create_session_factory(engine).begin() as session:
        key = await organizations.bootstrap(session, now=utcnow(), pepper=settings.pepper())
    await engine.dispose()
    assert key is not None
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://seed", headers={"X-API-Key": key}
    ) as http:

        async def call(document: str, variables: dict[str, object]) -> dict[str, Any]:
            answer = (
                await http.post("/graphql", json={"query": document, "variables": variables})
            ).json()
            assert "errors" not in answer, answer
            return answer["data"]  # type: ignore[no-any-return]

        services = []
        for n in range(20):
            data = await call(
                "mutation($n: String!) { createService(input: {name: $n}) { service { id } } }",
                {"n": f"Service {n}"},
            )
            services.append(data["createService"]["service"]["id"])
        await call(
            'mutation($s: [ID!]!) { createStatusPage(input: {name: "Bench", slug: "bench", serviceIds: $s}) { userErrors { code } } }',
            {"s": services},
        )
        for n in range(10):
            data = await call(
                'mutation($t: String!, $a: ID!, $b: ID!) { createIncident(input: {title: $t, message: "Investigating", services: [{serviceId: $a, status: PARTIAL_OUTAGE}, {serviceId: $b, status: DEGRADED_PERFORMANCE}]}) { incident { id } } }',
                {"t": f"Incident {n}", "a": services[2 * n], "b": services[2 * n + 1]},
            )
            incident = data["createIncident"]["incident"]["id"]
            for message in ("Identified", "Monitoring"):
                await call(
                    "mutation($id: ID!, $m: String!) { postIncidentUpdate(id: $id, input: {status: IDENTIFIED, message: $m}) { userErrors { code } } }",
                    {"id": incident, "m": message},
                )
    await app.state.engine.dispose()
    return key


Statement = tuple[str, list[Any]]


async def capture(settings: Settings, key: str) -> dict[str, list[Statement]]:
    """The SQL each read's GraphQL request runs once warm (its document parsed and
    validated, the key in the credential cache), by read path. Only SELECTs are kept, so
    the same-SQL route never writes; any other statement is printed."""
    app = create_app(settings)
    seen: list[Statement] = []

    def record(
        _connection: object,
        _cursor: object,
        statement: str,
        parameters: Any,
        _context: object,
        executemany: bool,
    ) -> None:
        assert not executemany, statement
        seen.append((statement, list(parameters or ())))

    event.listen(app.state.engine.sync_engine, "before_cursor_execute", record)
    captured: dict[str, list[Statement]] = {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://capture"
    ) as http:
        for read in READS:
            headers = {"X-API-Key": key} if read.authenticated else {}
            for _ in range(2):
                seen.clear()
                answer = (await http.post("/graphql", json=read.body, headers=headers)).json()
                assert "errors" not in answer, answer
            selects = [(s, p) for s, p in seen if s.lstrip().upper().startswith("SELECT")]
            # The engine's own `begin` listener (db/engine.py) emits BEGIN on the replaying
            # connection too, so it is not replayed by hand.
            others = [
                s
                for s, _ in seen
                if s.strip() != "BEGIN" and not s.lstrip().upper().startswith("SELECT")
            ]
            if others:
                print(f"{read.path}: {len(others)} statement(s) not replayed: {others}")
            captured[read.path] = selects
    await app.state.engine.dispose()
    return captured


def same_sql_app() -> Starlette:
    """The hand-written routes: each runs its read's captured statements (BENCH_SQL_FILE)
    on one connection of an engine made as the server makes its own, and answers the rows
    as JSON."""
    settings = Settings()
    engine = create_engine(settings.database_url)
    statements: dict[str, list[Statement]] = json.loads(
        Path(os.environ["BENCH_SQL_FILE"]).read_text()
    )

    def route(path: str) -> Route:
        prepared = [(statement, tuple(parameters)) for statement, parameters in statements[path]]

        async def endpoint(request: Request) -> JSONResponse:
            await request.body()
            results = []
            async with engine.connect() as connection:
                for statement, parameters in prepared:
                    rows = await connection.exec_driver_sql(statement, parameters)
                    results.append([list(row) for row in rows])
            return JSONResponse(results)

        return Route(path, endpoint, methods=["POST"])

    async def ping(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/", ping), *(route(path) for path in statements)])


def lua_post(path: Path, body: dict[str, Any], key: str | None) -> Path:
    path.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        + (f'wrk.headers["X-API-Key"] = "{key}"\n' if key else "")
        + f"wrk.body = {json.dumps(json.dumps(body))}\n"
    )
    return path


def check(graphql: ShippedServe, same_sql: UvicornServer, key: str) -> None:
    """Each read answers what it should before anything is timed."""
    with httpx.Client() as http:
        for read in READS:
            headers = {"X-API-Key": key} if read.authenticated else {}
            answer = http.post(graphql.url + "/graphql", json=read.body, headers=headers).json()
            assert "errors" not in answer, answer
            data = answer["data"]
            if read.path == "/services":
                assert len(data["services"]["edges"]) == 20, data
            elif read.path == "/incidents":
                nodes = [edge["node"] for edge in data["incidents"]["edges"]]
                assert len(nodes) == 10, data
                assert all(len(n["updates"]) == 3 for n in nodes), data
                assert all(len(n["affectedServices"]) == 2 for n in nodes), data
            else:
                page = data["publicStatusPage"]
                assert len(page["services"]) == 20, data
                assert len(page["activeIncidents"]) == 10, data
            response = http.post(same_sql.url + read.path, json=read.body)
            assert response.status_code == 200, response.text


NOT_MODIFIED = "services: GET, 304 (If-None-Match)"


def conditional_get(path: Path, graphql: ShippedServe, key: str) -> Path:
    """A wrk script for the services read as a GET that the client already holds: the
    answer's ETag sent back in If-None-Match, so every request is answered 304."""
    query = urlencode({"query": SERVICES})
    answer = httpx.get(f"{graphql.url}/graphql?{query}", headers={"X-API-Key": key})
    tag = answer.headers["etag"]
    again = httpx.get(
        f"{graphql.url}/graphql?{query}", headers={"X-API-Key": key, "If-None-Match": tag}
    )
    assert again.status_code == 304, again.status_code
    path.write_text(
        f'wrk.path = "/graphql?{query}"\n'
        f'wrk.headers["X-API-Key"] = "{key}"\n'
        f'wrk.headers["If-None-Match"] = {json.dumps(tag)}\n'
    )
    return path


def verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; medians are shown"
    )
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="statusgraph-bench-"))
    env = {"STATUSGRAPH_DATA_DIR": str(data_dir), **SERVE_ENV}
    os.environ.update(env)
    settings = Settings()
    migrate.upgrade(settings.database_url)
    key = asyncio.run(seed(settings))
    statements = asyncio.run(capture(settings, key))
    sql_file = data_dir / "statements.json"
    sql_file.write_text(json.dumps(statements))

    bare = UvicornServer("bench.apps:bare")
    graphql = ShippedServe(env)
    same_sql = UvicornServer(
        "bench.graphql_reads:same_sql_app", {**env, "BENCH_SQL_FILE": str(sql_file)}
    )
    targets: dict[str, tuple[UvicornServer, str, Path | None]] = {
        "bare Starlette JSON route": (bare, "/ping", None)
    }
    for n, read in enumerate(READS):
        script = lua_post(data_dir / f"read{n}.lua", read.body, key if read.authenticated else None)
        targets[f"{read.path[1:]}: GraphQL"] = (graphql, "/graphql", script)
        targets[f"{read.path[1:]}: same SQL"] = (same_sql, read.path, script)
    try:
        check(graphql, same_sql, key)
        targets[NOT_MODIFIED] = (graphql, "/", conditional_get(data_dir / "304.lua", graphql, key))
        runs: dict[str, list[Result]] = {name: [] for name in targets}
        for _ in range(args.rounds):
            for name, (server, path, lua) in targets.items():
                runs[name].append(
                    wrk(
                        name,
                        server,
                        path,
                        connections=args.connections,
                        seconds=args.seconds,
                        script=lua,
                        warmup=1,
                    )
                )
    finally:
        for server in (bare, graphql, same_sql):
            server.stop()

    results = {name: median_of(found) for name, found in runs.items()}
    baseline = results["bare Starlette JSON route"]
    print(
        f"\n20 services, 10 incidents x 3 updates (2 services each); {args.connections} "
        f"connections, median of {args.rounds} interleaved rounds of {args.seconds:g} s; "
        "SQLite\n"
    )
    print_table(list(results.values()), baseline)
    print()
    print(
        f"{'read':<56} {'SELECTs':>10} {'GraphQL µs':>11} {'same-SQL µs':>12} "
        f"{'GraphQL ÷ SQL':>14} {'x bare':>7}  targets"
    )
    for read in READS:
        ql = results[f"{read.path[1:]}: GraphQL"]
        sql = results[f"{read.path[1:]}: same SQL"]
        over_sql = ql.cpu_us_per_request / sql.cpu_us_per_request
        times_bare = ql.requests_per_second / baseline.requests_per_second
        targets_line = f"÷ SQL <= 1.5 {verdict(over_sql <= 1.5)}"
        if read.path == "/page":
            targets_line += f"; x bare >= 0.05 {verdict(times_bare >= 0.05)}"
        elif read.path == "/services":
            targets_line += f"; x bare >= 0.1 {verdict(times_bare >= 0.1)}"
        print(
            f"{read.label:<56} {len(statements[read.path]):>10} {ql.cpu_us_per_request:>11.0f} "
            f"{sql.cpu_us_per_request:>12.0f} {over_sql:>13.2f}x {times_bare:>6.3f}x  {targets_line}"
        )
    not_modified = results[NOT_MODIFIED]
    times_bare = not_modified.requests_per_second / baseline.requests_per_second
    print(
        f"{'services as a GET answered 304':<56} {'':>10} {not_modified.cpu_us_per_request:>11.0f} "
        f"{'':>12} {'':>14} {times_bare:>6.3f}x  x bare >= 0.3 {verdict(times_bare >= 0.3)}"
    )
    print(
        "\nx bare: GraphQL requests/s over the bare route's. The CPU figures are the server "
        "process's user + system time per request (all its threads)."
    )


if __name__ == "__main__":
    main()
