"""Live updates across processes through Redis (DESIGN §14): two apps sharing PostgreSQL
and Redis, and a Redis server of the test's own restarted under a live subscription."""

import asyncio
import contextlib
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from statusgraph.app import create_app
from statusgraph.clock import FrozenClock
from statusgraph.config import Settings
from statusgraph.events.bus import RESYNC, BusEvent, InProcessBus, RedisBus
from tests.conftest import TEST_REDIS_URL
from tests.helpers import START, create_key, create_org
from tests.live import init, receive, running, socket, subscribe
from tests.servers import free_port
from tests.status_api import create_incident, create_page, create_service
from tests.test_page_versions import overall
from tests.test_public_status_page import read

PAGE_CHANGED = """
subscription($slug: String!) {
  statusPageChanged(slug: $slug) { event resync page { activeIncidents { title } } }
}
"""
REDIS_SERVER = shutil.which("redis-server")


@contextlib.contextmanager
def redis_server(port: int, directory: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A redis-server of our own on `port` (never the machine's shared one), no disk."""
    assert REDIS_SERVER
    process = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait()


async def until(condition: asyncio.Event, within: float = 10.0) -> None:
    await asyncio.wait_for(condition.wait(), within)


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")
async def test_the_redis_bus_reconnects_after_a_restart_and_tells_subscribers_to_resync(tmp_path):
    port = free_port()
    event = BusEvent(id="evt_1", organization_id="org_a", type="incident.created")
    with redis_server(port, tmp_path):
        bus = RedisBus(f"redis://127.0.0.1:{port}/0", channel="test:events", first_backoff=0.05)
        subscription = bus.subscribe(["org_a"])
        await bus.start()
        await until(bus.listening)
        await bus.publish(event)
        assert await asyncio.wait_for(anext(subscription), 5) == event
    # Killed: the listener notices and retries; meanwhile a publish still reaches this
    # process's own subscribers.
    for _ in range(100):
        if not bus.listening.is_set():
            break
        await asyncio.sleep(0.05)
    assert not bus.listening.is_set()
    with redis_server(port, tmp_path):
        try:
            await until(bus.listening)
            assert await asyncio.wait_for(anext(subscription), 5) is RESYNC
            again = BusEvent(id="evt_2", organization_id="org_a", type="incident.updated")
            await bus.publish(again)
            assert await asyncio.wait_for(anext(subscription), 5) == again
            assert bus.reconnects == 1
        finally:
            subscription.close()
            await bus.close()


@pytest.fixture
def shared_settings(settings: Settings) -> Settings:
    if not settings.database_url.startswith("postgresql") or not TEST_REDIS_URL:
        pytest.skip("needs PostgreSQL and Redis")
    return settings.model_copy(
        update={
            "events_url": TEST_REDIS_URL,
            # A channel of this test's own: other tests on the same Redis hear nothing.
            "events_channel": f"statusgraph-test:{uuid.uuid4().hex}",
            "rate_limit_storage": "async+" + TEST_REDIS_URL,
        }
    )


@contextlib.asynccontextmanager
async def two_processes(settings: Settings) -> AsyncIterator[tuple[str, str]]:
    """A web process that runs the jobs (the only one dispatching events) and one that
    does not, on the same PostgreSQL and Redis."""
    first = create_app(settings)
    second = create_app(settings.model_copy(update={"run_jobs": False}))
    async with running(first) as one, running(second) as two:
        yield one, two


async def test_a_change_made_through_one_process_reaches_a_subscriber_of_another(shared_settings):
    clock = FrozenClock(START)
    async with two_processes(shared_settings) as (one, two):
        app_db = create_app(shared_settings.model_copy(update={"run_jobs": False}))
        try:
            acme = await create_org(app_db.state.db, clock, slug="acme")
            key = (await create_key(app_db.state.db, clock, acme, scopes=["*:*"])).secret
        finally:
            await app_db.state.close()
        async with httpx.AsyncClient(base_url=f"http://{two}") as http:
            api = await create_service(http, key, "API")
            await create_page(http, key, "acme", serviceIds=[api])
            async with socket(two) as websocket:
                await init(websocket)
                await subscribe(websocket, PAGE_CHANGED, {"slug": "acme"})
                await asyncio.sleep(0.3)
                # Written through the second process, which dispatches nothing: the
                # first one's dispatcher publishes it to Redis, and the second hears it.
                await create_incident(http, key, "Through Redis", [(api, "MAJOR_OUTAGE")])
                message = await receive(websocket, within=2.0)
        assert message["payload"]["data"]["statusPageChanged"] == {
            "event": "incident.created",
            "resync": False,
            "page": {"activeIncidents": [{"title": "Through Redis"}]},
        }
        # And through the first process to a subscriber of the first.
        async with httpx.AsyncClient(base_url=f"http://{one}") as http, socket(two) as websocket:
            await init(websocket, {"X-API-Key": key})
            await subscribe(
                websocket, "subscription { incidentChanges { event incident { title } } }"
            )
            await asyncio.sleep(0.3)
            await create_incident(http, key, "From the first")
            message = await receive(websocket, within=2.0)
        assert message["payload"]["data"]["incidentChanges"] == {
            "event": "incident.created",
            "incident": {"title": "From the first"},
        }


async def test_a_page_cached_by_another_process_shows_a_change_as_soon_as_its_event_arrives(
    shared_settings,
):
    # Page versions read once a minute and copies kept for a minute: without the bus the
    # second process would serve its copies for up to a minute (tests/test_page_versions).
    lazy = shared_settings.model_copy(
        update={"page_version_check_seconds": 60.0, "public_cache_seconds": 60}
    )
    clock = FrozenClock(START)
    async with two_processes(lazy) as (one, two):
        app_db = create_app(lazy.model_copy(update={"run_jobs": False}))
        try:
            acme = await create_org(app_db.state.db, clock, slug="acme")
            key = (await create_key(app_db.state.db, clock, acme, scopes=["*:*"])).secret
        finally:
            await app_db.state.close()
        async with (
            httpx.AsyncClient(base_url=f"http://{one}") as writer,
            httpx.AsyncClient(base_url=f"http://{two}") as reader,
        ):
            api = await create_service(writer, key, "API")
            await create_page(writer, key, "acme", serviceIds=[api])
            # Both caches of the second process hold the page (read twice: the second
            # read is served from the copy).
            for _ in range(2):
                assert overall(await read(reader, "acme")) == "OPERATIONAL"
                assert "Through the bus" not in (await reader.get("/status/acme")).text
            await create_incident(writer, key, "Through the bus", [(api, "MAJOR_OUTAGE")])
            started = asyncio.get_running_loop().time()
            while overall(await read(reader, "acme")) != "MAJOR_OUTAGE":
                assert asyncio.get_running_loop().time() - started < 1.5, "not within ~1 s"
                await asyncio.sleep(0.02)
            assert "Through the bus" in (await reader.get("/status/acme")).text


def failing_watcher(item: object) -> None:
    raise RuntimeError(f"a bug in a watcher ({item!r})")


async def test_watchers_hear_every_organization_s_events_and_resyncs_and_a_failing_one_costs_nothing():
    bus = InProcessBus()
    heard: list[object] = []
    bus.watch(failing_watcher)
    bus.watch(heard.append)
    subscription = bus.subscribe(["org_a"])
    ours = BusEvent(id="evt_1", organization_id="org_a", type="incident.created")
    theirs = BusEvent(id="evt_2", organization_id="org_b", type="monitor.down")
    await bus.publish(ours)
    await bus.publish(theirs)
    assert heard == [ours, theirs]
    assert await asyncio.wait_for(anext(subscription), 1) == ours
    await bus.close()
    assert heard[-1] is RESYNC
