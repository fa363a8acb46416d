"""Several checkers on one database: a monitor is never checked twice at once, and the
claims of a worker that died are taken over once their lease ends (DESIGN §2, §10)."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp import web
from sqlmodel import func, select

from statusgraph.checks import history, results
from statusgraph.checks.guard import Guard
from statusgraph.checks.prober import Prober
from statusgraph.checks.scheduler import LEASE_MARGIN, MAX_TIMEOUT, Checker
from statusgraph.clock import FrozenClock, utcnow
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import CheckResult, Monitor, Organization
from statusgraph.ids import new_id
from statusgraph.jobs.worker import render_checks
from tests.helpers import create_org

LEASE = timedelta(seconds=MAX_TIMEOUT) + LEASE_MARGIN


@pytest.fixture
async def hits() -> AsyncIterator[tuple[str, list[str]]]:
    """A server on loopback, and the paths it was asked for."""
    paths: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        paths.append(request.path)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", answer)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", paths
    finally:
        await runner.cleanup()


async def due_monitors(
    db: SessionFactory, organization: Organization, clock: FrozenClock, base: str, count: int
) -> list[str]:
    ids = [new_id("mon") for _ in range(count)]
    async with db.begin() as session:
        for n, monitor_id in enumerate(ids):
            session.add(
                Monitor(
                    id=monitor_id,
                    organization_id=organization.id,
                    name=f"site {n}",
                    type="http",
                    settings={"url": f"{base}/{monitor_id}"},
                    interval_seconds=60,
                    timeout_seconds=5,
                    next_check_at=clock() - timedelta(seconds=n % 7),
                    created_at=clock(),
                    updated_at=clock(),
                )
            )
    return ids


def checker(db: SessionFactory, clock: FrozenClock) -> Checker:
    prober = Prober(Guard(allow_private=True), rdap_bootstrap_url="http://127.0.0.1:9/")
    return Checker(db, prober, clock=clock, concurrency=25, lookahead_seconds=0)


async def test_two_checkers_check_each_due_monitor_once(
    db: SessionFactory, clock: FrozenClock, hits: tuple[str, list[str]]
) -> None:
    base, paths = hits
    organization = await create_org(db, clock, slug="acme")
    ids = await due_monitors(db, organization, clock, base, 60)
    first, second = checker(db, clock), checker(db, clock)

    async def run(one: Checker) -> None:
        while (await one.claim_and_start())[0]:  # a few at a time: both take turns
            await one.drain()

    await asyncio.gather(run(first), run(second))
    assert sorted(path.lstrip("/") for path in paths) == sorted(ids)
    assert first.stats.checks + second.stats.checks == 60
    async with db() as session:
        assert (await session.exec(select(func.count()).select_from(CheckResult))).one() == 60
    for one in (first, second):
        await one.prober.close()


async def test_a_claim_in_progress_is_skipped_not_waited_for(
    db: SessionFactory, clock: FrozenClock, hits: tuple[str, list[str]]
) -> None:
    if db.kw["bind"].dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: on SQLite write transactions never overlap")
    base, _ = hits
    organization = await create_org(db, clock, slug="acme")
    ids = await due_monitors(db, organization, clock, base, 10)
    async with db.begin() as holding:
        mine = await results.claim(holding, now=clock(), limit=4, lease=LEASE)
        # The rival claims while our transaction still holds its four rows.
        async with asyncio.timeout(5), db.begin() as rival:
            theirs = await results.claim(rival, now=clock(), limit=10, lease=LEASE)
    assert len(mine) == 4
    assert sorted(t.monitor_id for t in mine + theirs) == sorted(ids)


async def test_a_dead_workers_claims_are_taken_over_when_their_lease_ends(
    db: SessionFactory, clock: FrozenClock, hits: tuple[str, list[str]]
) -> None:
    base, paths = hits
    organization = await create_org(db, clock, slug="acme")
    ids = await due_monitors(db, organization, clock, base, 5)
    async with db.begin() as session:  # a worker claims, then dies before checking
        claimed = await results.claim(session, now=clock(), limit=10, lease=LEASE)
    assert len(claimed) == 5
    survivor = checker(db, clock)
    clock.advance(seconds=LEASE.total_seconds() - 1)
    assert await survivor.claim_and_start() == (0, False)  # still held
    clock.advance(seconds=1)
    assert await survivor.claim_and_start() == (5, False)
    await survivor.drain()
    assert sorted(path.lstrip("/") for path in paths) == sorted(ids)
    await survivor.prober.close()


async def test_stop_gives_back_unfinished_claims_and_writes_what_was_found(
    db: SessionFactory, clock: FrozenClock
) -> None:
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        if request.path == "/slow":
            await release.wait()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", slow)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        organization = await create_org(db, clock, slug="acme")
        [fast, stuck] = await due_monitors(db, organization, clock, base, 2)
        async with db.begin() as session:
            row = await session.get(Monitor, stuck)
            assert row is not None
            row.settings = {"url": f"{base}/slow"}
            session.add(row)
        one = checker(db, clock)
        await one.start()
        for _ in range(200):
            if one.stats.checks == 1:
                break
            await asyncio.sleep(0.01)
        await one.stop(grace_seconds=0.2)
        async with db() as session:
            written = (await session.exec(select(CheckResult.monitor_id))).all()
            given_back = await session.get(Monitor, stuck)
        assert written == [fast]
        assert given_back is not None
        assert given_back.next_check_at == clock()  # due again at once, for another worker
    finally:
        release.set()
        await runner.cleanup()


async def test_worker_status_reports_the_checks_backlog(
    db: SessionFactory, clock: FrozenClock, hits: tuple[str, list[str]]
) -> None:
    base, _ = hits
    organization = await create_org(db, clock, slug="acme")
    await due_monitors(db, organization, clock, base, 7)  # due 0 to 6 s ago
    async with db() as session:
        backlog = await history.backlog(session, clock())
    assert (backlog.active, backlog.due) == (7, 7)
    assert render_checks(backlog, now=clock()) == (
        "checks: 7 active monitors, 7 due, the oldest for 6.0 s\n"
    )
    async with db.begin() as session:  # claimed: being checked, no longer due
        await results.claim(session, now=clock(), limit=5, lease=LEASE)
    async with db() as session:
        backlog = await history.backlog(session, clock())
    assert (backlog.active, backlog.due) == (7, 2)


async def test_a_check_due_within_the_lookahead_starts_at_its_due_time(
    db: SessionFactory, clock: FrozenClock, hits: tuple[str, list[str]]
) -> None:
    base, paths = hits
    organization = await create_org(db, clock, slug="acme")
    [monitor] = await due_monitors(db, organization, clock, base, 1)
    due = utcnow() + timedelta(seconds=0.3)
    async with db.begin() as session:
        row = await session.get(Monitor, monitor)
        assert row is not None
        row.next_check_at = due
    prober = Prober(Guard(allow_private=True), rdap_bootstrap_url="http://127.0.0.1:9/")
    real = Checker(db, prober, lookahead_seconds=1)  # the real clock
    assert await real.claim_and_start() == (1, False)  # claimed ahead of time
    assert paths == []
    await real.drain()
    async with db() as session:
        [checked_at] = (await session.exec(select(CheckResult.checked_at))).all()
    assert due <= checked_at < due + timedelta(seconds=0.25)
    assert 0 <= real.stats.lags[-1] < 0.25
    await prober.close()


async def test_a_failed_write_is_tried_again_and_loses_nothing(
    db: SessionFactory,
    clock: FrozenClock,
    hits: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, _ = hits
    organization = await create_org(db, clock, slug="acme")
    ids = await due_monitors(db, organization, clock, base, 3)
    real_record = results.record
    failures = [RuntimeError("deadlock detected")]

    async def flaky(*args: object, **kwargs: object) -> results.Recorded:
        if failures:
            raise failures.pop()
        return await real_record(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(results, "record", flaky)
    one = checker(db, clock)
    one.batch_seconds = 0.01
    await one.start()
    for _ in range(1000):  # up to 10 s
        if one.stats.written == 3:
            break
        await asyncio.sleep(0.01)
    await one.stop(grace_seconds=1)
    assert one.stats.write_errors == 1
    async with db() as session:
        written = (await session.exec(select(CheckResult.monitor_id))).all()
    assert sorted(written) == sorted(ids)
