"""The DOMAIN probe (statusgraph/checks/probes/domain.py) against an RDAP server and a
bootstrap file the tests serve on loopback, never the internet."""

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from statusgraph.checks.guard import Guard
from statusgraph.checks.probes import Failure
from statusgraph.checks.probes.domain import Rdap, probe_domain
from statusgraph.checks.probes.http import http_session

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def answer(
    domain: str, expires: datetime | str, registrar: str | None = "Example Registrar"
) -> Any:
    entities = (
        [
            {
                "objectClassName": "entity",
                "roles": ["registrar"],
                "vcardArray": [
                    "vcard",
                    [["version", {}, "text", "4.0"], ["fn", {}, "text", registrar]],
                ],
            }
        ]
        if registrar
        else []
    )
    return {
        "objectClassName": "domain",
        "ldhName": domain.upper(),
        "events": [
            {"eventAction": "registration", "eventDate": "2001-01-01T00:00:00Z"},
            {
                "eventAction": "expiration",
                "eventDate": expires if isinstance(expires, str) else expires.isoformat(),
            },
        ],
        "entities": entities,
    }


@dataclass
class Registry:
    url: str
    domains: dict[str, Any]
    requests: list[str] = field(default_factory=list)


@pytest.fixture
async def registry() -> AsyncIterator[Registry]:
    domains: dict[str, Any] = {}
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path)
        base = f"http://127.0.0.1:{request.url.port}"
        if request.path == "/bootstrap/dns.json":
            return web.json_response(
                {
                    "version": "1.0",
                    "services": [
                        [["com", "net"], [f"{base}/com/"]],
                        [["uk"], [f"{base}/uk/"]],
                        [["co.uk"], [f"{base}/co-uk"]],  # no trailing slash: added
                        [["broken"], [f"{base}/broken/"]],
                    ],
                }
            )
        if request.path.startswith("/broken/"):
            return web.Response(status=503, text="maintenance")
        name = request.path.rsplit("/domain/", 1)[-1]
        if name in domains:
            return web.json_response(domains[name], content_type="application/rdap+json")
        return web.json_response({"errorCode": 404}, status=404)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        yield Registry(f"http://127.0.0.1:{port}/bootstrap/dns.json", domains, seen)
    finally:
        await runner.cleanup()


@pytest.fixture
async def rdap(registry: Registry) -> AsyncIterator[Rdap]:
    async with http_session(Guard(allow_private=True)) as session:
        yield Rdap(session, registry.url)


async def test_a_registration_far_from_expiry_is_up(registry: Registry, rdap: Rdap) -> None:
    registry.domains["example.com"] = answer("example.com", NOW + timedelta(days=400, hours=1))
    outcome = await probe_domain(rdap, "Example.COM.", now=NOW)
    assert (outcome.up, outcome.reason) == (True, "registered for 400 more days")
    assert outcome.registration is not None
    assert (outcome.registration.registrar, outcome.registration.days_left) == (
        "Example Registrar",
        400,
    )
    assert "/com/domain/example.com" in registry.requests


@pytest.mark.parametrize(
    ("days", "reason"),
    [
        (10, "registration expires in 10 days"),
        (1, "registration expires in 1 day"),
        (-3, "registration has expired"),
    ],
)
async def test_a_registration_near_or_past_expiry_is_down(
    registry: Registry, rdap: Rdap, days: int, reason: str
) -> None:
    registry.domains["example.net"] = answer("example.net", NOW + timedelta(days=days, hours=1))
    outcome = await probe_domain(rdap, "example.net", now=NOW)
    assert (outcome.up, outcome.failure, outcome.reason) == (False, Failure.REGISTRATION, reason)


async def test_the_longest_suffix_picks_the_server(registry: Registry, rdap: Rdap) -> None:
    registry.domains["shop.co.uk"] = answer("shop.co.uk", NOW + timedelta(days=100, hours=1), None)
    outcome = await probe_domain(rdap, "shop.co.uk", now=NOW)
    assert outcome.up
    assert outcome.registration is not None
    assert outcome.registration.registrar is None
    assert "/co-uk/domain/shop.co.uk" in registry.requests


async def test_answers_are_kept_twelve_hours_and_the_bootstrap_a_day(
    registry: Registry, rdap: Rdap
) -> None:
    registry.domains["example.com"] = answer("example.com", NOW + timedelta(days=400))
    for later in (timedelta(0), timedelta(hours=6), timedelta(hours=11, minutes=59)):
        await probe_domain(rdap, "example.com", now=NOW + later)
    assert registry.requests.count("/com/domain/example.com") == 1
    await probe_domain(rdap, "example.com", now=NOW + timedelta(hours=12))
    assert registry.requests.count("/com/domain/example.com") == 2
    assert registry.requests.count("/bootstrap/dns.json") == 1
    await probe_domain(rdap, "example.com", now=NOW + timedelta(days=1, hours=1))
    assert registry.requests.count("/bootstrap/dns.json") == 2


@pytest.mark.parametrize(
    ("domain", "setup", "reason"),
    [
        ("missing.com", None, "RDAP has no record of missing.com"),
        ("example.org", None, "no RDAP service for .org"),
        ("down.broken", None, "answered status 503"),
        ("noexpiry.com", "no expiry", "RDAP gives no expiration date for noexpiry.com"),
        ("naive.com", "naive", "RDAP gives no expiration date for naive.com"),
    ],
)
async def test_what_rdap_cannot_tell_is_down_with_the_reason(
    registry: Registry, rdap: Rdap, domain: str, setup: str | None, reason: str
) -> None:
    if setup == "no expiry":
        registry.domains[domain] = {"objectClassName": "domain", "events": []}
    elif setup == "naive":
        registry.domains[domain] = answer(domain, "2027-01-01T00:00:00")
    outcome = await probe_domain(rdap, domain, now=NOW)
    assert (outcome.up, outcome.failure) == (False, Failure.RDAP)
    assert reason in outcome.reason


async def test_an_unreachable_registry_is_down_not_an_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # bound, never listening: refused
    async with http_session(Guard(allow_private=True)) as session:
        rdap = Rdap(session, f"http://127.0.0.1:{closed}/bootstrap/dns.json")
        outcome = await probe_domain(rdap, "example.com", now=NOW)
    assert (outcome.up, outcome.failure) == (False, Failure.RDAP)
    assert outcome.reason.startswith("the RDAP server did not answer: ")


@pytest.mark.parametrize(
    "shape",
    [
        {"events": None},
        {"events": 5},
        {"events": [None, 3, {"eventAction": "expiration", "eventDate": None}]},
    ],
)
async def test_odd_answers_are_down_not_a_crash(
    registry: Registry, rdap: Rdap, shape: dict[str, Any]
) -> None:
    registry.domains["odd.com"] = {"objectClassName": "domain", **shape}
    outcome = await probe_domain(rdap, "odd.com", now=NOW)
    assert (outcome.failure, outcome.reason) == (
        Failure.RDAP,
        "RDAP gives no expiration date for odd.com",
    )


@pytest.mark.parametrize(
    "entities",
    [
        None,
        5,
        [None],
        [{"roles": None}],
        [{"roles": 3}],
        [{"roles": ["registrar"], "vcardArray": 7}],
    ],
)
async def test_odd_entities_give_no_registrar(
    registry: Registry, rdap: Rdap, entities: Any
) -> None:
    registry.domains["odd.com"] = {
        **answer("odd.com", NOW + timedelta(days=100)),
        "entities": entities,
    }
    outcome = await probe_domain(rdap, "odd.com", now=NOW)
    assert outcome.up
    assert outcome.registration is not None
    assert outcome.registration.registrar is None


@pytest.mark.parametrize("domain", ["a?b.com", "a/../b.com", "com", "-a.com", "a b.com", "a#b.com"])
async def test_a_name_that_is_not_a_domain_never_reaches_the_registry(
    registry: Registry, rdap: Rdap, domain: str
) -> None:
    outcome = await probe_domain(rdap, domain, now=NOW)
    assert (outcome.failure, outcome.reason) == (
        Failure.RDAP,
        f"{domain!r} is not a valid domain name",
    )
    assert registry.requests == []


async def test_an_expiration_given_as_a_date_alone(registry: Registry, rdap: Rdap) -> None:
    registry.domains["dated.com"] = answer("dated.com", "2027-11-28")
    outcome = await probe_domain(rdap, "dated.com", now=NOW)
    assert outcome.registration is not None
    assert outcome.registration.expires_at == datetime(2027, 11, 28, tzinfo=UTC)


async def test_days_left_count_from_now_while_an_answer_is_kept(
    registry: Registry, rdap: Rdap
) -> None:
    registry.domains["example.com"] = answer("example.com", NOW + timedelta(days=30, hours=3))
    first = await probe_domain(rdap, "example.com", now=NOW, threshold_days=30)
    assert (first.up, first.reason) == (True, "registered for 30 more days")
    later = await probe_domain(rdap, "example.com", now=NOW + timedelta(hours=6), threshold_days=30)
    # From the kept answer (one request in all), with the days counted from now.
    assert (later.up, later.reason) == (False, "registration expires in 29 days")
    assert [path for path in registry.requests if "/domain/" in path] == ["/com/domain/example.com"]
