"""Notifications (issue #16): a burst of events fanned out to 3 webhooks, one worker.

    .venv/bin/python -m bench.notifications [--events 10000] [--rate 1000] [--seconds 20]
                                            [--database-url URL] [--pings 5] [--rounds 3]

In a scratch database (a SQLite file; with `--database-url`, a PostgreSQL database
created on that server and dropped afterwards), migrated: one organization with three
WEBHOOK channels (created through GraphQL, secrets and all) pointing at a receiver, a
bare Starlette route under uvicorn on loopback pinned to CPU 1 with this process, which
notes when each `webhook-id` arrived. `statusgraph worker` runs as shipped (its
notification settings at their defaults: 50 sends at a time, a 0.25 s poll), its whole
process pinned to CPU 0, with STATUSGRAPH_CHECKS_ALLOW_PRIVATE_NETWORKS=true.

- burst: `--events` events committed in one transaction; deliveries per second from
  that commit to the last receipt, the worker's CPU per delivery, and commit→receipt
  (the event's `created_at` to the receiver's clock; one host, one clock) p50/p99/max;
- steady: `--rate` events a second for `--seconds`, committed 20 at a time (the phase
  is named by the rate this process achieved), and the same commit→receipt figures
  over them. Goal: p99 < 1 s at 1,000 events/s;
- every delivery succeeded with one attempt in the log, each webhook-id received once.

Then the heartbeat ping rate with dispatch running and without (`--pings` seconds a
round, interleaved, 16 connections; 0 skips it): `statusgraph serve` as shipped on CPU
0 with bench.heartbeat's 32 monitors and keys, and, in the dispatching rounds, three
channels and events committed by this process at 100 a second, which the server's own
notifier (serve runs the jobs) sends to the receiver: 300 deliveries a second on the
core that answers the pings. wrk, the receiver and this process share CPU 1.
"""

import argparse
import asyncio
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import func, insert
from sqlmodel import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bench.checks import ScratchDatabase, Worker, percentile
from bench.harness import Result, ShippedServe, UvicornServer, median_of, print_table, wrk
from bench.heartbeat import ping_script, seed
from bench.http_clients import pin_to
from statusgraph.app import create_app
from statusgraph.auth.principal import SYSTEM, RequestInfo
from statusgraph.clock import utcnow
from statusgraph.config import Settings
from statusgraph.db.engine import create_engine, create_session_factory
from statusgraph.db.models import Delivery, DeliveryAttempt, Organization
from statusgraph.events import outbox
from statusgraph.events.outbox import EVENTS
from statusgraph.resolvers import api_keys, organizations

CHANNELS = 3
BATCH = 20  # events a transaction in the steady phase
GOAL_RATE, GOAL_P99 = 1000, 1.0
DRAIN_SECONDS = 900  # the most a phase may take to be received in full
PING_EVENTS_PER_SECOND = 100


# The receiver, a uvicorn factory: one POST route noting (webhook-id, arrival), and the
# notes as JSON.

RECEIVED: list[tuple[str, float]] = []


async def hook(request: Request) -> Response:
    at = time.time()
    await request.body()
    RECEIVED.append((request.headers["webhook-id"], at))
    return PlainTextResponse("ok")


async def received(request: Request) -> Response:
    since = int(request.query_params.get("since", "0"))
    return Response(orjson.dumps(RECEIVED[since:]), media_type="application/json")


async def count(_request: Request) -> Response:
    return PlainTextResponse(str(len(RECEIVED)))


def receiver() -> Starlette:
    return Starlette(
        routes=[
            Route("/hook", hook, methods=["POST"]),
            Route("/received", received),
            Route("/", count),
        ]
    )


# Setting up.


def settings_for(database_url: str, folder: Path) -> Settings:
    """What the in-process app that adds the channels runs with: the worker's database
    and data directory (where the generated secret key that seals the channels' secrets
    is kept)."""
    return Settings(
        database_url=database_url, data_dir=folder / "data", checks_allow_private_networks=True
    )


def environment(database_url: str, folder: Path) -> dict[str, str]:
    return {
        "STATUSGRAPH_DATABASE_URL": database_url,
        "STATUSGRAPH_DATA_DIR": str(folder / "data"),
        "STATUSGRAPH_CHECKS_ALLOW_PRIVATE_NETWORKS": "true",
        "STATUSGRAPH_LOG_LEVEL": "info",
    }


async def add_channels(settings: Settings, url: str, key: str | None = None) -> str:
    """Three WEBHOOK channels to `url`, through GraphQL in-process, with the bootstrap
    key (made when `key` is None); returns the organization's id."""
    if key is None:
        engine = create_engine(settings.database_url)
        async with create_session_factory(engine).begin() as session:
            key = await organizations.bootstrap(session, now=utcnow(), pepper=settings.pepper())
        await engine.dispose()
    assert key is not None
    app = create_app(settings)
    document = """mutation($i: CreateNotificationChannelInput!) {
      createNotificationChannel(input: $i) { notificationChannel { id } userErrors { message } } }"""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://seed", headers={"X-API-Key": key}
    ) as http:
        for n in range(CHANNELS):
            variables = {"i": {"name": f"hook {n}", "kind": "WEBHOOK", "url": url}}
            answer = await http.post("/graphql", json={"query": document, "variables": variables})
            body = answer.json()
            assert "errors" not in body, body
            assert body["data"]["createNotificationChannel"]["userErrors"] == [], body
    await app.state.engine.dispose()
    engine = create_engine(settings.database_url)
    async with engine.connect() as connection:
        organization_id = (await connection.execute(select(Organization.id))).scalar_one()
    await engine.dispose()
    return str(organization_id)


def event_rows(organization_id: str, first: int, count: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        outbox.row(
            organization_id=organization_id,
            type=outbox.EventType.INCIDENT_CREATED,
            data={"incidentId": f"inc_bench{n:08d}", "title": f"outage {n}"},
            now=now,
        )
        for n in range(first, first + count)
    ]


async def burst(database_url: str, organization_id: str, events: int) -> float:
    """`events` events in one transaction; returns when it committed (time.time())."""
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        for first in range(0, events, 1000):
            rows = event_rows(organization_id, first, min(1000, events - first))
            await connection.execute(insert(EVENTS), rows)
    committed = time.time()
    await engine.dispose()
    return committed


async def steady(
    database_url: str, organization_id: str, rate: float, seconds: float, first: int
) -> int:
    """`rate` events a second for `seconds`, BATCH a transaction, on schedule (a late
    transaction is not made up by bunching); returns how many it wrote."""
    engine = create_engine(database_url)
    interval = BATCH / rate
    written, start = 0, time.monotonic()
    try:
        while (elapsed := time.monotonic() - start) < seconds:
            async with engine.begin() as connection:
                await connection.execute(
                    insert(EVENTS), event_rows(organization_id, first + written, BATCH)
                )
            written += BATCH
            await asyncio.sleep(max(0.0, interval * (written // BATCH) - elapsed - interval))
    finally:
        await engine.dispose()
    return written


def wait_received(receiver_url: str, total: int, seconds: float = DRAIN_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while int(httpx.get(receiver_url + "/").text) < total:
        if time.monotonic() > deadline:
            raise RuntimeError(f"not all {total} deliveries received within {seconds:g} s")
        time.sleep(0.1)


async def committed_at(database_url: str, delivery_ids: set[str]) -> dict[str, float]:
    """Each delivery's event's `created_at`, as a Unix time."""
    engine = create_engine(database_url)
    deliveries, events = Delivery.__table__, EVENTS  # type: ignore[attr-defined]
    statement = select(deliveries.c.id, events.c.created_at).join(
        events, events.c.id == deliveries.c.event_id
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(statement)).all()
    await engine.dispose()
    return {row.id: row.created_at.timestamp() for row in rows if row.id in delivery_ids}


async def delivery_counts(database_url: str) -> tuple[int, int, int]:
    """(deliveries, succeeded with one attempt, attempts in the log)."""
    engine = create_engine(database_url)
    deliveries = Delivery.__table__  # type: ignore[attr-defined]
    attempts = DeliveryAttempt.__table__  # type: ignore[attr-defined]
    async with engine.connect() as connection:
        total = (await connection.execute(select(func.count()).select_from(deliveries))).scalar()
        once = (
            await connection.execute(
                select(func.count()).where(
                    deliveries.c.status == "succeeded", deliveries.c.attempts == 1
                )
            )
        ).scalar()
        logged = (await connection.execute(select(func.count()).select_from(attempts))).scalar()
    await engine.dispose()
    return int(total or 0), int(once or 0), int(logged or 0)


@dataclass
class Phase:
    name: str
    events: int
    deliveries: int
    seconds: float  # from the first commit to the last receipt
    cpu_seconds: float  # the worker's, over the same span
    latencies: list[float]  # commit→receipt, sorted
    duplicates: int  # webhook-ids received more than once

    @property
    def per_second(self) -> float:
        return self.deliveries / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds / max(self.deliveries, 1) * 1e6


def phase_of(
    name: str,
    database_url: str,
    receiver_url: str,
    since: int,
    events: int,
    start: float,
    cpu: float,
) -> Phase:
    found = httpx.get(f"{receiver_url}/received?since={since}", timeout=60).json()
    ids = [webhook_id for webhook_id, _ in found]
    arrived = dict(found)
    created = asyncio.run(committed_at(database_url, set(arrived)))
    latencies = sorted(arrived[d] - created[d] for d in arrived)
    return Phase(
        name=name,
        events=events,
        deliveries=len(arrived),
        seconds=max(arrived.values()) - start,
        cpu_seconds=cpu,
        latencies=latencies,
        duplicates=len(ids) - len(arrived),
    )


@dataclass
class Run:
    database: str
    phases: list[Phase]
    counts: tuple[int, int, int]


def measure(args: argparse.Namespace, target: UvicornServer) -> Run:
    folder = Path(tempfile.mkdtemp(prefix="statusgraph-bench-notify-"))
    database = ScratchDatabase(args.database_url, folder)
    env = environment(database.url, folder)
    try:
        database.create()
        settings = settings_for(database.url, folder)
        organization_id = asyncio.run(add_channels(settings, f"{target.url}/hook"))
        phases = []
        with Worker({**os.environ, **env}, folder / "worker.log") as worker:
            time.sleep(2)
            since, cpu = int(httpx.get(target.url + "/").text), worker.cpu()
            start = asyncio.run(burst(database.url, organization_id, args.events))
            wait_received(target.url, since + args.events * CHANNELS)
            used = worker.cpu() - cpu
            phases.append(
                phase_of(
                    f"burst of {args.events:,}",
                    database.url,
                    target.url,
                    since,
                    args.events,
                    start,
                    used,
                )
            )
            since, cpu, start = int(httpx.get(target.url + "/").text), worker.cpu(), time.time()
            written = asyncio.run(
                steady(database.url, organization_id, args.rate, args.seconds, args.events)
            )
            wait_received(target.url, since + written * CHANNELS)
            used = worker.cpu() - cpu
            phases.append(
                phase_of(
                    f"{written / args.seconds:,.0f}/s for {args.seconds:g} s",
                    database.url,
                    target.url,
                    since,
                    written,
                    start,
                    used,
                )
            )
            time.sleep(1)  # the writer's last batch
            counts = asyncio.run(delivery_counts(database.url))
        return Run("PostgreSQL" if args.database_url else "SQLite", phases, counts)
    finally:
        database.drop()


def print_run(run: Run) -> None:
    print(
        f"\n{run.database}: one worker on CPU 0, {CHANNELS} webhook channels, receiver on CPU 1\n"
    )
    print(
        f"{'phase':<24} {'events':>7} {'deliveries':>10} {'deliv./s':>9} {'CPU µs/deliv.':>14} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'dupl.':>6}"
    )
    for phase in run.phases:
        p50, p99 = percentile(phase.latencies, 0.5), percentile(phase.latencies, 0.99)
        print(
            f"{phase.name:<24} {phase.events:>7} {phase.deliveries:>10} {phase.per_second:>9.0f} "
            f"{phase.cpu_us:>14.0f} {p50 * 1000:>8.0f} {p99 * 1000:>8.0f} "
            f"{phase.latencies[-1] * 1000:>8.0f} {phase.duplicates:>6}"
        )
    steady_phase = run.phases[-1]
    p99 = percentile(steady_phase.latencies, 0.99)
    met = p99 < GOAL_P99 and steady_phase.events / steady_phase.seconds >= GOAL_RATE * 0.95
    print(
        f"\ncommit→receipt p99 at {steady_phase.name}: {p99:.3f} s "
        f"(goal < {GOAL_P99:g} s at {GOAL_RATE}/s: {'MET' if met else 'MISSED'})"
    )
    total, once, logged = run.counts
    print(f"deliveries: {total}; succeeded at the first attempt: {once}; attempts logged: {logged}")


# The heartbeat ping rate with dispatch running and without.


class EventWriter(threading.Thread):
    """Commits PING_EVENTS_PER_SECOND events a second until stopped, in a thread."""

    def __init__(self, database_url: str, organization_id: str) -> None:
        super().__init__(daemon=True)
        self.database_url = database_url
        self.organization_id = organization_id
        self.stopping = threading.Event()
        self.written = 0

    def run(self) -> None:
        asyncio.run(self._write())

    async def _write(self) -> None:
        engine = create_engine(self.database_url)
        try:
            while not self.stopping.is_set():
                async with engine.begin() as connection:
                    rows = event_rows(self.organization_id, 10**7 + self.written, 10)
                    await connection.execute(insert(EVENTS), rows)
                self.written += 10
                await asyncio.sleep(10 / PING_EVENTS_PER_SECOND)
        finally:
            await engine.dispose()


def ping_rounds(args: argparse.Namespace, target: UvicornServer) -> tuple[list[Result], int]:
    folder = Path(tempfile.mkdtemp(prefix="statusgraph-bench-notify-pings-"))
    database = ScratchDatabase(args.database_url, folder)
    env = {
        **environment(database.url, folder),
        "STATUSGRAPH_RATE_LIMIT_HEARTBEAT": "1000000000/minute",
        "STATUSGRAPH_LOG_LEVEL": "warning",
    }
    try:
        database.create()
        settings = settings_for(database.url, folder)
        pairs = asyncio.run(seed(settings, 32))
        script = ping_script(folder / "ping.lua", pairs)
        # The channels are there in every round; only the events come and go.
        key = asyncio.run(admin_key(settings))
        organization_id = asyncio.run(add_channels(settings, f"{target.url}/hook", key=key))
        runs: dict[str, list[Result]] = {"idle": [], "dispatching": []}
        server = ShippedServe({**os.environ, **env})
        before = int(httpx.get(target.url + "/").text)
        try:
            for n in range(args.rounds):
                runs["idle"].append(
                    wrk(
                        "pings, notifier idle",
                        server,
                        "/",
                        connections=16,
                        seconds=args.pings,
                        script=script,
                        warmup=0 if n else 2,
                    )
                )
                writer = EventWriter(database.url, organization_id)
                writer.start()
                time.sleep(1)  # dispatch in full swing
                try:
                    runs["dispatching"].append(
                        wrk(
                            f"pings, {PING_EVENTS_PER_SECOND * CHANNELS} deliveries/s",
                            server,
                            "/",
                            connections=16,
                            seconds=args.pings,
                            script=script,
                            warmup=0,
                        )
                    )
                finally:
                    writer.stopping.set()
                    writer.join()
                wait_received(target.url, before + (writer.written * CHANNELS), seconds=60)
                before = int(httpx.get(target.url + "/").text)
        finally:
            server.stop()
        return [median_of(runs["idle"]), median_of(runs["dispatching"])], before
    finally:
        database.drop()


async def admin_key(settings: Settings) -> str:
    """A new `*:*` key of the only organization (bench.heartbeat.seed keeps none)."""
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine).begin() as session:
            organization = (await session.exec(select(Organization))).one()
            issued = await api_keys.create_key(
                session,
                SYSTEM,
                organization=organization,
                draft=api_keys.KeyDraft(name="bench", scopes=["*:*"]),
                granter=None,
                request=RequestInfo(),
                now=utcnow(),
                pepper=settings.pepper(),
            )
            return issued.secret
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000, help="the burst's events")
    parser.add_argument("--rate", type=float, default=GOAL_RATE, help="steady events a second")
    parser.add_argument("--seconds", type=float, default=20, help="the steady phase's length")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL (postgresql+asyncpg://…): its server hosts the scratch databases; "
        "SQLite by default",
    )
    parser.add_argument("--pings", type=float, default=5, help="seconds a ping round; 0: none")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved ping rounds")
    args = parser.parse_args()
    pin_to(1)
    target = UvicornServer("bench.notifications:receiver", cpu=1)
    try:
        print_run(measure(args, target))
        pings = ping_rounds(args, target)[0] if args.pings else None
    finally:
        target.stop()
    if pings:
        print(
            f"\nheartbeat pings through serve (which runs the notifier), c=16, median of {args.rounds}\n"
        )
        print_table(pings, pings[0])


if __name__ == "__main__":
    main()
