"""Rate limits (DESIGN §6): buckets, exact headers, 429s, memory and Redis storage."""

import asyncio
import logging
import os
import time as real_time
from typing import Any

import httpx
import pytest
import redis
from sqlmodel import col, select

import statusgraph.ratelimit
from statusgraph.app import create_app
from statusgraph.cli import main
from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import AuditEvent
from statusgraph.oauth.account import TOO_MANY, TOO_MANY_FOR_ACCOUNT
from statusgraph.resolvers.api_keys import IssuedKey
from tests.browser_session import csrf_of, log_in
from tests.helpers import create_key, create_org, create_user, gql, tampered
from tests.servers import Server

TEST_REDIS_URL = os.environ.get("STATUSGRAPH_TEST_REDIS_URL")
VIEWER = "{ viewer { name } }"
RATE_LIMITED = {
    "errors": [{"message": "Rate limit exceeded", "extensions": {"code": "RATE_LIMITED"}}]
}


def redis_test_url() -> str:
    """A database of its own (15) on the test server, emptied before each test."""
    assert TEST_REDIS_URL
    return TEST_REDIS_URL.rsplit("/", 1)[0] + "/15"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def storage(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "async+memory://"
    url = redis_test_url()
    redis.Redis.from_url(url).flushdb()
    return "async+" + url  # model_copy skips the settings validator that would add it


@pytest.fixture
async def limited_app(settings, clock, storage):
    """Builds apps with rate-limit overrides on the parametrized storage; disposes them."""
    built = []

    async def build(**overrides):
        app = create_app(
            settings.model_copy(update={"rate_limit_storage": storage, **overrides}), clock=clock
        )
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        built.append((app, client))
        return app, client

    yield build
    for app, client in built:
        await client.aclose()

        await app.state.close()


def headers_of(response: httpx.Response) -> tuple[int, int, int]:
    return (
        int(response.headers["x-ratelimit-limit"]),
        int(response.headers["x-ratelimit-remaining"]),
        int(response.headers["x-ratelimit-reset"]),
    )


async def starter_key(db: SessionFactory, clock: FrozenClock, **draft: Any) -> IssuedKey:
    organization = await create_org(
        db, clock, slug=f"starter-{real_time.monotonic_ns()}", plan="starter"
    )
    return await create_key(db, clock, organization, scopes=["*:*"], **draft)


class FakeTime:
    """Stands in for the `time` module inside `limits` and our limiter: an injected clock."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.25

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


class TestHeaders:
    async def test_exact_values_across_a_window_and_after_reset(
        self, limited_app, clock, monkeypatch
    ):
        # Memory storage only: Redis keeps its own clock, which a test cannot move.
        fake = FakeTime()
        import limits.storage.memory

        monkeypatch.setattr(limits.storage.memory, "time", fake)
        monkeypatch.setattr(statusgraph.ratelimit, "time", fake)
        app, client = await limited_app(
            rate_limit_standard="3/minute", rate_limit_storage="async+memory://"
        )
        key = await starter_key(app.state.db, clock)
        reset = int(fake.now + 60) + 1  # ceil of the window's end
        for remaining in (2, 1, 0):
            response = await gql(client, VIEWER, key=key.secret)
            assert response.status_code == 200
            assert headers_of(response) == (3, remaining, reset)
            assert "retry-after" not in response.headers
            fake.now += 10
        blocked = await gql(client, VIEWER, key=key.secret)
        assert blocked.status_code == 429
        assert blocked.json() == RATE_LIMITED
        assert headers_of(blocked) == (3, 0, reset)
        assert blocked.headers["retry-after"] == "30"  # the window ends 30 s from now
        fake.now = reset + 0.5
        after = await gql(client, VIEWER, key=key.secret)
        assert after.status_code == 200
        assert headers_of(after) == (3, 2, int(fake.now + 60) + 1)

    async def test_remaining_counts_down_within_a_window(self, limited_app, clock):
        app, client = await limited_app(rate_limit_standard="3/minute")
        key = await starter_key(app.state.db, clock)
        seen = [headers_of(await gql(client, VIEWER, key=key.secret)) for _ in range(3)]
        assert [(limit, remaining) for limit, remaining, _ in seen] == [(3, 2), (3, 1), (3, 0)]
        resets = {reset for _, _, reset in seen}
        assert len(resets) == 1
        assert 0 < resets.pop() - real_time.time() <= 61

    async def test_errors_carry_the_headers_too(self, limited_app, clock):
        app, client = await limited_app(rate_limit_standard="5/minute")
        key = await starter_key(app.state.db, clock)
        not_found = await client.post(
            "/api/metrics/nothing-here", headers={"X-API-Key": key.secret}
        )
        assert not_found.status_code == 404
        assert headers_of(not_found)[:2] == (5, 4)
        failed = await gql(client, VIEWER, key="sg_live_bad")
        assert failed.status_code == 401
        assert headers_of(failed)[:2] == (60, 59)  # the failed-authentication bucket

    def test_expired_keys_are_swept_every_few_seconds_not_on_every_hit(self, monkeypatch):
        fake = FakeTime()
        monkeypatch.setattr(statusgraph.ratelimit, "time", fake)
        storage = statusgraph.ratelimit.SweepingMemoryStorage()
        storage.incr("a", 60)
        first = storage.timer
        storage.incr("b", 60)
        assert storage.timer is first  # no new sweeper thread for the second hit
        fake.now += storage.SWEEP_EVERY
        first.join()
        storage.incr("c", 60)
        assert storage.timer is not first

    def test_the_lock_free_fixed_window_counts_as_limits_own_methods_do(self, monkeypatch):
        fake = FakeTime()
        import limits.storage.memory

        monkeypatch.setattr(limits.storage.memory, "time", fake)
        monkeypatch.setattr(statusgraph.ratelimit, "time", fake)
        ours = statusgraph.ratelimit.SweepingMemoryStorage()
        stock = limits.storage.memory.MemoryStorage()
        for step in (0, 10, 20, 29.9, 30, 31, 45, 60.5, 61):  # two windows of 30 s and more
            fake.now = 1_800_000_000.25 + step
            for key in ("a", "b"):
                expected = stock.incr(key, 30), stock.get_expiry(key)
                assert ours.hit_fixed_window(key, 30) == expected


class TestBuckets:
    async def test_heartbeats_do_not_consume_the_standard_bucket(self, limited_app, clock):
        app, client = await limited_app(
            rate_limit_standard="3/minute", rate_limit_heartbeat="5/minute"
        )
        key = await starter_key(app.state.db, clock)
        for _ in range(4):
            response = await client.post("/api/heartbeat/mon_x", headers={"X-API-Key": key.secret})
            assert response.headers["x-ratelimit-limit"] == "5"
        response = await gql(client, VIEWER, key=key.secret)
        assert headers_of(response)[:2] == (3, 2)

    async def test_failed_authentication_is_charged_to_the_address_not_the_key(
        self, limited_app, clock
    ):
        app, client = await limited_app(
            rate_limit_standard="3/minute", rate_limit_failed_auth="2/minute"
        )
        key = await starter_key(app.state.db, clock)
        for status in (401, 401, 429, 429):
            response = await gql(client, VIEWER, key=tampered(key.secret))
            assert response.status_code == status
        assert response.json() == RATE_LIMITED
        assert response.headers["x-ratelimit-limit"] == "2"
        # The same address with a valid key is not throttled, and the key's bucket is untouched.
        valid = await gql(client, VIEWER, key=key.secret)
        assert valid.status_code == 200
        assert headers_of(valid)[:2] == (3, 2)

    async def test_plans_split_reads_from_writes(self, limited_app, clock):
        app, client = await limited_app()
        team = await create_org(app.state.db, clock, slug="team", plan="team")
        key = await create_key(app.state.db, clock, team, scopes=["*:*"])
        read = await gql(client, VIEWER, key=key.secret)
        assert headers_of(read)[:2] == (600, 599)
        write = await gql(
            client, 'mutation { revokeApiKey(id: "key_x") { userErrors { code } } }', key=key.secret
        )
        assert headers_of(write)[:2] == (120, 119)
        assert headers_of(await gql(client, VIEWER, key=key.secret))[:2] == (600, 598)

    async def test_sandbox_keys_and_anonymous_callers_have_their_own_limits(
        self, limited_app, clock
    ):
        app, client = await limited_app()
        sandbox = await starter_key(app.state.db, clock, sandbox=True)
        assert headers_of(await gql(client, VIEWER, key=sandbox.secret))[:2] == (120, 119)
        assert headers_of(await gql(client, VIEWER))[:2] == (300, 299)
        live = await starter_key(app.state.db, clock)
        assert headers_of(await gql(client, VIEWER, key=live.secret))[:2] == (1000, 999)

    async def test_a_rest_route_answers_429_in_rest_shape(self, limited_app, clock):
        app, client = await limited_app(rate_limit_heartbeat="1/minute")
        key = await starter_key(app.state.db, clock)
        await client.post("/api/heartbeat/mon_x", headers={"X-API-Key": key.secret})
        blocked = await client.post("/api/heartbeat/mon_x", headers={"X-API-Key": key.secret})
        assert blocked.status_code == 429
        assert blocked.json() == {"error": "Rate limit exceeded"}
        assert int(blocked.headers["retry-after"]) >= 1

    async def test_health_checks_are_not_limited(self, limited_app):
        _, client = await limited_app(rate_limit_anonymous="1/minute")
        for _ in range(3):
            response = await client.get("/healthz")
            assert response.status_code == 200
            assert "x-ratelimit-limit" not in response.headers


async def test_exactly_the_limit_succeeds_under_concurrency(limited_app, clock):
    app, client = await limited_app(rate_limit_standard="50/minute")
    key = await starter_key(app.state.db, clock)
    responses = await asyncio.gather(*(gql(client, VIEWER, key=key.secret) for _ in range(100)))
    statuses = [response.status_code for response in responses]
    assert statuses.count(200) == 50
    assert statuses.count(429) == 50


async def test_redis_down_fails_open_with_a_warning(settings, clock, caplog):
    app = create_app(
        settings.model_copy(update={"rate_limit_storage": "async+redis://127.0.0.1:1/0"}),
        clock=clock,
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            with caplog.at_level(logging.WARNING, logger="statusgraph.ratelimit"):
                responses = [await gql(client, VIEWER) for _ in range(3)]
    finally:
        await app.state.close()
    assert [response.status_code for response in responses] == [200, 200, 200]
    assert all("x-ratelimit-limit" not in response.headers for response in responses)
    warnings = [r for r in caplog.records if "rate-limit storage unavailable" in r.message]
    assert len(warnings) == 1  # once per 30 s, not once per request


def test_serve_refuses_several_workers_with_memory_storage(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("STATUSGRAPH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("STATUSGRAPH_RATE_LIMIT_STORAGE", raising=False)
    assert main(["serve", "--workers", "2"]) == 2
    assert "needs shared rate-limit storage" in capsys.readouterr().err
    assert not (tmp_path / "statusgraph.db").exists()  # refused before touching anything


@pytest.mark.redis
async def test_two_server_processes_share_one_limit_through_redis(tmp_path):
    url = redis_test_url()
    redis.Redis.from_url(url).flushdb()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGRAPH_")}
    env.update(
        STATUSGRAPH_DATA_DIR=str(tmp_path / "data"),
        STATUSGRAPH_RATE_LIMIT_STORAGE=url,
        STATUSGRAPH_RATE_LIMIT_PLANS="{}",
        STATUSGRAPH_RATE_LIMIT_STANDARD="10/minute",
    )
    async with Server(env) as first, Server(env) as second:
        [key] = first.printed_keys()
        assert second.printed_keys() == []
        async with httpx.AsyncClient() as http:
            statuses = []
            for _ in range(8):
                for server in (first, second):
                    response = await http.post(
                        server.url + "/graphql", json={"query": VIEWER}, headers={"X-API-Key": key}
                    )
                    statuses.append(response.status_code)
    assert statuses.count(200) == 10
    assert statuses.count(429) == 6


@pytest.mark.redis
async def test_redis_is_asked_for_a_windows_end_once_per_window_and_process(
    limited_app, clock, storage
):
    if not storage.startswith("async+redis"):
        pytest.skip("Redis only")
    stats = redis.Redis.from_url(redis_test_url())

    def ttl_calls() -> int:
        return int(stats.info("commandstats").get("cmdstat_ttl", {}).get("calls", 0))

    _, first = await limited_app(rate_limit_anonymous="100/minute")
    _, second = await limited_app(rate_limit_anonymous="100/minute")
    stats.config_resetstat()
    opened = [headers_of(await gql(first, VIEWER)) for _ in range(3)]
    assert ttl_calls() == 0  # the first hit opened the window: its end is known here
    joined = [headers_of(await gql(second, VIEWER)) for _ in range(3)]
    assert ttl_calls() == 1  # another process asks once, then knows too
    assert [remaining for _, remaining, _ in opened + joined] == [99, 98, 97, 96, 95, 94]
    resets = {reset for _, _, reset in opened + joined}
    assert max(resets) - min(resets) <= 1  # Redis's TTL is in whole seconds


# Password guesses on the sign-in pages (DESIGN §11): per address and per account,
# charged before the password is checked.


def browser_at(app: Any, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def login_failures(db: SessionFactory) -> int:
    async with db() as session:
        found = await session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "user.login_failed")
        )
        return len(found.all())


async def test_failed_logins_are_counted_per_account_from_any_address(limited_app, clock):
    app, client = await limited_app(
        rate_limit_failed_login="3/15minutes", rate_limit_failed_auth="100/minute"
    )
    acme = await create_org(app.state.db, clock, slug="acme")
    await create_user(app.state.db, clock, acme)
    await create_user(app.state.db, clock, acme, email="grace@example.com", name="Grace")
    for _ in range(3):
        assert (await log_in(client, password="wrong password!")).status_code == 400
    async with browser_at(app, "198.51.100.9") as elsewhere:
        refused = await log_in(elsewhere, email=" ADA@Example.com", password="wrong password!")
        assert refused.status_code == 429
        assert TOO_MANY_FOR_ACCOUNT in refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 900
        right = await log_in(elsewhere)
        assert right.status_code == 429
        assert "set-cookie" not in right.headers
        # Another account is not held up by it.
        assert (await log_in(elsewhere, email="grace@example.com")).status_code == 303
    assert (await log_in(client, email="grace@example.com")).status_code == 303
    assert await login_failures(app.state.db) == 3  # the refused ones were never checked


async def test_concurrent_guesses_never_get_past_the_limit(limited_app, clock):
    app, client = await limited_app(
        rate_limit_failed_login="3/15minutes", rate_limit_failed_auth="100/minute"
    )
    acme = await create_org(app.state.db, clock, slug="acme")
    await create_user(app.state.db, clock, acme)
    page = await client.get("/login")
    form = {"csrf_token": csrf_of(page), "next": "", "email": "ada@example.com"}
    responses = await asyncio.gather(
        *(client.post("/login", data={**form, "password": f"guess {n:04}!"}) for n in range(10))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [400] * 3 + [429] * 7
    assert (await log_in(client)).status_code == 429
    assert await login_failures(app.state.db) == 3


async def test_a_right_password_gives_its_charge_back(limited_app, clock):
    app, client = await limited_app(
        rate_limit_failed_login="2/15minutes", rate_limit_failed_auth="2/minute"
    )
    acme = await create_org(app.state.db, clock, slug="acme")
    await create_user(app.state.db, clock, acme)
    for _ in range(4):
        client.cookies.clear()
        assert (await log_in(client)).status_code == 303
    client.cookies.clear()
    assert (await log_in(client, password="wrong password!")).status_code == 400
    assert (await log_in(client, password="wrong password!")).status_code == 400
    third = await log_in(client, password="wrong password!")
    assert third.status_code == 429
    assert TOO_MANY in third.text  # the address's bucket is asked first


async def test_ipv6_guesses_are_counted_by_their_64(limited_app, clock):
    app, _ = await limited_app(
        rate_limit_failed_login="100/15minutes", rate_limit_failed_auth="2/minute"
    )
    for ip, status in [
        ("2001:db8:1:2::1", 400),
        ("2001:db8:1:2::abcd", 400),
        ("2001:db8:1:2:ffff::9", 429),
        ("2001:db8:1:3::1", 400),  # the next /64: another subscriber
        ("::ffff:203.0.113.9", 400),  # an IPv4 address in IPv6 form is that address
    ]:
        async with browser_at(app, ip) as browser:
            response = await log_in(browser, email="nobody@example.com")
            assert response.status_code == status, ip
