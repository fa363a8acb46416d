"""The public status page under load, against a bare Starlette JSON route in the same run.

    .venv/bin/python -m bench.status_page [--seconds 5] [--rounds 3] [--connections 16]

Two documents: GraphQL's `publicStatusPage`, and the HTML page `GET /status/{slug}`
(DESIGN §13) with its 90 daily bars for every service. Each is measured as served
(anonymous answers kept in memory for STATUSGRAPH_PUBLIC_CACHE_SECONDS and checked
against the page's version: schema/response_cache.py, pages/caching.py) and with that
cache off (STATUSGRAPH_PUBLIC_CACHE_SECONDS=0: every request reads the database and
renders). Seeds a page of 20 services, 10 open incidents x 3 updates, and a monitor per
service with 91 days of status changes (a short outage every few days, so the bars are
real ones, computed from the changes as in production) into a fresh SQLite database,
serves it with `statusgraph serve` as shipped (the whole process pinned to one core),
drives every target with wrk (apt-get install wrk) in interleaved rounds and prints
requests/s, p50, p99, CPU per request and the ratio to the bare route. Targets:
publicStatusPage >= 0.10 x; the HTML page >= 0.3 x cached, >= 0.05 x uncached. One
difference from the shipped defaults: the anonymous rate limit is raised for the run
(the limiter itself stays on).
"""

import argparse
import asyncio
import json
import os
import re
import tempfile
from datetime import timedelta
from pathlib import Path

import httpx

from bench.harness import Result, ShippedServe, UvicornServer, median_of, print_table, wrk
from statusgraph.app import create_app
from statusgraph.clock import utcnow
from statusgraph.config import Settings
from statusgraph.db import migrate
from statusgraph.db.engine import create_engine, create_session_factory
from statusgraph.db.models import Monitor, MonitorStatusChange, Service
from statusgraph.ids import new_id
from statusgraph.resolvers import organizations

DAYS = 91  # the 90 bars, and a day before them

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
    await seed_history(settings, services)


async def seed_history(settings: Settings, services: list[str]) -> None:
    """A monitor per service, created DAYS ago, and its status changes since: service n
    goes down for 5 + n minutes every 3 + n % 5 days (so every page has some red and
    some green bars), as the checker would have logged them. The monitors have no next
    check (so neither the checker nor the heartbeat evaluator touches them)."""
    now = utcnow()
    engine = create_engine(settings.database_url)
    async with create_session_factory(engine).begin() as session:
        first = await session.get(Service, services[0])
        assert first is not None
        organization_id = first.organization_id
        for n, service_id in enumerate(services):
            created = now - timedelta(days=DAYS)
            monitor = Monitor(
                id=new_id("mon"),
                organization_id=organization_id,
                service_id=service_id,
                name=f"Service {n} check",
                type="http",
                settings={"url": "https://service.invalid/health"},
                interval_seconds=60,
                timeout_seconds=10,
                recorded_status="up",
                status_when_down="operational",  # the incidents set the statuses shown
                created_at=created,
                updated_at=created,
            )
            session.add(monitor)
            session.add(
                MonitorStatusChange(
                    id=new_id("msc"),
                    monitor_id=monitor.id,
                    from_status="pending",
                    to_status="up",
                    reason="first check",
                    created_at=created + timedelta(minutes=1),
                )
            )
            moment = created + timedelta(days=1, hours=n)
            while moment < now - timedelta(hours=1):
                for at, before, after, reason in (
                    (moment, "up", "down", "connection refused"),
                    (moment + timedelta(minutes=5 + n), "down", "up", "200 OK"),
                ):
                    session.add(
                        MonitorStatusChange(
                            id=new_id("msc"),
                            monitor_id=monitor.id,
                            from_status=before,
                            to_status=after,
                            reason=reason,
                            created_at=at,
                        )
                    )
                moment += timedelta(days=3 + n % 5, hours=7)
    await engine.dispose()


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
    # The HTML page as a browser asks for it (they all accept gzip), and once without.
    browser = data_dir / "browser.lua"
    browser.write_text('wrk.headers["Accept-Encoding"] = "gzip, deflate, br"\n')
    check = httpx.Client()
    served: UvicornServer = ShippedServe(env)
    uncached: UvicornServer = ShippedServe({**env, "STATUSGRAPH_PUBLIC_CACHE_SECONDS": "0"})
    targets = {
        "bare Starlette JSON route": (UvicornServer("bench.apps:bare"), "/ping", None),
        "publicStatusPage (SQLite)": (served, "/graphql", script),
        "publicStatusPage, response cache off": (uncached, "/graphql", script),
        "HTML page, cached": (served, "/status/bench", browser),
        "HTML page, cached, no gzip": (served, "/status/bench", None),
        "HTML page, page cache off": (uncached, "/status/bench", browser),
    }
    goals = {
        "publicStatusPage (SQLite)": 0.10,
        "HTML page, cached": 0.3,
        "HTML page, page cache off": 0.05,
    }
    try:
        answer = check.post(
            served.url + "/graphql", json={"query": QUERY, "variables": {"slug": "bench"}}
        ).json()
        page = answer["data"]["publicStatusPage"]
        assert len(page["services"]) == 20, answer
        assert len(page["activeIncidents"]) == 10, answer
        for server in (served, uncached):
            html = check.get(server.url + "/status/bench")
            assert html.status_code == 200, html.text[:500]
            bars = re.findall(r'class="bar bar-(\w+)"', html.text)
            assert len(bars) == 20 * 90, len(bars)
            assert {"up", "down"} <= set(bars), set(bars)  # real bars, not "no data"
            assert html.text.count('class="update') >= 30 or "Monitoring" in html.text
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
        for server in {id(each[0]): each[0] for each in targets.values()}.values():
            server.stop()
    results = [median_of(runs[name]) for name in targets]
    print(
        f"\n20 services (90 daily bars each), 10 incidents x 3 updates; {args.connections} "
        f"connections, median of {args.rounds} interleaved rounds of {args.seconds:g} s\n"
    )
    print_table(results, results[0])
    print()
    for result in results[1:]:
        ratio = result.requests_per_second / results[0].requests_per_second
        goal = goals.get(result.name)
        verdict = f" (target >= {goal:.2f}: {'MET' if ratio >= goal else 'MISSED'})" if goal else ""
        print(f"{result.name} / bare route: {ratio:.3f}{verdict}")


if __name__ == "__main__":
    main()
