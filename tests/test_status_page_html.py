"""GET /status/{slug} and its incident and history pages, in HTML: what they show, who
may open them (the same rule as publicStatusPage), their headers, the subscribe form,
and every user-supplied field escaped. The browser's view is in
tests/test_status_page_browser.py."""

import re
from datetime import timedelta

import httpx
from sqlmodel import select

from statusgraph.db.models import Subscriber
from statusgraph.pages.status_page import COOKIE, STYLESHEET_PATH
from tests.helpers import gql, tampered
from tests.status_api import create_incident, create_page, create_service, create_window, mutate

TOKEN = 'mutation($p: ID!) { createStatusPageViewerToken(pageId: $p, name: "partners") { token viewerToken { id } userErrors { code } } }'
RESOLVE = "mutation($id: ID!) { resolveIncident(id: $id) { userErrors { code } } }"
SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"onmouseover=alert(1) x="'
EVIL = SCRIPT + ATTRIBUTE
EVIL_URL = "https://evil.example/x.png?" + ATTRIBUTE.replace(" ", "%20") + SCRIPT


async def not_found_page(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/status/no-such-page")


def same_as_missing(response: httpx.Response, missing: httpx.Response) -> bool:
    ignored = {"x-request-id", "x-ratelimit-remaining", "x-ratelimit-reset", "date"}
    return (
        response.status_code == 404
        and response.text == missing.text
        and {k: v for k, v in response.headers.items() if k not in ignored}
        == {k: v for k, v in missing.headers.items() if k not in ignored}
    )


async def test_it_shows_a_page_with_its_services_incidents_and_maintenance(client, clock, people):
    key = people.alice.secret
    api = await create_service(client, key, "API")
    web = await create_service(client, key, "Website")
    await create_page(
        client,
        key,
        "acme",
        serviceIds=[api, web],
        announcement="Moving datacentres tonight",
        announcementStyle="MAINTENANCE",
        announcementVisible=True,
        showIncidentHistory=True,
    )
    old = await create_incident(client, key, "Old trouble", [(web, "MAJOR_OUTAGE")])
    await gql(client, RESOLVE, {"id": old}, key=key)
    await create_incident(client, key, "Slow API", [(api, "DEGRADED_PERFORMANCE")])
    starts = clock() + timedelta(hours=2)
    await create_window(
        client,
        key,
        "Database upgrade",
        starts.isoformat(),
        (starts + timedelta(hours=1)).isoformat(),
        [web],
    )

    response = await client.get("/status/acme")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert '<h1 class="banner-text">Degraded performance</h1>' in page
    assert "Moving datacentres tonight" in page
    assert "Slow API" in page
    assert "Looking into it" in page
    assert "Database upgrade" in page
    assert "Scheduled maintenance" in page
    assert "Old trouble" in page  # the history
    assert page.count('class="bar ') == 2 * 90
    assert page.count('<li class="service status-') == 2
    assert f'href="{STYLESHEET_PATH}"' in page
    assert "<script" not in page
    assert " style=" not in page


async def test_its_headers_forbid_scripts_framing_and_sniffing(client, people):
    await create_page(client, people.alice.secret, "acme", primaryColor="#22c55e")

    response = await client.get("/status/acme")

    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # none at all, through default-src
    assert "frame-ancestors 'none'" in csp
    assert "form-action 'self'" in csp
    (style_hash,) = re.findall(r"'(sha256-[^']+)'", csp)
    assert "<style>:root{--brand:#22c55e;--brand-2:#22c55e}</style>" in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert style_hash.startswith("sha256-")


async def test_the_stylesheet_is_fingerprinted_and_cached_for_long(client):
    response = await client.get(STYLESHEET_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert (await client.get("/assets/status-page.0000000000000000.css")).status_code == 404


class TestVisibility:
    async def test_a_private_page_opens_with_its_token_once_then_by_cookie(self, client, people):
        page = await create_page(
            client, people.alice.secret, "partners", statusPageVisibility="PRIVATE"
        )
        token = (
            await mutate(
                client, people.alice.secret, TOKEN, {"p": page}, "createStatusPageViewerToken"
            )
        )["token"]
        missing = await not_found_page(client)

        assert same_as_missing(await client.get("/status/partners"), missing)
        refused = await client.get("/status/partners", params={"token": tampered(token)})
        assert same_as_missing(refused, missing)
        assert "set-cookie" not in refused.headers

        opened = await client.get("/status/partners", params={"token": token})
        assert opened.status_code == 303
        assert opened.headers["location"] == "/status/partners"
        cookie = opened.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}={token};")
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Path=/status/partners" in cookie
        assert "Secure" not in cookie  # plain http here; https adds it

        client.cookies.set(COOKIE, token, path="/status/partners")
        shown = await client.get("/status/partners")
        assert shown.status_code == 200
        assert shown.headers["cache-control"] == "private, no-store"
        assert (await client.get("/status/partners/history")).status_code == 200

    async def test_a_token_in_the_url_of_any_other_path_is_refused(self, client, people):
        await create_page(client, people.alice.secret, "acme")
        response = await client.get("/status/acme/history", params={"token": "sgv_x"})
        assert response.status_code == 400
        assert response.json() == {"error": "Credentials must be sent in a header, not in the URL"}

    async def test_a_revoked_token_closes_the_page_at_once(self, client, people):
        page = await create_page(
            client, people.alice.secret, "partners", statusPageVisibility="PRIVATE"
        )
        minted = await mutate(
            client, people.alice.secret, TOKEN, {"p": page}, "createStatusPageViewerToken"
        )
        client.cookies.set(COOKIE, minted["token"], path="/status/partners")
        assert (await client.get("/status/partners")).status_code == 200
        revoke = (
            "mutation($id: ID!) { revokeStatusPageViewerToken(id: $id) { userErrors { code } } }"
        )
        await gql(client, revoke, {"id": minted["viewerToken"]["id"]}, key=people.alice.secret)
        assert same_as_missing(await client.get("/status/partners"), await not_found_page(client))

    async def test_an_internal_page_is_a_missing_page_to_outsiders(self, client, people):
        page = await create_page(
            client, people.alice.secret, "inside", statusPageVisibility="INTERNAL"
        )
        missing = await not_found_page(client)
        assert same_as_missing(await client.get("/status/inside"), missing)
        charlie = {"X-API-Key": people.charlie.secret}
        charlie_missing = await client.get("/status/no-such-page", headers=charlie)
        assert same_as_missing(await client.get("/status/inside", headers=charlie), charlie_missing)
        # A viewer token cannot be minted for it, and its own organization reads it.
        alice = {"X-API-Key": people.alice.secret}
        assert (await client.get("/status/inside", headers=alice)).status_code == 200
        assert page

    async def test_another_organizations_incident_is_not_found(self, client, people):
        service = await create_service(client, people.alice.secret, "API")
        await create_page(client, people.alice.secret, "acme", serviceIds=[service])
        theirs = await create_service(client, people.charlie.secret, "Theirs")
        await create_page(client, people.charlie.secret, "globex", serviceIds=[theirs])
        mine = await create_incident(
            client, people.alice.secret, "Ours", [(service, "MAJOR_OUTAGE")]
        )
        other = await create_incident(
            client, people.charlie.secret, "Theirs", [(theirs, "MAJOR_OUTAGE")]
        )
        missing = await not_found_page(client)

        assert (await client.get(f"/status/acme/incidents/{mine}")).status_code == 200
        assert same_as_missing(await client.get(f"/status/acme/incidents/{other}"), missing)
        assert same_as_missing(await client.get("/status/acme/incidents/inc_nope"), missing)


async def test_the_history_is_paged(client, clock, people):
    key = people.alice.secret
    service = await create_service(client, key, "API")
    await create_page(client, key, "acme", serviceIds=[service], showIncidentHistory=True)
    for n in range(12):
        incident = await create_incident(
            client, key, f"Trouble {n:02}", [(service, "MAJOR_OUTAGE")]
        )
        await gql(client, RESOLVE, {"id": incident}, key=key)
        clock.advance(minutes=1)

    first = (await client.get("/status/acme/history")).text
    second = (await client.get("/status/acme/history", params={"page": "2"})).text
    odd = await client.get("/status/acme/history", params={"page": "-9999999999999"})

    assert "Trouble 11" in first
    assert "Trouble 02" in first
    assert "Trouble 01" not in first
    assert "Trouble 01" in second
    assert "Trouble 00" in second
    assert "Page 2 of 2" in second
    assert odd.status_code == 200
    assert "Page 1 of 2" in odd.text


async def test_a_page_that_hides_its_history_has_no_history_page(client, people):
    await create_page(client, people.alice.secret, "acme", showIncidentHistory=False)
    missing = await not_found_page(client)
    assert same_as_missing(await client.get("/status/acme/history"), missing)


class TestSubscribeForm:
    async def test_it_starts_the_confirmation_and_says_the_same_whatever_the_address(
        self, client, db, people
    ):
        await create_page(client, people.alice.secret, "acme", showSubscribe=True)
        page = (await client.get("/status/acme")).text
        assert '<form method="post" action="/status/acme/subscribe">' in page

        first = await client.post("/status/acme/subscribe", data={"email": "ann@example.com"})
        again = await client.post("/status/acme/subscribe", data={"email": "ann@example.com"})

        assert first.status_code == again.status_code == 200
        assert "Check your inbox" in first.text
        async with db() as session:
            rows = (await session.exec(select(Subscriber))).all()
        assert [(r.email, r.confirmed_at) for r in rows] == [("ann@example.com", None)]

    async def test_it_refuses_a_bad_address_another_site_and_a_page_without_the_form(
        self, client, db, people
    ):
        await create_page(client, people.alice.secret, "acme", showSubscribe=True)
        await create_page(client, people.alice.secret, "quiet", showSubscribe=False)

        bad = await client.post("/status/acme/subscribe", data={"email": "not an address"})
        forged = await client.post(
            "/status/acme/subscribe",
            data={"email": "ann@example.com"},
            headers={"Origin": "https://evil.example"},
        )
        off = await client.post("/status/quiet/subscribe", data={"email": "ann@example.com"})
        huge = await client.post("/status/acme/subscribe", data={"email": "a" * 5000})
        nowhere = await client.post("/status/nope/subscribe", data={"email": "ann@example.com"})

        assert bad.status_code == 400
        assert "Not an email address." in bad.text
        assert forged.status_code == 403
        assert off.status_code == 400
        assert "This status page does not take subscriptions." in off.text
        assert huge.status_code == 413
        assert nowhere.status_code == 404
        async with db() as session:
            assert (await session.exec(select(Subscriber))).all() == []


async def test_every_user_supplied_field_is_escaped(client, clock, people):
    key = people.alice.secret
    group = await mutate(
        client,
        key,
        "mutation($n: String!) { createServiceGroup(name: $n) { serviceGroup { id } userErrors { code } } }",
        {"n": EVIL},
        "createServiceGroup",
    )
    service = await create_service(
        client, key, EVIL, description=EVIL, groupId=group["serviceGroup"]["id"]
    )
    await create_page(
        client,
        key,
        "acme",
        serviceIds=[service],
        tagline=EVIL,
        announcement=EVIL,
        announcementVisible=True,
        logoUrl=EVIL_URL,
        faviconUrl=EVIL_URL,
        showIncidentHistory=True,
        showSubscribe=True,
    )
    incident = await create_incident(client, key, EVIL, [(service, "MAJOR_OUTAGE")], message=EVIL)
    starts = clock() + timedelta(hours=1)
    await mutate(
        client,
        key,
        "mutation($i: CreateMaintenanceWindowInput!) { createMaintenanceWindow(input: $i) { maintenanceWindow { id } userErrors { field code message } } }",
        {
            "i": {
                "title": EVIL,
                "description": EVIL,
                "startsAt": starts.isoformat(),
                "endsAt": (starts + timedelta(hours=1)).isoformat(),
                "serviceIds": [service],
            }
        },
        "createMaintenanceWindow",
    )

    for path in ("/status/acme", f"/status/acme/incidents/{incident}", "/status/acme/history"):
        page = (await client.get(path)).text
        assert "<script" not in page, path
        assert "onmouseover=alert(1) x=" not in page.replace("&#34;onmouseover", ""), path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
        assert "&#34;onmouseover=alert(1) x=&#34;" in page, path
