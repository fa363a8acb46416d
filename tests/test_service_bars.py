"""A service's finished days kept (checks/service_bars.py) give exactly the bars and the
uptime that computing the whole window gives (history.service_histories, history.bars,
uptime.uptime): on the first request and the next ones, through the day, across
midnight, and after the writes that change finished days (a late change into
yesterday, a monitor paused, linked elsewhere or deleted, maintenance edited) or must
not (maintenance entered afterwards for the past). Both databases; the HTML page and the
GraphQL page alike."""

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import delete
from starlette.applications import Starlette

from statusgraph.checks import history, service_bars, uptime
from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import (
    MaintenanceService,
    MaintenanceWindow,
    Monitor,
    MonitorStatusChange,
    Service,
)
from statusgraph.ids import new_id
from tests.helpers import Personas, gql
from tests.status_api import create_page

DAYS = 90
START = datetime(2026, 5, 10, 9, 30, 0, 123457, tzinfo=UTC)


async def computed(
    db: SessionFactory, ids: list[str], now: datetime
) -> dict[str, tuple[list[uptime.DayBar], float | None]]:
    async with db() as session:
        found = await history.service_histories(session, ids, history.bars_since(DAYS, now), now)
    return {
        service_id: (history.bars(past, days=DAYS, now=now), uptime.uptime(past.spans).percent)
        for service_id, past in found.items()
    }


async def cached(
    db: SessionFactory, ids: list[str], now: datetime, kept: service_bars.FinishedDays
) -> dict[str, tuple[list[uptime.DayBar], float | None]]:
    async with db() as session:
        found = await service_bars.service_bars(session, ids, days=DAYS, now=now, kept=kept)
    return {service_id: (bars.bars, bars.uptime_percent) for service_id, bars in found.items()}


async def agree(
    db: SessionFactory, ids: list[str], now: datetime, kept: service_bars.FinishedDays
) -> dict[str, tuple[list[uptime.DayBar], float | None]]:
    """The cached path twice (the second from what the first kept) equals the
    computed one, float for float."""
    expected = await computed(db, ids, now)
    hits = kept.hits
    assert await cached(db, ids, now, kept) == expected
    assert await cached(db, ids, now, kept) == expected
    assert kept.hits >= hits + len(expected)  # the second time, every service was kept
    return expected


def change(monitor: str, at: datetime, before: str, after: str) -> MonitorStatusChange:
    return MonitorStatusChange(
        id=new_id("chg"),
        monitor_id=monitor,
        from_status=before,
        to_status=after,
        reason="constructed",
        created_at=at,
    )


async def build(db: SessionFactory, people: Personas) -> tuple[list[str], list[str]]:
    """Four services: one monitor flapping at odd microseconds, with maintenance;
    two monitors of different ages; a monitor with no change in the window; none."""
    organization = people.alice.organization.id
    services = [new_id("svc") for _ in range(4)]
    monitors = [new_id("mon") for _ in range(4)]
    created = [START - timedelta(days=d) for d in (30, 120, 12, 200)]
    owners = [services[0], services[1], services[1], services[2]]
    async with db.begin() as session:
        for n, service_id in enumerate(services):
            session.add(
                Service(
                    id=service_id,
                    organization_id=organization,
                    name=f"S{n}",
                    created_at=START - timedelta(days=300),
                    updated_at=START - timedelta(days=300),
                )
            )
        await session.flush()
        for monitor_id, service_id, at in zip(monitors, owners, created, strict=True):
            session.add(
                Monitor(
                    id=monitor_id,
                    organization_id=organization,
                    service_id=service_id,
                    name="m",
                    type="http",
                    settings={"url": "https://example.invalid"},
                    recorded_status="up",
                    created_at=at,
                    updated_at=at,
                )
            )
        await session.flush()
        for n, monitor_id in enumerate(monitors[:3]):
            moment = created[n] + timedelta(minutes=1, microseconds=7)
            session.add(change(monitor_id, moment, "pending", "up"))
            step = timedelta(hours=19 + 7 * n, minutes=13, microseconds=333_333)
            moment += step
            while moment < START - timedelta(hours=2):
                session.add(change(monitor_id, moment, "up", "down"))
                back = moment + timedelta(minutes=11 + n, microseconds=1)
                session.add(change(monitor_id, back, "down", "up"))
                moment = back + step
        window = MaintenanceWindow(
            id=new_id("mnt"),
            organization_id=organization,
            title="upgrade",
            starts_at=START - timedelta(days=3, hours=10),
            ends_at=START - timedelta(days=2, hours=20),  # across a midnight
            created_at=START - timedelta(days=5),
            updated_at=START - timedelta(days=5),
        )
        session.add(window)
        await session.flush()
        for service_id in services[:2]:
            session.add(MaintenanceService(maintenance_id=window.id, service_id=service_id))
    return services, monitors


async def test_kept_finished_days_agree_with_the_whole_window_computed(
    db: SessionFactory, people: Personas
) -> None:
    services, monitors = await build(db, people)
    kept = service_bars.FinishedDays()
    clock = FrozenClock(START)
    first = await agree(db, services, clock(), kept)
    assert sorted(first) == sorted(services[:3])  # a service without monitors has no bars
    bars = first[services[0]][0]
    assert {bar.worst for bar in bars} >= {"no_data", "up", "down"}
    assert [bar.maintenance_seconds > 0 for bar in bars[-5:]] == [True, True] + [False] * 3
    assert len(kept.entries) == 3

    # Later the same day, a change today: only today's bar moves.
    clock.now = START.replace(hour=23, minute=59, second=59, microsecond=500_000)
    async with db.begin() as session:
        session.add(change(monitors[0], clock.now - timedelta(seconds=30), "up", "down"))
    misses = kept.misses
    before = await agree(db, services, clock(), kept)
    assert kept.misses == misses  # nothing computed afresh
    assert before[services[0]][0][-1].worst == "down"

    # Across midnight: yesterday becomes a finished day, computed once, then kept.
    clock.now = START.replace(hour=0, minute=0, second=0, microsecond=250_000) + timedelta(days=1)
    after = await agree(db, services, clock(), kept)
    assert after[services[0]][0][-2].day == before[services[0]][0][-1].day
    assert after[services[0]][0][-1].worst == "down"  # still down after midnight

    # A change written late into yesterday (a heartbeat's deadline evaluated after
    # midnight): the finished day is computed again.
    async with db.begin() as session:
        session.add(change(monitors[1], clock.now - timedelta(seconds=2), "up", "down"))
        session.add(change(monitors[1], clock.now + timedelta(seconds=-1), "down", "up"))
    await agree(db, services, clock(), kept)

    # A monitor with no change in the window, paused: its every day shows it.
    async with db.begin() as session:
        paused = await session.get(Monitor, monitors[3])
        assert paused is not None
        paused.paused = True
    clock.now += timedelta(hours=3)
    found = await agree(db, services, clock(), kept)
    assert {bar.worst for bar in found[services[2]][0]} == {"no_data"}

    # Maintenance entered now for the past changes nothing; a past window edited does.
    async with db.begin() as session:
        late = MaintenanceWindow(
            id=new_id("mnt"),
            organization_id=people.alice.organization.id,
            title="late",
            starts_at=clock.now - timedelta(days=6),
            ends_at=clock.now - timedelta(days=5),
            created_at=clock.now,
            updated_at=clock.now,
        )
        session.add(late)
        await session.flush()
        session.add(MaintenanceService(maintenance_id=late.id, service_id=services[0]))
    assert await agree(db, services, clock(), kept) == found
    async with db.begin() as session:
        entered = await session.get(MaintenanceWindow, late.id)
        assert entered is not None
        entered.created_at = clock.now - timedelta(days=7)
    edited = await agree(db, services, clock(), kept)
    assert edited != found

    # A monitor linked to another service, then one deleted.
    async with db.begin() as session:
        moved = await session.get(Monitor, monitors[1])
        assert moved is not None
        moved.service_id = services[0]
    await agree(db, services, clock(), kept)
    async with db.begin() as session:
        await session.exec(delete(Monitor).where(Monitor.id == monitors[3]))  # type: ignore[arg-type]
    found = await agree(db, services, clock(), kept)
    assert services[2] not in found


async def test_the_page_is_the_same_with_finished_days_kept_or_not(
    app_with: Callable[..., Awaitable[tuple[Starlette, httpx.AsyncClient]]],
    people: Personas,
    clock: FrozenClock,
) -> None:
    app, client = await app_with(public_cache_seconds=0)
    db: SessionFactory = app.state.db
    clock.now = START
    services, _ = await build(db, people)
    await create_page(client, people.alice.secret, "kept", serviceIds=services)
    query = """{ publicStatusPage(slug: "kept") { services { id uptime
                 dailyBars { date status downtimeMinutes maintenanceMinutes uptimePercent } } } }"""
    pages: list[tuple[str, object]] = []
    service_bars.FINISHED.entries.clear()
    for _ in range(3):  # computed afresh, then from what was kept, twice
        html = await client.get("/status/kept")
        assert html.status_code == 200
        body = (await gql(client, query)).json()
        assert "errors" not in body, body
        pages.append((html.text, body))
    assert pages[0] == pages[1] == pages[2]
    assert len(re.findall(r'class="bar bar-', pages[0][0])) == 4 * DAYS
    assert 'class="bar bar-down"' in pages[0][0]
