"""The browser session and the HTML pages of DESIGN §11: login (CSRF, throttling, audit,
the `next` that may only be a path of this site), logout, the session cookie's flags and
lifetime, /account, /account/apps with revocation, and the security headers."""

from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import update
from sqlmodel import col, select

from statusgraph.auth import passwords
from statusgraph.auth.principal import RequestInfo
from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import AuditEvent, Membership, OAuthGrant, Organization, User
from statusgraph.ids import new_id
from statusgraph.resolvers import team
from tests.browser_session import csrf_of, log_in
from tests.helpers import (
    PEPPER,
    AppWith,
    create_oauth_app,
    create_org,
    create_user,
    gql,
    helper_principal,
)

HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def assert_secured(response: httpx.Response) -> None:
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, (name, response.headers.get(name))
    assert not any(name.startswith("access-control-") for name in response.headers)


@pytest.fixture
async def acme(db: SessionFactory, clock: FrozenClock) -> Organization:
    return await create_org(db, clock, slug="acme")


async def audit_actions(db: SessionFactory) -> list[tuple[str, str, str | None, str | None]]:
    async with db() as session:
        events = (await session.exec(select(AuditEvent).order_by(col(AuditEvent.created_at)))).all()
    return [(e.action, e.organization_id, e.actor_id, e.target_id) for e in events]


# The session cookie.


async def test_the_login_page_starts_a_session_with_the_cookie_flags(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/login")
    assert page.status_code == 200
    assert_secured(page)
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("statusgraph_session=")
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "path=/" in flags
    assert "max-age=43200" in flags
    assert "secure" not in flags
    assert not any(flag.startswith("domain=") for flag in flags)


async def test_behind_https_the_cookie_is_secure_with_the_host_prefix(
    app_with: AppWith, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    await create_user(db, clock, acme)
    _, http = await app_with(public_url="https://status.example.com")
    page = await http.get("/login")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("__Host-statusgraph_session=")
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= set(flags)
    assert not any(flag.startswith("domain=") for flag in flags)
    # The session rides the cookie back (httpx sends a Secure cookie to an https URL).
    http.base_url = httpx.URL("https://testserver")
    http.cookies.set("__Host-statusgraph_session", page.cookies["__Host-statusgraph_session"])
    logged_in = await http.post(
        "/login",
        data={
            "csrf_token": csrf_of(page),
            "next": "/account",
            "email": "ada@example.com",
            "password": "correct horse battery",
        },
    )
    assert logged_in.status_code == 303
    assert logged_in.headers["set-cookie"].startswith("__Host-statusgraph_session=")
    assert "secure" in logged_in.headers["set-cookie"].lower()


# Logging in.


async def test_logging_in_audits_it_in_every_organization_and_lands_on_the_account(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    globex = await create_org(db, clock, slug="globex")
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
    before = await client.get("/login")
    response = await log_in(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    assert_secured(response)
    # A new session: the id the login form was bound to is worth nothing after it.
    assert response.cookies["statusgraph_session"] != before.cookies["statusgraph_session"]
    logins = [a for a in await audit_actions(db) if a[0] == "user.login"]
    assert sorted(logins) == sorted(
        [("user.login", acme.id, user.id, user.id), ("user.login", globex.id, user.id, user.id)]
    )
    async with db() as session:
        stored = await session.get(User, user.id)
    assert stored is not None
    assert stored.last_login_at == clock()

    account = await client.get("/account")
    assert account.status_code == 200
    assert_secured(account)
    assert "Signed in as <strong>Ada Lovelace</strong> (ada@example.com)" in account.text
    assert "Acme" in account.text
    assert "Globex" in account.text


async def test_the_email_is_matched_in_any_case(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    await create_user(db, clock, acme)
    response = await log_in(client, email="  ADA@Example.com ")
    assert response.status_code == 303


async def test_a_hash_made_with_weaker_parameters_is_replaced_at_login(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    user = await create_user(db, clock, acme)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    old_hash = weak.hash("correct horse battery")
    assert passwords.needs_rehash(old_hash)
    async with db.begin() as session:
        await session.exec(
            update(User).where(col(User.id) == user.id).values(password_hash=old_hash)
        )
    # A wrong password changes nothing.
    assert (await log_in(client, password="wrong password here")).status_code == 400
    async with db() as session:
        assert (await session.get(User, user.id)).password_hash == old_hash  # type: ignore[union-attr]
    assert (await log_in(client)).status_code == 303
    async with db() as session:
        stored = await session.get(User, user.id)
    assert stored is not None
    assert stored.password_hash != old_hash
    assert not passwords.needs_rehash(stored.password_hash)
    assert passwords.verify_password(stored.password_hash, "correct horse battery")
    # The session just started carries the new hash's mark: still signed in.
    assert (await client.get("/account")).status_code == 200
    client.cookies.clear()
    assert (await log_in(client)).status_code == 303


async def test_a_wrong_password_is_refused_and_audited_an_unknown_address_only_logged(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    user = await create_user(db, clock, acme)
    wrong = await log_in(client, password="wrong password here")
    assert wrong.status_code == 400
    assert_secured(wrong)
    assert "Wrong email or password." in wrong.text
    assert "set-cookie" not in wrong.headers  # still the anonymous session
    unknown = await log_in(client, email="nobody@example.com")
    assert unknown.status_code == 400
    assert "Wrong email or password." in unknown.text
    failures = [a for a in await audit_actions(db) if a[0].startswith("user.login")]
    assert failures == [("user.login_failed", acme.id, None, user.id)]
    assert (await client.get("/account")).status_code == 303  # not signed in


@pytest.mark.parametrize(
    "email", ["ada@example.com\x00", "\x00", "é" * 300, "a" * 10_000, "\ud800@example.com"]
)
async def test_odd_input_in_the_login_form_is_a_plain_refusal(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    acme: Organization,
    email: str,
) -> None:
    await create_user(db, clock, acme)
    page = await client.get("/login")
    body = (
        f"csrf_token={csrf_of(page)}&next=%2Faccount&email="
        f"{quote(email, errors='surrogatepass')}&password=x%00y"
    )
    response = await client.post(
        "/login",
        content=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code in (400, 413)


async def test_a_form_too_large_is_413(client: httpx.AsyncClient) -> None:
    await client.get("/login")
    response = await client.post("/login", content=b"email=" + b"a" * 20_000)
    assert response.status_code == 413
    assert "The form sent was too large." in response.text


@pytest.mark.parametrize("token", [None, "", "nonsense", "logout-token"])
async def test_a_login_without_its_csrf_token_is_refused(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    acme: Organization,
    token: str | None,
) -> None:
    await create_user(db, clock, acme)
    page = await client.get("/login")
    if token == "logout-token":  # a real token of this session, but of another form
        await log_in(client)
        token = csrf_of(await client.get("/account"), "/logout")
        client.cookies.clear()
        page = await client.get("/login")
    before = await audit_actions(db)
    assert page.status_code == 200
    data = {"next": "/account", "email": "ada@example.com", "password": "correct horse battery"}
    if token is not None:
        data["csrf_token"] = token
    response = await client.post("/login", data=data)
    assert response.status_code == 403
    assert_secured(response)
    assert "Form expired" in response.text
    assert (
        "This form&#39;s security token is missing or wrong: go back, reload the page and try again."
        in response.text
    )
    assert await audit_actions(db) == before


async def test_a_login_with_another_browsers_token_is_refused(
    client: httpx.AsyncClient,
    app_with: AppWith,
    db: SessionFactory,
    clock: FrozenClock,
    acme: Organization,
) -> None:
    await create_user(db, clock, acme)
    _, attacker = await app_with()
    token = csrf_of(await attacker.get("/login"))
    await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "csrf_token": token,
            "next": "/",
            "email": "ada@example.com",
            "password": "correct horse battery",
        },
    )
    assert response.status_code == 403


async def test_failed_logins_are_throttled_then_even_the_right_password_waits(
    app_with: AppWith, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    await create_user(db, clock, acme)
    _, http = await app_with(rate_limit_failed_auth="2/minute")
    for _ in range(2):
        assert (await log_in(http, password="wrong password!")).status_code == 400
    third = await log_in(http, password="wrong password!")
    assert third.status_code == 429
    assert_secured(third)
    assert int(third.headers["retry-after"]) >= 1
    assert "Too many failed sign-in attempts from your address. Try again later." in third.text
    right = await log_in(http)
    assert right.status_code == 429
    assert "set-cookie" not in right.headers
    # Only the attempts that were checked are audited.
    # The third was refused before its password was checked: two audited.
    failed = [a for a in await audit_actions(db) if a[0] == "user.login_failed"]
    assert len(failed) == 2
    assert [a for a in await audit_actions(db) if a[0] == "user.login"] == []


async def test_a_bad_api_key_and_a_bad_password_share_the_failed_authentication_bucket(
    app_with: AppWith, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    await create_user(db, clock, acme)
    _, http = await app_with(rate_limit_failed_auth="2/minute")
    refused = await gql(http, "{ viewer { id } }", key="sg_live_nonsense")
    assert refused.status_code == 401
    assert (await log_in(http, password="wrong password!")).status_code == 400
    assert (await log_in(http)).status_code == 429


async def test_a_browsers_authorization_header_on_the_pages_is_no_api_credential(
    app_with: AppWith, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    # A site behind a proxy asking for HTTP Basic: the browser sends it with every request.
    await create_user(db, clock, acme)
    _, http = await app_with(rate_limit_failed_auth="1/minute")
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    http.headers.update(basic)
    for path in ["/login", "/account", "/account/apps", "/invitation?token=x", "/logout"]:
        response = await (http.post(path) if path == "/logout" else http.get(path))
        assert response.status_code in (200, 303, 403, 404), (path, response.status_code)
        assert "www-authenticate" not in response.headers
    authorize = await http.get("/oauth/authorize", params={"client_id": "sgc_unknown"})
    assert authorize.status_code == 400
    assert "Unknown client_id" in authorize.text
    stylesheet = await http.get("/oauth/assets/oauth.0000000000000000.css")
    assert stylesheet.status_code == 404
    logged_in = await log_in(http)
    assert logged_in.status_code == 303
    assert (await http.get("/account")).status_code == 200
    # None of these was charged as a failed authentication: the one allowed still is.
    http.cookies.clear()
    assert (await log_in(http, password="wrong password!")).status_code == 400
    assert (await log_in(http)).status_code == 429
    # The API still refuses the same header, and charges it.
    refused = await gql(http, "{ viewer { id } }")
    assert refused.status_code == 429


async def test_an_authorization_header_on_graphql_is_still_refused(
    app_with: AppWith,
) -> None:
    _, http = await app_with()
    refused = await http.post(
        "/graphql",
        json={"query": "{ viewer { id } }"},
        headers={"Authorization": "Basic dXNlcjpwYXNz"},
    )
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["message"] == "Invalid API key"


# Where a login goes next: a path of this site, or /account.


@pytest.mark.parametrize(
    "next_path",
    [
        "https://evil.test/",
        "//evil.test/x",
        "///evil.test/x",
        "/\\evil.test",
        "\\\\evil.test",
        "/\t/evil.test",
        "javascript:alert(1)",
        "http:/evil.test",
        "evil.test",
        " /account/apps",
        "/account\r\nLocation: https://evil.test",
        "/" + "a" * 9000,
    ],
)
async def test_next_never_leaves_the_site(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    acme: Organization,
    next_path: str,
) -> None:
    await create_user(db, clock, acme)
    response = await log_in(client, next_path=next_path)
    assert response.status_code == 303
    assert response.headers["location"] == "/account"


@pytest.mark.parametrize(
    "next_path", ["/account/apps", "/oauth/authorize?client_id=sgc_x&scope=a%20b", "/"]
)
async def test_next_keeps_a_path_of_this_site(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    acme: Organization,
    next_path: str,
) -> None:
    await create_user(db, clock, acme)
    response = await log_in(client, next_path=next_path)
    assert response.headers["location"] == next_path


async def test_the_login_page_of_a_signed_in_user_goes_on_to_next(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    await create_user(db, clock, acme)
    await log_in(client)
    again = await client.get("/login", params={"next": "//evil.test"})
    assert again.status_code == 303
    assert again.headers["location"] == "/account"


# The session's end.


async def test_logging_out_clears_the_cookie(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    await create_user(db, clock, acme)
    await log_in(client)
    account = await client.get("/account")
    refused = await client.post("/logout", data={})
    assert refused.status_code == 403
    assert (await client.get("/account")).status_code == 200  # still signed in
    response = await client.post("/logout", data={"csrf_token": csrf_of(account)})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert_secured(response)
    assert 'statusgraph_session=""' in response.headers["set-cookie"]
    assert "max-age=0" in response.headers["set-cookie"].lower()
    after = await client.get("/account")
    assert after.status_code == 303
    assert after.headers["location"] == "/login?next=%2Faccount"


async def test_a_session_ends_after_12_hours(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    await create_user(db, clock, acme)
    await log_in(client)
    clock.advance(hours=11, minutes=59)
    assert (await client.get("/account")).status_code == 200
    clock.advance(minutes=1)
    assert (await client.get("/account")).status_code == 303


async def test_a_password_change_ends_every_session(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    user = await create_user(db, clock, acme)
    await log_in(client)
    async with db.begin() as session:
        await session.exec(
            update(User).where(col(User.id) == user.id).values(password_hash="$argon2id$other")
        )
    assert (await client.get("/account")).status_code == 303


async def test_a_forged_or_tampered_cookie_is_no_session(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    await create_user(db, clock, acme)
    response = await log_in(client)
    value = response.cookies["statusgraph_session"]
    client.cookies.clear()
    for forged in (value[:-2] + "xx", "e30.nonsense", "", "x" * 5000):
        client.cookies.set("statusgraph_session", forged)
        assert (await client.get("/account")).status_code == 303


async def test_graphql_never_reads_the_session_cookie(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    await create_user(db, clock, acme)
    await log_in(client)
    response = await gql(client, "{ apiKeys { totalCount } }")
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "Authentication required"


# /account/apps.


async def grant_for(
    db: SessionFactory, clock: FrozenClock, organization: Organization, user_id: str, name: str
) -> OAuthGrant:
    issued = await create_oauth_app(db, clock, organization, name=name)
    async with db.begin() as session:
        grant = OAuthGrant(
            id=new_id("grt"),
            organization_id=organization.id,
            app_id=issued.app.id,
            user_id=user_id,
            scopes=["incidents:read", "monitors:read"],
            created_at=clock(),
        )
        session.add(grant)
    return grant


async def test_connected_apps_lists_and_revokes_the_users_own_grants(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    user = await create_user(db, clock, acme)
    grant = await grant_for(db, clock, acme, user.id, "Dashboard <b>")
    await log_in(client)
    page = await client.get("/account/apps")
    assert page.status_code == 200
    assert_secured(page)
    assert "Dashboard &lt;b&gt;" in page.text
    assert "<code>incidents:read</code>" in page.text
    assert "2026-03-02 09:00 UTC" in page.text
    assert f'action="/account/apps/{grant.id}/revoke"' in page.text

    refused = await client.post(f"/account/apps/{grant.id}/revoke", data={})
    assert refused.status_code == 403
    response = await client.post(
        f"/account/apps/{grant.id}/revoke",
        data={"csrf_token": csrf_of(page, f"/account/apps/{grant.id}/revoke")},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/account/apps?revoked=1"
    async with db() as session:
        stored = await session.get(OAuthGrant, grant.id)
    assert stored is not None
    assert stored.revoked_at == clock()
    assert stored.revoked_reason == "user"
    revoked = [a for a in await audit_actions(db) if a[0] == "oauth_grant.revoked"]
    assert revoked == [("oauth_grant.revoked", acme.id, user.id, grant.id)]
    after = await client.get("/account/apps?revoked=1")
    assert "Access revoked" in after.text
    assert "No app has access to your account." in after.text
    again = await client.post(
        f"/account/apps/{grant.id}/revoke",
        data={"csrf_token": csrf_of(page, f"/account/apps/{grant.id}/revoke")},
    )
    assert again.status_code == 404


async def test_another_users_grant_is_not_found_and_untouched(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    ada = await create_user(db, clock, acme)
    globex = await create_org(db, clock, slug="globex")
    grace = await create_user(db, clock, globex, email="grace@example.com")
    theirs = await grant_for(db, clock, globex, grace.id, "Theirs")
    own = await grant_for(db, clock, acme, ada.id, "Mine")
    await log_in(client)
    page = await client.get("/account/apps")
    assert "Theirs" not in page.text
    token = csrf_of(page, f"/account/apps/{own.id}/revoke")
    before = await audit_actions(db)
    for grant_id in (theirs.id, "grt_nonsense"):
        response = await client.post(f"/account/apps/{grant_id}/revoke", data={"csrf_token": token})
        assert response.status_code == 404
        assert "No such connected app" in response.text
    async with db() as session:
        stored = await session.get(OAuthGrant, theirs.id)
    assert stored is not None
    assert stored.revoked_at is None
    assert await audit_actions(db) == before


async def test_an_app_registered_by_another_organization_is_listed_with_its_registrar(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    """Review H2: the grant is acme's, the app globex's; the page names both."""
    ada = await create_user(db, clock, acme)
    globex = await create_org(db, clock, slug="globex")
    issued = await create_oauth_app(db, clock, globex, name="Globex Dash")
    async with db.begin() as session:
        grant = OAuthGrant(
            id=new_id("grt"),
            organization_id=acme.id,
            app_id=issued.app.id,
            user_id=ada.id,
            scopes=["incidents:read"],
            created_at=clock(),
        )
        session.add(grant)
    await log_in(client)
    page = await client.get("/account/apps")
    assert page.status_code == 200
    row = page.text.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    assert "<td>Globex Dash<br>" in row
    assert "Registered by Globex" in row
    assert "<td>Acme</td>" in row  # the organization the grant acts in
    response = await client.post(
        f"/account/apps/{grant.id}/revoke",
        data={"csrf_token": csrf_of(page, f"/account/apps/{grant.id}/revoke")},
    )
    assert response.status_code == 303
    revoked = [a for a in await audit_actions(db) if a[0] == "oauth_grant.revoked"]
    assert revoked == [("oauth_grant.revoked", acme.id, ada.id, grant.id)]


async def test_account_pages_send_a_visitor_to_login(client: httpx.AsyncClient) -> None:
    for path in ("/account", "/account/apps"):
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={quote(path, safe='')}"


async def test_the_stylesheet_is_served_and_fingerprinted(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    href = page.text.split('<link rel="stylesheet" href="')[1].split('"')[0]
    assert href.startswith("/oauth/assets/oauth.")
    assert href.endswith(".css")
    sheet = await client.get(href)
    assert sheet.status_code == 200
    assert sheet.headers["content-type"].startswith("text/css")
    assert (await client.get("/oauth/assets/oauth.0000000000000000.css")).status_code == 404
    assert "<script" not in page.text
    assert "style=" not in page.text


async def test_logout_is_a_post_only(client: httpx.AsyncClient) -> None:
    assert (await client.get("/logout")).status_code == 405


# /invitation.


async def invite(
    db: SessionFactory, clock: FrozenClock, organization: Organization, email: str, role: str
) -> str:
    async with db.begin() as session:
        issued = await team.invite_member(
            session,
            helper_principal(organization),
            email=email,
            role=role,
            base_url="http://127.0.0.1:8000",
            pepper=PEPPER.encode(),
            request=RequestInfo(),
            now=clock(),
        )
    token = parse_qs(urlsplit(issued.url).query)["token"][0]
    assert issued.url.endswith(f"/invitation?token={token}")
    return token


async def test_an_invitation_is_accepted_with_a_name_and_password_then_signed_in(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    token = await invite(db, clock, acme, "grace@example.com", "member")
    page = await client.get("/invitation", params={"token": token})
    assert page.status_code == 200
    assert_secured(page)
    assert "You are invited to join <strong>Acme</strong> as <strong>member</strong>" in page.text
    assert "grace@example.com" in page.text
    form = {"csrf_token": csrf_of(page), "token": token, "name": "Grace Hopper"}

    differ = await client.post(
        "/invitation", data={**form, "password": "a long password", "password_again": "another"}
    )
    assert differ.status_code == 400
    assert "The two passwords differ." in differ.text
    short = await client.post(
        "/invitation", data={**form, "password": "short", "password_again": "short"}
    )
    assert short.status_code == 400
    assert "Password must be at least 10 characters" in short.text
    no_csrf = await client.post(
        "/invitation",
        data={
            **form,
            "csrf_token": "",
            "password": "a long password",
            "password_again": "a long password",
        },
    )
    assert no_csrf.status_code == 403
    async with db() as session:
        assert (
            await session.exec(select(User).where(User.email == "grace@example.com"))
        ).first() is None

    accepted = await client.post(
        "/invitation",
        data={**form, "password": "a long password", "password_again": "a long password"},
    )
    assert accepted.status_code == 303
    assert accepted.headers["location"] == "/account"  # no token in it
    assert_secured(accepted)
    account = await client.get("/account")
    assert account.status_code == 200
    assert "Grace Hopper" in account.text
    assert "member" in account.text
    # The link is used up.
    again = await client.get("/invitation", params={"token": token})
    assert again.status_code == 404
    assert "This invitation link is not valid" in again.text
    client.cookies.clear()
    assert (await log_in(client, "grace@example.com", "a long password")).status_code == 303


async def test_an_existing_account_joins_with_its_own_password(
    app_with: AppWith, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    globex = await create_org(db, clock, slug="globex")
    await create_user(db, clock, globex, email="grace@example.com")
    token = await invite(db, clock, acme, "grace@example.com", "viewer")
    _, http = await app_with(rate_limit_failed_auth="1/minute")
    page = await http.get("/invitation", params={"token": token})
    assert "This address already has an account: enter its password to join." in page.text
    assert 'name="password_again"' not in page.text
    form = {"csrf_token": csrf_of(page), "token": token}
    wrong = await http.post("/invitation", data={**form, "password": "not the password"})
    assert wrong.status_code == 400
    assert "This address already has an account: enter its password to join" in wrong.text
    # Charged like a failed login: the next guess waits, the right password too.
    blocked = await http.post("/invitation", data={**form, "password": "correct horse battery"})
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in blocked.text


async def test_an_existing_account_with_the_right_password_joins(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    globex = await create_org(db, clock, slug="globex")
    grace = await create_user(db, clock, globex, email="grace@example.com")
    token = await invite(db, clock, acme, "grace@example.com", "viewer")
    page = await client.get("/invitation", params={"token": token})
    response = await client.post(
        "/invitation",
        data={"csrf_token": csrf_of(page), "token": token, "password": "correct horse battery"},
    )
    assert response.status_code == 303
    async with db() as session:
        roles = {
            m.organization_id: m.role
            for m in (
                await session.exec(select(Membership).where(Membership.user_id == grace.id))
            ).all()
        }
    assert roles == {globex.id: "owner", acme.id: "viewer"}


@pytest.mark.parametrize("token", ["", "sgi_nonsense", "sgi_" + "A" * 38, "x" * 5000])
async def test_a_bad_invitation_link_is_one_page(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get("/invitation", params={"token": token})
    assert response.status_code == 404
    assert_secured(response)
    assert "This invitation link is not valid" in response.text


async def test_only_the_invitation_page_takes_a_token_in_its_url(client: httpx.AsyncClient) -> None:
    for path in ("/account", "/login", "/invitation/x", "/oauth/authorize"):
        response = await client.get(path, params={"token": "sgi_x"})
        assert response.status_code == 400
        assert response.json() == {"error": "Credentials must be sent in a header, not in the URL"}
