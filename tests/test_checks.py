"""The checker against a real HTTP server the test controls: scheduling, confirmations,
retries, maintenance, pausing, "check now", and what the API shows of it (DESIGN §10).

Time goes through the injected clock: the checker claims what is due at the clock's
instant, the probes really run against the local server, and `drain()` writes the
results; nothing sleeps.
"""

import dataclasses
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web
from sqlmodel import col, select

from statusgraph.checks.guard import Guard
from statusgraph.checks.prober import Prober
from statusgraph.checks.scheduler import Checker, report
from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import CheckResult, CheckRollup, Monitor, MonitorStatusChange
from tests.helpers import Personas, gql


@dataclass
class Site:
    """An HTTP server answering `status` with `body`, counting the requests it gets."""

    port: int = 0
    status: int = 200
    body: str = "All systems operational"
    hits: int = 0
    paths: list[str] = field(default_factory=list)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    found = Site()

    async def answer(request: web.Request) -> web.Response:
        found.hits += 1
        found.paths.append(request.path)
        return web.Response(status=found.status, text=found.body)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    found.port = runner.addresses[0][1]
    try:
        yield found
    finally:
        await runner.cleanup()


@pytest.fixture
async def checker(db: SessionFactory, clock: FrozenClock) -> AsyncIterator[Checker]:
    prober = Prober(Guard(allow_private=True), rdap_bootstrap_url="http://127.0.0.1:9/none")
    made = Checker(db, prober, clock=clock, concurrency=10, lookahead_seconds=0)
    yield made
    await prober.close()


async def tick(checker: Checker) -> int:
    """One round: claim what is due now, check it, write the results."""
    started, _more = await checker.claim_and_start()
    await checker.drain()
    return started


CREATE = """
mutation($input: CreateMonitorInput!) {
  createMonitor(input: $input) {
    monitor { id status nextCheckAt confirmations retryIntervalSeconds timeoutSeconds }
    userErrors { field code message }
  }
}"""

READ = """
query($id: ID!) {
  monitor(id: $id) {
    status
    nextCheckAt
    lastCheck { up failure reason statusCode responseTimeMs phases { total } }
    statusChanges(first: 10) { edges { node { fromStatus toStatus reason } } }
    checks(first: 10) { totalCount edges { node { up statusCode } } }
  }
}"""


async def create(client: httpx.AsyncClient, key: str, **fields: Any) -> dict[str, Any]:
    body = (
        await gql(client, CREATE, {"input": {"name": "site", "type": "HTTP"} | fields}, key=key)
    ).json()
    assert body["data"]["createMonitor"]["userErrors"] == [], body
    monitor: dict[str, Any] = body["data"]["createMonitor"]["monitor"]
    return monitor


async def read(client: httpx.AsyncClient, key: str, monitor_id: str) -> dict[str, Any]:
    body = (await gql(client, READ, {"id": monitor_id}, key=key)).json()
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"]["monitor"]
    return found


def changes(monitor: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (edge["node"]["fromStatus"], edge["node"]["toStatus"], edge["node"]["reason"])
        for edge in reversed(monitor["statusChanges"]["edges"])
    ]


async def test_a_new_monitor_is_checked_at_once_and_shows_up(
    client: httpx.AsyncClient, people: Personas, checker: Checker, site: Site, clock: FrozenClock
) -> None:
    created = await create(client, people.alice.secret, url=site.url("/health"))
    assert created["status"] == "PENDING"
    assert (created["confirmations"], created["retryIntervalSeconds"]) == (2, 20)
    assert created["timeoutSeconds"] == 10
    assert await tick(checker) == 1
    assert site.paths == ["/health"]
    monitor = await read(client, people.alice.secret, created["id"])
    assert monitor["status"] == "UP"
    assert monitor["lastCheck"]["up"] is True
    assert monitor["lastCheck"]["statusCode"] == 200
    assert monitor["lastCheck"]["phases"]["total"] > 0
    assert changes(monitor) == [("PENDING", "UP", "status 200")]
    assert monitor["checks"]["totalCount"] == 1
    # The next check one interval (60 s, ±2.5 % jitter) after the due time.
    due = clock() + timedelta(seconds=60)
    next_check = monitor["nextCheckAt"]
    assert (
        (due - timedelta(seconds=1.5)).isoformat()
        <= next_check
        <= (due + timedelta(seconds=1.5)).isoformat()
    )
    assert await tick(checker) == 0  # nothing due before then
    assert site.hits == 1


async def test_one_failure_retries_two_make_down_and_one_success_up(
    client: httpx.AsyncClient, people: Personas, checker: Checker, site: Site, clock: FrozenClock
) -> None:
    created = await create(client, people.alice.secret, url=site.url())
    await tick(checker)
    site.status = 503
    clock.advance(seconds=62)
    assert await tick(checker) == 1
    monitor = await read(client, people.alice.secret, created["id"])
    assert monitor["status"] == "UP"  # one failure is not an outage
    assert monitor["lastCheck"]["failure"] == "STATUS"
    assert monitor["nextCheckAt"] == (clock() + timedelta(seconds=20)).isoformat()
    clock.advance(seconds=19)
    assert await tick(checker) == 0  # the retry is not due yet
    clock.advance(seconds=1)
    assert await tick(checker) == 1
    monitor = await read(client, people.alice.secret, created["id"])
    assert monitor["status"] == "DOWN"
    assert changes(monitor)[-1] == ("UP", "DOWN", "status 503")
    site.status = 200
    clock.advance(seconds=62)
    await tick(checker)
    monitor = await read(client, people.alice.secret, created["id"])
    assert monitor["status"] == "UP"
    assert [change[1] for change in changes(monitor)] == ["UP", "DOWN", "UP"]


async def test_confirmations_of_one_turn_down_at_the_first_failure(
    client: httpx.AsyncClient, people: Personas, checker: Checker, site: Site
) -> None:
    site.status = 500
    created = await create(client, people.alice.secret, url=site.url(), confirmations=1)
    await tick(checker)
    monitor = await read(client, people.alice.secret, created["id"])
    assert monitor["status"] == "DOWN"
    assert changes(monitor) == [("PENDING", "DOWN", "status 500")]


async def test_a_refused_connection_is_recorded_with_its_kind(
    client: httpx.AsyncClient, people: Personas, checker: Checker, clock: FrozenClock
) -> None:
    created = await create(client, people.alice.secret, url="http://127.0.0.1:9/", confirmations=1)
    await tick(checker)
    monitor = await read(client, people.alice.secret, created["id"])
    assert monitor["status"] == "DOWN"
    assert monitor["lastCheck"]["failure"] == "CONNECT"
    assert monitor["lastCheck"]["reason"] == "connection to 127.0.0.1:9 refused"


MAINTENANCE = """
mutation($service: ID!, $starts: DateTime!, $ends: DateTime!) {
  createMaintenanceWindow(input: {title: "upgrade", serviceIds: [$service],
                                  startsAt: $starts, endsAt: $ends}) {
    userErrors { message }
  }
}"""


async def test_maintenance_stores_failures_but_raises_no_down(
    client: httpx.AsyncClient,
    people: Personas,
    checker: Checker,
    site: Site,
    clock: FrozenClock,
    db: SessionFactory,
) -> None:
    key = people.alice.secret
    service = (
        await gql(
            client,
            'mutation { createService(input: {name: "API"}) { service { id } } }',
            key=key,
        )
    ).json()["data"]["createService"]["service"]["id"]
    created = await create(client, key, url=site.url(), serviceId=service)
    await tick(checker)
    scheduled = await gql(
        client,
        MAINTENANCE,
        {
            "service": service,
            "starts": (clock() + timedelta(seconds=30)).isoformat(),
            "ends": (clock() + timedelta(hours=1)).isoformat(),
        },
        key=key,
    )
    assert scheduled.json()["data"]["createMaintenanceWindow"]["userErrors"] == []
    site.status = 503
    for _ in range(3):
        clock.advance(seconds=62)
        assert await tick(checker) == 1
    monitor = await read(client, key, created["id"])
    assert monitor["status"] == "UP"
    assert monitor["checks"]["totalCount"] == 4  # stored all the same
    # No retry (20 s): the next check is an interval on (60 s, give or take the jitter).
    assert monitor["nextCheckAt"] > (clock() + timedelta(seconds=30)).isoformat()
    async with db() as session:
        row = await session.get(Monitor, created["id"])
        assert row is not None
        assert row.failures == 0


async def test_a_paused_monitor_is_never_checked_and_resumes_pending(
    client: httpx.AsyncClient, people: Personas, checker: Checker, site: Site, clock: FrozenClock
) -> None:
    key = people.alice.secret
    created = await create(client, key, url=site.url())
    await tick(checker)
    clock.advance(seconds=1)
    paused = await gql(
        client,
        "mutation($id: ID!) { pauseMonitor(id: $id) { monitor { status nextCheckAt } } }",
        {"id": created["id"]},
        key=key,
    )
    assert paused.json()["data"]["pauseMonitor"]["monitor"] == {
        "status": "PAUSED",
        "nextCheckAt": None,
    }
    clock.advance(hours=2)
    assert await tick(checker) == 0
    assert site.hits == 1
    resumed = await gql(
        client,
        "mutation($id: ID!) { resumeMonitor(id: $id) { monitor { status } } }",
        {"id": created["id"]},
        key=key,
    )
    assert resumed.json()["data"]["resumeMonitor"]["monitor"]["status"] == "PENDING"
    clock.advance(seconds=1)
    assert await tick(checker) == 1
    monitor = await read(client, key, created["id"])
    assert [change[1] for change in changes(monitor)] == ["UP", "PAUSED", "PENDING", "UP"]


async def test_a_late_checker_skips_missed_checks_instead_of_piling_up(
    client: httpx.AsyncClient, people: Personas, checker: Checker, site: Site, clock: FrozenClock
) -> None:
    created = await create(client, people.alice.secret, url=site.url())
    await tick(checker)
    clock.advance(minutes=30)  # the worker was away for 30 intervals
    assert await tick(checker) == 1
    assert await tick(checker) == 0
    assert site.hits == 2
    monitor = await read(client, people.alice.secret, created["id"])
    assert clock().isoformat() < monitor["nextCheckAt"]
    assert monitor["nextCheckAt"] <= (clock() + timedelta(seconds=62)).isoformat()
    assert checker.stats.lags[-1] >= 28 * 60  # the lag it ran with is recorded


RUN = """
mutation($id: ID!) {
  runMonitorCheck(id: $id) {
    result { up statusCode reason }
    monitor { status }
    userErrors { field code message }
  }
}"""


async def test_run_monitor_check_answers_at_once_and_counts(
    client: httpx.AsyncClient, people: Personas, site: Site, db: SessionFactory, clock: FrozenClock
) -> None:
    key = people.alice.secret
    site.status = 500
    created = await create(client, key, url=site.url(), confirmations=1)
    body = (await gql(client, RUN, {"id": created["id"]}, key=key)).json()
    assert body["data"]["runMonitorCheck"] == {
        "result": {"up": False, "statusCode": 500, "reason": "status 500"},
        "monitor": {"status": "DOWN"},
        "userErrors": [],
    }
    async with db() as session:
        row = await session.get(Monitor, created["id"])
        assert row is not None
        # The schedule is kept: the first scheduled check is still due at once.
        assert row.next_check_at == clock()
    assert site.hits == 1


async def test_run_monitor_check_refusals(
    client: httpx.AsyncClient, people: Personas, site: Site, db: SessionFactory
) -> None:
    created = await create(client, people.alice.secret, url=site.url())
    foreign = (await gql(client, RUN, {"id": created["id"]}, key=people.charlie.secret)).json()
    # Another organization's monitor is one that does not exist, as everywhere.
    assert foreign["data"] is None
    assert foreign["errors"][0]["message"] == "Monitor not found"
    assert foreign["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    heartbeat = (
        await gql(
            client,
            CREATE,
            {
                "input": {
                    "name": "cron",
                    "type": "HEARTBEAT",
                    "periodSeconds": 60,
                    "graceSeconds": 60,
                }
            },
            key=people.alice.secret,
        )
    ).json()["data"]["createMonitor"]["monitor"]["id"]
    refused = (await gql(client, RUN, {"id": heartbeat}, key=people.alice.secret)).json()
    assert refused["data"]["runMonitorCheck"]["userErrors"] == [
        {
            "field": "id",
            "code": "NOT_CHECKED",
            "message": "HEARTBEAT monitors are not checked: they wait for pings",
        }
    ]
    no_scope = (await gql(client, RUN, {"id": created["id"]}, key=people.bob.secret)).json()
    assert no_scope["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert site.hits == 0
    async with db() as session:
        assert (await session.exec(select(CheckResult))).all() == []


async def test_rollups_count_checks_and_response_times(
    client: httpx.AsyncClient,
    people: Personas,
    checker: Checker,
    site: Site,
    clock: FrozenClock,
    db: SessionFactory,
) -> None:
    created = await create(client, people.alice.secret, url=site.url())
    await tick(checker)
    site.status = 503
    clock.advance(seconds=62)
    await tick(checker)
    async with db() as session:
        rollups = (
            await session.exec(
                select(CheckRollup)
                .where(CheckRollup.monitor_id == created["id"])
                .order_by(col(CheckRollup.period))
            )
        ).all()
    assert [(r.period, r.checks, r.failures, r.response_count) for r in rollups] == [
        ("day", 2, 1, 2),
        ("hour", 2, 1, 2),
    ]
    assert sum(getattr(rollups[0], f"b{n:02d}") for n in range(12)) == 2
    body = (
        await gql(
            client,
            "query($id: ID!) { monitor(id: $id) { responseTimes(bucket: HOUR) { checks failures p50Ms p99Ms averageMs } } }",
            {"id": created["id"]},
            key=people.alice.secret,
        )
    ).json()
    [hour] = body["data"]["monitor"]["responseTimes"]
    assert (hour["checks"], hour["failures"]) == (2, 1)
    assert 0 < hour["p50Ms"] <= hour["p99Ms"] <= 25  # loopback answers within the first bucket


async def test_transitions_keep_their_reason(
    client: httpx.AsyncClient, people: Personas, checker: Checker, site: Site, db: SessionFactory
) -> None:
    site.status = 404
    created = await create(client, people.alice.secret, url=site.url(), confirmations=1)
    await tick(checker)
    async with db() as session:
        [change] = (
            await session.exec(
                select(MonitorStatusChange).where(MonitorStatusChange.monitor_id == created["id"])
            )
        ).all()
    assert (change.from_status, change.to_status, change.reason) == (
        "pending",
        "down",
        "status 404",
    )


async def test_the_report_line_counts_checks_lag_and_transactions(
    client: httpx.AsyncClient, people: Personas, checker: Checker, site: Site, clock: FrozenClock
) -> None:
    for n in range(3):
        await create(client, people.alice.secret, name=f"m{n}", url=site.url())
    clock.advance(seconds=2)  # due 2 s ago when claimed
    before = dataclasses.replace(checker.stats, lags=deque())
    await tick(checker)
    assert report(checker.stats, before, 60, 0) == (
        "checks: 3 in 60 s (0.1/s); lag p50 2.000 s, p99 2.000 s, max 2.000 s; "
        "1 claiming and 1 writing transactions; 0 results waiting, 0 dropped, 0 failed writes"
    )
