"""Each monitor type checked by the checker and shown by the API: KEYWORD, TCP, SSL
(the certificate, from servers with certificates made by trustme) and DOMAIN (the
registration, from an RDAP server on loopback)."""

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import trustme
from aiohttp import web

from statusgraph.checks.guard import Guard
from statusgraph.checks.prober import Prober
from statusgraph.checks.scheduler import Checker
from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from tests.helpers import Personas, gql
from tests.test_probe_domain import Registry, answer

# The RDAP server fixture, shared with the probe tests.
from tests.test_probe_domain import registry as registry


@dataclass
class Servers:
    http: int
    tls: int
    ca: trustme.CA


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text="<h1>All Systems Operational</h1>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    try:
        yield Servers(runner.addresses[0][1], runner.addresses[1][1], ca)
    finally:
        await runner.cleanup()


@pytest.fixture
async def checker(
    db: SessionFactory, clock: FrozenClock, servers: Servers, registry: Registry
) -> AsyncIterator[Checker]:
    trusting = ssl.create_default_context()
    servers.ca.configure_trust(trusting)
    prober = Prober(
        Guard(allow_private=True), rdap_bootstrap_url=registry.url, ssl_context=trusting
    )
    yield Checker(db, prober, clock=clock, lookahead_seconds=0)
    await prober.close()


async def create(client: httpx.AsyncClient, key: str, **fields: Any) -> str:
    body = (
        await gql(
            client,
            """mutation($input: CreateMonitorInput!) {
                 createMonitor(input: $input) { monitor { id } userErrors { message } } }""",
            {"input": {"name": "m", "confirmations": 1, **fields}},
            key=key,
        )
    ).json()
    assert body["data"]["createMonitor"]["userErrors"] == [], body
    monitor_id: str = body["data"]["createMonitor"]["monitor"]["id"]
    return monitor_id


READ = """query($id: ID!) { monitor(id: $id) {
  status lastCheck { up failure reason }
  certificate { subject issuer notAfter daysLeft }
  registration { registrar expiresAt daysLeft }
} }"""


async def check_all(
    client: httpx.AsyncClient, key: str, checker: Checker, ids: list[str]
) -> list[dict[str, Any]]:
    await checker.claim_and_start()
    await checker.drain()
    found = []
    for monitor_id in ids:
        body = (await gql(client, READ, {"id": monitor_id}, key=key)).json()
        assert "errors" not in body, body
        found.append(body["data"]["monitor"])
    return found


async def test_keyword_present_absent_and_case(
    client: httpx.AsyncClient, people: Personas, checker: Checker, servers: Servers
) -> None:
    key = people.alice.secret
    url = f"http://127.0.0.1:{servers.http}/"
    ids = [
        await create(client, key, type="KEYWORD", url=url, keyword="Operational"),
        await create(client, key, type="KEYWORD", url=url, keyword="operational"),
        await create(
            client, key, type="KEYWORD", url=url, keyword="operational", caseSensitive=False
        ),
        await create(client, key, type="KEYWORD", url=url, keyword="Outage", keywordMode="ABSENT"),
        await create(client, key, type="KEYWORD", url=url, keyword="Systems", keywordMode="ABSENT"),
    ]
    found = await check_all(client, key, checker, ids)
    assert [(m["status"], m["lastCheck"]["reason"]) for m in found] == [
        ("UP", "status 200"),
        ("DOWN", "keyword missing"),
        ("UP", "status 200"),
        ("UP", "status 200"),
        ("DOWN", "keyword present"),
    ]


async def test_tcp_open_and_closed(
    client: httpx.AsyncClient, people: Personas, checker: Checker, servers: Servers
) -> None:
    key = people.alice.secret
    ids = [
        await create(client, key, type="TCP", host="127.0.0.1", port=servers.http),
        await create(client, key, type="TCP", host="127.0.0.1", port=9),
    ]
    found = await check_all(client, key, checker, ids)
    assert [(m["status"], m["lastCheck"]["failure"]) for m in found] == [
        ("UP", None),
        ("DOWN", "CONNECT"),
    ]


async def test_ssl_shows_the_certificate_and_its_days_left(
    client: httpx.AsyncClient,
    people: Personas,
    checker: Checker,
    servers: Servers,
    clock: FrozenClock,
) -> None:
    key = people.alice.secret
    ok = await create(client, key, type="SSL", host="localhost", port=servers.tls)
    wrong_name = await create(
        client, key, type="SSL", host="127.0.0.1", port=servers.tls, sniName="other.test"
    )
    [good, bad] = await check_all(client, key, checker, [ok, wrong_name])
    assert good["status"] == "UP"
    certificate = good["certificate"]
    assert "localhost" not in certificate["issuer"]  # issued by trustme's CA
    # trustme certificates are valid for years; the days left follow the clock.
    assert certificate["daysLeft"] > 300
    assert bad["status"] == "DOWN"
    assert bad["lastCheck"]["failure"] == "TLS"
    assert bad["certificate"] is None


async def test_domain_shows_the_registration_and_goes_down_within_the_threshold(
    client: httpx.AsyncClient,
    people: Personas,
    checker: Checker,
    registry: Registry,
    clock: FrozenClock,
) -> None:
    key = people.alice.secret
    registry.domains["example.com"] = answer("example.com", clock() + timedelta(days=90, hours=1))
    registry.domains["example.net"] = answer("example.net", clock() + timedelta(days=9, hours=1))
    ids = [
        await create(client, key, type="DOMAIN", domain="example.com"),
        await create(client, key, type="DOMAIN", domain="example.net"),
    ]
    [far, near] = await check_all(client, key, checker, ids)
    assert far["status"] == "UP"
    assert far["registration"]["registrar"] == "Example Registrar"
    assert far["registration"]["daysLeft"] == 90
    assert near["status"] == "DOWN"
    assert near["lastCheck"] == {
        "up": False,
        "failure": "REGISTRATION",
        "reason": "registration expires in 9 days",
    }
    assert near["registration"]["daysLeft"] == 9
