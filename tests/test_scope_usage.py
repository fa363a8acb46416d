"""Scope usage per key and per OAuth grant (reference 002, DESIGN §15): recorded in
memory on each passed scope check, written by the process's flusher, shown as
apiKey { scopeUsage unusedScopes } and oauthGrants { scopeUsage unusedScopes }."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from sqlmodel import func, select

from statusgraph.auth.principal import Principal
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import ScopeUsage
from statusgraph.resolvers import scope_usage
from statusgraph.resolvers.usage_counters import Counters, Flusher, Tally
from tests.helpers import StatementCounter, create_grant, create_key, create_oauth_app, gql
from tests.servers import free_port
from tests.test_heartbeats import heartbeat

USAGE = """
query($id: ID!, $days: Int! = 30) {
  apiKey(id: $id) { scopeUsage { scope lastUsedAt } unusedScopes(days: $days) }
}
"""


async def key_usage(client: httpx.AsyncClient, admin: str, key_id: str, days: int = 30) -> Any:
    response = await gql(client, USAGE, {"id": key_id, "days": days}, key=admin)
    return response.json()


async def flush(app: Any) -> int:
    flushed: int = await app.state.scope_usage.flusher.flush()
    return flushed


async def rows(db: SessionFactory) -> int:
    async with db() as session:
        counted: int = (await session.exec(select(func.count()).select_from(ScopeUsage))).one()
        return counted


async def test_a_key_that_only_reads_is_told_its_write_scope_is_unused(
    app, client, db, clock, people
):
    key = await create_key(
        db, clock, people.alice.organization, scopes=["monitors:write", "incidents:read"]
    )
    for _ in range(20):
        response = await gql(client, "{ monitors { totalCount } }", key=key.secret)
        assert response.json()["data"] == {"monitors": {"totalCount": 0}}
    # Nothing is written by the requests themselves.
    assert await rows(db) == 0
    assert await flush(app) == 1
    body = await key_usage(client, people.alice.secret, key.key.id)
    assert body["data"]["apiKey"] == {
        "scopeUsage": [{"scope": "monitors:read", "lastUsedAt": clock().isoformat()}],
        "unusedScopes": ["incidents:read", "monitors:write"],
    }
    # Reading the usage with alice's key recorded alice's, not this key's.
    await flush(app)
    body = await key_usage(client, people.alice.secret, key.key.id)
    assert [u["scope"] for u in body["data"]["apiKey"]["scopeUsage"]] == ["monitors:read"]


async def test_wildcards_and_full_access_count_as_used_by_any_scope_they_grant(
    app, client, db, clock, people
):
    key = await create_key(
        db, clock, people.alice.organization, scopes=["monitors:*", "incidents:*"]
    )
    await gql(client, "{ monitors { totalCount } }", key=key.secret)
    await gql(client, "{ viewer { name } }", key=people.alice.secret)  # @public: no scope
    await gql(client, "{ apiKeys { totalCount } }", key=people.alice.secret)
    await flush(app)
    body = await key_usage(client, people.alice.secret, key.key.id)
    assert body["data"]["apiKey"]["unusedScopes"] == ["incidents:*"]
    body = await key_usage(client, people.alice.secret, people.alice.key_id)
    assert body["data"]["apiKey"]["unusedScopes"] == []  # *:*, used by api_keys:read
    assert [u["scope"] for u in body["data"]["apiKey"]["scopeUsage"]] == ["api_keys:read"]


async def test_usage_older_than_the_window_counts_as_unused(app, client, db, clock, people):
    key = await create_key(db, clock, people.alice.organization, scopes=["monitors:read"])
    await gql(client, "{ monitors { totalCount } }", key=key.secret)
    await flush(app)
    clock.advance(days=31)
    body = await key_usage(client, people.alice.secret, key.key.id)
    assert body["data"]["apiKey"]["unusedScopes"] == ["monitors:read"]
    body = await key_usage(client, people.alice.secret, key.key.id, days=32)
    assert body["data"]["apiKey"]["unusedScopes"] == []


@pytest.mark.parametrize("days", [0, -1, 366])
async def test_days_out_of_range_is_bad_user_input(client, people, days):
    body = await key_usage(client, people.alice.secret, people.alice.key_id, days=days)
    assert body["data"]["apiKey"] is None
    error = body["errors"][0]
    assert error["message"] == "days must be between 1 and 365"
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_heartbeat_ping_records_heartbeat_write(app, client, db, clock, people):
    monitor_id = await heartbeat(client, people.alice.secret)
    pinger = await create_key(db, clock, people.alice.organization, scopes=["heartbeat:write"])
    response = await client.post(
        f"/api/heartbeat/{monitor_id}", json={}, headers={"X-API-Key": pinger.secret}
    )
    assert response.status_code == 200, response.text
    await flush(app)
    body = await key_usage(client, people.alice.secret, pinger.key.id)
    assert body["data"]["apiKey"]["scopeUsage"] == [
        {"scope": "heartbeat:write", "lastUsedAt": clock().isoformat()}
    ]


async def test_an_oauth_grant_records_for_all_its_tokens(app, client, db, clock, people):
    acme = people.alice.organization
    oauth_app = await create_oauth_app(db, clock, acme)
    granted = await create_grant(
        db, clock, acme, oauth_app.app, scopes=["incidents:read", "services:read"]
    )
    bearer = {"Authorization": f"Bearer {granted.access_token}"}
    response = await gql(client, "{ incidents { totalCount } }", headers=bearer)
    assert response.json()["data"] == {"incidents": {"totalCount": 0}}
    await flush(app)
    response = await gql(
        client,
        "{ oauthGrants { edges { node { id scopeUsage { scope lastUsedAt } unusedScopes } } } }",
        key=people.alice.secret,
    )
    [edge] = response.json()["data"]["oauthGrants"]["edges"]
    assert edge["node"] == {
        "id": granted.grant.id,
        "scopeUsage": [{"scope": "incidents:read", "lastUsedAt": clock().isoformat()}],
        "unusedScopes": ["services:read"],
    }
    # Another organization sees none of it, even by the grant's id.
    async with db() as session:
        assert (
            await scope_usage.usage_of(session, people.charlie.organization.id, granted.grant.id)
            == []
        )


async def test_a_flush_writes_once_per_credential_and_scope_in_one_transaction(
    app, client, db, clock, people
):
    key = await create_key(
        db, clock, people.alice.organization, scopes=["monitors:read", "incidents:read"]
    )
    for _ in range(10):
        await gql(client, "{ monitors { totalCount } incidents { totalCount } }", key=key.secret)
        clock.advance(seconds=1)
    with StatementCounter(app.state.engine) as counter:
        assert await flush(app) == 2
    assert len(counter) == 1  # one INSERT … ON CONFLICT for every row of the flush
    async with db() as session:
        stored = await scope_usage.usage_of(session, people.alice.organization.id, key.key.id)
    assert {row.scope: row.last_used_at for row in stored} == {
        "monitors:read": clock() - timedelta(seconds=1),
        "incidents:read": clock() - timedelta(seconds=1),
    }


async def test_processes_flushing_their_own_counters_keep_the_latest_time(db, clock, people):
    """Two web processes: each flushes its own map; the older time never wins."""
    key = await create_key(db, clock, people.alice.organization, scopes=["monitors:read"])
    principal = Principal(
        kind="api_key",
        id=key.key.id,
        name="k",
        organization_id=people.alice.organization.id,
        plan="enterprise",
        scopes=frozenset({"monitors:read"}),
        expires_at=None,
        sandbox=False,
    )
    first = scope_usage.ScopeUsageRecorder(db, flush_seconds=60)
    second = scope_usage.ScopeUsageRecorder(db, flush_seconds=60)
    later = clock() + timedelta(minutes=5)
    first.record(principal, "monitors:read", later)
    second.record(principal, "monitors:read", clock())
    await first.flusher.flush()
    await second.flusher.flush()
    async with db() as session:
        [row] = await scope_usage.usage_of(session, people.alice.organization.id, key.key.id)
    assert row.last_used_at == later


async def test_with_scope_usage_off_nothing_is_recorded(app_with, db, people):
    app, client = await app_with(scope_usage=False)
    assert app.state.scope_usage is None
    await gql(client, "{ monitors { totalCount } }", key=people.alice.secret)
    assert await rows(db) == 0


async def test_a_failed_write_keeps_its_tallies_for_the_next_flush():
    counters: Counters[str] = Counters()
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    written: list[dict[str, Tally]] = []
    fail = True

    async def write(taken: dict[str, Tally]) -> None:
        if fail:
            raise RuntimeError("database unavailable")
        written.append(taken)

    flusher = Flusher(counters, write, interval=60)
    counters.hit("a", start)
    counters.hit("a", start + timedelta(seconds=5))
    assert await flusher.flush() == 0
    counters.hit("a", start + timedelta(seconds=2))
    fail = False
    assert await flusher.flush() == 1
    assert written == [{"a": Tally(3, start, start + timedelta(seconds=5))}]
    assert len(counters) == 0


async def serve(app: Any) -> tuple[uvicorn.Server, "asyncio.Task[None]", str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    return server, task, f"http://127.0.0.1:{port}"


async def test_a_serving_process_flushes_on_its_timer_and_when_it_stops(
    app_with, db, clock, people
):
    app, _ = await app_with(run_jobs=False, scope_usage_flush_seconds=0.2)
    server, task, url = await serve(app)
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            await gql(http, "{ monitors { totalCount } }", key=people.alice.secret)
            for _ in range(100):  # the timer, not a flush called by the test
                if await rows(db):
                    break
                await asyncio.sleep(0.05)
            assert await rows(db) == 1
            await gql(http, "{ incidents { totalCount } }", key=people.alice.secret)
    finally:
        server.should_exit = True
        await task
    # Stopping wrote what was counted since the last flush, however soon.
    assert await rows(db) == 2


async def test_stopping_writes_what_a_long_interval_still_holds(app_with, db, people):
    app, _ = await app_with(run_jobs=False, scope_usage_flush_seconds=3600)
    server, task, url = await serve(app)
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            await gql(http, "{ monitors { totalCount } }", key=people.alice.secret)
        assert await rows(db) == 0
    finally:
        server.should_exit = True
        await task
    assert await rows(db) == 1


async def test_stopping_during_a_write_loses_nothing():
    counters: Counters[str] = Counters()
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    written: list[str] = []
    writing = asyncio.Event()

    async def slow_write(taken: dict[str, Tally]) -> None:
        writing.set()
        await asyncio.sleep(0.2)
        written.extend(taken)

    flusher = Flusher(counters, slow_write, interval=0.01)
    counters.hit("a", start)
    flusher.start()
    await writing.wait()
    counters.hit("b", start)
    await flusher.stop()  # while "a" is being written
    assert sorted(written) == ["a", "b"]
