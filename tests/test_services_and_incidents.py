"""Services, incidents and maintenance windows, and the status a service shows."""

from datetime import timedelta

import httpx
import pytest
from sqlmodel import SQLModel, func, select

from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import (
    AuditEvent,
    Incident,
    IncidentService,
    IncidentUpdate,
    MaintenanceWindow,
    Service,
)
from tests.helpers import gql
from tests.status_api import create_incident, create_service, create_window

STATUS = "query($id: ID!) { service(id: $id) { status manualStatus } }"
POST_UPDATE = """
mutation($id: ID!, $i: PostIncidentUpdateInput!) {
  postIncidentUpdate(id: $id, input: $i) {
    incident { status resolvedAt }
    update { status message author { label } serviceStatuses { serviceId status } }
    userErrors { field code message }
  }
}
"""
RESOLVE = "mutation($id: ID!) { resolveIncident(id: $id) { incident { status resolvedAt } userErrors { field code message } } }"


async def status_of(client: httpx.AsyncClient, key: str, service_id: str) -> str:
    response = await gql(client, STATUS, {"id": service_id}, key=key)
    status: str = response.json()["data"]["service"]["status"]
    return status


async def rows(db: SessionFactory, model: type[SQLModel]) -> int:
    async with db() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


class TestServices:
    async def test_services_are_created_grouped_listed_reordered_updated_and_deleted(
        self, client, people
    ):
        key = people.alice.secret
        group = await gql(
            client,
            'mutation { createServiceGroup(name: "Core") { serviceGroup { id name } userErrors { code } } }',
            key=key,
        )
        group_id = group.json()["data"]["createServiceGroup"]["serviceGroup"]["id"]
        a = await create_service(client, key, "API", groupId=group_id, description="Public API")
        b = await create_service(client, key, "Web")
        c = await create_service(client, key, "Jobs")
        listed = await gql(
            client,
            "{ services { totalCount edges { node { name position group { name } } } } }",
            key=key,
        )
        assert [e["node"]["name"] for e in listed.json()["data"]["services"]["edges"]] == [
            "API",
            "Web",
            "Jobs",
        ]
        assert listed.json()["data"]["services"]["edges"][0]["node"]["group"] == {"name": "Core"}

        reorder = await gql(
            client,
            "mutation($ids: [ID!]!) { reorderServices(serviceIds: $ids) { services { name position } userErrors { code } } }",
            {"ids": [c, a]},
            key=key,
        )
        assert reorder.json()["data"]["reorderServices"]["services"] == [
            {"name": "Jobs", "position": 0},
            {"name": "API", "position": 1},
            {"name": "Web", "position": 2},
        ]
        update = await gql(
            client,
            'mutation($id: ID!) { updateService(id: $id, input: {name: "Website", groupId: null}) { service { name group { id } description } userErrors { code } } }',
            {"id": b},
            key=key,
        )
        assert update.json()["data"]["updateService"]["service"] == {
            "name": "Website",
            "group": None,
            "description": None,
        }

        await gql(
            client,
            "mutation($id: ID!) { deleteServiceGroup(id: $id) { deletedId } }",
            {"id": group_id},
            key=key,
        )
        ungrouped = await gql(
            client, "query($id: ID!) { service(id: $id) { group { id } } }", {"id": a}, key=key
        )
        assert ungrouped.json()["data"]["service"]["group"] is None

        deleted = await gql(
            client,
            "mutation($id: ID!) { deleteService(id: $id) { deletedId } }",
            {"id": c},
            key=key,
        )
        assert deleted.json()["data"]["deleteService"]["deletedId"] == c

    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            ({"name": ""}, ("name", "INVALID", "name must not be blank")),
            ({"name": "x" * 201}, ("name", "INVALID", "name must be at most 200 characters")),
            (
                {"name": "ok", "groupId": "grp_nope"},
                ("groupId", "NOT_FOUND", "ServiceGroup not found: grp_nope"),
            ),
        ],
    )
    async def test_it_rejects_bad_input_and_writes_nothing(
        self, client, db, people, fields, expected
    ):
        before = (await rows(db, Service), await rows(db, AuditEvent))
        response = await gql(
            client,
            "mutation($i: CreateServiceInput!) { createService(input: $i) { service { id } userErrors { field code message } } }",
            {"i": fields},
            key=people.alice.secret,
        )
        payload = response.json()["data"]["createService"]
        assert payload["service"] is None
        assert [(e["field"], e["code"], e["message"]) for e in payload["userErrors"]] == [expected]
        assert (await rows(db, Service), await rows(db, AuditEvent)) == before

    async def test_reordering_with_an_unknown_or_repeated_id_is_refused_naming_each(
        self, client, db, people
    ):
        a = await create_service(client, people.alice.secret, "A")
        response = await gql(
            client,
            "mutation($ids: [ID!]!) { reorderServices(serviceIds: $ids) { services { name } userErrors { field code message } } }",
            {"ids": [a, "svc_x", a]},
            key=people.alice.secret,
        )
        assert response.json()["data"]["reorderServices"]["userErrors"] == [
            {"field": "serviceIds", "code": "NOT_FOUND", "message": "Service not found: svc_x"},
            {
                "field": "serviceIds",
                "code": "DUPLICATE",
                "message": "serviceIds lists the same Service twice",
            },
        ]


class TestIncidents:
    async def test_an_incident_holds_its_services_until_resolved(self, client, people):
        key = people.alice.secret
        api = await create_service(client, key, "API")
        incident = await create_incident(
            client, key, "API down", [(api, "MAJOR_OUTAGE")], impact="CRITICAL"
        )
        assert await status_of(client, key, api) == "MAJOR_OUTAGE"

        degraded = await gql(
            client,
            POST_UPDATE,
            {
                "id": incident,
                "i": {
                    "status": "MONITORING",
                    "message": "Fix deployed",
                    "services": [{"serviceId": api, "status": "DEGRADED_PERFORMANCE"}],
                },
            },
            key=key,
        )
        payload = degraded.json()["data"]["postIncidentUpdate"]
        assert payload["update"] == {
            "status": "MONITORING",
            "message": "Fix deployed",
            "author": {"label": "alice"},
            "serviceStatuses": [{"serviceId": api, "status": "DEGRADED_PERFORMANCE"}],
        }
        assert await status_of(client, key, api) == "DEGRADED_PERFORMANCE"

        resolved = await gql(client, RESOLVE, {"id": incident}, key=key)
        assert resolved.json()["data"]["resolveIncident"]["incident"]["status"] == "RESOLVED"
        assert await status_of(client, key, api) == "OPERATIONAL"

    async def test_resolving_leaves_services_another_incident_holds(self, client, people):
        key = people.alice.secret
        api = await create_service(client, key, "API")
        first = await create_incident(client, key, "Errors", [(api, "PARTIAL_OUTAGE")])
        await create_incident(client, key, "Latency", [(api, "DEGRADED_PERFORMANCE")])
        assert await status_of(client, key, api) == "PARTIAL_OUTAGE"  # the worst wins
        await gql(client, RESOLVE, {"id": first}, key=key)
        assert await status_of(client, key, api) == "DEGRADED_PERFORMANCE"

    async def test_the_manual_status_shows_when_nothing_else_holds(self, client, people):
        key = people.alice.secret
        api = await create_service(client, key, "API", status="PARTIAL_OUTAGE")
        assert await status_of(client, key, api) == "PARTIAL_OUTAGE"
        incident = await create_incident(client, key, "Minor", [(api, "DEGRADED_PERFORMANCE")])
        assert await status_of(client, key, api) == "PARTIAL_OUTAGE"  # the manual status is worse
        await gql(client, RESOLVE, {"id": incident}, key=key)
        assert await status_of(client, key, api) == "PARTIAL_OUTAGE"

    async def test_the_timeline_is_append_only_and_ordered(self, client, clock, people):
        key = people.alice.secret
        incident = await create_incident(client, key, "Outage", message="Investigating")
        clock.advance(minutes=5)
        await gql(
            client,
            POST_UPDATE,
            {"id": incident, "i": {"status": "IDENTIFIED", "message": "Found it"}},
            key=key,
        )
        clock.advance(minutes=5)
        await gql(
            client,
            'mutation($id: ID!) { updateIncident(id: $id, input: {title: "Database outage", impact: MAJOR}) { userErrors { code } } }',
            {"id": incident},
            key=key,
        )
        await gql(client, RESOLVE, {"id": incident}, key=key)
        response = await gql(
            client,
            "query($id: ID!) { incident(id: $id) { title impact status startedAt resolvedAt updates { status message } } }",
            {"id": incident},
            key=key,
        )
        found = response.json()["data"]["incident"]
        assert found["title"] == "Database outage"
        assert found["impact"] == "MAJOR"
        assert found["resolvedAt"] == clock().isoformat()
        assert found["startedAt"] == (clock() - timedelta(minutes=10)).isoformat()
        assert [(u["status"], u["message"]) for u in found["updates"]] == [
            ("INVESTIGATING", "Investigating"),
            ("IDENTIFIED", "Found it"),
            ("RESOLVED", "This incident has been resolved."),
        ]

    async def test_a_resolved_incident_takes_no_more_updates(self, client, db, people):
        key = people.alice.secret
        incident = await create_incident(client, key, "Blip")
        await gql(client, RESOLVE, {"id": incident}, key=key)
        before = (await rows(db, IncidentUpdate), await rows(db, AuditEvent))
        again = await gql(client, RESOLVE, {"id": incident}, key=key)
        assert again.json()["data"]["resolveIncident"] == {
            "incident": None,
            "userErrors": [
                {
                    "field": "id",
                    "code": "ALREADY_RESOLVED",
                    "message": "Incident is already resolved",
                }
            ],
        }
        assert (await rows(db, IncidentUpdate), await rows(db, AuditEvent)) == before

    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            ({"title": ""}, ("title", "INVALID", "Title must be 1 to 200 characters")),
            ({"message": " "}, ("message", "INVALID", "Message must be 1 to 10000 characters")),
            (
                {"services": [{"serviceId": "svc_x", "status": "MAJOR_OUTAGE"}]},
                ("services", "NOT_FOUND", "Service not found: svc_x"),
            ),
            (
                {"startedAt": "2030-01-01T00:00:00+00:00"},
                ("startedAt", "INVALID", "startedAt must not be in the future"),
            ),
        ],
    )
    async def test_it_rejects_bad_input_and_writes_nothing(
        self, client, db, people, fields, expected
    ):
        before = [
            await rows(db, model)
            for model in (Incident, IncidentService, IncidentUpdate, AuditEvent)
        ]
        variables = {"i": {"title": "T", "message": "M", **fields}}
        response = await gql(
            client,
            "mutation($i: CreateIncidentInput!) { createIncident(input: $i) { incident { id } userErrors { field code message } } }",
            variables,
            key=people.alice.secret,
        )
        payload = response.json()["data"]["createIncident"]
        assert payload["incident"] is None
        assert [(e["field"], e["code"], e["message"]) for e in payload["userErrors"]] == [expected]
        assert [
            await rows(db, model)
            for model in (Incident, IncidentService, IncidentUpdate, AuditEvent)
        ] == before

    async def test_deleting_an_incident_releases_its_services(self, client, people):
        key = people.alice.secret
        api = await create_service(client, key, "API")
        incident = await create_incident(client, key, "Oops", [(api, "MAJOR_OUTAGE")])
        await gql(
            client,
            "mutation($id: ID!) { deleteIncident(id: $id) { deletedId } }",
            {"id": incident},
            key=key,
        )
        assert await status_of(client, key, api) == "OPERATIONAL"

    async def test_open_only_lists_unresolved_incidents(self, client, people):
        key = people.alice.secret
        done = await create_incident(client, key, "Done")
        await create_incident(client, key, "Ongoing")
        await gql(client, RESOLVE, {"id": done}, key=key)
        response = await gql(
            client, "{ incidents(openOnly: true) { edges { node { title } } } }", key=key
        )
        assert [e["node"]["title"] for e in response.json()["data"]["incidents"]["edges"]] == [
            "Ongoing"
        ]


class TestMaintenance:
    WINDOW = "query($id: ID!) { maintenanceWindow(id: $id) { status services { name } } }"

    async def test_status_follows_the_clock_and_holds_services(self, client, clock, people):
        key = people.alice.secret
        api = await create_service(client, key, "API")
        starts = clock() + timedelta(hours=1)
        window = await create_window(
            client,
            key,
            "DB upgrade",
            starts.isoformat(),
            (starts + timedelta(hours=2)).isoformat(),
            [api],
        )

        async def window_status() -> str:
            response = await gql(client, self.WINDOW, {"id": window}, key=key)
            status: str = response.json()["data"]["maintenanceWindow"]["status"]
            return status

        assert (await window_status(), await status_of(client, key, api)) == (
            "SCHEDULED",
            "OPERATIONAL",
        )
        clock.advance(hours=1)
        assert (await window_status(), await status_of(client, key, api)) == (
            "IN_PROGRESS",
            "UNDER_MAINTENANCE",
        )
        clock.advance(hours=1, minutes=59, seconds=59)
        assert await window_status() == "IN_PROGRESS"
        clock.advance(seconds=1)
        assert (await window_status(), await status_of(client, key, api)) == (
            "COMPLETED",
            "OPERATIONAL",
        )

    async def test_an_outage_outranks_maintenance_in_the_service_status(
        self, client, clock, people
    ):
        key = people.alice.secret
        api = await create_service(client, key, "API")
        await create_window(
            client,
            key,
            "Now",
            clock().isoformat(),
            (clock() + timedelta(hours=1)).isoformat(),
            [api],
        )
        assert await status_of(client, key, api) == "UNDER_MAINTENANCE"
        await create_incident(client, key, "Broke during upgrade", [(api, "MAJOR_OUTAGE")])
        assert await status_of(client, key, api) == "MAJOR_OUTAGE"

    async def test_cancelling_a_window_releases_its_services_and_a_second_cancel_is_refused(
        self, client, clock, people
    ):
        key = people.alice.secret
        api = await create_service(client, key, "API")
        window = await create_window(
            client,
            key,
            "Now",
            clock().isoformat(),
            (clock() + timedelta(hours=1)).isoformat(),
            [api],
        )
        cancel = "mutation($id: ID!) { cancelMaintenanceWindow(id: $id) { maintenanceWindow { status } userErrors { field code message } } }"
        assert (await gql(client, cancel, {"id": window}, key=key)).json()["data"][
            "cancelMaintenanceWindow"
        ]["maintenanceWindow"] == {"status": "CANCELLED"}
        assert await status_of(client, key, api) == "OPERATIONAL"
        again = await gql(client, cancel, {"id": window}, key=key)
        assert again.json()["data"]["cancelMaintenanceWindow"]["userErrors"] == [
            {
                "field": "id",
                "code": "CANCELLED",
                "message": "Maintenance window is already cancelled",
            }
        ]

    async def test_ends_at_must_follow_starts_at(self, client, db, clock, people):
        before = await rows(db, MaintenanceWindow)
        variables = {
            "i": {
                "title": "Backwards",
                "startsAt": clock().isoformat(),
                "endsAt": clock().isoformat(),
            }
        }
        response = await gql(
            client,
            "mutation($i: CreateMaintenanceWindowInput!) { createMaintenanceWindow(input: $i) { maintenanceWindow { id } userErrors { field code message } } }",
            variables,
            key=people.alice.secret,
        )
        assert response.json()["data"]["createMaintenanceWindow"]["userErrors"] == [
            {"field": "endsAt", "code": "INVALID", "message": "endsAt must be after startsAt"}
        ]
        assert await rows(db, MaintenanceWindow) == before

    async def test_update_moves_the_window_and_its_services(self, client, clock, people):
        key = people.alice.secret
        api = await create_service(client, key, "API")
        web = await create_service(client, key, "Web")
        window = await create_window(
            client,
            key,
            "Later",
            (clock() + timedelta(days=1)).isoformat(),
            (clock() + timedelta(days=2)).isoformat(),
            [api],
        )
        update = "mutation($id: ID!, $i: UpdateMaintenanceWindowInput!) { updateMaintenanceWindow(id: $id, input: $i) { maintenanceWindow { status services { name } } userErrors { field code message } } }"
        moved = await gql(
            client,
            update,
            {"id": window, "i": {"startsAt": clock().isoformat(), "serviceIds": [web]}},
            key=key,
        )
        assert moved.json()["data"]["updateMaintenanceWindow"]["maintenanceWindow"] == {
            "status": "IN_PROGRESS",
            "services": [{"name": "Web"}],
        }
        assert (await status_of(client, key, web), await status_of(client, key, api)) == (
            "UNDER_MAINTENANCE",
            "OPERATIONAL",
        )
        bad = await gql(
            client,
            update,
            {"id": window, "i": {"endsAt": (clock() - timedelta(hours=1)).isoformat()}},
            key=key,
        )
        assert bad.json()["data"]["updateMaintenanceWindow"]["userErrors"] == [
            {"field": "endsAt", "code": "INVALID", "message": "endsAt must be after startsAt"}
        ]
