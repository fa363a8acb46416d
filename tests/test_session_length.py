"""The browser session lasts the organization's `sessionHours` (DESIGN §15,
docs/organization.md): the shortest among the user's organizations, in the cookie's
Max-Age and in the signed length the server checks, and a shortened setting ends the
longer sessions already issued."""

from urllib.parse import urlencode

import httpx
import pytest
from itsdangerous import URLSafeSerializer
from sqlmodel import col, delete

from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import Membership, Organization
from statusgraph.ids import new_id
from statusgraph.oauth.session import derive_key
from statusgraph.resolvers import consent
from tests.browser_session import PEPPER_BYTES, log_in, pkce_pair
from tests.helpers import create_oauth_app, create_org, create_user

_, CHALLENGE = pkce_pair()


@pytest.fixture
async def acme(db: SessionFactory, clock: FrozenClock) -> Organization:
    return await create_org(db, clock, slug="acme")


async def set_hours(db: SessionFactory, organization: Organization, hours: int) -> None:
    async with db.begin() as session:
        row = await session.get(Organization, organization.id)
        assert row is not None
        row.session_hours = hours
        session.add(row)


def max_age(response: httpx.Response) -> int:
    flags = [part.strip().lower() for part in response.headers["set-cookie"].split(";")]
    [found] = [flag for flag in flags if flag.startswith("max-age=")]
    return int(found.removeprefix("max-age="))


async def signed_in(client: httpx.AsyncClient) -> bool:
    response = await client.get("/account")
    assert response.status_code in (200, 303)
    return response.status_code == 200


async def test_a_one_hour_organization_ends_the_session_after_an_hour(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    await set_hours(db, acme, 1)
    await create_user(db, clock, acme)
    response = await log_in(client)
    assert response.status_code == 303
    assert max_age(response) == 3600
    clock.advance(minutes=59)
    assert await signed_in(client)
    clock.advance(minutes=1)
    assert not await signed_in(client)


async def test_the_login_page_of_a_visitor_keeps_twelve_hours(client: httpx.AsyncClient) -> None:
    assert max_age(await client.get("/login")) == 12 * 3600


async def test_the_shortest_of_the_users_organizations_decides(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    globex = await create_org(db, clock, slug="globex")
    initech = await create_org(db, clock, slug="initech")
    await set_hours(db, acme, 24)
    await set_hours(db, globex, 3)
    await set_hours(db, initech, 1)  # not the user's: it does not count
    user = await create_user(db, clock, acme)
    async with db.begin() as session:
        session.add(
            Membership(
                id=new_id("mem"),
                organization_id=globex.id,
                user_id=user.id,
                role="viewer",
                created_at=clock(),
            )
        )
    async with db() as session:
        assert await consent.session_hours(session, user.id) == 3
    response = await log_in(client)
    assert max_age(response) == 3 * 3600
    clock.advance(hours=2, minutes=59)
    assert await signed_in(client)
    clock.advance(minutes=1)
    assert not await signed_in(client)


async def test_a_user_of_no_organization_gets_twelve_hours(
    db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    await set_hours(db, acme, 1)
    user = await create_user(db, clock, acme)
    async with db.begin() as session:
        await session.exec(delete(Membership).where(col(Membership.user_id) == user.id))
    async with db() as session:
        assert await consent.session_hours(session, user.id) == 12


async def test_shortening_the_setting_ends_longer_sessions_already_issued(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    await create_user(db, clock, acme)
    response = await log_in(client)
    assert max_age(response) == 12 * 3600
    clock.advance(hours=2)
    assert await signed_in(client)
    await set_hours(db, acme, 1)
    assert not await signed_in(client)
    # Signing in again gives a session of the new length.
    again = await log_in(client)
    assert max_age(again) == 3600
    assert await signed_in(client)


async def test_lengthening_the_setting_does_not_stretch_a_session_already_issued(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    await set_hours(db, acme, 1)
    await create_user(db, clock, acme)
    await log_in(client)
    await set_hours(db, acme, 12)
    clock.advance(hours=1)
    assert not await signed_in(client)


async def test_the_consent_page_follows_the_session_length_too(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    issued = await create_oauth_app(db, clock, acme, redirect_uris=["https://app.example.com/cb"])
    await create_user(db, clock, acme)
    await log_in(client)
    request = {
        "client_id": issued.app.client_id,
        "redirect_uri": "https://app.example.com/cb",
        "response_type": "code",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "scope": "incidents:read",
        "state": "xyz",
    }
    path = "/oauth/authorize?" + urlencode(request)
    clock.advance(hours=2)
    assert (await client.get(path)).status_code == 200  # the consent page
    await set_hours(db, acme, 2)
    refused = await client.get(path)
    assert refused.status_code == 303
    assert refused.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("hours", [0, 721, -1, "12", 1.5, None, True])
async def test_a_cookie_signed_with_an_impossible_length_is_no_session(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    acme: Organization,
    hours: object,
) -> None:
    """Only the server signs cookies; a length out of range is refused all the same."""
    user = await create_user(db, clock, acme)
    response = await log_in(client)
    serializer = URLSafeSerializer(derive_key(PEPPER_BYTES, b"session"), salt="session")
    data = serializer.loads(response.cookies["statusgraph_session"])
    assert data["h"] == 12
    assert data["u"] == user.id
    client.cookies.clear()
    client.cookies.set("statusgraph_session", serializer.dumps({**data, "h": hours}))
    assert not await signed_in(client)


async def test_a_cookie_issued_before_the_length_was_carried_lasts_twelve_hours(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    await create_user(db, clock, acme)
    response = await log_in(client)
    serializer = URLSafeSerializer(derive_key(PEPPER_BYTES, b"session"), salt="session")
    data = serializer.loads(response.cookies["statusgraph_session"])
    del data["h"]
    client.cookies.clear()
    client.cookies.set("statusgraph_session", serializer.dumps(data))
    clock.advance(hours=11, minutes=59)
    assert await signed_in(client)
    clock.advance(minutes=1)
    assert not await signed_in(client)
