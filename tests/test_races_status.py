"""Concurrent mutations of status pages, incidents and maintenance windows resolve as
if they ran one after another (see tests/races.py for how a burst is run)."""

from collections.abc import Sequence
from typing import Any, TypeVar

import httpx
from sqlmodel import SQLModel, col, select

from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import (
    IncidentService,
    IncidentUpdate,
    MaintenanceService,
    StatusPage,
    StatusPageService,
)
from tests.helpers import create_key, create_org
from tests.races import (
    N,
    audit_entries,
    burst,
    burst_mixed,
    not_found,
    one_wins,
    outcomes,
    user_error,
)
from tests.status_api import create_incident, create_page, create_service, create_window

CREATE_PAGE = "mutation($i: CreateStatusPageInput!) { createStatusPage(input: $i) { statusPage { id isDefault } userErrors { field code message } } }"
UPDATE_PAGE = "mutation($id: ID!, $i: UpdateStatusPageInput!) { updateStatusPage(id: $id, input: $i) { statusPage { id } userErrors { field code message } } }"
DELETE_PAGE = "mutation($id: ID!) { deleteStatusPage(id: $id) { deletedId userErrors { field code message } } }"
CREATE_INCIDENT = "mutation($i: CreateIncidentInput!) { createIncident(input: $i) { incident { id } userErrors { field code message } } }"
POST_UPDATE = "mutation($id: ID!, $i: PostIncidentUpdateInput!) { postIncidentUpdate(id: $id, input: $i) { update { id } userErrors { field code message } } }"
RESOLVE = "mutation($id: ID!) { resolveIncident(id: $id) { incident { status } userErrors { field code message } } }"
EDIT_INCIDENT = "mutation($id: ID!, $title: String!) { updateIncident(id: $id, input: {title: $title}) { incident { id } userErrors { field code message } } }"
DELETE_INCIDENT = (
    "mutation($id: ID!) { deleteIncident(id: $id) { deletedId userErrors { field code message } } }"
)
DELETE_SERVICE = (
    "mutation($id: ID!) { deleteService(id: $id) { deletedId userErrors { field code message } } }"
)
UPDATE_WINDOW = "mutation($id: ID!, $i: UpdateMaintenanceWindowInput!) { updateMaintenanceWindow(id: $id, input: $i) { maintenanceWindow { id } userErrors { field code message } } }"
CANCEL_WINDOW = "mutation($id: ID!) { cancelMaintenanceWindow(id: $id) { maintenanceWindow { status } userErrors { field code message } } }"
DELETE_WINDOW = "mutation($id: ID!) { deleteMaintenanceWindow(id: $id) { deletedId userErrors { field code message } } }"
ALREADY_RESOLVED = user_error("id", "ALREADY_RESOLVED", "Incident is already resolved")


Row = TypeVar("Row", bound=SQLModel)


async def services_of(
    db: SessionFactory, model: type[Row], column: Any, owner: str
) -> Sequence[Row]:
    """The rows of `model` whose `column` (a column of `model`) is `owner`."""
    async with db() as session:
        rows = (await session.exec(select(model).where(col(column) == owner))).all()
    return rows


class TestStatusPages:
    async def test_concurrent_creates_stop_at_the_plan_limit(self, client, db, clock):
        organization = await create_org(db, clock, slug="teamco", plan="team")
        key = (await create_key(db, clock, organization, scopes=["*:*"])).secret
        pages = [{"i": {"name": "Status", "slug": f"team-{i}"}} for i in range(N)]
        won, lost = outcomes(await burst(client, db, key, CREATE_PAGE, pages), "createStatusPage")
        assert len(won) == 3  # the team plan's limit
        limit = user_error("statusPage", "PLAN_LIMIT_REACHED", "Plan limit reached")
        assert lost == [limit] * (N - 3)
        assert [page["statusPage"]["isDefault"] for page in won].count(True) == 1
        assert await audit_entries(db, "status_page.created") == 3

    async def test_concurrent_service_lists_leave_one_of_them_whole(self, client, db, people):
        key = people.alice.secret
        ids = [await create_service(client, key, f"svc {i}") for i in range(4)]
        page = await create_page(client, key, "acme")
        lists = [ids[i:] + ids[:i] for i in range(4)] * (N // 4)
        variables = [{"id": page, "i": {"serviceIds": each}} for each in lists]
        won, lost = outcomes(
            await burst(client, db, key, UPDATE_PAGE, variables), "updateStatusPage"
        )
        assert (len(won), lost) == (N, [])
        rows = await services_of(db, StatusPageService, StatusPageService.page_id, page)
        shown = [row.service_id for row in sorted(rows, key=lambda row: row.position)]
        assert shown in lists
        assert await audit_entries(db, "status_page.updated", page) == N

    async def test_concurrent_deletes_delete_once(self, client, db, people):
        page = await create_page(client, people.alice.secret, "acme")
        bodies = await burst(client, db, people.alice.secret, DELETE_PAGE, [{"id": page}] * N)
        one_wins(bodies, "deleteStatusPage", not_found("StatusPage"))
        assert await audit_entries(db, "status_page.deleted", page) == 1

    async def test_deleting_the_default_and_its_successor_at_once_leaves_one_default(
        self, client, db, people
    ):
        key = people.alice.secret
        default, successor, last = [await create_page(client, key, f"p-{i}") for i in range(3)]
        calls = [(DELETE_PAGE, {"id": default}), (DELETE_PAGE, {"id": successor})] * (N // 2)
        bodies = await burst_mixed(client, db, key, calls)
        assert len(outcomes(bodies, "deleteStatusPage")[0]) == 2
        async with db() as session:
            remaining = (await session.exec(select(StatusPage))).all()
        assert [(page.id, page.is_default) for page in remaining] == [(last, True)]


class TestIncidents:
    async def test_concurrent_resolutions_resolve_once(self, client, db, people):
        incident = await create_incident(client, people.alice.secret, "Outage")
        bodies = await burst(client, db, people.alice.secret, RESOLVE, [{"id": incident}] * N)
        one_wins(bodies, "resolveIncident", ALREADY_RESOLVED)
        assert await audit_entries(db, "incident.resolved", incident) == 1
        updates = await services_of(db, IncidentUpdate, IncidentUpdate.incident_id, incident)
        assert [update.status for update in updates].count("resolved") == 1

    async def test_concurrent_resolving_updates_resolve_once(self, client, db, people):
        incident = await create_incident(client, people.alice.secret, "Outage")
        post = {"id": incident, "i": {"status": "RESOLVED", "message": "Fixed"}}
        bodies = await burst(client, db, people.alice.secret, POST_UPDATE, [post] * N)
        one_wins(bodies, "postIncidentUpdate", ALREADY_RESOLVED)
        assert await audit_entries(db, "incident.resolved", incident) == 1

    async def test_concurrent_updates_adding_one_service_add_it_once(self, client, db, people):
        key = people.alice.secret
        service = await create_service(client, key, "API")
        incident = await create_incident(client, key, "Outage")
        effect = [{"serviceId": service, "status": "MAJOR_OUTAGE"}]
        post = {
            "id": incident,
            "i": {"status": "IDENTIFIED", "message": "Found", "services": effect},
        }
        won, lost = outcomes(
            await burst(client, db, key, POST_UPDATE, [post] * N), "postIncidentUpdate"
        )
        assert (len(won), lost) == (N, [])
        held = await services_of(db, IncidentService, IncidentService.incident_id, incident)
        assert [(row.service_id, row.status) for row in held] == [(service, "major_outage")]
        assert await audit_entries(db, "incident.updated", incident) == N

    async def test_concurrent_edits_all_apply_and_each_is_audited(self, client, db, people):
        incident = await create_incident(client, people.alice.secret, "Outage")
        titles = [{"id": incident, "title": f"Outage {i}"} for i in range(N)]
        won, lost = outcomes(
            await burst(client, db, people.alice.secret, EDIT_INCIDENT, titles), "updateIncident"
        )
        assert (len(won), lost) == (N, [])
        assert await audit_entries(db, "incident.edited", incident) == N

    async def test_concurrent_deletes_delete_once(self, client, db, people):
        incident = await create_incident(client, people.alice.secret, "Outage")
        bodies = await burst(
            client, db, people.alice.secret, DELETE_INCIDENT, [{"id": incident}] * N
        )
        one_wins(bodies, "deleteIncident", not_found("Incident"))
        assert await audit_entries(db, "incident.deleted", incident) == 1

    async def test_an_incident_naming_a_service_being_deleted_is_refused_cleanly(
        self, client, db, people
    ):
        # The reference check locks the services it found, so a delete either waits for
        # the incident (and then removes its link) or the incident sees the service gone.
        key = people.alice.secret
        services = [await create_service(client, key, f"svc {i}") for i in range(N // 2)]
        calls: list[tuple[str, dict[str, Any]]] = []
        for service in services:
            effect = [{"serviceId": service, "status": "MAJOR_OUTAGE"}]
            calls.append(
                (CREATE_INCIDENT, {"i": {"title": "x", "message": "y", "services": effect}})
            )
            calls.append((DELETE_SERVICE, {"id": service}))
        bodies = await burst_mixed(client, db, key, calls)
        for (document, variables), body in zip(calls, bodies, strict=True):
            if document is DELETE_SERVICE:
                assert body["data"]["deleteService"]["userErrors"] == [], body
                continue
            errors = body["data"]["createIncident"]["userErrors"]
            service = variables["i"]["services"][0]["serviceId"]
            assert errors in (
                [],
                user_error("services", "NOT_FOUND", f"Service not found: {service}"),
            )


class TestMaintenanceWindows:
    async def window(
        self, client: httpx.AsyncClient, key: str, service_ids: Sequence[str] = ()
    ) -> str:
        return await create_window(
            client,
            key,
            "Upgrade",
            "2026-03-03T09:00:00+00:00",
            "2026-03-03T10:00:00+00:00",
            list(service_ids),
        )

    async def test_concurrent_service_lists_leave_one_of_them_whole(self, client, db, people):
        key = people.alice.secret
        ids = [await create_service(client, key, f"svc {i}") for i in range(4)]
        window = await self.window(client, key, ids[:1])
        lists = [ids[: i + 1] for i in range(4)] * (N // 4)
        variables = [{"id": window, "i": {"serviceIds": each}} for each in lists]
        won, lost = outcomes(
            await burst(client, db, key, UPDATE_WINDOW, variables), "updateMaintenanceWindow"
        )
        assert (len(won), lost) == (N, [])
        rows = await services_of(db, MaintenanceService, MaintenanceService.maintenance_id, window)
        assert sorted(row.service_id for row in rows) in [sorted(each) for each in lists]

    async def test_concurrent_cancellations_cancel_once(self, client, db, people):
        window = await self.window(client, people.alice.secret)
        bodies = await burst(client, db, people.alice.secret, CANCEL_WINDOW, [{"id": window}] * N)
        loser = user_error("id", "CANCELLED", "Maintenance window is already cancelled")
        one_wins(bodies, "cancelMaintenanceWindow", loser)
        assert await audit_entries(db, "maintenance.cancelled", window) == 1

    async def test_concurrent_deletes_delete_once(self, client, db, people):
        window = await self.window(client, people.alice.secret)
        bodies = await burst(client, db, people.alice.secret, DELETE_WINDOW, [{"id": window}] * N)
        one_wins(bodies, "deleteMaintenanceWindow", not_found("MaintenanceWindow"))
        assert await audit_entries(db, "maintenance.deleted", window) == 1
