"""GraphQL subscriptions over graphql-transport-ws (DESIGN §14), with a real websocket
client against the app under uvicorn: who may subscribe to what, what reaches them and
how fast, and how sockets are refused, limited and closed."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from websockets.exceptions import InvalidStatus

from statusgraph.app import create_app
from statusgraph.clock import FrozenClock
from statusgraph.config import Settings
from statusgraph.events.bus import BusEvent
from tests.helpers import START, create_key, create_org
from tests.live import closed_with, init, receive, running, send, socket, subscribe
from tests.status_api import create_incident, create_page, create_service

PAGE_CHANGED = """
subscription($slug: String!) {
  statusPageChanged(slug: $slug) {
    event resync
    page { slug overallStatus activeIncidents { title status } }
  }
}
"""
MONITOR_CHANGES = "subscription { monitorStatusChanges { event resync monitor { id status } } }"
INCIDENT_CHANGED = """
subscription($id: ID!) { incidentChanged(id: $id) { event resync incident { id title status } } }
"""
INCIDENT_CHANGES = "subscription { incidentChanges { event resync incident { title } } }"
REVOKE = "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } userErrors { code } } }"


class Live:
    """An app under uvicorn, its HTTP client, and the keys of two organizations."""

    def __init__(self, app: Starlette, address: str, http: httpx.AsyncClient) -> None:
        self.app = app
        self.address = address
        self.http = http
        self.alice = ""  # acme, *:*
        self.alice_id = ""
        self.bob = ""  # acme, status pages only
        self.charlie = ""  # globex, *:*


async def start(settings: Settings, **overrides: Any) -> AsyncIterator[Live]:
    app = create_app(settings.model_copy(update=overrides))
    clock = FrozenClock(START)
    acme = await create_org(app.state.db, clock, slug="acme")
    globex = await create_org(app.state.db, clock, slug="globex")
    async with running(app) as address, httpx.AsyncClient(base_url=f"http://{address}") as http:
        live = Live(app, address, http)
        alice = await create_key(app.state.db, clock, acme, scopes=["*:*"], name="alice")
        live.alice, live.alice_id = alice.secret, alice.key.id
        bob = await create_key(
            app.state.db, clock, acme, scopes=["status_pages:read", "services:read"], name="bob"
        )
        live.bob = bob.secret
        live.charlie = (
            await create_key(app.state.db, clock, globex, scopes=["*:*"], name="charlie")
        ).secret
        yield live


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[Live]:
    async for each in start(settings, credential_cache_seconds=1.0):
        yield each


async def test_an_anonymous_subscriber_sees_an_incident_on_a_public_page_within_a_second(live):
    api = await create_service(live.http, live.alice, "API")
    await create_page(live.http, live.alice, "acme", serviceIds=[api])
    async with socket(live.address) as websocket:
        await init(websocket)
        await subscribe(websocket, PAGE_CHANGED, {"slug": "acme"})
        await asyncio.sleep(0.2)  # subscribed on the bus
        started = time.monotonic()
        await create_incident(live.http, live.alice, "API errors", [(api, "MAJOR_OUTAGE")])
        message = await receive(websocket, within=1.0)
        elapsed = time.monotonic() - started
    assert message == {
        "type": "next",
        "id": "1",
        "payload": {
            "data": {
                "statusPageChanged": {
                    "event": "incident.created",
                    "resync": False,
                    "page": {
                        "slug": "acme",
                        "overallStatus": "MAJOR_OUTAGE",
                        "activeIncidents": [{"title": "API errors", "status": "INVESTIGATING"}],
                    },
                }
            },
            "extensions": {"cost": {"requested": 3, "maximum": 1000}},
        },
    }
    assert elapsed < 1.0


async def test_a_key_without_the_scope_is_refused_with_the_exact_error(live):
    async with socket(live.address) as websocket:
        await init(websocket, {"X-API-Key": live.bob})
        await subscribe(websocket, MONITOR_CHANGES)
        message = await receive(websocket)
    assert message == {
        "type": "error",
        "id": "1",
        "payload": [
            {
                "message": "Insufficient scope: monitors:read required",
                "locations": [{"line": 1, "column": 16}],
                "path": ["monitorStatusChanges"],
                "extensions": {"code": "FORBIDDEN", "requiredScope": "monitors:read"},
            }
        ],
    }


async def test_an_anonymous_subscriber_needs_a_credential_for_a_guarded_field(live):
    async with socket(live.address) as websocket:
        await init(websocket)
        await subscribe(websocket, INCIDENT_CHANGES)
        message = await receive(websocket)
    assert message["type"] == "error"
    assert [(e["message"], e["extensions"]["code"]) for e in message["payload"]] == [
        ("Authentication required", "UNAUTHENTICATED")
    ]


async def test_revoking_the_key_closes_its_sockets(live):
    async with socket(live.address) as websocket:
        await init(websocket, {"Authorization": f"Bearer {live.alice}"})
        await subscribe(websocket, INCIDENT_CHANGES)
        await asyncio.sleep(0.1)
        started = time.monotonic()
        # Revoked by another key of the organization, through HTTP.
        other = await create_key(
            live.app.state.db,
            FrozenClock(START),
            await _org(live, "acme"),
            scopes=["api_keys:write"],
            name="admin",
        )
        response = await live.http.post(
            "/graphql",
            json={"query": REVOKE, "variables": {"id": live.alice_id}},
            headers={"X-API-Key": other.secret},
        )
        assert response.json()["data"]["revokeApiKey"]["userErrors"] == []
        assert await closed_with(websocket) == (4403, "API key revoked")
        assert time.monotonic() - started < 2.0


async def test_a_key_revoked_elsewhere_closes_its_sockets_within_the_check_interval(live):
    """Revoked straight in the database, as another process would: the periodic check
    (every credential_cache_seconds, 1 s here) notices."""
    from sqlalchemy import update

    from statusgraph.db.models import ApiKey

    async with socket(live.address) as websocket:
        await init(websocket, {"X-API-Key": live.alice})
        async with live.app.state.db.begin() as session:
            await session.exec(
                update(ApiKey).where(ApiKey.id == live.alice_id).values(revoked_at=START)
            )
        started = time.monotonic()
        assert await closed_with(websocket) == (4403, "API key revoked")
        assert time.monotonic() - started < 2.5


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"X-API-Key": "sg_live_nope"}, "Invalid API key"),
        ({"Authorization": "Basic abc"}, "Invalid API key"),
        ({"X-API-Key": 12}, "Invalid API key"),
    ],
)
async def test_a_bad_credential_in_connection_init_closes_with_4403(live, payload, reason):
    async with socket(live.address) as websocket:
        await send(websocket, {"type": "connection_init", "payload": payload})
        assert await closed_with(websocket) == (4403, reason)


async def test_both_credentials_at_once_are_refused(live):
    async with socket(live.address) as websocket:
        await send(
            websocket,
            {
                "type": "connection_init",
                "payload": {"X-API-Key": live.alice, "Authorization": f"Bearer {live.alice}"},
            },
        )
        assert await closed_with(websocket) == (
            4400,
            "Send the API key in X-API-Key or in Authorization, not both",
        )


async def test_subscribing_before_connection_init_closes_with_4401(live):
    async with socket(live.address) as websocket:
        await subscribe(websocket, INCIDENT_CHANGES)
        assert await closed_with(websocket) == (4401, "Unauthorized")


async def test_a_second_connection_init_and_a_duplicate_id_close_the_socket(live):
    async with socket(live.address) as websocket:
        await init(websocket)
        await send(websocket, {"type": "connection_init"})
        assert await closed_with(websocket) == (4429, "Too many initialisation requests")
    api = await create_service(live.http, live.alice, "API")
    await create_page(live.http, live.alice, "acme", serviceIds=[api])
    async with socket(live.address) as websocket:
        await init(websocket)
        await subscribe(websocket, PAGE_CHANGED, {"slug": "acme"})
        await subscribe(websocket, PAGE_CHANGED, {"slug": "acme"})
        assert await closed_with(websocket) == (4409, "Subscriber for 1 already exists")


async def test_garbage_closes_with_4400_and_ping_gets_pong(live):
    async with socket(live.address) as websocket:
        await init(websocket)
        await send(websocket, {"type": "ping"})
        assert await receive(websocket) == {"type": "pong"}
        await websocket.send("not json")
        assert await closed_with(websocket) == (4400, "Message is not JSON")


async def test_queries_and_mutations_are_sent_over_http(live):
    async with socket(live.address) as websocket:
        await init(websocket, {"X-API-Key": live.alice})
        await subscribe(websocket, "{ viewer { name } }")
        message = await receive(websocket)
    assert message["type"] == "error"
    assert [(e["message"], e["extensions"]["code"]) for e in message["payload"]] == [
        (
            "Only subscriptions are accepted over a websocket; send queries and mutations over HTTP",
            "BAD_REQUEST",
        )
    ]


async def test_another_organizations_incident_is_not_found(live):
    incident = await create_incident(live.http, live.charlie, "Globex down")
    async with socket(live.address) as websocket:
        await init(websocket, {"X-API-Key": live.alice})
        await subscribe(websocket, INCIDENT_CHANGED, {"id": incident})
        message = await receive(websocket)
    assert message["type"] == "error"
    assert [(e["message"], e["extensions"]["code"]) for e in message["payload"]] == [
        ("Incident not found", "NOT_FOUND")
    ]


async def test_an_incident_subscriber_hears_of_its_incident_only(live):
    mine = await create_incident(live.http, live.alice, "Mine")
    async with socket(live.address) as websocket:
        await init(websocket, {"X-API-Key": live.alice})
        await subscribe(websocket, INCIDENT_CHANGED, {"id": mine})
        await asyncio.sleep(0.2)
        await create_incident(live.http, live.alice, "Another one")
        await create_incident(live.http, live.charlie, "Globex's")
        response = await live.http.post(
            "/graphql",
            json={
                "query": "mutation($id: ID!) { resolveIncident(id: $id) { userErrors { code } } }",
                "variables": {"id": mine},
            },
            headers={"X-API-Key": live.alice},
        )
        assert response.json()["data"]["resolveIncident"]["userErrors"] == []
        heard: list[dict[str, Any]] = []
        while not heard or heard[-1]["event"] != "incident.resolved":
            heard.append((await receive(websocket))["payload"]["data"]["incidentChanged"])
    # Its creation may arrive too: created just before subscribing, dispatched after.
    assert heard[-1] == {
        "event": "incident.resolved",
        "resync": False,
        "incident": {"id": mine, "title": "Mine", "status": "RESOLVED"},
    }
    assert {each["incident"]["title"] for each in heard} == {"Mine"}


async def test_private_and_internal_pages_need_a_token_or_the_scope(live):
    api = await create_service(live.http, live.alice, "API")
    await create_page(
        live.http, live.alice, "inside", serviceIds=[api], statusPageVisibility="INTERNAL"
    )
    cases = [
        ({}, "StatusPage not found", "NOT_FOUND"),
        ({"X-API-Key": live.charlie}, "StatusPage not found", "NOT_FOUND"),
        (
            {"X-API-Key": (await _key(live, ["incidents:read"]))},
            "Insufficient scope: status_pages:read required",
            "FORBIDDEN",
        ),
    ]
    for payload, text, code in cases:
        async with socket(live.address) as websocket:
            await init(websocket, payload)
            await subscribe(websocket, PAGE_CHANGED, {"slug": "inside"})
            message = await receive(websocket)
        assert message["type"] == "error", payload
        assert [(e["message"], e["extensions"]["code"]) for e in message["payload"]] == [
            (text, code)
        ]
    async with socket(live.address) as websocket:
        await init(websocket, {"X-API-Key": live.bob})
        await subscribe(websocket, PAGE_CHANGED, {"slug": "inside"})
        await asyncio.sleep(0.2)
        await create_incident(live.http, live.alice, "Inside job", [(api, "PARTIAL_OUTAGE")])
        message = await receive(websocket)
    assert message["payload"]["data"]["statusPageChanged"]["page"]["slug"] == "inside"


async def test_origins_not_allowed_by_cors_are_refused(settings):
    async for live in start(settings, cors_origins=["https://app.example"]):
        with pytest.raises(InvalidStatus) as refused:
            async with socket(live.address, headers={"Origin": "https://evil.example"}):
                pass
        assert refused.value.response.status_code == 403
        for origin in ("https://app.example", f"http://{live.address}"):
            async with socket(live.address, headers={"Origin": origin}) as websocket:
                await init(websocket)
        async with socket(live.address) as websocket:  # no Origin: not a browser
            await init(websocket)


async def test_connections_and_subscriptions_are_limited(settings):
    async for live in start(settings, ws_max_connections_per_ip=2, rate_limit_ws="3/minute"):
        async with socket(live.address) as first, socket(live.address) as second:
            await init(first, {"X-API-Key": live.alice})
            async with socket(live.address) as third:
                assert await closed_with(third) == (4429, "Too many connections")
            await init(second, {"X-API-Key": live.alice})
            await subscribe(first, INCIDENT_CHANGES)  # the third hit of the minute
            await subscribe(first, INCIDENT_CHANGES, operation_id="2")
            message = await receive(first)
            assert message == {
                "type": "error",
                "id": "2",
                "payload": [
                    {"message": "Rate limit exceeded", "extensions": {"code": "RATE_LIMITED"}}
                ],
            }
        async with socket(live.address) as fourth:
            await send(fourth, {"type": "connection_init", "payload": {"X-API-Key": live.alice}})
            assert await closed_with(fourth) == (4429, "Rate limit exceeded")


async def test_a_subscriber_that_falls_behind_is_told_to_resync(settings):
    async for live in start(settings, events_queue_size=1):
        async with socket(live.address) as websocket:
            await init(websocket, {"X-API-Key": live.alice})
            await subscribe(websocket, INCIDENT_CHANGES)
            await asyncio.sleep(0.2)
            organization = (await _org(live, "acme")).id
            # Delivered without yielding to the loop: the subscription cannot drain.
            for number in range(5):
                live.app.state.bus.fanout.deliver(
                    BusEvent(
                        id=f"evt_{number}",
                        organization_id=organization,
                        type="incident.updated",
                        data={"incidentId": "inc_gone"},
                    )
                )
            message = await receive(websocket)
            assert message["payload"]["data"]["incidentChanges"] == {
                "event": None,
                "resync": True,
                "incident": None,
            }
            # Live again after the resync.
            await create_incident(live.http, live.alice, "After the resync")
            message = await receive(websocket)
            assert message["payload"]["data"]["incidentChanges"] == {
                "event": "incident.created",
                "resync": False,
                "incident": {"title": "After the resync"},
            }


async def test_unexpected_errors_are_masked(live, monkeypatch):
    from statusgraph.schema import live as live_schema

    async def broken(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(live_schema, "incidents_of", broken)
    async with socket(live.address) as websocket:
        await init(websocket, {"X-API-Key": live.alice})
        await subscribe(websocket, INCIDENT_CHANGES)
        await asyncio.sleep(0.2)
        await create_incident(live.http, live.alice, "Boom")
        message = await receive(websocket)
    assert message["type"] == "next"
    assert "secret detail" not in str(message)
    assert [(e["message"], e["extensions"]["code"]) for e in message["payload"]["errors"]] == [
        ("Unexpected error.", "INTERNAL_SERVER_ERROR")
    ]


async def _org(live: Live, slug: str) -> Any:
    from sqlmodel import select

    from statusgraph.db.models import Organization

    async with live.app.state.db() as session:
        return (await session.exec(select(Organization).where(Organization.slug == slug))).one()


async def _key(live: Live, scopes: list[str]) -> str:
    issued = await create_key(
        live.app.state.db, FrozenClock(START), await _org(live, "acme"), scopes=scopes
    )
    return issued.secret
