"""`/oauth/authorize` (DESIGN §11; RFC 6749 §4.1, RFC 7636, RFC 9207), through the app:
every rule of the authorization request, the login it sends to, and the consent page."""

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import col, delete, select

from statusgraph.auth import keys
from statusgraph.auth.scopes import CATALOGUE
from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import Membership, OAuthCode, Organization
from statusgraph.ids import new_id
from statusgraph.oauth.authorize import TAMPERED
from statusgraph.resolvers.oauth_apps import IssuedApp
from tests.browser_session import PEPPER_BYTES, csrf_of, hidden_fields, log_in, pkce_pair
from tests.helpers import create_oauth_app, create_org, create_user

REGISTERED = "https://app.example.com/cb"
ISSUER = "http://127.0.0.1:8000"  # settings.base_url in the tests
_, CHALLENGE = pkce_pair()


@pytest.fixture
async def acme(db: SessionFactory, clock: FrozenClock) -> Organization:
    return await create_org(db, clock, slug="acme")


@pytest.fixture
async def third_party(db: SessionFactory, clock: FrozenClock, acme: Organization) -> IssuedApp:
    return await create_oauth_app(
        db, clock, acme, redirect_uris=[REGISTERED, "http://127.0.0.1:8765/callback"]
    )


def request_for(issued: IssuedApp, **changes: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "client_id": issued.app.client_id,
        "redirect_uri": REGISTERED,
        "response_type": "code",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "scope": "incidents:read incidents:write",
        "state": "xyz-123",
    }
    params.update(changes)
    return {name: value for name, value in params.items() if value is not None}


def redirected(response: httpx.Response) -> tuple[str, dict[str, str]]:
    assert response.status_code == 303, response.text
    parts = urlsplit(response.headers["location"])
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    return f"{parts.scheme}://{parts.netloc}{parts.path}", query


async def codes(db: SessionFactory) -> list[OAuthCode]:
    async with db() as session:
        return list((await session.exec(select(OAuthCode))).all())


# The client and its redirect URI: never a redirect until both are known good.


@pytest.mark.parametrize(
    ("client_id", "text"),
    [
        (None, "The request has no client_id."),
        ("", "The request has no client_id."),
        ("sgc_nonsense", "Unknown client_id: no app is registered with it."),
        ("sgc_" + "A" * 38, "Unknown client_id: no app is registered with it."),
    ],
)
async def test_a_missing_or_unknown_client_gets_an_error_page_never_a_redirect(
    client: httpx.AsyncClient, third_party: IssuedApp, client_id: str | None, text: str
) -> None:
    response = await client.get(
        "/oauth/authorize", params=request_for(third_party, client_id=client_id)
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "Invalid authorization request" in response.text
    assert text in response.text


async def test_an_issued_but_unregistered_client_id_is_unknown(
    client: httpx.AsyncClient, third_party: IssuedApp
) -> None:
    from statusgraph.auth import oauth_tokens

    other = oauth_tokens.generate(oauth_tokens.CLIENT_ID_PREFIX)
    response = await client.get(
        "/oauth/authorize", params=request_for(third_party, client_id=other)
    )
    assert response.status_code == 400
    assert "Unknown client_id" in response.text


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://app.example.com.evil.test/cb",
        "http://localhost:80@evil.test/cb",
        "https://app.example.com@evil.test/cb",
        "https://evil.test/cb",
        "https://app.example.com/cb/",  # trailing slash
        "https://app.example.com:443/cb",  # the same place, not the same string
        "https://app.example.com:8443/cb",  # another port
        "https://APP.example.com/cb",  # case
        "https://app.example.com/CB",
        "https://app.example.com/cb?next=/x",  # a query added
        "https://app.example.com/cb#frag",
        "http://app.example.com/cb",  # another scheme
        "https://app.example.com/cb/../cb",
        "http://127.0.0.1:8766/callback",  # the loopback URI on another port
        "http://localhost:8765/callback",
        " https://app.example.com/cb",
    ],
)
async def test_a_redirect_uri_not_exactly_registered_gets_an_error_page(
    client: httpx.AsyncClient, third_party: IssuedApp, redirect_uri: str
) -> None:
    response = await client.get(
        "/oauth/authorize", params=request_for(third_party, redirect_uri=redirect_uri)
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "The redirect_uri is not one this app registered." in response.text


async def test_a_missing_redirect_uri_is_refused_even_with_one_registered(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    single = await create_oauth_app(db, clock, acme, redirect_uris=[REGISTERED])
    response = await client.get("/oauth/authorize", params=request_for(single, redirect_uri=None))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "The request has no redirect_uri: it is required." in response.text


async def test_a_repeated_client_id_or_redirect_uri_gets_an_error_page(
    client: httpx.AsyncClient, third_party: IssuedApp
) -> None:
    query = httpx.QueryParams(request_for(third_party)).add("redirect_uri", "https://evil.test/cb")
    response = await client.get("/oauth/authorize", params=query)
    assert response.status_code == 400
    assert "redirect_uri was given more than once." in response.text
    assert "location" not in response.headers


# Once the client is known good, errors go back to it, with state and iss.


@pytest.mark.parametrize(
    ("changes", "error", "description"),
    [
        ({"response_type": None}, "invalid_request", "response_type is required"),
        ({"response_type": "token"}, "unsupported_response_type", "Only response_type=code is supported"),
        ({"response_type": "code id_token"}, "unsupported_response_type", "Only response_type=code is supported"),
        ({"code_challenge": None}, "invalid_request", "code_challenge is required (PKCE with S256)"),
        ({"code_challenge_method": None}, "invalid_request", "code_challenge_method is required and must be S256"),
        ({"code_challenge_method": "plain"}, "invalid_request", "code_challenge_method must be S256"),
        ({"code_challenge_method": "s256"}, "invalid_request", "code_challenge_method must be S256"),
        ({"code_challenge": CHALLENGE[:42]}, "invalid_request", "code_challenge must be 43 base64url characters"),
        ({"code_challenge": CHALLENGE + "A"}, "invalid_request", "code_challenge must be 43 base64url characters"),
        ({"code_challenge": CHALLENGE[:42] + "="}, "invalid_request", "code_challenge must be 43 base64url characters"),
        ({"code_challenge": CHALLENGE[:42] + "+"}, "invalid_request", "code_challenge must be 43 base64url characters"),
        ({"scope": None}, "invalid_scope", "scope is required"),
        ({"scope": "  "}, "invalid_scope", "scope is required"),
        ({"scope": "incidents:read nonsense:read"}, "invalid_scope", "Unknown scope: nonsense:read"),
        ({"scope": "incidents:*"}, "invalid_scope", "Unknown scope: incidents:*"),
        ({"scope": "*:*"}, "invalid_scope", "Unknown scope: *:*"),
        ({"scope": "checks:read checks:*"}, "invalid_scope", "Unknown scope: checks:*"),
        ({"scope": "teams:owner"}, "invalid_scope", "Unknown scope: teams:owner"),
    ],
)  # fmt: skip
async def test_a_bad_request_from_a_known_client_is_redirected_back_with_its_error(
    client: httpx.AsyncClient,
    third_party: IssuedApp,
    changes: dict[str, str | None],
    error: str,
    description: str,
) -> None:
    response = await client.get("/oauth/authorize", params=request_for(third_party, **changes))
    target, query = redirected(response)
    assert target == REGISTERED
    assert query == {
        "error": error,
        "error_description": description,
        "state": "xyz-123",
        "iss": ISSUER,
    }


async def test_a_repeated_parameter_is_invalid_request(
    client: httpx.AsyncClient, third_party: IssuedApp
) -> None:
    query = httpx.QueryParams(request_for(third_party)).add("scope", "team:write")
    _, answer = redirected(await client.get("/oauth/authorize", params=query))
    assert answer["error"] == "invalid_request"
    assert answer["error_description"] == "scope was given more than once"


async def test_an_error_without_state_has_none_and_iss_still(
    client: httpx.AsyncClient, third_party: IssuedApp
) -> None:
    response = await client.get(
        "/oauth/authorize",
        params=request_for(third_party, state=None, code_challenge_method="plain"),
    )
    _, query = redirected(response)
    assert query == {
        "error": "invalid_request",
        "error_description": "code_challenge_method must be S256",
        "iss": ISSUER,
    }


async def test_a_registered_uri_with_a_query_keeps_it(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    with_query = "https://app.example.com/cb?tenant=7"
    issued = await create_oauth_app(db, clock, acme, redirect_uris=[with_query])
    response = await client.get(
        "/oauth/authorize",
        params=request_for(issued, redirect_uri=with_query, response_type="token"),
    )
    assert response.headers["location"].startswith("https://app.example.com/cb?tenant=7&error=")


# Login, then consent.


async def test_a_good_request_without_a_session_goes_to_login_and_comes_back(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    third_party: IssuedApp,
    acme: Organization,
) -> None:
    await create_user(db, clock, acme)
    response = await client.get("/oauth/authorize", params=request_for(third_party))
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/login?next=%2Foauth%2Fauthorize%3F")
    next_path = parse_qs(urlsplit(location).query)["next"][0]
    # The request carries no secret, so the URL guard lets it through.
    logged_in = await log_in(client, next_path=next_path)
    assert logged_in.status_code == 303
    assert logged_in.headers["location"] == next_path
    consent = await client.get(next_path)
    assert consent.status_code == 200
    assert "Authorize Test app" in consent.text


async def test_the_longest_request_survives_the_login(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    # The longest redirect URI an app may register, and a state of the most characters
    # allowed, each of which needs percent-encoding (3,072 characters in the URL).
    longest = "https://app.example.com/cb/" + "x" * (2048 - 27 - 8) + "?a=b&c=d"
    assert len(longest) == 2048
    issued = await create_oauth_app(db, clock, acme, redirect_uris=[longest])
    await create_user(db, clock, acme)
    state = ("/?#[]@!$&'()*+,;=" * 70)[:1024]
    everything = " ".join(sorted(CATALOGUE))
    params = request_for(issued, redirect_uri=longest, state=state, scope=everything)
    response = await client.get("/oauth/authorize", params=params)
    assert response.status_code == 303
    next_path = parse_qs(urlsplit(response.headers["location"]).query)["next"][0]
    assert len(next_path) > 2048 + 3072
    logged_in = await log_in(client, next_path=next_path)
    assert logged_in.headers["location"] == next_path
    consent = await client.get(next_path)
    assert consent.status_code == 200
    response = await client.post(
        "/oauth/authorize",
        data={**hidden_fields(consent), "decision": "allow", "granted": ["incidents:read"]},
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith(longest + "&code=sga_")
    _, query = redirected(response)
    assert query["state"] == state


async def test_a_request_too_long_to_come_back_from_login_is_refused(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    third_party: IssuedApp,
    acme: Organization,
) -> None:
    await create_user(db, clock, acme)
    state = "\U0001f600" * 1024  # 1,024 characters, 12,288 once percent-encoded
    for signed_in in (False, True):
        if signed_in:
            await log_in(client)
        response = await client.get(
            "/oauth/authorize", params=request_for(third_party, state=state)
        )
        target, query = redirected(response)
        assert target == REGISTERED
        assert query == {
            "error": "invalid_request",
            "error_description": "The authorization request is longer than 8192 characters",
            "iss": ISSUER,
        }


async def test_the_consent_page_offers_the_requested_scopes_and_says_where_it_goes(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    third_party: IssuedApp,
    acme: Organization,
) -> None:
    await create_user(db, clock, acme, role="owner")
    await log_in(client)
    page = await client.get("/oauth/authorize", params=request_for(third_party))
    assert page.status_code == 200
    assert 'name="granted" value="incidents:read" checked' in page.text
    assert 'name="granted" value="incidents:write" checked' in page.text
    assert "Registered by Acme" in page.text
    assert REGISTERED in page.text
    fields = hidden_fields(page)
    assert fields["organization"] == acme.id
    assert fields["state"] == "xyz-123"
    assert fields["code_challenge"] == CHALLENGE


async def test_other_products_scope_names_are_offered_as_ours(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    third_party: IssuedApp,
    acme: Organization,
) -> None:
    await create_user(db, clock, acme, role="owner")
    await log_in(client)
    page = await client.get(
        "/oauth/authorize",
        params=request_for(
            third_party, scope="checks:read webhooks:write teams:admin monitors:read"
        ),
    )
    assert page.status_code == 200
    for ours in ("monitors:read", "notifications:write", "team:write"):
        assert f'name="granted" value="{ours}" checked' in page.text
    assert "checks:read" not in page.text
    assert hidden_fields(page)["scope"] == "monitors:read notifications:write team:write"


async def test_consent_never_offers_a_scope_the_role_lacks(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    third_party: IssuedApp,
    acme: Organization,
) -> None:
    await create_user(db, clock, acme, role="viewer")
    await log_in(client)
    page = await client.get(
        "/oauth/authorize", params=request_for(third_party, scope="incidents:write incidents:read")
    )
    assert page.status_code == 200
    assert 'value="incidents:read" checked' in page.text
    assert 'value="incidents:write"' not in page.text
    assert "Not available with your role (viewer), so not offered:" in page.text

    # Posting it anyway is refused, and no code is issued.
    form = hidden_fields(page)
    refused = await client.post(
        "/oauth/authorize",
        data={**form, "decision": "allow", "granted": ["incidents:read", "incidents:write"]},
    )
    assert refused.status_code == 400
    assert "Scope not offered: incidents:write" in refused.text
    assert await codes(db) == []


async def test_a_role_allowing_nothing_requested_can_only_deny(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    third_party: IssuedApp,
    acme: Organization,
) -> None:
    await create_user(db, clock, acme, role="viewer")
    await log_in(client)
    page = await client.get(
        "/oauth/authorize", params=request_for(third_party, scope="incidents:write")
    )
    assert "Your role allows none of what Test app asks for." in page.text
    assert 'value="allow"' not in page.text
    assert 'value="deny"' in page.text


async def test_allowing_with_a_scope_unticked_issues_a_code_for_the_rest(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    third_party: IssuedApp,
    acme: Organization,
) -> None:
    user = await create_user(db, clock, acme, role="owner")
    await log_in(client)
    page = await client.get("/oauth/authorize", params=request_for(third_party))
    form = hidden_fields(page)
    response = await client.post(
        "/oauth/authorize", data={**form, "decision": "allow", "granted": ["incidents:read"]}
    )
    target, query = redirected(response)
    assert target == REGISTERED
    assert set(query) == {"code", "state", "iss"}
    assert query["state"] == "xyz-123"
    assert query["iss"] == ISSUER
    assert query["code"].startswith("sga_")
    [code] = await codes(db)
    assert code.code_hash == keys.hash_secret(PEPPER_BYTES, query["code"])
    assert code.scopes == ["incidents:read"]
    assert code.user_id == user.id
    assert code.organization_id == acme.id
    assert code.app_id == third_party.app.id
    assert code.redirect_uri == REGISTERED
    assert code.code_challenge == CHALLENGE
    assert code.expires_at == clock() + __import__("datetime").timedelta(minutes=10)


async def test_a_scope_that_was_not_requested_is_refused(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    third_party: IssuedApp,
    acme: Organization,
) -> None:
    await create_user(db, clock, acme, role="owner")
    await log_in(client)
    form = hidden_fields(await client.get("/oauth/authorize", params=request_for(third_party)))
    response = await client.post(
        "/oauth/authorize", data={**form, "decision": "allow", "granted": ["team:write"]}
    )
    assert response.status_code == 400
    assert "Scope not offered: team:write" in response.text
    assert await codes(db) == []


async def test_allowing_with_nothing_ticked_shows_the_page_again(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    third_party: IssuedApp,
    acme: Organization,
) -> None:
    await create_user(db, clock, acme, role="owner")
    await log_in(client)
    form = hidden_fields(await client.get("/oauth/authorize", params=request_for(third_party)))
    response = await client.post("/oauth/authorize", data={**form, "decision": "allow"})
    assert response.status_code == 400
    assert "Tick at least one scope, or deny." in response.text
    assert await codes(db) == []


async def test_deny_redirects_with_access_denied(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    third_party: IssuedApp,
    acme: Organization,
) -> None:
    await create_user(db, clock, acme)
    await log_in(client)
    form = hidden_fields(await client.get("/oauth/authorize", params=request_for(third_party)))
    response = await client.post("/oauth/authorize", data={**form, "decision": "deny"})
    _, query = redirected(response)
    assert query == {
        "error": "access_denied",
        "error_description": "The user denied access",
        "state": "xyz-123",
        "iss": ISSUER,
    }
    assert await codes(db) == []


@pytest.mark.parametrize("token", [None, "", "forged", "other-purpose"])
async def test_a_consent_without_its_csrf_token_is_refused(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    third_party: IssuedApp,
    acme: Organization,
    token: str | None,
) -> None:
    await create_user(db, clock, acme)
    await log_in(client)
    form: dict[str, Any] = hidden_fields(
        await client.get("/oauth/authorize", params=request_for(third_party))
    )
    if token is None:
        del form["csrf_token"]
    elif token == "other-purpose":
        form["csrf_token"] = csrf_of(await client.get("/account/apps"))
    else:
        form["csrf_token"] = token
    response = await client.post(
        "/oauth/authorize", data={**form, "decision": "allow", "granted": ["incidents:read"]}
    )
    assert response.status_code == 403
    assert "Form expired" in response.text
    assert "security token is missing or wrong" in response.text
    assert await codes(db) == []


async def test_a_member_of_several_organizations_picks_one_first(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    third_party: IssuedApp,
    acme: Organization,
) -> None:
    globex = await create_org(db, clock, slug="globex")
    initech = await create_org(db, clock, slug="initech")
    user = await create_user(db, clock, acme, role="viewer")
    async with db.begin() as session:
        session.add(
            Membership(
                id=new_id("mem"),
                organization_id=globex.id,
                user_id=user.id,
                role="owner",
                created_at=clock(),
            )
        )
    await log_in(client)
    picker = await client.get("/oauth/authorize", params=request_for(third_party))
    assert picker.status_code == 200
    assert "For which organization?" in picker.text
    assert acme.id in picker.text
    assert globex.id in picker.text
    assert initech.id not in picker.text  # not a member there

    consent = await client.get(
        "/oauth/authorize", params={**request_for(third_party), "organization": globex.id}
    )
    assert 'value="incidents:write" checked' in consent.text  # owner in globex
    form = hidden_fields(consent)
    assert form["organization"] == globex.id

    # The organization is part of the signed request: another one, whether the user is
    # a member there or not, is refused, with nothing written.
    for other in (initech.id, acme.id):
        response = await client.post(
            "/oauth/authorize",
            data={
                **form,
                "organization": other,
                "decision": "allow",
                "granted": ["incidents:read"],
            },
        )
        assert response.status_code == 400
        assert TAMPERED in response.text
    # The viewer's role in acme does not stretch to globex's offer.
    in_acme = hidden_fields(
        await client.get(
            "/oauth/authorize", params={**request_for(third_party), "organization": acme.id}
        )
    )
    response = await client.post(
        "/oauth/authorize", data={**in_acme, "decision": "allow", "granted": ["incidents:write"]}
    )
    assert response.status_code == 400
    assert "Scope not offered: incidents:write" in response.text
    assert await codes(db) == []

    allowed = await client.post(
        "/oauth/authorize", data={**form, "decision": "allow", "granted": ["incidents:write"]}
    )
    redirected(allowed)
    [code] = await codes(db)
    assert code.organization_id == globex.id

    # Removed from globex since the page was shown: refused, with nothing written.
    async with db.begin() as session:
        await session.exec(
            delete(Membership).where(
                col(Membership.user_id) == user.id, col(Membership.organization_id) == globex.id
            )
        )
    response = await client.post(
        "/oauth/authorize", data={**form, "decision": "allow", "granted": ["incidents:write"]}
    )
    assert response.status_code == 400
    assert "You are not a member of that organization." in response.text
    assert len(await codes(db)) == 1


async def test_a_post_with_a_tampered_redirect_uri_is_an_error_page(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    third_party: IssuedApp,
    acme: Organization,
) -> None:
    await create_user(db, clock, acme)
    await log_in(client)
    form = hidden_fields(await client.get("/oauth/authorize", params=request_for(third_party)))
    response = await client.post(
        "/oauth/authorize",
        data={
            **form,
            "redirect_uri": "https://evil.test/cb",
            "decision": "allow",
            "granted": ["incidents:read"],
        },
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert await codes(db) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"scope": "incidents:read incidents:write team:write", "granted": ["team:write"]},
        {"scope": "incidents:read incidents:write billing:read", "granted": ["incidents:read"]},
        {"state": "another-state"},
        {"code_challenge": pkce_pair()[1]},
        {"redirect_uri": "http://127.0.0.1:8765/callback"},  # registered too
        {"organization": ""},
        {"request_signature": ""},
        {"request_signature": "forged"},
    ],
)
async def test_a_consent_whose_request_was_changed_is_refused(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    third_party: IssuedApp,
    acme: Organization,
    changes: dict[str, Any],
) -> None:
    await create_user(db, clock, acme, role="owner")
    await log_in(client)
    form: dict[str, Any] = hidden_fields(
        await client.get("/oauth/authorize", params=request_for(third_party))
    )
    assert form["request_signature"]
    response = await client.post(
        "/oauth/authorize",
        data={**form, "decision": "allow", "granted": ["incidents:read"], **changes},
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "Invalid authorization request" in response.text
    assert TAMPERED in response.text
    assert await codes(db) == []


async def test_a_consent_signed_for_another_browser_is_refused(
    app: Any,
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    third_party: IssuedApp,
    acme: Organization,
) -> None:
    await create_user(db, clock, acme, role="owner")
    await log_in(client)
    form = hidden_fields(await client.get("/oauth/authorize", params=request_for(third_party)))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        await log_in(other)
        theirs = hidden_fields(await other.get("/oauth/authorize", params=request_for(third_party)))
    assert theirs["request_signature"] != form["request_signature"]
    response = await client.post(
        "/oauth/authorize",
        data={
            **form,
            "request_signature": theirs["request_signature"],
            "decision": "allow",
            "granted": ["incidents:read"],
        },
    )
    assert response.status_code == 400
    assert TAMPERED in response.text
    assert await codes(db) == []


async def test_authorize_pages_carry_the_security_headers_and_no_cors(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    third_party: IssuedApp,
    acme: Organization,
) -> None:
    await create_user(db, clock, acme)
    await log_in(client)
    page = await client.get(
        "/oauth/authorize", params=request_for(third_party), headers={"Origin": "https://evil.test"}
    )
    assert page.headers["content-security-policy"] == (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        "form-action 'self' https://app.example.com; frame-ancestors 'none'; base-uri 'none'"
    )
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert not any(name.startswith("access-control-") for name in page.headers)
    form = hidden_fields(page)
    allowed = await client.post(
        "/oauth/authorize", data={**form, "decision": "allow", "granted": ["incidents:read"]}
    )
    assert allowed.headers["cache-control"] == "no-store"
    assert allowed.headers["referrer-policy"] == "no-referrer"
    error = await client.get("/oauth/authorize", params=request_for(third_party, client_id="sgc_x"))
    assert error.headers["x-frame-options"] == "DENY"
    assert error.headers["cache-control"] == "no-store"


async def test_a_loopback_redirect_is_allowed_as_a_form_target(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, acme: Organization
) -> None:
    issued = await create_oauth_app(
        db, clock, acme, redirect_uris=["http://127.0.0.1:8765/callback", "http://[::1]:8765/cb"]
    )
    await create_user(db, clock, acme)
    await log_in(client)
    page = await client.get(
        "/oauth/authorize",
        params=request_for(issued, redirect_uri="http://127.0.0.1:8765/callback"),
    )
    assert "form-action 'self' http://127.0.0.1:8765;" in page.headers["content-security-policy"]
    page = await client.get(
        "/oauth/authorize", params=request_for(issued, redirect_uri="http://[::1]:8765/cb")
    )
    # A CSP host cannot be an IPv6 literal: the scheme alone.
    assert "form-action 'self' http:;" in page.headers["content-security-policy"]
