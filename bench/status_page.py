"""publicStatusPage under load, against a bare Starlette JSON route in the same run.

    .venv/bin/python -m bench.status_page [--seconds 5] [--rounds 3] [--connections 16]

The page is measured twice: as served (anonymous responses are cached in memory for a
few seconds, schema/response_cache.py) and with that cache off, executing every request.
Seeds a page of 20 services and 10 incidents x 3 updates into a fresh SQLite database,
serves it with `statusgraph serve` as shipped (the whole process pinned to one core),
drives both targets with wrk (apt-get install wrk) and prints requests/s, p50, p99 and
the ratio. Target: >= 0.10 x the bare route. One difference from the shipped defaults:
the anonymous rate limit is raised for the run (the limiter itself stays on).
"""

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path

import httpx

from bench.harness import Result, ShippedServe, UvicornServer, median_of, print_table, wrk
from statusgraph.app import create_app
from statusgraph.clock import utcnow
from statusgraph.config import Settings
from statusgraph.db import migrate
from statusgraph.db.engine import create_engine, create_session_factory
from statusgraph.resolvers import organizations

QUERY = """
query Page($slug: String!) {
  publicStatusPage(slug: $slug) {
    name tagline primaryColor themeMode overallStatus
    services { name groupName status }
    activeIncidents { title status impact affectedServices { name status } updates { status message createdAt } }
    maintenance { title status startsAt endsAt }
  }
}
"""


async def seed(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    async with create_session_factory(engine).begin() as session:
        key = await organizations.bootstrap(session, now=utcnow(), pepper=settings.pepper())
    await engine.dispose()
    assert key is not None
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://seed", headers={"X-API-Key": key}
    ) as http:

        async def call(document: str, variables: dict[str, object]) -> dict[str, object]:
            body = (
                await http.post("/graphql", json={"query": document, "variables": variables})
            ).json()
            assert "errors" not in body, body
            return body["data"]  # type: ignore[no-any-return]

        services = []
        for n in range(20):
            data = await call(
                "mutation($n: String!) { createService(input: {name: $n}) { service { id } } }",
                {"n": f"Service {n}"},
            )
            services.append(data["createService"]["service"]["id"])  # type: ignore[index]
        await call(
            'mutation($s: [ID!]!) { createStatusPage(input: {name: "Bench", slug: "bench", serviceIds: $s}) { userErrors { code } } }',
            {"s": services},
        )
        for n in range(10):
            data = await call(
                'mutation($t: String!, $s: ID!) { createIncident(input: {title: $t, message: "Investigating", services: [{serviceId: $s, status: PARTIAL_OUTAGE}]}) { incident { id } } }',
                {"t": f"Incident {n}", "s": services[n]},
            )
            incident = data["createIncident"]["incident"]["id"]  # type: ignore[index]
            for message in ("Identified", "Monitoring"):
                await call(
                    "mutation($id: ID!, $m: String!) { postIncidentUpdate(id: $id, input: {status: IDENTIFIED, message: $m}) { userErrors { code } } }",
                    {"id": incident, "m": message},
                )
    await app.state.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; medians are shown"
    )
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="statusgraph-bench-"))
    env = {
        "STATUSGRAPH_DATA_DIR": str(data_dir),
        "STATUSGRAPH_RATE_LIMIT_ANONYMOUS": "1000000000/minute",
    }
    os.environ.update(env)
    settings = Settings()
    migrate.upgrade(settings.database_url)
    asyncio.run(seed(settings))

    script = data_dir / "post.lua"
    body = json.dumps({"query": QUERY, "variables": {"slug": "bench"}})
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
    )
    check = httpx.Client()
    targets = {
        "bare Starlette JSON route": (UvicornServer("bench.apps:bare"), "/ping", None),
        "publicStatusPage (SQLite)": (
            ShippedServe(env),
            "/graphql",
            script,
        ),
        "publicStatusPage, response cache off": (
            ShippedServe({**env, "STATUSGRAPH_PUBLIC_CACHE_SECONDS": "0"}),
            "/graphql",
            script,
        ),
    }
    try:
        page_server = targets["publicStatusPage (SQLite)"][0]
        answer = check.post(
            page_server.url + "/graphql", json={"query": QUERY, "variables": {"slug": "bench"}}
        ).json()
        page = answer["data"]["publicStatusPage"]
        assert len(page["services"]) == 20, answer
        assert len(page["activeIncidents"]) == 10, answer
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
                    )
                )
    finally:
        for server, _, _ in targets.values():
            server.stop()
    results = [median_of(runs[name]) for name in targets]
    print(
        f"\n20 services, 10 incidents x 3 updates; {args.connections} connections, "
        f"median of {args.rounds} interleaved rounds of {args.seconds:g} s\n"
    )
    print_table(results, results[0])
    print()
    for result in results[1:]:
        ratio = result.requests_per_second / results[0].requests_per_second
        print(f"{result.name} / bare route: {ratio:.3f} (target >= 0.10)")


if __name__ == "__main__":
    main()
