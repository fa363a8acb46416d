"""The token side of the OAuth 2.0 provider, one conformance test per rule (DESIGN §11):
/oauth/token (code exchange with PKCE, refresh rotation and reuse detection),
/oauth/revoke (RFC 7009), /oauth/introspect (RFC 7662), client authentication, and the
metadata document (RFC 8414). Codes come from resolvers/oauth_grants.issue_code, as the
consent page makes them."""

import asyncio
import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from sqlmodel import col, func, select

from statusgraph.auth import pkce
from statusgraph.auth.principal import RequestInfo
from statusgraph.auth.scopes import CATALOGUE
from statusgraph.clock import FrozenClock
from statusgraph.config import Settings
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import (
    AuditEvent,
    Membership,
    OAuthCode,
    OAuthGrant,
    OAuthToken,
    Organization,
    User,
)
from statusgraph.ids import new_id
from statusgraph.oauth import token as endpoints
from statusgraph.resolvers import oauth_exchange, oauth_grants, team
from statusgraph.resolvers.oauth_apps import IssuedApp
from tests.helpers import (
    PEPPER,
    create_oauth_app,
    create_org,
    create_user,
    gql,
    helper_principal,
)
from tests.races import audit_entries, peak_connections

REDIRECT = "http://127.0.0.1:8765/callback"
VERIFIER = "v" * 43
SCOPES = ["incidents:write", "monitors:read"]
VIEWER = "{ viewer { kind scopes user { email } app { clientId } } }"
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


@dataclass
class World:
    organization: Organization
    user: User
    app: IssuedApp

    @property
    def client_id(self) -> str:
        return self.app.app.client_id

    @property
    def secret(self) -> str:
        assert self.app.client_secret is not None
        return self.app.client_secret


async def world(
    db: SessionFactory,
    clock: FrozenClock,
    *,
    slug: str = "acme",
    role: str = "owner",
    confidential: bool = True,
    email: str = "ada@example.com",
) -> World:
    organization = await create_org(db, clock, slug=slug)
    user = await create_user(db, clock, organization, role=role, email=email)
    issued = await create_oauth_app(db, clock, organization, confidential=confidential)
    return World(organization, user, issued)


async def code_for(
    db: SessionFactory,
    clock: FrozenClock,
    w: World,
    *,
    verifier: str = VERIFIER,
    scopes: list[str] | None = None,
    app_id: str | None = None,
) -> str:
    async with db.begin() as session:
        return await oauth_grants.issue_code(
            session,
            app_id=app_id or w.app.app.id,
            organization_id=w.organization.id,
            user_id=w.user.id,
            redirect_uri=REDIRECT,
            code_challenge=pkce.challenge_of(verifier),
            scopes=scopes if scopes is not None else SCOPES,
            pepper=PEPPER.encode(),
            now=clock(),
        )


def basic(client_id: str, secret: str) -> dict[str, str]:
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}


async def exchange(
    client: httpx.AsyncClient, w: World, code: str, **overrides: str
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
        **overrides,
    }
    return await client.post("/oauth/token", data=data, headers=basic(w.client_id, w.secret))


async def refresh(
    client: httpx.AsyncClient, w: World, refresh_token: str, **extra: str
) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    return await client.post("/oauth/token", data=data, headers=basic(w.client_id, w.secret))


async def pair_for(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, w: World
) -> dict[str, Any]:
    response = await exchange(client, w, await code_for(db, clock, w))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refused(response: httpx.Response, error: str, description: str, status: int = 400) -> None:
    """An RFC 6749 §5.2 error, exactly, and never cached."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": error, "error_description": description}
    for name, value in NO_STORE.items():
        assert response.headers[name] == value


async def token_works(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await gql(client, VIEWER, headers={"Authorization": f"Bearer {access_token}"})


def is_revoked(response: httpx.Response) -> bool:
    return (
        response.status_code == 401
        and response.headers.get("x-error") == "token_revoked"
        and response.json()["errors"][0]["message"] == "Token revoked"
    )


async def count(db: SessionFactory, model: Any) -> int:
    async with db() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


# The code exchange


async def test_a_code_exchanges_for_a_bearer_pair_that_calls_the_api_within_the_grant(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock, role="viewer")
    response = await exchange(client, w, await code_for(db, clock, w))
    assert response.status_code == 200, response.text
    for name, value in NO_STORE.items():
        assert response.headers[name] == value
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["access_token"].startswith("sgo_")
    assert body["refresh_token"].startswith("sgr_")
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    # The scope reported is the grant's as stored; the API applies the role on top.
    assert body["scope"] == "incidents:write monitors:read"
    viewer = (await token_works(client, body["access_token"])).json()["data"]["viewer"]
    assert viewer["kind"] == "OAUTH_TOKEN"
    assert viewer["scopes"] == ["incidents:read", "monitors:read"]  # a VIEWER's share
    assert viewer["user"] == {"email": "ada@example.com"}
    assert viewer["app"] == {"clientId": w.client_id}
    async with db() as session:
        grant = (await session.exec(select(OAuthGrant))).one()
    assert (grant.user_id, grant.organization_id, grant.app_id) == (
        w.user.id,
        w.organization.id,
        w.app.app.id,
    )
    assert grant.scopes == SCOPES
    assert await audit_entries(db, "oauth_grant.created", grant.id) == 1


async def test_client_secret_post_and_a_public_client_by_its_id_alone_are_accepted(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock)
    posted = await client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": await code_for(db, clock, w),
            "redirect_uri": REDIRECT,
            "code_verifier": VERIFIER,
            "client_id": w.client_id,
            "client_secret": w.secret,
        },
    )
    assert posted.status_code == 200, posted.text

    public = World(
        w.organization,
        w.user,
        await create_oauth_app(db, clock, w.organization, confidential=False),
    )
    data = {
        "grant_type": "authorization_code",
        "code": await code_for(db, clock, public),
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
        "client_id": public.client_id,
    }
    # A public app has no secret: one it sends anyway is wrong, and nothing is spent.
    with_secret = await client.post("/oauth/token", data={**data, "client_secret": "sgs_x"})
    refused(with_secret, "invalid_client", endpoints.CLIENT_FAILED, 401)
    assert "www-authenticate" not in with_secret.headers
    answered = await client.post("/oauth/token", data=data)
    assert answered.status_code == 200, answered.text


async def test_client_authentication_failures_are_invalid_client_and_spend_nothing(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock)
    other = await world(db, clock, slug="globex", email="grace@example.com")
    code = await code_for(db, clock, w)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
    }
    challenge = 'Basic realm="statusgraph"'
    cases: list[tuple[dict[str, str], dict[str, str], str, int, str | None]] = [
        (basic(w.client_id, "sgs_wrong"), {}, endpoints.CLIENT_FAILED, 401, challenge),
        (basic(w.client_id, other.secret), {}, endpoints.CLIENT_FAILED, 401, challenge),
        (basic("sgc_unknown", w.secret), {}, endpoints.CLIENT_FAILED, 401, challenge),
        (basic(w.client_id, ""), {}, endpoints.CLIENT_FAILED, 401, challenge),
        ({"Authorization": "Basic !!!"}, {}, endpoints.MALFORMED_BASIC, 401, challenge),
        (
            {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
            {},
            endpoints.MALFORMED_BASIC,
            401,
            challenge,
        ),
        ({"Authorization": f"Bearer {w.secret}"}, {}, endpoints.NOT_BASIC, 401, challenge),
        ({}, {}, endpoints.NO_CLIENT, 401, None),
        ({}, {"client_id": w.client_id}, endpoints.CLIENT_FAILED, 401, None),
        (
            {},
            {"client_id": w.client_id, "client_secret": "sgs_wrong"},
            endpoints.CLIENT_FAILED,
            401,
            None,
        ),
        (
            {},
            {"client_id": other.client_id, "client_secret": other.secret + "x"},
            endpoints.CLIENT_FAILED,
            401,
            None,
        ),
    ]
    for headers, extra, description, status, www in cases:
        response = await client.post("/oauth/token", data={**form, **extra}, headers=headers)
        refused(response, "invalid_client", description, status)
        assert response.headers.get("www-authenticate") == www
    both = await client.post(
        "/oauth/token",
        data={**form, "client_secret": w.secret},
        headers=basic(w.client_id, w.secret),
    )
    refused(both, "invalid_request", endpoints.TWO_METHODS)
    mixed = await client.post(
        "/oauth/token",
        data={**form, "client_id": other.client_id},
        headers=basic(w.client_id, w.secret),
    )
    refused(mixed, "invalid_request", endpoints.TWO_CLIENT_IDS)
    # Another client's code with that client's own credentials: not theirs to exchange.
    theirs = await client.post(
        "/oauth/token", data=form, headers=basic(other.client_id, other.secret)
    )
    refused(theirs, "invalid_grant", oauth_exchange.UNKNOWN_CODE)
    assert await count(db, OAuthGrant) == 0
    assert (await exchange(client, w, code)).status_code == 200


async def test_failed_client_authentication_is_charged_to_the_failed_auth_bucket(
    app_with: Any, db: SessionFactory, clock: FrozenClock
) -> None:
    _, client = await app_with(rate_limit_failed_auth="3/minute")
    w = await world(db, clock)
    for _ in range(3):
        response = await refresh(
            client, World(w.organization, w.user, IssuedApp(w.app.app, "sgs_x")), "sgr_x"
        )
        assert response.status_code == 401
    throttled = await refresh(
        client, World(w.organization, w.user, IssuedApp(w.app.app, "sgs_x")), "sgr_x"
    )
    refused(throttled, "invalid_client", endpoints.TOO_MANY, 429)
    assert int(throttled.headers["retry-after"]) > 0
    # Only failures are throttled: the app with its right secret still gets through.
    assert (await exchange(client, w, await code_for(db, clock, w))).status_code == 200


async def test_the_middleware_leaves_basic_credentials_to_the_oauth_endpoints_only(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock)
    response = await exchange(client, w, await code_for(db, clock, w))
    assert response.status_code == 200
    # Charged to the address's anonymous bucket: these requests carry no API credential.
    assert response.headers["x-ratelimit-limit"] == "300"
    # Elsewhere an Authorization header is still an API credential.
    graphql = await gql(client, VIEWER, headers=basic(w.client_id, w.secret))
    assert graphql.status_code == 401
    assert graphql.json()["errors"][0]["message"] == "Invalid API key"


# PKCE


@pytest.mark.parametrize("length", [43, 128])
async def test_a_verifier_of_43_to_128_unreserved_characters_is_accepted(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, length: int
) -> None:
    w = await world(db, clock)
    verifier = ("aZ09-._~" * 20)[:length]
    code = await code_for(db, clock, w, verifier=verifier)
    assert (await exchange(client, w, code, code_verifier=verifier)).status_code == 200


@pytest.mark.parametrize(
    "verifier",
    ["a" * 42, "a" * 129, "a" * 42 + "+", "a" * 42 + "/", "a" * 42 + " ", "a" * 42 + "é"],
)
async def test_a_malformed_verifier_is_invalid_request_and_spends_nothing(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, verifier: str
) -> None:
    w = await world(db, clock)
    # Even a code whose challenge was made from that very verifier.
    code = await code_for(db, clock, w, verifier=verifier)
    refused(
        await exchange(client, w, code, code_verifier=verifier),
        "invalid_request",
        pkce.VERIFIER_RULE,
    )
    async with db() as session:
        assert (await session.exec(select(OAuthCode))).one().used_at is None


async def test_a_verifier_that_does_not_match_the_challenge_is_invalid_grant(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock)
    code = await code_for(db, clock, w)
    mismatch = await exchange(client, w, code, code_verifier="w" * 43)
    refused(mismatch, "invalid_grant", oauth_exchange.VERIFIER_MISMATCH)
    assert await count(db, OAuthGrant) == 0
    # A wrong verifier does not burn the code for the app that holds the right one.
    assert (await exchange(client, w, code)).status_code == 200


# The code itself


async def test_a_second_use_of_a_code_is_refused_and_revokes_what_it_issued(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock)
    code = await code_for(db, clock, w)
    first = (await exchange(client, w, code)).json()
    assert (await token_works(client, first["access_token"])).status_code == 200
    refused(await exchange(client, w, code), "invalid_grant", oauth_exchange.USED_CODE)
    assert is_revoked(await token_works(client, first["access_token"]))
    refused(
        await refresh(client, w, first["refresh_token"]),
        "invalid_grant",
        oauth_exchange.REVOKED_REFRESH,
    )
    async with db() as session:
        grant = (await session.exec(select(OAuthGrant))).one()
    assert grant.revoked_reason == "code_reuse"
    assert await audit_entries(db, "oauth_grant.code_reuse_detected", grant.id) == 1
    # A third use changes nothing more.
    refused(await exchange(client, w, code), "invalid_grant", oauth_exchange.USED_CODE)
    assert await audit_entries(db, "oauth_grant.code_reuse_detected", grant.id) == 1


async def test_a_code_lives_ten_minutes(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock)
    fresh, stale = await code_for(db, clock, w), await code_for(db, clock, w)
    clock.advance(minutes=9, seconds=59)
    assert (await exchange(client, w, fresh)).status_code == 200
    clock.advance(seconds=1)
    refused(await exchange(client, w, stale), "invalid_grant", oauth_exchange.EXPIRED_CODE)


async def test_the_redirect_uri_must_be_the_authorization_requests_exactly(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock)
    code = await code_for(db, clock, w)
    for near_miss in (
        REDIRECT + "/",
        REDIRECT.upper(),
        "http://127.0.0.1:8766/callback",
        "http://[::1]:8765/callback",
        REDIRECT + "?x=1",
        "http://127.0.0.1:8765@evil.test/callback",
    ):
        response = await exchange(client, w, code, redirect_uri=near_miss)
        refused(response, "invalid_grant", oauth_exchange.REDIRECT_MISMATCH)
    refused(
        await exchange(client, w, code, redirect_uri=""),
        "invalid_request",
        "redirect_uri is required",
    )
    assert (await exchange(client, w, code)).status_code == 200


async def test_odd_codes_are_invalid_grant(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock)
    for odd in ("sga_x", "sgo_" + "a" * 38, "\x00", "ü" * 40, "sga_" + "a" * 38):
        refused(await exchange(client, w, odd), "invalid_grant", oauth_exchange.UNKNOWN_CODE)


async def test_a_member_who_left_can_neither_have_a_code_exchanged_nor_refresh(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock)
    tokens = await pair_for(client, db, clock, w)
    code = await code_for(db, clock, w)
    async with db.begin() as session:
        for membership in (await session.exec(select(Membership))).all():
            await session.delete(membership)
    refused(await exchange(client, w, code), "invalid_grant", oauth_exchange.NOT_A_MEMBER)
    refused(
        await refresh(client, w, tokens["refresh_token"]),
        "invalid_grant",
        oauth_exchange.NOT_A_MEMBER,
    )
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert (await introspect(client, w, token)).json() == {"active": False}


# Refresh


async def test_a_refresh_rotates_the_pair(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock)
    first = await pair_for(client, db, clock, w)
    clock.advance(minutes=5)
    rotated = await refresh(client, w, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    for name, value in NO_STORE.items():
        assert rotated.headers[name] == value
    second = rotated.json()
    assert second["scope"] == first["scope"]
    assert {second["access_token"], second["refresh_token"]}.isdisjoint(
        {first["access_token"], first["refresh_token"]}
    )
    assert (await token_works(client, second["access_token"])).status_code == 200
    # The access token from before keeps working until its hour is up.
    assert (await token_works(client, first["access_token"])).status_code == 200
    clock.advance(minutes=55)
    expired = await token_works(client, first["access_token"])
    assert expired.json()["errors"][0]["message"] == "Token expired"
    third = await refresh(client, w, second["refresh_token"])
    assert third.status_code == 200
    async with db() as session:
        assert len((await session.exec(select(OAuthGrant))).all()) == 1


async def test_a_used_refresh_token_revokes_the_whole_family(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock)
    first = await pair_for(client, db, clock, w)
    second = (await refresh(client, w, first["refresh_token"])).json()
    again = await refresh(client, w, first["refresh_token"])
    refused(again, "invalid_grant", oauth_exchange.USED_REFRESH)
    assert is_revoked(await token_works(client, second["access_token"]))
    assert is_revoked(await token_works(client, first["access_token"]))
    refused(
        await refresh(client, w, second["refresh_token"]),
        "invalid_grant",
        oauth_exchange.REVOKED_REFRESH,
    )
    async with db() as session:
        grant = (await session.exec(select(OAuthGrant))).one()
        live = (
            await session.exec(select(OAuthToken).where(col(OAuthToken.revoked_at).is_(None)))
        ).all()
    assert grant.revoked_reason == "refresh_reuse"
    assert live == []
    assert await audit_entries(db, "oauth_grant.refresh_reuse_detected", grant.id) == 1


async def test_an_expired_or_foreign_refresh_token_is_invalid_grant(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock)
    other = World(w.organization, w.user, await create_oauth_app(db, clock, w.organization))
    tokens = await pair_for(client, db, clock, w)
    # Another client's refresh token is refused like an unknown one, and left unused.
    foreign = await refresh(client, other, tokens["refresh_token"])
    refused(foreign, "invalid_grant", oauth_exchange.UNKNOWN_REFRESH)
    for odd in ("sgr_x", tokens["access_token"], "", "\x00"):
        response = await refresh(client, w, odd)
        if odd:
            refused(response, "invalid_grant", oauth_exchange.UNKNOWN_REFRESH)
        else:
            refused(response, "invalid_request", "refresh_token is required")
    clock.advance(days=30)
    refused(
        await refresh(client, w, tokens["refresh_token"]),
        "invalid_grant",
        oauth_exchange.EXPIRED_REFRESH,
    )
    async with db() as session:
        assert (await session.exec(select(OAuthGrant))).one().revoked_at is None


async def test_scope_on_a_refresh_may_repeat_the_grant_but_not_widen_or_narrow_it(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock)
    tokens = await pair_for(client, db, clock, w)
    wider = await refresh(
        client, w, tokens["refresh_token"], scope="incidents:write monitors:write"
    )
    refused(wider, "invalid_scope", oauth_exchange.SCOPE_NOT_GRANTED)
    narrower = await refresh(client, w, tokens["refresh_token"], scope="monitors:read")
    refused(narrower, "invalid_scope", oauth_exchange.SCOPE_NARROWING)
    same = await refresh(client, w, tokens["refresh_token"], scope="monitors:read incidents:write")
    assert same.status_code == 200, same.text
    assert same.json()["scope"] == "incidents:write monitors:read"


async def test_scope_on_a_refresh_may_name_the_grant_by_aliases(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock)
    tokens = await pair_for(client, db, clock, w)
    # checks:* is another product's name for monitors:*: the grant holds monitors:read.
    wider = await refresh(client, w, tokens["refresh_token"], scope="checks:write incidents:write")
    refused(wider, "invalid_scope", oauth_exchange.SCOPE_NOT_GRANTED)
    unknown = await refresh(client, w, tokens["refresh_token"], scope="nonsense incidents:write")
    refused(unknown, "invalid_scope", oauth_exchange.SCOPE_NOT_GRANTED)
    same = await refresh(client, w, tokens["refresh_token"], scope="checks:read incidents:write")
    assert same.status_code == 200, same.text
    assert same.json()["scope"] == "incidents:write monitors:read"


async def test_other_grant_types_and_malformed_requests_get_rfc_6749_errors(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock)
    auth = basic(w.client_id, w.secret)
    for grant_type in (
        "password",
        "client_credentials",
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
    ):
        response = await client.post("/oauth/token", data={"grant_type": grant_type}, headers=auth)
        refused(response, "unsupported_grant_type", endpoints.UNSUPPORTED_GRANT)
    refused(
        await client.post("/oauth/token", data={"grant_type": ""}, headers=auth),
        "invalid_request",
        "grant_type is required",
    )
    refused(await exchange(client, w, ""), "invalid_request", "code is required")
    no_verifier = await exchange(client, w, "sga_x", code_verifier="")
    refused(no_verifier, "invalid_request", "code_verifier is required")
    as_json = await client.post("/oauth/token", json={"grant_type": "refresh_token"}, headers=auth)
    refused(as_json, "invalid_request", endpoints.NOT_A_FORM)
    twice = await client.post(
        "/oauth/token",
        content=b"grant_type=refresh_token&grant_type=password",
        headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
    )
    refused(twice, "invalid_request", "grant_type was given more than once")
    huge = await client.post("/oauth/token", data={"grant_type": "x" * 20_000}, headers=auth)
    refused(huge, "invalid_request", endpoints.BODY_TOO_LARGE)
    garbage = await client.post(
        "/oauth/token",
        content=b"\xff\xfe%ZZ=%00&&==&" + b"a=1&" * 40,
        headers={**auth, "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    refused(garbage, "invalid_request", "Too many parameters")
    assert (await client.get("/oauth/token")).status_code == 405
    assert await count(db, OAuthGrant) == 0


# Concurrency: on PostgreSQL the requests overlap for real; on SQLite they queue.


async def test_of_concurrent_exchanges_of_one_code_exactly_one_wins(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, settings: Settings
) -> None:
    w = await world(db, clock)
    code = await code_for(db, clock, w)
    with peak_connections(db) as peak:
        responses = await asyncio.gather(*(exchange(client, w, code) for _ in range(6)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 400, 400, 400, 400, 400], [r.text for r in responses]
    for response in responses:
        if response.status_code == 400:
            refused(response, "invalid_grant", oauth_exchange.USED_CODE)
    if settings.database_url.startswith("postgresql"):
        assert peak[0] >= 2, peak[0]
    # The losers were reuses: the one grant made is revoked, and audited once.
    async with db() as session:
        grant = (await session.exec(select(OAuthGrant))).one()
    assert grant.revoked_reason == "code_reuse"
    assert await audit_entries(db, "oauth_grant.code_reuse_detected", grant.id) == 1


async def membership_of(db: SessionFactory, w: World) -> Membership:
    async with db() as session:
        found = await session.exec(
            select(Membership).where(
                col(Membership.user_id) == w.user.id,
                col(Membership.organization_id) == w.organization.id,
            )
        )
        return found.one()


async def remove(session: Any, w: World, member: Membership, clock: FrozenClock) -> None:
    await team.remove_member(
        session,
        helper_principal(w.organization),
        member_id=member.id,
        request=RequestInfo(),
        now=clock(),
    )


async def test_removing_a_member_expires_their_unused_codes_in_that_organization(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock, role="member")
    code = await code_for(db, clock, w)
    # The same user's code in another organization is left alone.
    globex = await create_org(db, clock, slug="globex")
    async with db.begin() as session:
        session.add(
            Membership(
                id=new_id("mem"),
                organization_id=globex.id,
                user_id=w.user.id,
                role="member",
                created_at=clock(),
            )
        )
    elsewhere = await code_for(db, clock, World(globex, w.user, w.app))
    member = await membership_of(db, w)
    async with db.begin() as session:
        await remove(session, w, member, clock)
    # Added back within the code's ten minutes: the code is still no good.
    async with db.begin() as session:
        session.add(
            Membership(
                id=new_id("mem"),
                organization_id=w.organization.id,
                user_id=w.user.id,
                role="member",
                created_at=clock(),
            )
        )
    refused(await exchange(client, w, code), "invalid_grant", oauth_exchange.EXPIRED_CODE)
    async with db() as session:
        codes = {c.organization_id: c for c in (await session.exec(select(OAuthCode))).all()}
        assert (await session.exec(select(func.count()).select_from(OAuthGrant))).one() == 0
    assert codes[w.organization.id].expires_at == clock()
    assert codes[w.organization.id].used_at is None
    assert codes[globex.id].expires_at > clock()
    assert (await exchange(client, w, elsewhere)).status_code == 200


async def test_an_exchange_racing_a_removal_leaves_no_live_grant(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, settings: Settings
) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: on SQLite write transactions never overlap")
    w = await world(db, clock, role="member")
    code = await code_for(db, clock, w)
    member = await membership_of(db, w)
    # The removal holds its transaction open while the exchange starts: the exchange
    # has read the code, and must wait for the organization's lock before it checks
    # the membership. Without the lock it saw the membership still there, and its
    # grant outlived the removal.
    async with db.begin() as session:
        await remove(session, w, member, clock)
        racing = asyncio.create_task(exchange(client, w, code))
        await asyncio.sleep(0.5)
        assert not racing.done()
    refused(await racing, "invalid_grant", oauth_exchange.NOT_A_MEMBER)
    async with db() as session:
        assert (await session.exec(select(func.count()).select_from(OAuthGrant))).one() == 0


async def test_of_concurrent_refreshes_with_one_token_exactly_one_wins(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, settings: Settings
) -> None:
    w = await world(db, clock)
    tokens = await pair_for(client, db, clock, w)
    with peak_connections(db) as peak:
        responses = await asyncio.gather(
            *(refresh(client, w, tokens["refresh_token"]) for _ in range(6))
        )
    assert sorted(r.status_code for r in responses) == [200, 400, 400, 400, 400, 400]
    if settings.database_url.startswith("postgresql"):
        assert peak[0] >= 2, peak[0]
    async with db() as session:
        grant = (await session.exec(select(OAuthGrant))).one()
        issued = (await session.exec(select(func.count()).select_from(OAuthToken))).one()
    assert grant.revoked_reason == "refresh_reuse"
    assert issued == 4  # the first pair and the winner's: no loser issued anything


# Revocation (RFC 7009)


async def revoke(client: httpx.AsyncClient, w: World, token: str, **extra: str) -> httpx.Response:
    return await client.post(
        "/oauth/revoke", data={"token": token, **extra}, headers=basic(w.client_id, w.secret)
    )


@pytest.mark.parametrize("which", ["refresh_token", "access_token"])
async def test_revoking_either_token_revokes_the_grant_and_every_token(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, which: str
) -> None:
    w = await world(db, clock)
    first = await pair_for(client, db, clock, w)
    second = (await refresh(client, w, first["refresh_token"])).json()
    response = await revoke(client, w, second[which], token_type_hint="whatever")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"
    assert is_revoked(await token_works(client, second["access_token"]))
    assert is_revoked(await token_works(client, first["access_token"]))
    refused(
        await refresh(client, w, second["refresh_token"]),
        "invalid_grant",
        oauth_exchange.REVOKED_REFRESH,
    )
    async with db() as session:
        grant = (await session.exec(select(OAuthGrant))).one()
        entry = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "oauth_grant.revoked"))
        ).one()
    assert grant.revoked_reason == "client"
    assert entry.actor_type == "oauth_token"
    assert entry.details["reason"] == "client"
    # Revoking again answers the same and writes nothing more.
    assert (await revoke(client, w, second[which])).status_code == 200
    assert await audit_entries(db, "oauth_grant.revoked") == 1


async def test_revoking_an_unknown_or_another_clients_token_answers_200_and_changes_nothing(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock)
    other = World(w.organization, w.user, await create_oauth_app(db, clock, w.organization))
    tokens = await pair_for(client, db, clock, w)
    for token in (tokens["refresh_token"], tokens["access_token"]):
        assert (await revoke(client, other, token)).status_code == 200
    for odd in ("sgr_unknown", "sgo_" + "a" * 38, "nonsense", "\x00", w.secret):
        assert (await revoke(client, w, odd)).status_code == 200
    assert (await token_works(client, tokens["access_token"])).status_code == 200
    async with db() as session:
        assert (await session.exec(select(OAuthGrant))).one().revoked_at is None
    refused(
        await client.post(
            "/oauth/revoke", data={"token": ""}, headers=basic(w.client_id, w.secret)
        ),
        "invalid_request",
        "token is required",
    )
    unauthenticated = await client.post("/oauth/revoke", data={"token": tokens["access_token"]})
    refused(unauthenticated, "invalid_client", endpoints.NO_CLIENT, 401)
    wrong = await client.post(
        "/oauth/revoke",
        data={"token": tokens["access_token"]},
        headers=basic(w.client_id, "sgs_no"),
    )
    refused(wrong, "invalid_client", endpoints.CLIENT_FAILED, 401)
    assert (await token_works(client, tokens["access_token"])).status_code == 200


# Introspection (RFC 7662)


async def introspect(client: httpx.AsyncClient, w: World, token: str) -> httpx.Response:
    return await client.post(
        "/oauth/introspect", data={"token": token}, headers=basic(w.client_id, w.secret)
    )


async def test_introspection_describes_a_live_token_with_the_scopes_it_has_now(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock, role="viewer")
    tokens = await pair_for(client, db, clock, w)
    async with db() as session:
        grant = (await session.exec(select(OAuthGrant))).one()
    issued_at = int(clock().timestamp())
    access = await introspect(client, w, tokens["access_token"])
    assert access.status_code == 200
    assert access.headers["cache-control"] == "no-store"
    assert access.json() == {
        "active": True,
        "scope": "incidents:read monitors:read",  # granted ∩ a VIEWER's role
        "client_id": w.client_id,
        "username": "ada@example.com",
        "sub": w.user.id,
        "exp": issued_at + 3600,
        "iat": issued_at,
        "token_type": "Bearer",
        "iss": "http://127.0.0.1:8000",
        "organization_id": w.organization.id,
        "grant_id": grant.id,
    }
    described = (await introspect(client, w, tokens["refresh_token"])).json()
    assert described["active"] is True
    assert described["token_type"] == "refresh_token"
    assert described["exp"] == issued_at + 30 * 86400


async def test_introspection_says_only_inactive_for_anything_not_live_and_this_clients(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock)
    other = World(w.organization, w.user, await create_oauth_app(db, clock, w.organization))
    first = await pair_for(client, db, clock, w)
    second = (await refresh(client, w, first["refresh_token"])).json()
    inactive = {"active": False}
    # Another client's live token; unknown and malformed strings; a used refresh token.
    for token in (second["access_token"], second["refresh_token"]):
        assert (await introspect(client, other, token)).json() == inactive
    for token in ("sgo_unknown", "sgo_" + "a" * 38, "nonsense", "\x00", first["refresh_token"]):
        assert (await introspect(client, w, token)).json() == inactive
    clock.advance(hours=1)  # the access tokens expire
    assert (await introspect(client, w, second["access_token"])).json() == inactive
    assert (await introspect(client, w, second["refresh_token"])).json()["active"] is True
    await revoke(client, w, second["refresh_token"])
    assert (await introspect(client, w, second["refresh_token"])).json() == inactive


async def test_introspection_needs_a_confidential_clients_authentication(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    w = await world(db, clock)
    tokens = await pair_for(client, db, clock, w)
    anonymous = await client.post("/oauth/introspect", data={"token": tokens["access_token"]})
    refused(anonymous, "invalid_client", endpoints.NO_CLIENT, 401)
    wrong = await client.post(
        "/oauth/introspect",
        data={"token": tokens["access_token"]},
        headers=basic(w.client_id, "sgs_no"),
    )
    refused(wrong, "invalid_client", endpoints.CLIENT_FAILED, 401)
    assert wrong.headers["www-authenticate"] == 'Basic realm="statusgraph"'
    # An API credential is no client authentication here.
    bearer = await client.post(
        "/oauth/introspect",
        data={"token": tokens["access_token"]},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    refused(bearer, "invalid_client", endpoints.NOT_BASIC, 401)
    public = await create_oauth_app(db, clock, w.organization, confidential=False)
    by_id = await client.post(
        "/oauth/introspect",
        data={"token": tokens["access_token"], "client_id": public.app.client_id},
    )
    refused(by_id, "invalid_client", endpoints.NEEDS_CONFIDENTIAL, 401)


# Metadata (RFC 8414)


async def test_the_metadata_document_lists_the_endpoints_and_what_they_support(
    app_with: Any,
) -> None:
    _, client = await app_with(
        public_url="https://status.example.com/",
        oauth_documentation_url="https://docs.example.com/oauth",
    )
    response = await client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    base = "https://status.example.com"
    methods = ["client_secret_basic", "client_secret_post", "none"]
    assert response.json() == {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_methods_supported": methods[:2],
        "scopes_supported": sorted(CATALOGUE),
        "authorization_response_iss_parameter_supported": True,
        "service_documentation": "https://docs.example.com/oauth",
    }


async def test_the_metadata_document_leaves_out_documentation_that_is_not_configured(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert document["issuer"] == "http://127.0.0.1:8000"
    assert "service_documentation" not in document


def test_docs_list_every_error_description_of_the_token_side() -> None:
    text = Path(__file__).parent.parent.joinpath("docs", "oauth.md").read_text()
    messages = [
        value
        for module in (endpoints, oauth_exchange)
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str) and " " in value
    ]
    messages += [pkce.VERIFIER_RULE]
    missing = [m for m in messages if f"`{m}`" not in text]
    assert missing == []
