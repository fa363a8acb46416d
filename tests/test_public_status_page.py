"""publicStatusPage: what a page renders, who may read it, and what it costs."""

from datetime import timedelta

import httpx
import pytest

from tests.helpers import StatementCounter, gql, tampered
from tests.status_api import create_incident, create_page, create_service, create_window, mutate

PUBLIC_PAGE = """
query($slug: String!) {
  publicStatusPage(slug: $slug) {
    name slug tagline primaryColor fontFamily announcement announcementStyle overallStatus
    services { name groupName status }
    activeIncidents { title status impact affectedServices { name status } updates { status message } }
    incidentHistory { title resolvedAt }
    maintenance { title status services { name } }
  }
}
"""
NOT_FOUND = [
    {
        "message": "StatusPage not found",
        "locations": [{"line": 3, "column": 3}],
        "path": ["publicStatusPage"],
        "extensions": {"code": "NOT_FOUND"},
    }
]
RESOLVE = "mutation($id: ID!) { resolveIncident(id: $id) { userErrors { code } } }"
TOKEN = 'mutation($p: ID!) { createStatusPageViewerToken(pageId: $p, name: "partners") { token viewerToken { id prefix } userErrors { code } } }'


async def read(
    client: httpx.AsyncClient, slug: str, *, key: str | None = None, token: str | None = None
) -> httpx.Response:
    headers = {"X-Status-Page-Token": token} if token else None
    return await gql(client, PUBLIC_PAGE, {"slug": slug}, key=key, headers=headers)


def hidden(response: httpx.Response) -> bool:
    """A page that may not be seen answers exactly like one that does not exist."""
    assert response.status_code == 200
    body = response.json()
    return bool(body["data"] == {"publicStatusPage": None} and body["errors"] == NOT_FOUND)


async def test_it_renders_what_a_status_page_shows(client, clock, people):
    key = people.alice.secret
    group = await mutate(
        client,
        key,
        'mutation { createServiceGroup(name: "Core") { serviceGroup { id } userErrors { code } } }',
        {},
        "createServiceGroup",
    )
    api = await create_service(client, key, "API", groupId=group["serviceGroup"]["id"])
    web = await create_service(client, key, "Website")
    jobs = await create_service(client, key, "Jobs")
    elsewhere = await create_service(client, key, "Not on the page")
    await create_page(
        client,
        key,
        "acme",
        serviceIds=[web, api, jobs],
        tagline="All systems",
        primaryColor="#22c55e",
        fontFamily="SPACE_GROTESK",
        announcement="Hello",
        announcementStyle="WARNING",
        announcementVisible=True,
    )

    old = await create_incident(client, key, "Yesterday", [(web, "DEGRADED_PERFORMANCE")])
    await gql(client, RESOLVE, {"id": old}, key=key)
    clock.advance(minutes=1)
    await create_incident(
        client,
        key,
        "API errors",
        [(api, "PARTIAL_OUTAGE")],
        impact="MAJOR",
        message="Investigating",
    )
    await create_incident(client, key, "Hidden", [(elsewhere, "MAJOR_OUTAGE")])
    await create_window(
        client,
        key,
        "Jobs upgrade",
        clock().isoformat(),
        (clock() + timedelta(hours=1)).isoformat(),
        [jobs],
    )
    await create_window(
        client,
        key,
        "Later",
        (clock() + timedelta(days=1)).isoformat(),
        (clock() + timedelta(days=1, hours=1)).isoformat(),
        [web],
    )

    response = await read(client, "acme")
    assert response.status_code == 200
    assert response.json()["data"]["publicStatusPage"] == {
        "name": "Acme",
        "slug": "acme",
        "tagline": "All systems",
        "primaryColor": "#22c55e",
        "fontFamily": "SPACE_GROTESK",
        "announcement": "Hello",
        "announcementStyle": "WARNING",
        "overallStatus": "PARTIAL_OUTAGE",
        "services": [
            {"name": "Website", "groupName": None, "status": "OPERATIONAL"},
            {"name": "API", "groupName": "Core", "status": "PARTIAL_OUTAGE"},
            {"name": "Jobs", "groupName": None, "status": "UNDER_MAINTENANCE"},
        ],
        "activeIncidents": [
            {
                "title": "API errors",
                "status": "INVESTIGATING",
                "impact": "MAJOR",
                "affectedServices": [{"name": "API", "status": "PARTIAL_OUTAGE"}],
                "updates": [{"status": "INVESTIGATING", "message": "Investigating"}],
            },
        ],
        "incidentHistory": [
            {"title": "Yesterday", "resolvedAt": (clock() - timedelta(minutes=1)).isoformat()}
        ],
        "maintenance": [
            {"title": "Jobs upgrade", "status": "IN_PROGRESS", "services": [{"name": "Jobs"}]},
            {"title": "Later", "status": "SCHEDULED", "services": [{"name": "Website"}]},
        ],
    }


async def test_history_and_announcement_can_be_hidden(client, people):
    key = people.alice.secret
    web = await create_service(client, key, "Website")
    await create_page(
        client,
        key,
        "quiet",
        serviceIds=[web],
        showIncidentHistory=False,
        announcement="Draft",
        announcementVisible=False,
    )
    old = await create_incident(client, key, "Old", [(web, "MAJOR_OUTAGE")])
    await gql(client, RESOLVE, {"id": old}, key=key)
    page = (await read(client, "quiet")).json()["data"]["publicStatusPage"]
    assert page["incidentHistory"] == []
    assert page["announcement"] is None
    assert page["overallStatus"] == "OPERATIONAL"


class TestVisibility:
    async def test_a_missing_slug_is_not_found(self, client):
        assert hidden(await read(client, "nothing-here"))

    async def test_public_pages_are_for_anyone(self, client, people):
        await create_page(client, people.alice.secret, "open")
        assert (await read(client, "open")).json()["data"]["publicStatusPage"]["slug"] == "open"
        assert (await read(client, "open", key=people.charlie.secret)).json()["data"][
            "publicStatusPage"
        ]["slug"] == "open"

    async def test_private_pages_need_a_viewer_token_or_the_organization(self, client, people):
        page = await create_page(
            client, people.alice.secret, "partners", statusPageVisibility="PRIVATE"
        )
        other = await create_page(
            client, people.alice.secret, "other-private", statusPageVisibility="PRIVATE"
        )
        minted = await mutate(
            client, people.alice.secret, TOKEN, {"p": page}, "createStatusPageViewerToken"
        )
        token = minted["token"]
        assert token.startswith("sgv_")
        assert minted["viewerToken"]["prefix"] == token[:8]

        assert hidden(await read(client, "partners"))
        assert hidden(await read(client, "partners", key=people.charlie.secret))
        assert hidden(await read(client, "partners", token=tampered(token)))
        assert hidden(await read(client, "other-private", token=token))  # minted for another page
        assert (await read(client, "partners", token=token)).json()["data"]["publicStatusPage"][
            "slug"
        ] == "partners"
        assert (await read(client, "partners", key=people.bob.secret)).json()["data"][
            "publicStatusPage"
        ]["slug"] == "partners"
        assert other

        revoke = "mutation($id: ID!) { revokeStatusPageViewerToken(id: $id) { viewerToken { revokedAt } userErrors { code } } }"
        await gql(client, revoke, {"id": minted["viewerToken"]["id"]}, key=people.alice.secret)
        assert hidden(await read(client, "partners", token=token))

    async def test_internal_pages_are_for_the_organization_only(self, client, people):
        page = await create_page(
            client, people.alice.secret, "internal", statusPageVisibility="INTERNAL"
        )
        minted = await mutate(
            client, people.alice.secret, TOKEN, {"p": page}, "createStatusPageViewerToken"
        )
        assert hidden(await read(client, "internal"))
        assert hidden(await read(client, "internal", key=people.charlie.secret))
        assert hidden(await read(client, "internal", token=minted["token"]))
        assert (await read(client, "internal", key=people.bob.secret)).json()["data"][
            "publicStatusPage"
        ]["slug"] == "internal"

    async def test_the_viewer_token_is_stored_hashed(self, client, db, people):
        from sqlmodel import select

        from statusgraph.db.models import StatusPageViewerToken

        page = await create_page(
            client, people.alice.secret, "hashing", statusPageVisibility="PRIVATE"
        )
        minted = await mutate(
            client, people.alice.secret, TOKEN, {"p": page}, "createStatusPageViewerToken"
        )
        async with db() as session:
            [row] = (await session.exec(select(StatusPageViewerToken))).all()
        assert minted["token"] not in repr(row.model_dump())


@pytest.mark.parametrize("size", ["small", "large"])
async def test_a_page_costs_the_same_statements_whatever_its_size(client, app, clock, people, size):
    services, incidents, updates = (5, 2, 1) if size == "small" else (40, 20, 5)
    key = people.alice.secret
    ids = [await create_service(client, key, f"service {n}") for n in range(services)]
    await create_page(client, key, "costly", serviceIds=ids)
    for n in range(incidents):
        incident = await create_incident(
            client, key, f"incident {n}", [(ids[n % services], "MAJOR_OUTAGE")]
        )
        for m in range(updates - 1):
            await gql(
                client,
                "mutation($id: ID!, $m: String!) { postIncidentUpdate(id: $id, input: {status: IDENTIFIED, message: $m}) { userErrors { code } } }",
                {"id": incident, "m": f"update {m}"},
                key=key,
            )
    await create_window(
        client,
        key,
        "upgrade",
        clock().isoformat(),
        (clock() + timedelta(hours=1)).isoformat(),
        ids[:3],
    )

    with StatementCounter(app.state.engine) as counter:
        response = await read(client, "costly")
    page = response.json()["data"]["publicStatusPage"]
    assert len(page["services"]) == services
    assert len(page["activeIncidents"]) == incidents
    assert all(len(incident["updates"]) == updates for incident in page["activeIncidents"])
    # page; its services; their statuses (open incidents and maintenance, one UNION);
    # its incidents; their updates; their affected services with names; its maintenance;
    # the maintenance's services and their rows; the organization's page version, which a
    # cached answer is kept under (db/page_versions.py). (No groups here, no group query.)
    assert len(counter) == 10, counter.statements


class TestResponseCache:
    async def test_a_repeat_anonymous_read_touches_no_database(self, client, app, people):
        await create_page(client, people.alice.secret, "cached")
        # The key's first use from this address is written in the background (usage
        # alerts): a write of this process, after which page versions are read again.
        await app.state.usage.flush()
        first = await read(client, "cached")
        with StatementCounter(app.state.engine) as counter:
            again = await read(client, "cached")
        assert counter.statements == []
        assert again.json() == first.json()
        assert again.headers["x-ratelimit-limit"] == "300"  # still charged to the anonymous bucket

    async def test_a_write_shows_at_once(self, client, people):
        key = people.alice.secret
        api = await create_service(client, key, "API")
        await create_page(client, key, "fresh", serviceIds=[api])
        assert (await read(client, "fresh")).json()["data"]["publicStatusPage"][
            "overallStatus"
        ] == "OPERATIONAL"
        await create_incident(client, key, "Down", [(api, "MAJOR_OUTAGE")])
        assert (await read(client, "fresh")).json()["data"]["publicStatusPage"][
            "overallStatus"
        ] == "MAJOR_OUTAGE"

    async def test_clock_driven_changes_show_within_the_ttl(self, client, clock, people):
        key = people.alice.secret
        api = await create_service(client, key, "API")
        await create_page(client, key, "timed", serviceIds=[api])
        await create_window(
            client,
            key,
            "Soon",
            (clock() + timedelta(seconds=3)).isoformat(),
            (clock() + timedelta(hours=1)).isoformat(),
            [api],
        )
        assert (await read(client, "timed")).json()["data"]["publicStatusPage"][
            "overallStatus"
        ] == "OPERATIONAL"
        clock.advance(seconds=4)  # the window has started, the cached answer is 4 s old
        assert (await read(client, "timed")).json()["data"]["publicStatusPage"][
            "overallStatus"
        ] == "OPERATIONAL"
        clock.advance(seconds=1)  # 5 s: the entry has expired
        assert (await read(client, "timed")).json()["data"]["publicStatusPage"][
            "overallStatus"
        ] == "UNDER_MAINTENANCE"

    async def test_authenticated_reads_are_never_cached(self, client, app, people):
        await create_page(client, people.alice.secret, "mine", statusPageVisibility="INTERNAL")
        await read(client, "mine", key=people.alice.secret)
        with StatementCounter(app.state.engine) as counter:
            again = await read(client, "mine", key=people.alice.secret)
        assert len(counter) > 0
        assert again.json()["data"]["publicStatusPage"]["slug"] == "mine"
        assert hidden(await read(client, "mine"))  # nor does an anonymous read see theirs

    async def test_it_can_be_turned_off(self, settings, clock, people):
        import httpx

        from statusgraph.app import create_app

        uncached = create_app(settings.model_copy(update={"public_cache_seconds": 0}), clock=clock)
        assert uncached.state.engine is not None
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=uncached), base_url="http://t"
        ) as http:
            await create_page(http, people.alice.secret, "nocache")
            await read(http, "nocache")
            with StatementCounter(uncached.state.engine) as counter:
                await read(http, "nocache")
        await uncached.state.close()
        assert len(counter) > 0
