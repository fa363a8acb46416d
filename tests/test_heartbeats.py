"""Heartbeat monitors: the state machine over time, the REST endpoints and their errors."""

import asyncio
import contextlib
import os
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url, text
from sqlmodel import func, select
from starlette.routing import Route, Router

from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import HeartbeatPing, Monitor, MonitorStatusChange
from statusgraph.http.routing import DirectRoute
from statusgraph.ingest.batcher import PingBatcher
from statusgraph.resolvers import heartbeats
from tests.helpers import create_key, gql
from tests.status_api import mutate

CREATE = "mutation($i: CreateMonitorInput!) { createMonitor(input: $i) { monitor { id status } userErrors { field code message } } }"
CHANGES = "query($id: ID!) { monitor(id: $id) { status statusChanges(first: 20) { edges { node { fromStatus toStatus reason } } } } }"


async def heartbeat(
    client: httpx.AsyncClient,
    key: str,
    period: int = 600,
    grace: int = 300,
    name: str = "nightly backup",
) -> str:
    payload = await mutate(
        client,
        key,
        CREATE,
        {"i": {"name": name, "type": "HEARTBEAT", "periodSeconds": period, "graceSeconds": grace}},
        "createMonitor",
    )
    assert payload["monitor"]["status"] == "PENDING"
    monitor_id: str = payload["monitor"]["id"]
    return monitor_id


async def ping(
    client: httpx.AsyncClient,
    key: str | None,
    monitor_id: str,
    body: Any = None,
    **kwargs: Any,
) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    if body is None:
        return await client.post(f"/api/heartbeat/{monitor_id}", headers=headers, **kwargs)
    return await client.post(f"/api/heartbeat/{monitor_id}", headers=headers, json=body)


async def evaluate(db: SessionFactory, clock: FrozenClock) -> int:
    async with db.begin() as session:
        return await heartbeats.evaluate_due(session, now=clock())


async def strangers(client: httpx.AsyncClient, people: Any) -> list[str]:
    """Monitor ids alice cannot ping: unknown, charlie's heartbeat, her own HTTP monitor."""
    theirs = await heartbeat(client, people.charlie.secret)
    http = await mutate(
        client,
        people.alice.secret,
        CREATE,
        {"i": {"name": "site", "type": "HTTP", "url": "https://example.com"}},
        "createMonitor",
    )
    return ["mon_doesnotexist", theirs, http["monitor"]["id"]]


async def pings_stored(db: SessionFactory) -> int:
    async with db() as session:
        return (await session.exec(select(func.count()).select_from(HeartbeatPing))).one()


async def status_and_changes(
    client: httpx.AsyncClient, key: str, monitor_id: str
) -> tuple[str, list[tuple[str | None, str, str]]]:
    data = (await gql(client, CHANGES, {"id": monitor_id}, key=key)).json()["data"]["monitor"]
    changes = [
        (e["node"]["fromStatus"], e["node"]["toStatus"], e["node"]["reason"])
        for e in data["statusChanges"]["edges"]
    ]
    return data["status"], list(reversed(changes))


class TestStateMachine:
    async def test_up_then_late_then_down_over_time(self, client, db, clock, people):
        key = people.alice.secret
        monitor = await heartbeat(client, key)
        response = await ping(client, key, monitor)
        assert response.status_code == 200
        assert response.json()["status"] == "up"
        assert response.json()["next_deadline_at"] == (clock() + timedelta(seconds=600)).isoformat()

        clock.advance(seconds=599)
        assert await evaluate(db, clock) == 0  # nothing is overdue yet
        clock.advance(seconds=1)
        assert await evaluate(db, clock) == 1
        assert (await status_and_changes(client, key, monitor))[0] == "LATE"
        clock.advance(seconds=299)
        assert (await status_and_changes(client, key, monitor))[0] == "LATE"
        clock.advance(seconds=1)
        # Correct at read time even before the evaluator records it...
        assert (await status_and_changes(client, key, monitor))[0] == "DOWN"
        await evaluate(db, clock)
        # ...and every transition recorded, with its reason.
        assert await status_and_changes(client, key, monitor) == (
            "DOWN",
            [
                ("PENDING", "UP", "ping"),
                ("UP", "LATE", "no ping within the period"),
                ("LATE", "DOWN", "no ping within the grace time"),
            ],
        )
        assert await evaluate(db, clock) == 0  # a DOWN monitor has no deadline left

        clock.advance(seconds=1)
        await ping(client, key, monitor)
        assert (await status_and_changes(client, key, monitor))[1][-1] == ("DOWN", "UP", "ping")

    async def test_status_down_is_down_at_once(self, client, clock, people):
        key = people.alice.secret
        monitor = await heartbeat(client, key)
        await ping(client, key, monitor)
        clock.advance(seconds=1)
        response = await ping(
            client, key, monitor, {"status": "down", "message": "backup failed: disk full"}
        )
        assert response.json()["status"] == "down"
        assert (await status_and_changes(client, key, monitor))[1][-1] == (
            "UP",
            "DOWN",
            "ping with status down",
        )

    async def test_a_started_run_must_complete_within_the_grace_time(
        self, client, db, clock, people
    ):
        key = people.alice.secret
        monitor = await heartbeat(client, key, period=3600, grace=120)
        await ping(client, key, monitor)
        clock.advance(seconds=1)
        started = await ping(client, key, monitor, {"status": "start"})
        assert started.json()["status"] == "up"
        assert started.json()["next_deadline_at"] == (clock() + timedelta(seconds=120)).isoformat()
        clock.advance(seconds=60)
        assert (await ping(client, key, monitor, {"status": "up", "duration_ms": 60000})).json()[
            "status"
        ] == "up"

        clock.advance(seconds=1)
        await ping(client, key, monitor, {"status": "start"})
        clock.advance(seconds=120)
        await evaluate(db, clock)
        assert await status_and_changes(client, key, monitor) == (
            "DOWN",
            [
                ("PENDING", "UP", "ping"),
                ("UP", "DOWN", "run did not complete within the grace time"),
            ],
        )

    async def test_a_paused_monitor_refuses_pings_with_a_409_and_resumes_as_pending(
        self, client, clock, people
    ):
        key = people.alice.secret
        monitor = await heartbeat(client, key)
        await ping(client, key, monitor)
        paused = await gql(
            client,
            "mutation($id: ID!) { pauseMonitor(id: $id) { monitor { status paused } userErrors { code } } }",
            {"id": monitor},
            key=key,
        )
        assert paused.json()["data"]["pauseMonitor"]["monitor"] == {
            "status": "PAUSED",
            "paused": True,
        }
        refused = await ping(client, key, monitor)
        assert refused.status_code == 409
        assert refused.json() == {"error": "Monitor is paused"}
        resumed = await gql(
            client,
            "mutation($id: ID!) { resumeMonitor(id: $id) { monitor { status } userErrors { code } } }",
            {"id": monitor},
            key=key,
        )
        assert resumed.json()["data"]["resumeMonitor"]["monitor"] == {"status": "PENDING"}

    async def test_the_evaluator_reads_only_overdue_monitors(self, client, db, clock, app, people):
        from tests.helpers import StatementCounter

        key = people.alice.secret
        for n in range(5):
            await ping(client, key, await heartbeat(client, key, name=f"job {n}"))
        clock.advance(seconds=600)
        with StatementCounter(app.state.engine) as counter:
            assert await evaluate(db, clock) == 5
        selects = [s for s in counter.statements if s.lstrip().upper().startswith("SELECT")]
        assert len(selects) == 1
        assert "next_deadline_at <=" in selects[0]


class TestRestErrors:
    async def test_a_ping_without_a_key_is_a_401_with_a_bearer_challenge(self, client, people):
        monitor = await heartbeat(client, people.alice.secret)
        response = await ping(client, None, monitor)
        assert response.status_code == 401
        assert response.json() == {"error": "Authentication required"}
        assert response.headers["www-authenticate"] == 'Bearer realm="statusgraph"'

    async def test_it_refuses_a_bad_key(self, client, people):
        monitor = await heartbeat(client, people.alice.secret)
        response = await ping(client, "sg_live_nope", monitor)
        assert response.status_code == 401
        assert response.json() == {"error": "Invalid API key"}

    async def test_a_key_without_heartbeat_write_gets_a_403_and_stores_no_ping(
        self, client, db, clock, people
    ):
        monitor = await heartbeat(client, people.alice.secret)
        reader = await create_key(db, clock, people.alice.organization, scopes=["monitors:write"])
        response = await ping(client, reader.secret, monitor)
        assert response.status_code == 403
        assert response.json() == {"error": "Insufficient scope: heartbeat:write required"}
        assert await pings_stored(db) == 0

    async def test_a_heartbeat_only_key_works(self, client, db, clock, people):
        monitor = await heartbeat(client, people.alice.secret)
        pinger = await create_key(db, clock, people.alice.organization, scopes=["heartbeat:write"])
        assert (await ping(client, pinger.secret, monitor)).status_code == 200
        status = await client.get(f"/api/heartbeat/{monitor}", headers={"X-API-Key": pinger.secret})
        assert status.status_code == 200
        assert status.headers["content-type"] == "application/json"
        assert status.json() == {
            "monitor_id": monitor,
            "name": "nightly backup",
            "status": "up",
            "last_ping_at": clock().isoformat(),
            "next_deadline_at": (clock() + timedelta(seconds=600)).isoformat(),
            "period_seconds": 600,
            "grace_seconds": 300,
        }

    async def test_status_needs_heartbeat_write_or_monitors_read(self, client, db, clock, people):
        monitor = await heartbeat(client, people.alice.secret)
        reader = await create_key(db, clock, people.alice.organization, scopes=["monitors:read"])
        other = await create_key(db, clock, people.alice.organization, scopes=["incidents:read"])
        assert (
            await client.get(f"/api/heartbeat/{monitor}", headers={"X-API-Key": reader.secret})
        ).json()["status"] == "pending"
        refused = await client.get(f"/api/heartbeat/{monitor}", headers={"X-API-Key": other.secret})
        assert refused.status_code == 403
        assert refused.json() == {"error": "Insufficient scope: heartbeat:write required"}

    async def test_unknown_foreign_and_other_monitors_are_not_found(self, client, db, people):
        key = people.alice.secret
        for monitor in await strangers(client, people):
            for response in (
                await ping(client, key, monitor),
                await client.get(f"/api/heartbeat/{monitor}", headers={"X-API-Key": key}),
            ):
                assert response.status_code == 404
                assert response.json() == {"error": "Monitor not found"}
        assert await pings_stored(db) == 0

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"{not json", "Request body is not valid JSON"),
            (b"[1, 2]", "Request body must be a JSON object"),
            (b'{"status": "sideways"}', "status must be one of: up, down, start"),
            (b'{"message": 42}', "message must be a string"),
            (b'{"message": "a\\u0000b"}', "message must not contain NUL characters"),
            (b'{"duration_ms": -1}', "duration_ms must be an integer from 0 to 2147483647"),
            (b'{"duration_ms": "5"}', "duration_ms must be an integer from 0 to 2147483647"),
            (b'{"duration_ms": 2147483648}', "duration_ms must be an integer from 0 to 2147483647"),
            (b'{"duration_ms": 1e3}', "duration_ms must be an integer from 0 to 2147483647"),
            (b'{"colour": "red"}', "Unknown field: colour"),
        ],
    )
    async def test_a_bad_body_is_400_and_stores_nothing(self, client, db, people, content, message):
        monitor = await heartbeat(client, people.alice.secret)
        response = await client.post(
            f"/api/heartbeat/{monitor}",
            content=content,
            headers={"X-API-Key": people.alice.secret, "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert response.json() == {"error": message}
        assert await pings_stored(db) == 0

    async def test_an_oversize_body_is_413_and_stores_nothing(self, client, db, people):
        monitor = await heartbeat(client, people.alice.secret)
        response = await ping(client, people.alice.secret, monitor, {"message": "x" * (64 * 1024)})
        assert response.status_code == 413
        assert response.json() == {"error": "Request body exceeds 65536 bytes"}
        assert await pings_stored(db) == 0

    async def test_a_long_message_is_stored_cut_to_10000_characters(self, client, db, people):
        monitor = await heartbeat(client, people.alice.secret)
        assert (
            await ping(client, people.alice.secret, monitor, {"message": "y" * 20000})
        ).status_code == 200
        async with db() as session:
            [stored] = (await session.exec(select(HeartbeatPing))).all()
        assert len(stored.message) == 10000


async def test_a_burst_of_500_concurrent_pings_loses_none(client, db, people):
    key = people.alice.secret
    monitor = await heartbeat(client, key)
    responses = await asyncio.gather(
        *(ping(client, key, monitor, {"message": f"#{n}"}) for n in range(500))
    )
    assert [r.status_code for r in responses] == [200] * 500
    assert await pings_stored(db) == 500
    async with db() as session:
        changes = (await session.exec(select(func.count()).select_from(MonitorStatusChange))).one()
    assert changes == 1  # PENDING -> UP, once


async def test_pings_arriving_a_turn_of_the_loop_apart_share_one_commit(
    client, app, db, clock, people
):
    """As under uvicorn, where each poll of the sockets brings a few more requests."""
    monitor = await heartbeat(client, people.alice.secret)
    batcher: PingBatcher = app.state.ping_batcher

    async def request() -> dict[str, Any]:  # as the endpoint does, in a request's own task
        return await batcher.submit(
            organization_id=people.alice.organization.id,
            monitor_id=monitor,
            kind=heartbeats.PingKind.SUCCESS,
            message=None,
            duration_ms=None,
            ip=None,
            now=clock(),
        )

    def submit() -> asyncio.Task[dict[str, Any]]:
        return asyncio.create_task(request())

    before = batcher.commits
    first = submit()
    await asyncio.sleep(0)  # the first ping is queued and the batcher woken
    answers = await asyncio.gather(first, *(submit() for _ in range(15)))
    assert [answer["status"] for answer in answers] == ["up"] * 16
    assert batcher.commits - before == 1
    assert await pings_stored(db) == 16


async def test_one_group_over_many_monitors_reads_them_in_one_go(client, app, db, people):
    """A group's monitors are read by one statement (a JSON array of ids on SQLite, an
    array on PostgreSQL): each ping still lands on its own monitor, and one to another
    organization's, an unknown or a non-heartbeat monitor in the same group is a 404."""
    key = people.alice.secret
    monitors = [await heartbeat(client, key, name=f"job {n}") for n in range(12)]
    others = await strangers(client, people)
    batcher: PingBatcher = app.state.ping_batcher
    before = batcher.commits
    responses = await asyncio.gather(
        *(ping(client, key, monitor) for monitor in [*monitors, *monitors, *others])
    )
    assert [r.status_code for r in responses] == [200] * 24 + [404] * 3
    assert batcher.commits - before <= 2  # a group or two, not one per monitor
    async with db() as session:
        counts = dict(
            (
                await session.exec(
                    select(HeartbeatPing.monitor_id, func.count()).group_by(
                        HeartbeatPing.monitor_id
                    )
                )
            ).all()
        )
    assert counts == {monitor: 2 for monitor in monitors}
    for monitor in monitors:
        assert (await status_and_changes(client, key, monitor))[0] == "UP"


async def test_what_a_ping_stores_reads_back_through_the_orm(client, db, clock, people):
    """SQLite stores pings through the driver (ingest/driver.py): same values as the ORM's."""
    monitor = await heartbeat(client, people.alice.secret)
    response = await ping(
        client, people.alice.secret, monitor, {"status": "down", "message": "é", "duration_ms": 7}
    )
    assert response.status_code == 200
    async with db() as session:
        [stored] = (await session.exec(select(HeartbeatPing))).all()
        row = await session.get(Monitor, monitor)
    assert (stored.monitor_id, stored.kind, stored.message, stored.duration_ms) == (
        monitor,
        "fail",
        "é",
        7,
    )
    assert stored.created_at == clock()
    assert stored.created_at.tzinfo is not None
    assert (row.last_ping_at, row.last_ping_kind, row.recorded_status) == (clock(), "fail", "down")
    assert row.updated_at == clock()
    assert row.paused is False


async def test_pings_go_on_after_the_servers_connection_is_killed(client, app, db, people):
    """PostgreSQL: the batcher keeps one connection; a restart or a failover kills it."""
    if app.state.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no server to lose")
    key = people.alice.secret
    monitor = await heartbeat(client, key)
    assert (await ping(client, key, monitor)).status_code == 200
    writer = app.state.ping_batcher.writer
    backend = await writer.driver.fetchval("SELECT pg_backend_pid()")
    async with db.begin() as session:
        await session.exec(text(f"SELECT pg_terminate_backend({backend})"))
    for _ in range(50):  # the loop learns of the closed socket on its next turns
        if writer.driver.is_closed():
            break
        await asyncio.sleep(0.01)
    assert (await ping(client, key, monitor)).status_code == 200
    assert await pings_stored(db) == 2


async def test_a_group_whose_commit_fails_answers_500_to_all_and_the_next_one_works(
    client, app, db, people, caplog
):
    """A failure inside the writer's transaction (here a real one: the table is gone)
    reaches every ping of the group as a masked 500, stores nothing, and the writer
    starts the next group afresh."""
    key = people.alice.secret
    monitor = await heartbeat(client, key)
    assert (await ping(client, key, monitor)).status_code == 200
    async with db.begin() as session:
        await session.exec(text("ALTER TABLE heartbeat_ping RENAME TO heartbeat_ping_away"))
    with caplog.at_level("ERROR", logger="statusgraph.http"):
        failed = await asyncio.gather(*(ping(client, key, monitor) for _ in range(5)))
    assert [(r.status_code, r.json()) for r in failed] == [
        (500, {"error": "Unexpected error."})
    ] * 5
    assert "heartbeat_ping" in caplog.text  # the operator sees the cause
    async with db.begin() as session:
        await session.exec(text("ALTER TABLE heartbeat_ping_away RENAME TO heartbeat_ping"))
    assert (await ping(client, key, monitor)).status_code == 200
    assert await pings_stored(db) == 2


async def test_deleting_a_monitor_deletes_its_pings(client, db, people):
    """The database cascades the delete (the ping writer's own connection, which skips
    the foreign-key check on insert, deletes nothing)."""
    key = people.alice.secret
    monitor = await heartbeat(client, key)
    kept = await heartbeat(client, key, name="kept")
    for target in (monitor, monitor, kept):
        assert (await ping(client, key, target)).status_code == 200
    deleted = await mutate(
        client,
        key,
        "mutation($id: ID!) { deleteMonitor(id: $id) { userErrors { code } } }",
        {"id": monitor},
        "deleteMonitor",
    )
    assert deleted["userErrors"] == []
    async with db() as session:
        left = (await session.exec(select(HeartbeatPing.monitor_id))).all()
    assert left == [kept]


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="SCHED_BATCH is Linux's")
async def test_the_sqlite_writer_thread_alone_runs_under_sched_batch(client, app, people):
    """The writer must not preempt the event loop when woken (ingest.writers._yield_on_wakeup);
    the loop's own thread keeps the default policy."""
    if app.state.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only: PostgreSQL's writer runs on the event loop")
    key = people.alice.secret
    assert (await ping(client, key, await heartbeat(client, key))).status_code == 200
    writer = app.state.ping_batcher.writer
    assert os.sched_getscheduler(writer.thread.native_id) == os.SCHED_BATCH
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


def _pings_in_database_file(database_url: str, tmp_path: Path) -> int:
    """Pings in the main database file alone, without its WAL: what checkpoints copied."""
    copy = tmp_path / "main-file-only.db"
    database = make_url(database_url).database
    assert database is not None
    shutil.copyfile(database, copy)
    with contextlib.closing(sqlite3.connect(copy)) as connection:
        count: int = connection.execute("SELECT count(*) FROM heartbeat_ping").fetchone()[0]
        return count


async def test_the_sqlite_writer_checkpoints_the_wal_itself_after_answering(
    client, app, db, settings, people, tmp_path
):
    """The writer's connection has SQLite's automatic checkpoint off and checkpoints
    once ~1,000 pages went to the WAL (ingest.writers.SqliteWriter._checkpoint)."""
    if app.state.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only: PostgreSQL has no WAL file to checkpoint")
    key = people.alice.secret
    monitor = await heartbeat(client, key)
    writer = app.state.ping_batcher.writer
    assert (await ping(client, key, monitor)).status_code == 200
    assert writer.checkpoints == 0
    assert _pings_in_database_file(settings.database_url, tmp_path) == 0  # still in the WAL
    writer.checkpoint_pages = 1  # the next group crosses it
    assert (await ping(client, key, monitor)).status_code == 200
    # The writer checkpoints after answering; its next group starts once that is done.
    assert (await ping(client, key, monitor)).status_code == 200
    assert writer.checkpoints >= 1
    assert _pings_in_database_file(settings.database_url, tmp_path) >= 2
    async with db() as session:  # every other connection keeps SQLite's own
        assert (await session.exec(text("PRAGMA wal_autocheckpoint"))).one()[0] == 1000


class TestDirectRoute:
    """The ping route is matched ahead of the router (http.routing.DirectRoute), exactly as the
    router would match it; everything else still goes to the router."""

    async def test_a_ping_does_not_go_through_the_router(self, client, app, people):
        key = people.alice.secret
        monitor = await heartbeat(client, key)
        app.router.routes = []  # the router now answers 404 to everything
        assert (await ping(client, key, monitor)).status_code == 200
        status = await client.get(f"/api/heartbeat/{monitor}", headers={"X-API-Key": key})
        assert status.status_code == 404

    @pytest.mark.parametrize("path", ["/api/heartbeat/", "/api/heartbeat/a/b", "/api/heartbeats/a"])
    async def test_what_is_not_the_ping_route_is_the_routers_404(self, client, people, path):
        response = await client.post(path, headers={"X-API-Key": people.alice.secret})
        assert (response.status_code, response.text) == (404, "Not Found")
        assert "x-request-id" in response.headers

    async def test_another_method_is_the_routers_405(self, client, people):
        response = await client.put(
            "/api/heartbeat/mon_x", headers={"X-API-Key": people.alice.secret}
        )
        assert (response.status_code, response.text) == (405, "Method Not Allowed")

    async def test_under_a_root_path_the_router_matches_the_ping(self, app, people):
        key = people.alice.secret
        transport = httpx.ASGITransport(app=app, root_path="/status")
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            monitor = await heartbeat(client, key)
            response = await ping(client, key, monitor)
        assert response.status_code == 200
        assert response.json()["monitor_id"] == monitor

    def test_a_route_it_cannot_match_by_hand_is_refused(self):
        router = Router()
        with pytest.raises(ValueError, match="one plain parameter at the end"):
            DirectRoute(router, Route("/api/{kind}/ping", _endpoint, methods=["POST"]))
        with pytest.raises(ValueError, match="one plain parameter at the end"):
            DirectRoute(router, Route("/api/heartbeat/{id:int}", _endpoint, methods=["POST"]))


async def _endpoint(_request):
    raise AssertionError("never called")
