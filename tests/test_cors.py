"""CORS on /graphql (DESIGN §5): preflights answered for listed origins without a
credential or a charge, and headers a browser can read on every answer, errors included."""

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from statusgraph.http.cors import ALLOW_HEADERS, EXPOSE_HEADERS
from tests.helpers import AppWith

APP_ORIGIN = "https://app.example.com"
FOREIGN_ORIGIN = "https://evil.example"
QUERY = {"query": "{ viewer { name } }"}


def preflight_headers(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-api-key",
    }


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


@pytest.fixture
def cors_client(app_with: AppWith) -> Callable[..., Awaitable[httpx.AsyncClient]]:
    """A client for an app built with setting overrides (cors_origins, rate limits)."""

    async def build(**overrides: Any) -> httpx.AsyncClient:
        return (await app_with(**overrides))[1]

    return build


async def test_without_the_setting_no_answer_carries_cors_headers(client, people):
    preflight = await client.options("/graphql", headers=preflight_headers(APP_ORIGIN))
    assert preflight.status_code == 405  # the router's: OPTIONS is not a /graphql method
    assert cors_headers(preflight) == {}
    actual = await client.post(
        "/graphql", json=QUERY, headers={"Origin": APP_ORIGIN, "X-API-Key": people.alice.secret}
    )
    assert actual.status_code == 200
    assert cors_headers(actual) == {}
    assert "vary" not in actual.headers


async def test_a_listed_origin_gets_its_preflight_answered(cors_client):
    http = await cors_client(cors_origins=[APP_ORIGIN, "https://other.example.com"])
    preflight = await http.options("/graphql", headers=preflight_headers(APP_ORIGIN))
    assert preflight.status_code == 204
    assert cors_headers(preflight) == {
        "access-control-allow-origin": APP_ORIGIN,
        "access-control-allow-methods": "GET, POST",
        "access-control-allow-headers": ALLOW_HEADERS.decode(),
        "access-control-max-age": "600",
    }
    assert ALLOW_HEADERS.decode() == "Content-Type, X-API-Key, Authorization, X-Request-ID"
    assert preflight.headers["vary"] == "Origin"
    assert len(preflight.headers["x-request-id"]) == 32
    assert preflight.content == b""


async def test_an_unlisted_origin_gets_no_cors_headers(cors_client, people):
    http = await cors_client(cors_origins=[APP_ORIGIN])
    preflight = await http.options("/graphql", headers=preflight_headers(FOREIGN_ORIGIN))
    assert preflight.status_code == 403
    assert preflight.json() == {
        "errors": [{"message": "Origin not allowed", "extensions": {"code": "FORBIDDEN"}}]
    }
    assert cors_headers(preflight) == {}
    actual = await http.post(
        "/graphql",
        json=QUERY,
        headers={"Origin": FOREIGN_ORIGIN, "X-API-Key": people.alice.secret},
    )
    assert actual.status_code == 200  # answered; the browser, not the server, withholds it
    assert cors_headers(actual) == {}
    assert actual.headers["vary"] == "Origin"  # a cache must not serve it to APP_ORIGIN


async def test_actual_answers_expose_the_headers_a_client_needs(cors_client, people):
    http = await cors_client(cors_origins=[APP_ORIGIN])
    actual = await http.post(
        "/graphql", json=QUERY, headers={"Origin": APP_ORIGIN, "X-API-Key": people.alice.secret}
    )
    assert actual.status_code == 200
    assert cors_headers(actual) == {
        "access-control-allow-origin": APP_ORIGIN,
        "access-control-expose-headers": EXPOSE_HEADERS.decode(),
    }
    assert EXPOSE_HEADERS.decode() == (
        "X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After"
    )
    assert actual.headers["vary"] == "Origin"


async def test_errors_of_the_guard_carry_cors_headers_too(cors_client, people):
    http = await cors_client(
        cors_origins=[APP_ORIGIN], rate_limit_standard="1/minute", rate_limit_plans={}
    )
    unknown = await http.post(
        "/graphql", json=QUERY, headers={"Origin": APP_ORIGIN, "X-API-Key": "sg_live_nope"}
    )
    assert unknown.status_code == 401
    assert unknown.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "X-RateLimit-Limit" in unknown.headers["access-control-expose-headers"]

    headers = {"Origin": APP_ORIGIN, "X-API-Key": people.bob.secret}
    assert (await http.post("/graphql", json=QUERY, headers=headers)).status_code == 200
    limited = await http.post("/graphql", json=QUERY, headers=headers)
    assert limited.status_code == 429
    assert limited.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "retry-after" in limited.headers
    assert "Retry-After" in limited.headers["access-control-expose-headers"]

    in_url = await http.get("/graphql?api_key=x", headers={"Origin": APP_ORIGIN})
    assert in_url.status_code == 400
    assert in_url.headers["access-control-allow-origin"] == APP_ORIGIN


async def test_preflights_need_no_credential_and_are_not_charged(cors_client):
    http = await cors_client(cors_origins=[APP_ORIGIN], rate_limit_anonymous="1/minute")
    for _ in range(5):
        preflight = await http.options("/graphql", headers=preflight_headers(APP_ORIGIN))
        assert preflight.status_code == 204
        assert "x-ratelimit-limit" not in preflight.headers
    for origin in (FOREIGN_ORIGIN, FOREIGN_ORIGIN):
        assert (
            await http.options("/graphql", headers=preflight_headers(origin))
        ).status_code == 403
    anonymous = await http.post("/graphql", json={"query": "{ __typename }"})
    assert anonymous.status_code == 200  # the address's one request a minute is still there
    assert anonymous.headers["x-ratelimit-remaining"] == "0"


async def test_a_star_allows_every_origin_without_vary(cors_client, people):
    http = await cors_client(cors_origins=["*"])
    preflight = await http.options("/graphql", headers=preflight_headers(FOREIGN_ORIGIN))
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in preflight.headers
    assert "vary" not in preflight.headers
    actual = await http.post(
        "/graphql",
        json=QUERY,
        headers={"Origin": FOREIGN_ORIGIN, "Authorization": f"Bearer {people.alice.secret}"},
    )
    assert actual.status_code == 200
    assert actual.headers["access-control-allow-origin"] == "*"
    assert "vary" not in actual.headers


async def test_routes_other_than_graphql_get_no_cors_headers(cors_client):
    http = await cors_client(cors_origins=["*"])
    for path in ("/healthz", "/graphql/", "/api/metrics/ingest"):
        answer = await http.options(path, headers=preflight_headers(APP_ORIGIN))
        assert cors_headers(answer) == {}
    healthz = await http.get("/healthz", headers={"Origin": APP_ORIGIN})
    assert cors_headers(healthz) == {}


async def test_an_options_request_that_is_no_preflight_goes_to_the_router(cors_client):
    http = await cors_client(cors_origins=[APP_ORIGIN])
    answer = await http.options("/graphql", headers={"Origin": APP_ORIGIN})
    assert answer.status_code == 405
    assert answer.headers["access-control-allow-origin"] == APP_ORIGIN
