"""Notifications sent by real `statusgraph worker` processes from a real database: a
worker killed with `kill -9` while its webhooks are in flight loses nothing, and the
duplicates a receiver then sees carry the `webhook-id` of the original (SQLite and
PostgreSQL); two workers on PostgreSQL fan every event out once and attempt every
delivery once.

Events are written by the app in this process (GraphQL over an in-process transport,
which runs no jobs), so the worker processes are the only ones that dispatch and send.
The receiver is an aiohttp server of the test's own on loopback.
"""

import asyncio
import collections
import os
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from sqlalchemy import text, update
from sqlmodel import col, select
from standardwebhooks.webhooks import Webhook

from statusgraph.clock import utcnow
from statusgraph.db.engine import SessionFactory, create_engine, create_session_factory
from statusgraph.db.models import Delivery, DeliveryAttempt
from statusgraph.events import outbox
from statusgraph.notifications.deliveries import LEASE
from tests.helpers import PEPPER, Personas, change_events
from tests.receivers import Received
from tests.test_jobs_processes import WorkerProcess, eventually
from tests.test_notifications import channel, incident


def socket_owners(ports: Iterable[int], pids: Iterable[int]) -> dict[int, int]:
    """Which of `pids` holds the TCP socket bound to each local port of `ports`, by
    the socket tables of Linux's /proc."""
    wanted = set(ports)
    port_of: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                port = int(fields[1].rsplit(":", 1)[1], 16)
                if port in wanted:
                    port_of[f"socket:[{fields[9]}]"] = port
    found = {}
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except FileNotFoundError:  # closed meanwhile
                continue
            if link in port_of:
                found[port_of[link]] = pid
    return found


@dataclass(eq=False)
class Recorder:
    """Records every request; the first `hold` get no answer until `released` is set,
    so that a worker is caught mid-delivery."""

    hold: int = 0
    port: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event)
    requests: list[Received] = field(default_factory=list)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Received(request.path, dict(request.headers), body))
        if len(self.requests) <= self.hold:
            await self.released.wait()
        return web.Response(text="ok")

    def event_ids(self) -> dict[str, set[str]]:
        """Each event's `webhook-id`s, as received."""
        found: dict[str, set[str]] = collections.defaultdict(set)
        for request in self.requests:
            found[request.json()["data"]["eventId"]].add(request.headers["webhook-id"])
        return found


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    made = Recorder()
    app = web.Application()
    app.router.add_post("/hook", made.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    made.port = runner.addresses[0][1]
    try:
        yield made
    finally:
        made.released.set()
        await runner.cleanup()


@pytest.fixture
def notify_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGRAPH_")}
    return env | {
        "STATUSGRAPH_DATA_DIR": str(tmp_path / "data"),
        "STATUSGRAPH_DATABASE_URL": database_url,
        "STATUSGRAPH_SECRET_KEY": PEPPER,
        # The receiver listens on loopback.
        "STATUSGRAPH_CHECKS_ALLOW_PRIVATE_NETWORKS": "true",
        "STATUSGRAPH_NOTIFICATION_POLL_SECONDS": "0.05",
        # Longer than the test holds a request: the held sends stay in flight until
        # the kill, they do not time out into failed attempts.
        "STATUSGRAPH_NOTIFICATION_TIMEOUT_SECONDS": "30",
        "STATUSGRAPH_JOBS_SHUTDOWN_SECONDS": "2",
    }


@pytest.fixture
async def worker_db(database_url: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


async def all_deliveries(db: SessionFactory) -> list[Delivery]:
    async with db() as session:
        return list((await session.exec(select(Delivery))).all())


async def all_attempts(db: SessionFactory) -> list[DeliveryAttempt]:
    async with db() as session:
        return list((await session.exec(select(DeliveryAttempt))).all())


def failures(*workers: WorkerProcess) -> list[str]:
    return [line for worker in workers for line in worker.lines if "failed" in line]


HELD = 4
FIRST_EVENTS = 10
LATER_EVENTS = 3


async def test_a_worker_killed_mid_delivery_loses_nothing_and_resends_with_the_same_webhook_id(
    client: httpx.AsyncClient,
    people: Personas,
    notify_env: dict[str, str],
    worker_db: SessionFactory,
    recorder: Recorder,
) -> None:
    key = people.alice.secret
    _created, secret = await channel(client, key, url=recorder.url())
    assert secret is not None
    recorder.hold = HELD
    for n in range(FIRST_EVENTS):
        await incident(client, key, title=f"outage {n}")
    workers: list[WorkerProcess] = []
    try:
        first = await WorkerProcess(notify_env).start()
        workers.append(first)

        async def caught_mid_delivery() -> bool:
            succeeded = [d for d in await all_deliveries(worker_db) if d.status == "succeeded"]
            return len(recorder.requests) == FIRST_EVENTS and len(succeeded) == FIRST_EVENTS - HELD

        await eventually(caught_mid_delivery)
        first.process.kill()  # SIGKILL: no release of its claims, no goodbye
        await first.process.wait()
        await first.reader

        # The held deliveries are still claimed: pending, never recorded, leased for LEASE.
        killed_at = utcnow()
        held = [d for d in await all_deliveries(worker_db) if d.status == "pending"]
        assert len(held) == HELD
        for delivery in held:
            assert delivery.attempts == 0
            assert delivery.next_attempt_at is not None
            assert delivery.next_attempt_at > killed_at + LEASE - LEASE / 4
        assert len(await all_attempts(worker_db)) == FIRST_EVENTS - HELD

        # Events written while no worker runs wait in the outbox.
        for n in range(LATER_EVENTS):
            await incident(client, key, title=f"later {n}")
        recorder.released.set()
        second = await WorkerProcess(notify_env).start()
        workers.append(second)

        # The new worker sends the new events at once, and leaves the leased ones alone.
        async def later_ones_sent() -> bool:
            succeeded = [d for d in await all_deliveries(worker_db) if d.status == "succeeded"]
            return len(succeeded) == FIRST_EVENTS - HELD + LATER_EVENTS

        await eventually(later_ones_sent)
        await asyncio.sleep(0.3)  # a few of its polls
        assert len(recorder.requests) == FIRST_EVENTS + LATER_EVENTS
        assert {d.id for d in await all_deliveries(worker_db) if d.status == "pending"} == {
            d.id for d in held
        }

        # Time passes: the leases end. Rather than wait LEASE (120 s), each lease's end is
        # moved back by LEASE, to the instant it was claimed, as if that much time had gone
        # by; the next claim finds them due, as it would two minutes after the kill.
        async with worker_db.begin() as session:
            for delivery in held:
                assert delivery.next_attempt_at is not None
                await session.exec(
                    update(Delivery)
                    .where(col(Delivery.id) == delivery.id)
                    .values(next_attempt_at=delivery.next_attempt_at - LEASE)
                )

        total = FIRST_EVENTS + LATER_EVENTS

        async def all_delivered() -> bool:
            found = await all_deliveries(worker_db)
            return len(found) == total and all(d.status == "succeeded" for d in found)

        await eventually(all_delivered)
        assert await second.stop() == 0
    finally:
        for worker in workers:
            if worker.process.returncode is None:
                worker.process.kill()
                await worker.process.wait()

    deliveries = await all_deliveries(worker_db)
    async with worker_db() as session:
        # The key's first use is an event too, told to no channel here (opt-in).
        events = (await session.exec(change_events())).all()
    assert len(events) == total
    assert all(event.dispatched_at is not None for event in events)
    assert sorted(d.event_id for d in deliveries) == sorted(event.id for event in events)
    assert sorted(d.attempts for d in deliveries) == [1] * total
    # The killed worker's attempts were never written: one attempt each in the log.
    attempts = await all_attempts(worker_db)
    assert sorted(a.delivery_id for a in attempts) == sorted(d.id for d in deliveries)
    assert all(a.succeeded for a in attempts)

    # Every event reached the receiver, each under one webhook-id (its delivery's id),
    # the held ones twice: the first send, cut off by the kill, and the resend.
    by_event = recorder.event_ids()
    delivery_of = {d.event_id: d.id for d in deliveries}
    assert by_event == {event_id: {delivery_id} for event_id, delivery_id in delivery_of.items()}
    received = collections.Counter(r.headers["webhook-id"] for r in recorder.requests)
    assert sorted(received.values()) == [1] * (total - HELD) + [2] * HELD
    assert {webhook_id for webhook_id, n in received.items() if n == 2} == {d.id for d in held}
    for request in recorder.requests:
        Webhook(secret).verify(request.body, request.headers)
    assert failures(*workers) == []


EVENTS = 200


async def test_two_workers_on_postgresql_dispatch_each_event_once_and_attempt_each_delivery_once(
    database_url: str,
    client: httpx.AsyncClient,
    people: Personas,
    notify_env: dict[str, str],
    worker_db: SessionFactory,
    recorder: Recorder,
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: on SQLite one process runs the jobs")
    key = people.alice.secret
    channels = [(await channel(client, key, url=recorder.url(), name=n))[0] for n in "ab"]
    # Every committed stamp of an event's dispatch and every attempt written, each with
    # the client port of the connection that wrote it: whose it was, found in /proc
    # while the workers' pooled connections are open.
    dispatch_log = [
        "CREATE TABLE dispatch_log (event_id text, port int)",
        "CREATE FUNCTION log_dispatch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO dispatch_log VALUES (NEW.id, inet_client_port()); RETURN NEW; END $$",
        "CREATE TRIGGER dispatch_log AFTER UPDATE OF dispatched_at ON event "
        "FOR EACH ROW WHEN (NEW.dispatched_at IS NOT NULL) EXECUTE FUNCTION log_dispatch()",
        "CREATE TABLE attempt_log (delivery_id text, port int)",
        "CREATE FUNCTION log_attempt() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO attempt_log VALUES (NEW.delivery_id, inet_client_port()); "
        "RETURN NEW; END $$",
        "CREATE TRIGGER attempt_log AFTER INSERT ON delivery_attempt "
        "FOR EACH ROW EXECUTE FUNCTION log_attempt()",
    ]
    async with worker_db.begin() as session:
        connection = await session.connection()
        for statement in dispatch_log:
            await connection.execute(text(statement))
    workers: list[WorkerProcess] = []
    try:
        workers = list(await asyncio.gather(*(WorkerProcess(notify_env).start() for _ in "ab")))
        # Written while both workers run, ten a transaction, so that both fan out and
        # claim; through the outbox directly, as 200 GraphQL mutations would take most of
        # the test's time (the first test writes its events through GraphQL).
        organization_id = people.alice.organization.id
        for start in range(0, EVENTS, 10):
            async with worker_db.begin() as session:
                for n in range(start, start + 10):
                    outbox.emit(
                        session,
                        organization_id=organization_id,
                        type=outbox.EventType.INCIDENT_CREATED,
                        data={"incidentId": f"inc_{n}", "title": f"outage {n}"},
                        now=utcnow(),
                    )
            await asyncio.sleep(0.02)

        async def all_delivered() -> bool:
            found = await all_deliveries(worker_db)
            return len(found) == EVENTS * 2 and all(d.status == "succeeded" for d in found)

        await eventually(all_delivered, seconds=30)
        await asyncio.sleep(0.3)  # anything sent twice would arrive by now
        async with worker_db() as session:
            connection = await session.connection()
            dispatched = (await connection.execute(text("SELECT * FROM dispatch_log"))).all()
            written = (await connection.execute(text("SELECT * FROM attempt_log"))).all()
        pids = [worker.process.pid for worker in workers]
        owners = socket_owners({port for _, port in written}, pids)
        for worker in workers:
            assert await worker.stop() == 0
    finally:
        for worker in workers:
            if worker.process.returncode is None:
                worker.process.kill()
                await worker.process.wait()
        async with worker_db.begin() as session:
            connection = await session.connection()
            await connection.execute(text("DROP TABLE IF EXISTS dispatch_log"))
            await connection.execute(text("DROP FUNCTION IF EXISTS log_dispatch() CASCADE"))
            await connection.execute(text("DROP TABLE IF EXISTS attempt_log"))
            await connection.execute(text("DROP FUNCTION IF EXISTS log_attempt() CASCADE"))

    async with worker_db() as session:
        events = [event.id for event in (await session.exec(change_events())).all()]
    assert len(events) == EVENTS
    # Each once (the key's first use, an event too, is dispatched to no channel here).
    changes = [event_id for event_id, _ in dispatched if event_id in set(events)]
    assert sorted(changes) == sorted(events)
    assert len(dispatched) == len({event_id for event_id, _ in dispatched})
    deliveries = await all_deliveries(worker_db)
    pairs = {(d.event_id, d.channel_id) for d in deliveries}
    assert pairs == {(e, c["id"]) for e in events for c in channels}
    assert len(deliveries) == len(pairs)
    assert sorted(d.attempts for d in deliveries) == [1] * (EVENTS * 2)
    attempts = await all_attempts(worker_db)
    assert sorted(a.delivery_id for a in attempts) == sorted(d.id for d in deliveries)
    received = collections.Counter(r.headers["webhook-id"] for r in recorder.requests)
    assert sorted(received) == sorted(d.id for d in deliveries)
    assert set(received.values()) == {1}
    # Both workers sent their share, and the attempts they wrote are the deliveries.
    assert sorted(delivery_id for delivery_id, _ in written) == sorted(d.id for d in deliveries)
    # (A port the pool has closed since, an overflow connection's, has no owner now.)
    senders = collections.Counter(owners.get(port) for _, port in written)
    assert set(senders) - {None} == set(pids), senders
    assert failures(*workers) == []
