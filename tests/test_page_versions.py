"""Page versions (db/page_versions.py): every write that can change a status page raises
its organization's counter in the same transaction, and a second app on the same
database (another process's view) serves the change within its check interval."""

import asyncio

import httpx
from sqlmodel import select

from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import PageVersion
from tests.helpers import gql
from tests.status_api import create_incident, create_page, create_service, mutate
from tests.test_heartbeats import heartbeat, ping
from tests.test_public_status_page import read

RESOLVE = "mutation($id: ID!) { resolveIncident(id: $id) { userErrors { code } } }"
UPDATE_PAGE = "mutation($id: ID!, $i: UpdateStatusPageInput!) { updateStatusPage(id: $id, input: $i) { userErrors { code } } }"
UPDATE_SERVICE = "mutation($id: ID!, $i: UpdateServiceInput!) { updateService(id: $id, input: $i) { userErrors { code } } }"
LINK = "mutation($id: ID!, $i: UpdateMonitorInput!) { updateMonitor(id: $id, input: $i) { userErrors { code } } }"


async def version_of(db: SessionFactory, organization_id: str) -> int:
    async with db() as session:
        row = (
            await session.exec(
                select(PageVersion).where(PageVersion.organization_id == organization_id)
            )
        ).first()
    return row.version if row else 0


def overall(response: httpx.Response) -> str:
    status: str = response.json()["data"]["publicStatusPage"]["overallStatus"]
    return status


class TestWritesRaiseTheVersion:
    async def test_each_kind_of_write_raises_its_organization_s_counter_only(
        self, client, db, people
    ):
        key, acme, globex = (
            people.alice.secret,
            people.alice.organization.id,
            people.charlie.organization.id,
        )
        seen = [await version_of(db, acme)]

        async def raised() -> None:
            now = await version_of(db, acme)
            assert now > seen[-1]
            seen.append(now)

        api = await create_service(client, key, "API")
        await raised()
        page = await create_page(client, key, "versioned", serviceIds=[api])
        await raised()
        await mutate(
            client, key, UPDATE_PAGE, {"id": page, "i": {"tagline": "t"}}, "updateStatusPage"
        )
        await raised()
        await mutate(
            client, key, UPDATE_SERVICE, {"id": api, "i": {"name": "Api"}}, "updateService"
        )
        await raised()
        incident = await create_incident(client, key, "Down", [(api, "MAJOR_OUTAGE")])
        await raised()
        await gql(
            client,
            'mutation($id: ID!) { postIncidentUpdate(id: $id, input: {status: IDENTIFIED, message: "found"}) { userErrors { code } } }',
            {"id": incident},
            key=key,
        )
        await raised()
        await mutate(client, key, RESOLVE, {"id": incident}, "resolveIncident")
        await raised()
        monitor = await heartbeat(client, key)
        await mutate(client, key, LINK, {"id": monitor, "i": {"serviceId": api}}, "updateMonitor")
        await raised()
        # A ping that changes the monitor's status (PENDING -> UP) goes through the
        # heartbeat writers' own batch; a second, changing nothing, raises nothing.
        assert (await ping(client, key, monitor)).status_code == 200
        await raised()
        assert (await ping(client, key, monitor)).status_code == 200
        assert await version_of(db, acme) == seen[-1]
        assert await version_of(db, globex) == 0

    async def test_a_rolled_back_write_raises_nothing(self, client, db, people):
        key, acme = people.alice.secret, people.alice.organization.id
        await create_service(client, key, "API")
        before = await version_of(db, acme)
        refused = await gql(
            client,
            'mutation { createService(input: {name: ""}) { userErrors { code } } }',
            key=key,
        )
        assert refused.json()["data"]["createService"]["userErrors"]
        assert await version_of(db, acme) == before


class TestTwoProcesses:
    async def test_a_write_through_one_app_shows_through_the_other_within_the_interval(
        self, app_with, people
    ):
        _, writer = await app_with(page_version_check_seconds=0.2)
        _, reader = await app_with(page_version_check_seconds=0.2, public_cache_seconds=60)
        key = people.alice.secret
        api = await create_service(writer, key, "API")
        await create_page(writer, key, "shared", serviceIds=[api])
        assert overall(await read(reader, "shared")) == "OPERATIONAL"
        await create_incident(writer, key, "Down", [(api, "MAJOR_OUTAGE")])
        await asyncio.sleep(0.25)
        assert overall(await read(reader, "shared")) == "MAJOR_OUTAGE"

    async def test_within_the_interval_the_other_app_may_still_serve_its_copy(
        self, app_with, people
    ):
        # The bound is real: with a long interval and TTL, the reader keeps its copy.
        _, writer = await app_with()
        _, reader = await app_with(page_version_check_seconds=60, public_cache_seconds=60)
        key = people.alice.secret
        api = await create_service(writer, key, "API")
        await create_page(writer, key, "lazy", serviceIds=[api])
        assert overall(await read(reader, "lazy")) == "OPERATIONAL"
        await create_incident(writer, key, "Down", [(api, "MAJOR_OUTAGE")])
        assert overall(await read(reader, "lazy")) == "OPERATIONAL"
        assert overall(await read(writer, "lazy")) == "MAJOR_OUTAGE"
