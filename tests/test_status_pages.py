"""Status pages: the reference contract (fields, messages), plan limits, slugs, concurrency."""

import asyncio
from typing import Any

import httpx
import pytest
from sqlmodel import func, select

from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import AuditEvent, StatusPage, StatusPageService
from tests.helpers import create_key, create_org, gql
from tests.status_api import create_page, create_service

CREATE = """
mutation($i: CreateStatusPageInput!) {
  createStatusPage(input: $i) {
    statusPage {
      id name slug statusPageVisibility isDefault primaryColor secondaryColor tagline logoUrl faviconUrl
      themeMode theme fontFamily headerLayout borderRadius showSubscribe showIncidentHistory showUptime
      announcement announcementStyle announcementVisible createdAt updatedAt
      services { id name }
    }
    userErrors { field code message }
  }
}
"""
UPDATE = """
mutation($id: ID!, $i: UpdateStatusPageInput!) {
  updateStatusPage(id: $id, input: $i) {
    statusPage { id slug tagline primaryColor fontFamily services { name } }
    userErrors { field code message }
  }
}
"""


async def counts(db: SessionFactory) -> tuple[int, int, int]:
    async with db() as session:
        pages = (await session.exec(select(func.count()).select_from(StatusPage))).one()
        links = (await session.exec(select(func.count()).select_from(StatusPageService))).one()
        events = (await session.exec(select(func.count()).select_from(AuditEvent))).one()
    return pages, links, events


async def create(client: httpx.AsyncClient, key: str, **fields: Any) -> dict[str, Any]:
    variables = {"i": {"name": "Acme Status", "slug": "acme-status", **fields}}
    response = await gql(client, CREATE, variables, key=key)
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()["data"]["createStatusPage"]
    return payload


async def org_key(db: SessionFactory, clock: FrozenClock, slug: str, plan: str) -> str:
    organization = await create_org(db, clock, slug=slug, plan=plan)
    return (await create_key(db, clock, organization, scopes=["*:*"])).secret


class TestCreateStatusPage:
    async def test_it_takes_every_field_of_the_reference(self, client, clock, people):
        api = await create_service(client, people.alice.secret, "API")
        web = await create_service(client, people.alice.secret, "Website")
        created = await create(
            client,
            people.alice.secret,
            name="Partner Dashboard",
            slug="acme-partners",
            statusPageVisibility="PRIVATE",
            serviceIds=[web, api],
            primaryColor="#6366f1",
            secondaryColor="#3B82F6",
            tagline="Real-time system health",
            logoUrl="https://cdn.example.com/logo.png",
            faviconUrl="https://cdn.example.com/favicon.ico",
            themeMode="DARK",
            theme="OCEAN",
            fontFamily="DM_SANS",
            headerLayout="LEFT_ALIGNED",
            borderRadius="PILL",
            showSubscribe=False,
            showIncidentHistory=False,
            showUptime=False,
            announcement="Scheduled upgrade tonight",
            announcementStyle="MAINTENANCE",
            announcementVisible=True,
        )
        assert created["userErrors"] == []
        page = created["statusPage"]
        assert page["id"].startswith("page_")
        assert {k: v for k, v in page.items() if k not in ("id", "createdAt", "updatedAt")} == {
            "name": "Partner Dashboard",
            "slug": "acme-partners",
            "statusPageVisibility": "PRIVATE",
            "isDefault": True,
            "primaryColor": "#6366f1",
            "secondaryColor": "#3B82F6",
            "tagline": "Real-time system health",
            "logoUrl": "https://cdn.example.com/logo.png",
            "faviconUrl": "https://cdn.example.com/favicon.ico",
            "themeMode": "DARK",
            "theme": "OCEAN",
            "fontFamily": "DM_SANS",
            "headerLayout": "LEFT_ALIGNED",
            "borderRadius": "PILL",
            "showSubscribe": False,
            "showIncidentHistory": False,
            "showUptime": False,
            "announcement": "Scheduled upgrade tonight",
            "announcementStyle": "MAINTENANCE",
            "announcementVisible": True,
            "services": [{"id": web, "name": "Website"}, {"id": api, "name": "API"}],
        }
        assert page["createdAt"] == page["updatedAt"] == clock().isoformat()

    async def test_fields_left_out_take_the_reference_defaults(self, client, people):
        page = (await create(client, people.alice.secret))["statusPage"]
        assert (
            page["statusPageVisibility"],
            page["themeMode"],
            page["theme"],
            page["fontFamily"],
        ) == ("PUBLIC", "SYSTEM", "DEFAULT", "INTER")
        assert (page["headerLayout"], page["borderRadius"], page["announcementStyle"]) == (
            "CENTERED",
            "ROUNDED",
            "INFO",
        )

    async def test_only_the_first_page_is_the_default(self, client, people):
        first = (await create(client, people.alice.secret, slug="one"))["statusPage"]
        second = (await create(client, people.alice.secret, slug="two"))["statusPage"]
        assert (first["isDefault"], second["isDefault"]) == (True, False)

    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            (
                {"slug": "Acme_Status"},
                (
                    "slug",
                    "INVALID",
                    "Slug must contain only lowercase letters, numbers, and hyphens",
                ),
            ),
            (
                {"slug": ""},
                (
                    "slug",
                    "INVALID",
                    "Slug must contain only lowercase letters, numbers, and hyphens",
                ),
            ),
            (
                {"primaryColor": "#12345"},
                ("primaryColor", "INVALID", "Invalid primary_color format (use #RRGGBB)"),
            ),
            (
                {"primaryColor": "red"},
                ("primaryColor", "INVALID", "Invalid primary_color format (use #RRGGBB)"),
            ),
            (
                {"secondaryColor": "#GGGGGG"},
                ("secondaryColor", "INVALID", "Invalid secondary_color format (use #RRGGBB)"),
            ),
            ({"name": " "}, ("name", "INVALID", "Name is required")),
            (
                {"logoUrl": "javascript:alert(1)"},
                ("logoUrl", "INVALID", "logoUrl must be an http(s) URL"),
            ),
            (
                {"serviceIds": ["svc_doesnotexist"]},
                ("serviceIds", "NOT_FOUND", "Service not found: svc_doesnotexist"),
            ),
        ],
    )
    async def test_it_rejects_bad_input_and_writes_nothing(
        self, client, db, people, fields, expected
    ):
        before = await counts(db)
        created = await create(client, people.alice.secret, **fields)
        assert created["statusPage"] is None
        assert [(e["field"], e["code"], e["message"]) for e in created["userErrors"]] == [expected]
        assert await counts(db) == before

    async def test_an_unknown_font_family_is_refused_by_the_schema(self, client, db, people):
        before = await counts(db)
        response = await gql(
            client,
            CREATE,
            {"i": {"name": "x", "slug": "x", "fontFamily": "COMIC_SANS"}},
            key=people.alice.secret,
        )
        assert response.status_code == 200  # a request error, under application/json
        assert "data" not in response.json()
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "COMIC_SANS" in response.json()["errors"][0]["message"]
        assert await counts(db) == before

    async def test_slugs_are_unique_across_organizations(self, client, db, people):
        await create(client, people.charlie.secret, slug="taken")
        before = await counts(db)
        created = await create(client, people.alice.secret, slug="taken")
        assert created["userErrors"] == [
            {"field": "slug", "code": "SLUG_TAKEN", "message": "This slug is already taken"}
        ]
        assert await counts(db) == before

    @pytest.mark.parametrize(("plan", "limit"), [("starter", 1), ("pro", 2), ("team", 3)])
    async def test_each_plan_refuses_the_page_past_its_limit_and_writes_nothing(
        self, client, db, clock, plan, limit
    ):
        key = await org_key(db, clock, plan, plan)
        for index in range(limit):
            assert (await create(client, key, slug=f"{plan}-{index}"))["userErrors"] == []
        before = await counts(db)
        refused = await create(client, key, slug=f"{plan}-extra")
        assert refused["userErrors"] == [
            {"field": "statusPage", "code": "PLAN_LIMIT_REACHED", "message": "Plan limit reached"}
        ]
        assert await counts(db) == before

    async def test_an_enterprise_organization_has_no_page_limit(self, client, people):
        for index in range(5):
            assert (await create(client, people.alice.secret, slug=f"ent-{index}"))[
                "userErrors"
            ] == []

    @pytest.mark.parametrize(
        ("plan", "visibility", "allowed"),
        [
            ("starter", "PRIVATE", False),
            ("starter", "INTERNAL", False),
            ("pro", "PRIVATE", True),
            ("pro", "INTERNAL", False),
            ("team", "INTERNAL", True),
        ],
    )
    async def test_visibility_depends_on_the_plan(
        self, client, db, clock, plan, visibility, allowed
    ):
        key = await org_key(db, clock, f"{plan}-vis", plan)
        created = await create(
            client, key, slug=f"{plan}-{visibility.lower()}", statusPageVisibility=visibility
        )
        if allowed:
            assert created["userErrors"] == []
        else:
            assert created["userErrors"] == [
                {
                    "field": "statusPageVisibility",
                    "code": "PLAN_LIMIT",
                    "message": f"{visibility} pages are not available on the {plan} plan",
                }
            ]

    async def test_a_freed_slot_can_be_used_again(self, client, db, clock):
        key = await org_key(db, clock, "starter-again", "starter")
        page = (await create(client, key, slug="first"))["statusPage"]
        delete = (
            "mutation($id: ID!) { deleteStatusPage(id: $id) { deletedId userErrors { code } } }"
        )
        assert (await gql(client, delete, {"id": page["id"]}, key=key)).json()["data"][
            "deleteStatusPage"
        ]["deletedId"] == page["id"]
        assert (await create(client, key, slug="second"))["userErrors"] == []


class TestConcurrency:
    async def test_ten_creates_of_one_slug_make_exactly_one_page(self, client, db, people):
        results = await asyncio.gather(
            *(create(client, people.alice.secret, slug="race") for _ in range(10))
        )
        winners = [r for r in results if r["statusPage"] is not None]
        losers = [r for r in results if r["statusPage"] is None]
        assert len(winners) == 1
        assert all(
            r["userErrors"]
            == [{"field": "slug", "code": "SLUG_TAKEN", "message": "This slug is already taken"}]
            for r in losers
        )
        async with db() as session:
            assert (
                await session.exec(
                    select(func.count()).select_from(StatusPage).where(StatusPage.slug == "race")
                )
            ).one() == 1

    async def test_concurrent_creates_never_exceed_the_starter_limit(self, client, db, clock):
        key = await org_key(db, clock, "starter-race", "starter")
        results = await asyncio.gather(*(create(client, key, slug=f"s-{i}") for i in range(10)))
        assert sum(r["statusPage"] is not None for r in results) == 1
        assert all(
            r["userErrors"]
            == [
                {
                    "field": "statusPage",
                    "code": "PLAN_LIMIT_REACHED",
                    "message": "Plan limit reached",
                }
            ]
            for r in results
            if r["statusPage"] is None
        )
        async with db() as session:
            pages = (
                await session.exec(select(StatusPage).where(StatusPage.slug.startswith("s-")))
            ).all()
        assert len(pages) == 1
        assert pages[0].is_default is True

    async def test_concurrent_first_pages_get_one_default(self, client, db, clock):
        key = await org_key(db, clock, "ent-race", "enterprise")
        results = await asyncio.gather(*(create(client, key, slug=f"e-{i}") for i in range(6)))
        assert all(r["userErrors"] == [] for r in results)
        assert sum(r["statusPage"]["isDefault"] for r in results) == 1


class TestUpdateAndDelete:
    async def test_it_changes_only_what_was_sent(self, client, people):
        a = await create_service(client, people.alice.secret, "A")
        b = await create_service(client, people.alice.secret, "B")
        page_id = await create_page(
            client,
            people.alice.secret,
            "docs",
            tagline="Old",
            serviceIds=[a, b],
            fontFamily="POPPINS",
        )
        response = await gql(
            client,
            UPDATE,
            {"id": page_id, "i": {"tagline": "New", "serviceIds": [b, a]}},
            key=people.alice.secret,
        )
        payload = response.json()["data"]["updateStatusPage"]
        assert payload["userErrors"] == []
        assert payload["statusPage"] == {
            "id": page_id,
            "slug": "docs",
            "tagline": "New",
            "primaryColor": None,
            "fontFamily": "POPPINS",
            "services": [{"name": "B"}, {"name": "A"}],
        }

    async def test_it_refuses_a_taken_slug_and_writes_nothing(self, client, db, people):
        await create_page(client, people.charlie.secret, "theirs")
        page_id = await create_page(client, people.alice.secret, "ours")
        before = await counts(db)
        response = await gql(
            client,
            UPDATE,
            {"id": page_id, "i": {"slug": "theirs", "tagline": "x"}},
            key=people.alice.secret,
        )
        assert response.json()["data"]["updateStatusPage"] == {
            "statusPage": None,
            "userErrors": [
                {"field": "slug", "code": "SLUG_TAKEN", "message": "This slug is already taken"}
            ],
        }
        assert await counts(db) == before
        check = await gql(
            client,
            "query($id: ID!) { statusPage(id: $id) { slug tagline } }",
            {"id": page_id},
            key=people.alice.secret,
        )
        assert check.json()["data"]["statusPage"] == {"slug": "ours", "tagline": None}

    async def test_deleting_the_default_promotes_the_oldest_remaining_page(
        self, client, clock, people
    ):
        first = await create_page(client, people.alice.secret, "first")
        clock.advance(seconds=1)
        second = await create_page(client, people.alice.secret, "second")
        clock.advance(seconds=1)
        await create_page(client, people.alice.secret, "third")
        await gql(
            client,
            "mutation($id: ID!) { deleteStatusPage(id: $id) { deletedId } }",
            {"id": first},
            key=people.alice.secret,
        )
        response = await gql(
            client, "{ statusPages { edges { node { id isDefault } } } }", key=people.alice.secret
        )
        defaults = {
            e["node"]["id"]: e["node"]["isDefault"]
            for e in response.json()["data"]["statusPages"]["edges"]
        }
        assert defaults[second] is True
        assert sum(defaults.values()) == 1

    async def test_it_needs_status_pages_write(self, client, db, clock, people):
        reader = await create_key(
            db, clock, people.alice.organization, scopes=["status_pages:read"]
        )
        response = await gql(client, CREATE, {"i": {"name": "x", "slug": "x"}}, key=reader.secret)
        assert response.status_code == 403
        assert (
            response.json()["errors"][0]["message"]
            == "Insufficient scope: status_pages:write required"
        )
