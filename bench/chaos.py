"""Reliability under faults (issue #19): is an acknowledged write ever lost?

    .venv/bin/python -m bench.chaos [--postgres postgresql+asyncpg://postgres@127.0.0.1/test]
        [--ping-lanes 8] [--mutation-lanes 2] [--steady 4] [--recovery-limit 60]

Bounded and on loopback only: two `statusgraph serve --no-jobs` web processes and one
`statusgraph worker` as shipped, a PostgreSQL database of the bench's own
(`statusgraph_bench_chaos`, dropped afterwards) and a redis-server the bench starts on a
free port (rate limits and events), as in bench/scale_out.py. Under load — heartbeat
pings (each with a unique `message`) and `createIncident` mutations (each with a unique
title), spread round-robin over both web processes by a Python load generator that
remembers every answer — and with a subscriber to `incidentChanges` on the second web
process, the bench applies, one after the other:

1. kill -9 of the first web process, restarted at once;
2. kill -9 of the worker, restarted at once;
3. a restart of the bench's redis-server (killed, started again on its port);
4. pg_terminate_backend of every connection to the bench's database.

and reports:
- acknowledged writes lost: pings answered 2xx and mutations answered with an incident
  whose row is missing from the database at the end. MUST be 0;
- errors seen by clients, by fault and kind (an HTTP status, a GraphQL error code, or
  the exception of a request that got no answer);
- the recovery time of each fault: from the fault until the thing it broke works again
  (the killed web process answers a ping — mostly the new process's start-up, shown
  apart, as the other process answers meanwhile; an incident created after the fault reaches
  the subscriber, for the worker and Redis; pings and mutations both succeed again, for
  PostgreSQL). The worker's dispatcher lease must expire before a new worker takes
  over (STATUSGRAPH_JOBS_LEASE_SECONDS, 30 s as shipped; `--lease-seconds`).
"""

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from bench.cluster import (
    CREATE_INCIDENT,
    RedisServer,
    Seeded,
    Web,
    Worker,
    bench_database,
    environment,
    incident_input,
    open_subscription,
    seed,
)
from statusgraph.db.engine import create_engine

DATABASE = "statusgraph_bench_chaos"
INCIDENT_CHANGES = "subscription { incidentChanges { event resync incident { id } } }"


@dataclass
class Observed:
    phase: str = "steady"
    pings_acked: set[str] = field(default_factory=set)
    incidents_acked: dict[str, float] = field(default_factory=dict)  # id -> when answered
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    # (when answered, when sent, web index, what) of every success, for the recovery times
    successes: list[tuple[float, float, int, str]] = field(default_factory=list)
    messages: list[tuple[float, str | None]] = field(default_factory=list)  # incident id
    resyncs: int = 0
    running: bool = True


def kind_of(error: BaseException) -> str:
    return type(error).__name__


async def ping_lane(lane: int, webs: list[Web], seeded: Seeded, seen: Observed) -> None:
    monitor, key = seeded.pings[lane % len(seeded.pings)]
    clients = [httpx.AsyncClient(base_url=web.url, timeout=5) for web in webs]
    n = 0
    try:
        while seen.running:
            n += 1
            target = n % len(webs)
            marker = f"p{lane}-{n}"
            sent = time.monotonic()
            try:
                answer = await clients[target].post(
                    f"/api/heartbeat/{monitor}",
                    json={"status": "up", "message": marker},
                    headers={"X-API-Key": key},
                )
            except httpx.HTTPError as error:
                seen.errors[(seen.phase, f"ping {kind_of(error)}")] += 1
                await asyncio.sleep(0.05)
                continue
            if 200 <= answer.status_code < 300:
                seen.pings_acked.add(marker)
                seen.successes.append((time.monotonic(), sent, target, "ping"))
            else:
                seen.errors[(seen.phase, f"ping HTTP {answer.status_code}")] += 1
                await asyncio.sleep(0.05)
    finally:
        for client in clients:
            await client.aclose()


async def mutation_lane(lane: int, webs: list[Web], seeded: Seeded, seen: Observed) -> None:
    clients = [
        httpx.AsyncClient(base_url=web.url, timeout=5, headers={"X-API-Key": seeded.admin})
        for web in webs
    ]
    n = 0
    try:
        while seen.running:
            n += 1
            target = n % len(webs)
            variables = incident_input(f"m{lane}-{n}", seeded.services[n % len(seeded.services)])
            sent = time.monotonic()
            try:
                answer = await clients[target].post(
                    "/graphql", json={"query": CREATE_INCIDENT, "variables": variables}
                )
            except httpx.HTTPError as error:
                seen.errors[(seen.phase, f"mutation {kind_of(error)}")] += 1
                await asyncio.sleep(0.05)
                continue
            body: dict[str, Any] = {}
            with contextlib.suppress(ValueError):
                body = answer.json()
            created = ((body.get("data") or {}).get("createIncident") or {}).get("incident")
            if answer.status_code == 200 and created:
                seen.incidents_acked[created["id"]] = time.monotonic()
                seen.successes.append((time.monotonic(), sent, target, "mutation"))
            else:
                codes = {
                    str((error.get("extensions") or {}).get("code"))
                    for error in body.get("errors") or []
                }
                what = ",".join(sorted(codes)) if codes else f"HTTP {answer.status_code}"
                seen.errors[(seen.phase, f"mutation {what}")] += 1
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.02)
    finally:
        for client in clients:
            await client.aclose()


async def subscriber(web: Web, seeded: Seeded, seen: Observed) -> None:
    """Listens to incidentChanges on `web`, reconnecting if the socket goes."""
    while seen.running:
        try:
            websocket = await open_subscription(
                web.address, INCIDENT_CHANGES, {}, {"X-API-Key": seeded.admin}
            )
        except Exception as error:
            seen.errors[(seen.phase, f"subscription {kind_of(error)}")] += 1
            await asyncio.sleep(0.2)
            continue
        try:
            while seen.running:
                try:
                    raw = await asyncio.wait_for(websocket.recv(), 0.5)
                except TimeoutError:
                    continue
                message = json.loads(raw)
                if message.get("type") != "next":
                    continue
                change = message["payload"]["data"]["incidentChanges"]
                if change["resync"]:
                    seen.resyncs += 1
                incident = change.get("incident") or {}
                seen.messages.append((time.monotonic(), incident.get("id")))
        except Exception as error:
            seen.errors[(seen.phase, f"subscription {kind_of(error)}")] += 1
        finally:
            await websocket.close()


def first_success_after(seen: Observed, since: float, web: int | None, what: str) -> float | None:
    """From `since` to the first success of a request sent after it."""
    for when, sent, target, kind in seen.successes:
        if sent > since and kind == what and (web is None or target == web):
            return when - since
    return None


def first_event_after(seen: Observed, since: float) -> float | None:
    """From `since` to the first message about an incident answered after `since`."""
    for when, incident in seen.messages:
        acked = seen.incidents_acked.get(incident or "")
        if acked is not None and acked > since:
            return when - since
    return None


async def until(check: Any, limit: float) -> float | None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        found = check()
        if found is not None:
            return float(found)
        await asyncio.sleep(0.05)
    return None


async def terminate_backends(server_url: str) -> int:
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        killed = await connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": DATABASE},
        )
        count = int(killed.scalar_one())
    await engine.dispose()
    return count


async def faults(
    args: argparse.Namespace, webs: list[Web], worker: Worker, redis: RedisServer, seen: Observed
) -> list[tuple[str, str, float | None]]:
    recovered: list[tuple[str, str, float | None]] = []
    limit = args.recovery_limit

    async def steady() -> None:
        seen.phase = "steady"
        await asyncio.sleep(args.steady)

    await steady()
    # 1. A web process killed and restarted.
    seen.phase = "kill -9 web"
    at = time.monotonic()
    webs[0].kill9()
    await asyncio.to_thread(webs[0].start)
    start_up = time.monotonic() - at
    took = await until(lambda: first_success_after(seen, at, 0, "ping"), limit)
    recovered.append(
        (
            f"kill -9 web process 1 (restarted: {start_up:.1f} s)",
            "it answers a ping again",
            took,
        )
    )
    await steady()
    # 2. The worker killed and restarted.
    seen.phase = "kill -9 worker"
    at = time.monotonic()
    worker.kill9()
    worker.start()
    took = await until(lambda: first_event_after(seen, at), limit)
    recovered.append(("kill -9 worker (restarted)", "a new incident reaches the subscriber", took))
    await steady()
    # 3. Redis restarted.
    seen.phase = "restart redis"
    at = time.monotonic()
    redis.kill()
    await asyncio.sleep(1)
    redis.start()
    took = await until(lambda: first_event_after(seen, at), limit)
    recovered.append(
        ("redis-server killed, restarted 1 s later", "events reach the subscriber", took)
    )
    await steady()
    # 4. Every PostgreSQL connection of the bench's database terminated.
    seen.phase = "pg_terminate_backend"
    at = time.monotonic()
    killed = await terminate_backends(args.postgres)
    took = await until(
        lambda: (
            max(pings, mutations)
            if (pings := first_success_after(seen, at, None, "ping")) is not None
            and (mutations := first_success_after(seen, at, None, "mutation")) is not None
            else None
        ),
        limit,
    )
    recovered.append(
        (f"pg_terminate_backend ({killed} connections)", "pings and mutations succeed", took)
    )
    await steady()
    return recovered


async def missing_writes(database_url: str, seen: Observed) -> tuple[list[str], list[str]]:
    engine = create_engine(database_url)
    async with engine.connect() as connection:
        messages = set(
            (await connection.execute(text("SELECT message FROM heartbeat_ping"))).scalars()
        )
        incidents = set((await connection.execute(text("SELECT id FROM incident"))).scalars())
    await engine.dispose()
    return (
        sorted(seen.pings_acked - messages),
        sorted(set(seen.incidents_acked) - incidents),
    )


async def chaos(
    args: argparse.Namespace,
    database_url: str,
    webs: list[Web],
    worker: Worker,
    redis: RedisServer,
    seeded: Seeded,
) -> None:
    seen = Observed()
    lanes = [
        *(ping_lane(n, webs, seeded, seen) for n in range(args.ping_lanes)),
        *(mutation_lane(n, webs, seeded, seen) for n in range(args.mutation_lanes)),
        subscriber(webs[1], seeded, seen),
    ]
    load = [asyncio.create_task(lane) for lane in lanes]
    started = time.monotonic()
    try:
        recovered = await faults(args, webs, worker, redis, seen)
    finally:
        seen.running = False
        await asyncio.gather(*load, return_exceptions=True)
    wall = time.monotonic() - started
    lost_pings, lost_incidents = await missing_writes(database_url, seen)
    print()
    print(
        f"Chaos run: 2 web processes + 1 worker on PostgreSQL and Redis, {wall:.0f} s, "
        f"{args.ping_lanes} ping lanes and {args.mutation_lanes} mutation lanes"
    )
    print(
        f"acknowledged writes: {len(seen.pings_acked)} pings, {len(seen.incidents_acked)} "
        f"incidents; LOST: {len(lost_pings)} pings, {len(lost_incidents)} incidents"
        f" -> {'OK (0 lost)' if not lost_pings and not lost_incidents else 'FAILED'}"
    )
    for marker in [*lost_pings, *lost_incidents][:10]:
        print(f"  lost: {marker}")
    print()
    print(f"{'fault':<44} {'recovered when':<40} {'recovery':>9}")
    for fault, criterion, took in recovered:
        shown = f"{took:.2f} s" if took is not None else f"> {args.recovery_limit:g} s"
        print(f"{fault:<44} {criterion:<40} {shown:>9}")
    print()
    print(f"errors seen by clients ({sum(seen.errors.values())} in all), by fault and kind:")
    for (phase, kind), count in sorted(seen.errors.items()):
        print(f"  {phase:<22} {kind:<44} {count:>6}")
    print(
        f"subscriber: {len(seen.messages)} messages, {seen.resyncs} resync "
        "(told it missed events while Redis was away)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1/test")
    parser.add_argument("--ping-lanes", type=int, default=8)
    parser.add_argument("--mutation-lanes", type=int, default=2)
    parser.add_argument("--monitors", type=int, default=8)
    parser.add_argument("--steady", type=float, default=4, help="seconds of load between faults")
    parser.add_argument("--recovery-limit", type=float, default=60)
    parser.add_argument(
        "--lease-seconds", type=float, default=30, help="STATUSGRAPH_JOBS_LEASE_SECONDS"
    )
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="statusgraph-chaos-"))
    redis = RedisServer(data_dir)
    try:
        with bench_database(args.postgres, DATABASE) as database_url:
            env = environment(
                database_url,
                redis.url,
                data_dir,
                STATUSGRAPH_JOBS_LEASE_SECONDS=f"{args.lease_seconds:g}",
            )
            seeded = seed(env, args.monitors)
            worker = Worker(env, data_dir / "worker.log")
            webs = [Web(env, data_dir / f"web{n}.log") for n in range(2)]
            try:
                worker.start()
                for web in webs:
                    web.start()
                asyncio.run(chaos(args, database_url, webs, worker, redis, seeded))
            finally:
                for web in webs:
                    web.stop()
                worker.stop()
            print(f"(logs in {data_dir})")
    finally:
        redis.kill()


if __name__ == "__main__":
    main()
