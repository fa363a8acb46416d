"""Uptime, daily bars and service status from a constructed history, against figures
computed by hand (DESIGN §10): time-weighted, maintenance and pending time left out.

The history (the clock's now is 2026-03-02 09:00 UTC):

- the monitor is created 2026-02-27 12:00:00 and is UP from 12:00:05;
- 2026-02-28 01:00 to 01:30 DOWN;
- 2026-03-01 02:00 to 03:00 maintenance on its service, DOWN 02:10 to 02:40 inside it;
- 2026-03-02 08:00 DOWN, still DOWN now.
"""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import (
    MaintenanceService,
    MaintenanceWindow,
    Monitor,
    MonitorStatusChange,
)
from statusgraph.ids import new_id
from statusgraph.resolvers import heartbeats
from tests.helpers import Personas, gql
from tests.status_api import create_page, create_service

CREATED = datetime(2026, 2, 27, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    month = 2 if day > 20 else 3
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


HISTORY = [
    (at(27, 12, 0, 5), "pending", "up"),
    (at(28, 1), "up", "down"),
    (at(28, 1, 30), "down", "up"),
    (at(1, 2, 10), "up", "down"),
    (at(1, 2, 40), "down", "up"),
    (at(2, 8), "up", "down"),
]


async def build(
    client: httpx.AsyncClient, people: Personas, clock: FrozenClock, db: SessionFactory
) -> tuple[str, str]:
    key = people.alice.secret
    clock.now = CREATED
    service = (
        await gql(
            client, 'mutation { createService(input: {name: "API"}) { service { id } } }', key=key
        )
    ).json()["data"]["createService"]["service"]["id"]
    monitor = (
        await gql(
            client,
            """mutation($service: ID!) {
                 createMonitor(input: {name: "api", type: HTTP, url: "https://api.example.com",
                                       serviceId: $service}) { monitor { id } } }""",
            {"service": service},
            key=key,
        )
    ).json()["data"]["createMonitor"]["monitor"]["id"]
    async with db.begin() as session:
        for moment, before, after in HISTORY:
            session.add(
                MonitorStatusChange(
                    id=new_id("chg"),
                    monitor_id=monitor,
                    from_status=before,
                    to_status=after,
                    reason="constructed",
                    created_at=moment,
                )
            )
        row = await session.get(Monitor, monitor)
        assert row is not None
        row.recorded_status = "down"
        row.next_check_at = None  # nothing runs here
        window = MaintenanceWindow(
            id=new_id("mnt"),
            organization_id=people.alice.organization.id,
            title="upgrade",
            starts_at=at(1, 2),
            ends_at=at(1, 3),
            created_at=CREATED,
            updated_at=CREATED,
        )
        session.add(window)
        await session.flush()
        session.add(MaintenanceService(maintenance_id=window.id, service_id=service))
    clock.now = NOW
    return monitor, service


QUERY = """
query($id: ID!) {
  monitor(id: $id) {
    day: uptime(window: LAST_24_HOURS) { percent upSeconds downSeconds }
    week: uptime(window: LAST_7_DAYS) { percent upSeconds downSeconds }
    dailyBars(days: 5) { date status downtimeMinutes maintenanceMinutes uptimePercent }
    service { status }
  }
}"""


async def test_uptime_and_bars_match_the_figures_by_hand(
    client: httpx.AsyncClient, people: Personas, clock: FrozenClock, db: SessionFactory
) -> None:
    monitor, _ = await build(client, people, clock, db)
    body = (await gql(client, QUERY, {"id": monitor}, key=people.alice.secret)).json()
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"]["monitor"]
    # Last 24 h, 2026-03-01 09:00 to 03-02 09:00: up 23 h, then down 1 h.
    assert found["day"] == {
        "percent": pytest.approx(100 * 23 / 24),
        "upSeconds": 23 * 3600,
        "downSeconds": 3600,
    }
    # Last 7 days reach back past creation: from 02-27 12:00:05 (pending before) to
    # 03-02 09:00 is 2 d 20 h 59 m 55 s = 248,395 s; down 30 min (02-28) + 1 h (today);
    # maintenance 1 h left out. Up = 248,395 - 1,800 - 3,600 - 3,600 = 239,395.
    assert found["week"] == {
        "percent": pytest.approx(100 * 239_395 / (239_395 + 5_400)),
        "upSeconds": 239_395,
        "downSeconds": 5_400,
    }
    assert found["dailyBars"] == [
        # Before the monitor existed.
        {"date": "2026-02-26", "status": "NO_DATA", "downtimeMinutes": 0,
         "maintenanceMinutes": 0, "uptimePercent": None},
        # Up from 12:00:05 on.
        {"date": "2026-02-27", "status": "UP", "downtimeMinutes": 0,
         "maintenanceMinutes": 0, "uptimePercent": 100.0},
        # 30 minutes down of 24 h: 23.5 / 24.
        {"date": "2026-02-28", "status": "DOWN", "downtimeMinutes": 30,
         "maintenanceMinutes": 0, "uptimePercent": pytest.approx(100 * 23.5 / 24)},
        # The downtime fell inside maintenance: not counted, the day shows maintenance.
        {"date": "2026-03-01", "status": "MAINTENANCE", "downtimeMinutes": 0,
         "maintenanceMinutes": 60, "uptimePercent": 100.0},
        # 8 h up, 1 h down so far today.
        {"date": "2026-03-02", "status": "DOWN", "downtimeMinutes": 60,
         "maintenanceMinutes": 0, "uptimePercent": pytest.approx(100 * 8 / 9)},
    ]  # fmt: skip
    # A DOWN monitor holds its service at MAJOR_OUTAGE.
    assert found["service"] == {"status": "MAJOR_OUTAGE"}


async def test_status_when_down_is_a_per_link_setting(
    client: httpx.AsyncClient, people: Personas, clock: FrozenClock, db: SessionFactory
) -> None:
    monitor, _ = await build(client, people, clock, db)
    key = people.alice.secret
    for setting, shown in (
        ("PARTIAL_OUTAGE", "PARTIAL_OUTAGE"),
        ("DEGRADED_PERFORMANCE", "DEGRADED_PERFORMANCE"),
        ("OPERATIONAL", "OPERATIONAL"),
    ):
        updated = await gql(
            client,
            """mutation($id: ID!, $s: ServiceStatus!) {
                 updateMonitor(id: $id, input: {statusWhenDown: $s}) {
                   monitor { statusWhenDown service { status } } userErrors { message } } }""",
            {"id": monitor, "s": setting},
            key=key,
        )
        assert updated.json()["data"]["updateMonitor"] == {
            "monitor": {"statusWhenDown": setting, "service": {"status": shown}},
            "userErrors": [],
        }
    refused = await gql(
        client,
        """mutation($id: ID!) { updateMonitor(id: $id, input: {statusWhenDown: UNDER_MAINTENANCE})
             { userErrors { field code message } } }""",
        {"id": monitor},
        key=key,
    )
    assert refused.json()["data"]["updateMonitor"]["userErrors"] == [
        {
            "field": "statusWhenDown",
            "code": "INVALID",
            "message": "statusWhenDown must be one of OPERATIONAL, DEGRADED_PERFORMANCE, "
            "PARTIAL_OUTAGE, MAJOR_OUTAGE",
        }
    ]


async def test_a_late_heartbeat_degrades_its_service_and_a_down_one_takes_it_down(
    client: httpx.AsyncClient, people: Personas, clock: FrozenClock, db: SessionFactory
) -> None:
    key = people.alice.secret
    service = (
        await gql(
            client, 'mutation { createService(input: {name: "Jobs"}) { service { id } } }', key=key
        )
    ).json()["data"]["createService"]["service"]["id"]
    monitor = (
        await gql(
            client,
            """mutation($service: ID!) {
                 createMonitor(input: {name: "nightly", type: HEARTBEAT, periodSeconds: 3600,
                                       graceSeconds: 600, serviceId: $service}) {
                   monitor { id } } }""",
            {"service": service},
            key=key,
        )
    ).json()["data"]["createMonitor"]["monitor"]["id"]
    pinged = await client.post(f"/api/heartbeat/{monitor}", headers={"X-API-Key": key})
    assert pinged.status_code == 200

    async def shown() -> str:
        async with db.begin() as session:  # the evaluator records what the clock changed
            await heartbeats.evaluate_due(session, now=clock())
        body = (
            await gql(
                client, "query($id: ID!) { service(id: $id) { status } }", {"id": service}, key=key
            )
        ).json()
        return str(body["data"]["service"]["status"])

    assert await shown() == "OPERATIONAL"
    clock.advance(seconds=3601)
    assert await shown() == "DEGRADED_PERFORMANCE"
    clock.advance(seconds=600)
    assert await shown() == "MAJOR_OUTAGE"


PUBLIC = """query($slug: String!) { publicStatusPage(slug: $slug) {
  services { name status uptime dailyBars { date status downtimeMinutes } }
} }"""


async def test_a_public_page_shows_uptime_and_bars_from_the_services_monitors(
    client: httpx.AsyncClient, people: Personas, clock: FrozenClock, db: SessionFactory
) -> None:
    _, service = await build(client, people, clock, db)
    key = people.alice.secret
    bare = await create_service(client, key, "Docs")  # no monitor: no figures
    await create_page(client, key, "acme", serviceIds=[service, bare])
    await create_page(client, key, "quiet", serviceIds=[service], showUptime=False)
    body = (await gql(client, PUBLIC, {"slug": "acme"})).json()  # anonymous
    assert "errors" not in body, body
    api, docs = body["data"]["publicStatusPage"]["services"]
    assert (api["name"], api["status"]) == ("API", "MAJOR_OUTAGE")
    # The 90 days reach back before creation: the known time is that of the 7-day window.
    assert api["uptime"] == pytest.approx(100 * 239_395 / (239_395 + 5_400))
    assert len(api["dailyBars"]) == 90
    assert api["dailyBars"][-4:] == [
        {"date": "2026-02-27", "status": "UP", "downtimeMinutes": 0},
        {"date": "2026-02-28", "status": "DOWN", "downtimeMinutes": 30},
        {"date": "2026-03-01", "status": "MAINTENANCE", "downtimeMinutes": 0},
        {"date": "2026-03-02", "status": "DOWN", "downtimeMinutes": 60},
    ]
    assert {bar["status"] for bar in api["dailyBars"][:-4]} == {"NO_DATA"}
    assert (docs["uptime"], docs["dailyBars"]) == (None, None)
    quiet = (await gql(client, PUBLIC, {"slug": "quiet"})).json()
    [hidden] = quiet["data"]["publicStatusPage"]["services"]
    assert (hidden["uptime"], hidden["dailyBars"]) == (None, None)


async def test_a_service_is_down_while_any_of_its_monitors_is(
    client: httpx.AsyncClient, people: Personas, clock: FrozenClock, db: SessionFactory
) -> None:
    _, service = await build(client, people, clock, db)
    key = people.alice.secret
    # A second monitor on the service, down 2026-02-27 18:00 to 19:00 only.
    clock.now = CREATED
    second = (
        await gql(
            client,
            """mutation($service: ID!) {
                 createMonitor(input: {name: "web", type: TCP, host: "e.com", port: 443,
                                       serviceId: $service}) { monitor { id } } }""",
            {"service": service},
            key=key,
        )
    ).json()["data"]["createMonitor"]["monitor"]["id"]
    async with db.begin() as session:
        for moment, before, after in (
            (at(27, 12, 0, 5), "pending", "up"),
            (at(27, 18), "up", "down"),
            (at(27, 19), "down", "up"),
        ):
            session.add(
                MonitorStatusChange(
                    id=new_id("chg"),
                    monitor_id=second,
                    from_status=before,
                    to_status=after,
                    reason="constructed",
                    created_at=moment,
                )
            )
        row = await session.get(Monitor, second)
        assert row is not None
        row.recorded_status, row.next_check_at = "up", None
    clock.now = NOW
    await create_page(client, key, "acme", serviceIds=[service])
    body = (await gql(client, PUBLIC, {"slug": "acme"})).json()
    [api] = body["data"]["publicStatusPage"]["services"]
    assert api["dailyBars"][-4]["downtimeMinutes"] == 60  # the second monitor's hour
    assert api["dailyBars"][-3]["downtimeMinutes"] == 30  # the first's half hour


async def test_heartbeats_get_uptime_from_their_transitions(
    client: httpx.AsyncClient, people: Personas, clock: FrozenClock, db: SessionFactory
) -> None:
    key = people.alice.secret
    monitor = (
        await gql(
            client,
            """mutation { createMonitor(input: {name: "nightly", type: HEARTBEAT,
                 periodSeconds: 3600, graceSeconds: 600}) { monitor { id } } }""",
            key=key,
        )
    ).json()["data"]["createMonitor"]["monitor"]["id"]
    pinged = await client.post(f"/api/heartbeat/{monitor}", headers={"X-API-Key": key})
    assert pinged.status_code == 200
    for seconds in (3600, 600):  # LATE at 1 h, DOWN 10 minutes later, recorded on time
        clock.advance(seconds=seconds)
        async with db.begin() as session:
            await heartbeats.evaluate_due(session, now=clock())
    clock.advance(seconds=3000)
    body = (
        await gql(
            client,
            "query($id: ID!) { monitor(id: $id) { uptime(window: LAST_24_HOURS) "
            "{ percent upSeconds downSeconds } } }",
            {"id": monitor},
            key=key,
        )
    ).json()
    # UP 1 h and LATE 10 min count as up (4,200 s); DOWN since: 3,000 s.
    assert body["data"]["monitor"]["uptime"] == {
        "percent": pytest.approx(100 * 4200 / 7200),
        "upSeconds": 4200,
        "downSeconds": 3000,
    }
