"""Slug probing costs (issue #12, item 8).

Slugs are unique across organizations (reference 004), so `createStatusPage` with another
organization's private or internal page's slug answers `This slug is already taken`,
which `publicStatusPage` would not confirm. The message stays; what bounds the probing is
that a refused creation is charged to the write bucket like any other mutation. One
mutation per request, so this holds whether the limiter charges per request or per root
mutation field.
"""

import pytest
from sqlmodel import func, select

from statusgraph.config import PlanLimits, Settings
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import AuditEvent, StatusPage
from tests.helpers import gql
from tests.status_api import create_page

WRITE_LIMIT = 3
PROBE = """
mutation($slug: String!) {
  createStatusPage(input: {name: "Probe", slug: $slug}) {
    statusPage { id }
    userErrors { field code message }
  }
}
"""
PUBLIC = "query($slug: String!) { publicStatusPage(slug: $slug) { name } }"
TAKEN = [{"field": "slug", "code": "SLUG_TAKEN", "message": "This slug is already taken"}]
RATE_LIMITED = {
    "errors": [{"message": "Rate limit exceeded", "extensions": {"code": "RATE_LIMITED"}}]
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The personas' organizations are on the enterprise plan: a read/write split.
    limits = PlanLimits(read="1000/minute", write=f"{WRITE_LIMIT}/minute")
    return settings.model_copy(update={"rate_limit_plans": {"enterprise": limits}})


async def counts(db: SessionFactory) -> tuple[int, int]:
    async with db() as session:
        pages = (await session.exec(select(func.count()).select_from(StatusPage))).one()
        events = (await session.exec(select(func.count()).select_from(AuditEvent))).one()
    return pages, events


@pytest.mark.parametrize("visibility", ["PRIVATE", "INTERNAL"])
async def test_probing_a_hidden_pages_slug_is_charged_to_the_write_bucket(
    client, db, people, visibility
):
    await create_page(
        client, people.charlie.secret, "secret-launch", statusPageVisibility=visibility
    )
    anonymous = await gql(client, PUBLIC, {"slug": "secret-launch"})
    assert anonymous.json()["errors"][0]["extensions"] == {"code": "NOT_FOUND"}
    before = await counts(db)

    for remaining in range(WRITE_LIMIT - 1, -1, -1):
        probe = await gql(client, PROBE, {"slug": "secret-launch"}, key=people.alice.secret)
        assert probe.status_code == 200
        assert probe.json()["data"]["createStatusPage"] == {"statusPage": None, "userErrors": TAKEN}
        assert probe.headers["x-ratelimit-limit"] == str(WRITE_LIMIT)
        assert probe.headers["x-ratelimit-remaining"] == str(remaining)

    blocked = await gql(client, PROBE, {"slug": "secret-launch"}, key=people.alice.secret)
    assert blocked.status_code == 429
    assert blocked.json() == RATE_LIMITED
    assert int(blocked.headers["retry-after"]) >= 1
    # A free slug is refused too once the bucket is empty: probing cannot be told apart.
    free = await gql(client, PROBE, {"slug": "free-slug"}, key=people.alice.secret)
    assert free.status_code == 429
    assert free.json() == RATE_LIMITED
    assert await counts(db) == before
