"""Usage (billing:read) and the usage alerts per key (DESIGN §15, #20 part 3): figures
against counted requests after a flush, and each alert raised once, delivered to a
webhook through a real channel."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlmodel import select
from starlette.applications import Starlette

from statusgraph.auth.sealed import Sealer
from statusgraph.auth.subscriber_tokens import SubscriberTokens
from statusgraph.checks.guard import Guard
from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import Event, RequestCount
from statusgraph.notifications.notifier import Notifier
from statusgraph.notifications.transport import Transport
from tests.helpers import PEPPER, AppWith, Personas, create_key, create_org, gql
from tests.receivers import Receiver

USAGE = """query($first: Int! = 20) { viewer { organization { usage {
  plan periodStart requestsThisMonth
  limits { statusPages visibilities ipAllowlists rateLimits { bucket limit windowSeconds } }
  counts { statusPages apiKeys members monitors services notificationChannels workflows }
  requestsByKey(first: $first) { key { id name } requests lastRequestAt }
  requestsByOAuthGrant { grantId requests }
} } } }"""

ALERTS = ["API_KEY_FIRST_USE", "API_KEY_RATE_LIMIT_80", "API_KEY_NEW_IP"]
CREATE_CHANNEL = """mutation($input: CreateNotificationChannelInput!) {
  createNotificationChannel(input: $input) { signingSecret userErrors { message } } }"""


def client_from(app: Starlette, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def usage(client: httpx.AsyncClient, key: str, **variables: Any) -> dict[str, Any]:
    body = (await gql(client, USAGE, variables, key=key)).json()
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"]["viewer"]["organization"]["usage"]
    return found


async def requests(client: httpx.AsyncClient, key: str, n: int) -> list[int]:
    statuses = []
    for _ in range(n):
        statuses.append((await gql(client, "{ viewer { id } }", key=key)).status_code)
    return statuses


async def test_usage_equals_the_requests_counted_once_flushed(
    app: Starlette, client: httpx.AsyncClient, people: Personas, clock: FrozenClock
) -> None:
    alice, charlie = people.alice.secret, people.charlie.secret
    await requests(client, alice, 7)
    await requests(client, charlie, 2)
    # Counted in memory only: nothing is written per request.
    async with app.state.db() as session:
        assert (await session.exec(select(RequestCount))).all() == []
    await app.state.usage.flush()
    found = await usage(client, alice)
    assert found["requestsThisMonth"] == 7
    assert found["periodStart"] == "2026-03-01T00:00:00+00:00"
    assert found["plan"] == "ENTERPRISE"
    [by_key] = found["requestsByKey"]
    assert by_key["key"] == {"id": people.alice.key_id, "name": "alice"}
    assert by_key["requests"] == 7
    assert found["requestsByOAuthGrant"] == []
    # Another flush adds (an upsert with n = n + excluded.n): the usage query, 3 more.
    await requests(client, alice, 3)
    await app.state.usage.flush()
    found = await usage(client, alice)
    assert found["requestsThisMonth"] == 11
    assert found["requestsByKey"][0]["requests"] == 11
    assert (await usage(client, charlie))["requestsThisMonth"] == 2
    # Next month starts from nothing.
    clock.advance(days=31)
    found = await usage(client, alice)
    assert (found["requestsThisMonth"], found["requestsByKey"]) == (0, [])


async def test_usage_shows_the_plan_limits_and_counts(
    client: httpx.AsyncClient, people: Personas
) -> None:
    found = await usage(client, people.alice.secret)
    assert found["limits"] == {
        "statusPages": None,
        "visibilities": ["INTERNAL", "PRIVATE", "PUBLIC"],
        "ipAllowlists": True,
        "rateLimits": [
            {"bucket": "read", "limit": 2400, "windowSeconds": 60},
            {"bucket": "write", "limit": 600, "windowSeconds": 60},
            {"bucket": "sandbox", "limit": 120, "windowSeconds": 60},
            {"bucket": "heartbeat", "limit": 10000, "windowSeconds": 60},
        ],
    }
    assert found["counts"] == {
        "statusPages": 0,
        "apiKeys": 2,
        "members": 0,
        "monitors": 0,
        "services": 0,
        "notificationChannels": 0,
        "workflows": 0,
    }


async def test_usage_needs_billing_read_and_billing_read_alone_is_enough(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, people: Personas
) -> None:
    body = (await gql(client, USAGE, key=people.bob.secret)).json()
    assert body["data"]["viewer"]["organization"]["usage"] is None
    [error] = body["errors"]
    assert error["message"] == "Insufficient scope: billing:read required"
    assert error["extensions"] == {"code": "FORBIDDEN", "requiredScope": "billing:read"}
    billing = await create_key(db, clock, people.alice.organization, scopes=["billing:read"])
    assert (await usage(client, billing.secret))["plan"] == "ENTERPRISE"
    # The root organization field stays config:read's.
    body = (await gql(client, "{ organization { usage { plan } } }", key=billing.secret)).json()
    assert body["errors"][0]["message"] == "Insufficient scope: config:read required"


async def test_a_negative_first_is_refused(client: httpx.AsyncClient, people: Personas) -> None:
    body = (await gql(client, USAGE, {"first": -1}, key=people.alice.secret)).json()
    [error] = body["errors"]
    assert error["message"] == "first and last must not be negative"
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.fixture
async def notifier(db: SessionFactory, clock: FrozenClock) -> AsyncIterator[Notifier]:
    transport = Transport(Guard(allow_private=True), timeout=5, base_url="https://s.example")
    made = Notifier(
        db, transport, Sealer(PEPPER.encode()), SubscriberTokens(PEPPER.encode()), clock=clock
    )
    yield made
    await transport.close()


async def alerts_channel(client: httpx.AsyncClient, key: str, receiver: Receiver) -> None:
    variables = {
        "input": {"name": "keys", "kind": "WEBHOOK", "url": receiver.url(), "eventTypes": ALERTS}
    }
    body = (await gql(client, CREATE_CHANNEL, variables, key=key)).json()
    assert body["data"]["createNotificationChannel"]["userErrors"] == [], body


def received(receiver: Receiver, key_id: str) -> list[tuple[str, dict[str, Any]]]:
    found = [request.json() for request in receiver.requests]
    return [(p["type"], p["data"]) for p in found if p["data"]["apiKeyId"] == key_id]


async def test_first_use_and_new_addresses_alert_once_each(
    app: Starlette,
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    people: Personas,
    notifier: Notifier,
    receiver: Receiver,
) -> None:
    await alerts_channel(client, people.alice.secret, receiver)
    ci = await create_key(db, clock, people.alice.organization, scopes=["*:*"], name="ci")
    first, second = client_from(app, "198.51.100.1"), client_from(app, "198.51.100.2")
    async with first, second:
        await requests(first, ci.secret, 5)
        clock.advance(minutes=2)  # past lastUsedAt's once-a-minute write
        await requests(first, ci.secret, 5)
        await requests(second, ci.secret, 5)
        await app.state.usage.flush()
        await notifier.run_once()
        # First use once (from the first address, which is not also "new"), and the
        # second address once, however many requests came from each.
        alerts = received(receiver, ci.key.id)
        assert [(kind, data["ip"], data["apiKeyName"]) for kind, data in alerts] == [
            ("api_key.first_use", "198.51.100.1", "ci"),
            ("api_key.new_ip", "198.51.100.2", "ci"),
        ]
        await requests(second, ci.secret, 3)
        await app.state.usage.flush()
        await notifier.run_once()
        assert len(received(receiver, ci.key.id)) == 2
        # Not seen for more than 30 days: new again, once.
        clock.advance(days=31)
        await requests(first, ci.secret, 3)
        await app.state.usage.flush()
        await notifier.run_once()
        alerts = received(receiver, ci.key.id)
        assert [(kind, data["ip"]) for kind, data in alerts[2:]] == [
            ("api_key.new_ip", "198.51.100.1")
        ]


async def test_a_bucket_80_percent_spent_alerts_once_per_window(
    app_with: AppWith, receiver: Receiver, clock: FrozenClock
) -> None:
    app, client = await app_with(rate_limit_standard="5/second", rate_limit_plans={})
    db: SessionFactory = app.state.db
    org = await create_org(db, clock, slug="acme", plan="starter")
    owner = await create_key(db, clock, org, scopes=["*:*"], name="owner")
    transport = Transport(Guard(allow_private=True), timeout=5, base_url="https://s.example")
    notifier = Notifier(
        db, transport, Sealer(PEPPER.encode()), SubscriberTokens(PEPPER.encode()), clock=clock
    )
    try:
        await alerts_channel(client, owner.secret, receiver)
        await asyncio.sleep(1.05)  # a fresh window
        ci = await create_key(db, clock, org, scopes=["*:*"], name="ci")
        statuses = await requests(client, ci.secret, 7)
        assert statuses == [200] * 5 + [429] * 2
        await app.state.usage.flush()
        await notifier.run_once()
        limits = [d for kind, d in received(receiver, ci.key.id) if kind.endswith("80")]
        assert len(limits) == 1
        assert (limits[0]["bucket"], limits[0]["limit"], limits[0]["threshold"]) == (
            "standard",
            5,
            4,
        )
        await asyncio.sleep(1.05)  # the next window: once more
        assert await requests(client, ci.secret, 5) == [200] * 5
        await app.state.usage.flush()
        await notifier.run_once()
        limits = [d for kind, d in received(receiver, ci.key.id) if kind.endswith("80")]
        assert len(limits) == 2
        async with db() as session:
            events = (await session.exec(select(Event.type))).all()
        assert events.count("api_key.rate_limit_80") == 2
    finally:
        await transport.close()
