"""The schema's own contract: scopes declared on every root field, schema.graphql in
sync, and an audit entry for every mutation."""

from pathlib import Path

import httpx
import pytest
from sqlmodel import select
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField

from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import AuditEvent
from statusgraph.resolvers import users
from statusgraph.schema import schema
from statusgraph.schema.permissions import Public, RequiresScope
from tests.helpers import Personas, create_grant, create_oauth_app, create_user, gql

ROOT = Path(__file__).resolve().parents[1]


def root_fields(name: str) -> dict[str, StrawberryField]:
    definition = schema.get_type_by_name(name)
    assert isinstance(definition, StrawberryObjectDefinition)
    return {
        schema.config.name_converter.get_graphql_name(field): field for field in definition.fields
    }


def declared(field: StrawberryField) -> list[object]:
    directives = list(field.directives)
    for extension in field.extensions:
        for permission in getattr(extension, "permissions", []):
            directives.append(permission.schema_directive)
    return directives


@pytest.mark.parametrize("root", ["Query", "Mutation"])
def test_every_root_field_declares_a_scope_or_public(root):
    for name, field in root_fields(root).items():
        marks = [d for d in declared(field) if isinstance(d, RequiresScope | Public)]
        assert marks, f"{root}.{name} has neither @requiresScope nor @public"


def test_the_sdl_prints_the_scope_of_each_guarded_field():
    sdl = str(schema)
    assert (
        'createApiKey(input: CreateApiKeyInput!): CreateApiKeyPayload! @requiresScope(scope: "api_keys:write")'
        in sdl
    )
    assert "viewer: Viewer @public" in sdl


def test_schema_graphql_is_up_to_date():
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == str(schema) + "\n", "run `make schema` and commit schema.graphql"


def test_the_schema_suggests_no_field_names():
    assert schema.config.disable_field_suggestions is True


# One sample call per mutation, run by alice in this order; a new mutation without a
# sample fails below. "{x}" names an object of the `objects` fixture.
SAMPLES = [
    (
        "createApiKey",
        'mutation { createApiKey(input: {name: "n", scopes: ["incidents:read"]}) { userErrors { code } } }',
        {},
        "api_key.created",
    ),
    (
        "rotateApiKey",
        "mutation($id: ID!) { rotateApiKey(id: $id) { userErrors { code } } }",
        {"id": "{bob}"},
        "api_key.rotated",
    ),
    (
        "revokeApiKey",
        "mutation($id: ID!) { revokeApiKey(id: $id) { userErrors { code } } }",
        {"id": "{bob}"},
        "api_key.revoked",
    ),
    (
        "createServiceGroup",
        'mutation { createServiceGroup(name: "G2") { userErrors { code } } }',
        {},
        "service_group.created",
    ),
    (
        "updateServiceGroup",
        'mutation($id: ID!) { updateServiceGroup(id: $id, name: "G3") { userErrors { code } } }',
        {"id": "{group}"},
        "service_group.updated",
    ),
    (
        "createService",
        'mutation { createService(input: {name: "S3"}) { userErrors { code } } }',
        {},
        "service.created",
    ),
    (
        "updateService",
        'mutation($id: ID!) { updateService(id: $id, input: {name: "S4"}) { userErrors { code } } }',
        {"id": "{service}"},
        "service.updated",
    ),
    (
        "reorderServices",
        "mutation($id: ID!) { reorderServices(serviceIds: [$id]) { userErrors { code } } }",
        {"id": "{service}"},
        "service.reordered",
    ),
    (
        "createStatusPage",
        'mutation { createStatusPage(input: {name: "P", slug: "audit-p"}) { userErrors { code } } }',
        {},
        "status_page.created",
    ),
    (
        "updateStatusPage",
        'mutation($id: ID!) { updateStatusPage(id: $id, input: {tagline: "t"}) { userErrors { code } } }',
        {"id": "{page}"},
        "status_page.updated",
    ),
    (
        "createStatusPageViewerToken",
        'mutation($id: ID!) { createStatusPageViewerToken(pageId: $id, name: "t") { userErrors { code } } }',
        {"id": "{page}"},
        "status_page.viewer_token_created",
    ),
    (
        "revokeStatusPageViewerToken",
        "mutation($id: ID!) { revokeStatusPageViewerToken(id: $id) { userErrors { code } } }",
        {"id": "{token}"},
        "status_page.viewer_token_revoked",
    ),
    (
        "createIncident",
        'mutation { createIncident(input: {title: "I", message: "m"}) { userErrors { code } } }',
        {},
        "incident.created",
    ),
    (
        "postIncidentUpdate",
        'mutation($id: ID!) { postIncidentUpdate(id: $id, input: {status: IDENTIFIED, message: "m"}) { userErrors { code } } }',
        {"id": "{incident}"},
        "incident.updated",
    ),
    (
        "updateIncident",
        'mutation($id: ID!) { updateIncident(id: $id, input: {title: "I2"}) { userErrors { code } } }',
        {"id": "{incident}"},
        "incident.edited",
    ),
    (
        "resolveIncident",
        "mutation($id: ID!) { resolveIncident(id: $id) { userErrors { code } } }",
        {"id": "{incident}"},
        "incident.resolved",
    ),
    (
        "createMaintenanceWindow",
        'mutation { createMaintenanceWindow(input: {title: "M", startsAt: "2026-03-03T00:00:00Z", endsAt: "2026-03-03T01:00:00Z"}) { userErrors { code } } }',
        {},
        "maintenance.created",
    ),
    (
        "updateMaintenanceWindow",
        'mutation($id: ID!) { updateMaintenanceWindow(id: $id, input: {title: "M2"}) { userErrors { code } } }',
        {"id": "{window}"},
        "maintenance.updated",
    ),
    (
        "cancelMaintenanceWindow",
        "mutation($id: ID!) { cancelMaintenanceWindow(id: $id) { userErrors { code } } }",
        {"id": "{window}"},
        "maintenance.cancelled",
    ),
    (
        "subscribe",
        'mutation($slug: String!) { subscribe(slug: $slug, email: "r@example.com") { userErrors { code } } }',
        {"slug": "{page_slug}"},
        None,
    ),
    (
        "removeSubscriber",
        "mutation($id: ID!) { removeSubscriber(id: $id) { userErrors { code } } }",
        {"id": "{subscriber}"},
        "subscriber.removed",
    ),
    (
        "deleteMaintenanceWindow",
        "mutation($id: ID!) { deleteMaintenanceWindow(id: $id) { userErrors { code } } }",
        {"id": "{window}"},
        "maintenance.deleted",
    ),
    (
        "deleteIncident",
        "mutation($id: ID!) { deleteIncident(id: $id) { userErrors { code } } }",
        {"id": "{incident}"},
        "incident.deleted",
    ),
    (
        "deleteStatusPage",
        "mutation($id: ID!) { deleteStatusPage(id: $id) { userErrors { code } } }",
        {"id": "{page}"},
        "status_page.deleted",
    ),
    (
        "deleteService",
        "mutation($id: ID!) { deleteService(id: $id) { userErrors { code } } }",
        {"id": "{service}"},
        "service.deleted",
    ),
    (
        "createMonitor",
        'mutation { createMonitor(input: {name: "M", type: HEARTBEAT, periodSeconds: 60, graceSeconds: 60}) { userErrors { code } } }',
        {},
        "monitor.created",
    ),
    (
        "updateMonitor",
        'mutation($id: ID!) { updateMonitor(id: $id, input: {name: "M2"}) { userErrors { code } } }',
        {"id": "{monitor}"},
        "monitor.updated",
    ),
    (
        "pauseMonitor",
        "mutation($id: ID!) { pauseMonitor(id: $id) { userErrors { code } } }",
        {"id": "{monitor}"},
        "monitor.paused",
    ),
    (
        "resumeMonitor",
        "mutation($id: ID!) { resumeMonitor(id: $id) { userErrors { code } } }",
        {"id": "{monitor}"},
        "monitor.resumed",
    ),
    (
        "runMonitorCheck",
        "mutation($id: ID!) { runMonitorCheck(id: $id) { userErrors { code } } }",
        {"id": "{checked_monitor}"},
        "monitor.checked",
    ),
    (
        "deleteMonitor",
        "mutation($id: ID!) { deleteMonitor(id: $id) { userErrors { code } } }",
        {"id": "{monitor}"},
        "monitor.deleted",
    ),
    (
        "createNotificationChannel",
        'mutation { createNotificationChannel(input: {name: "n", kind: WEBHOOK, url: "http://127.0.0.1:9/n"}) { userErrors { code } } }',
        {},
        "notification_channel.created",
    ),
    (
        "updateNotificationChannel",
        'mutation($id: ID!) { updateNotificationChannel(id: $id, input: {name: "m"}) { userErrors { code } } }',
        {"id": "{channel}"},
        "notification_channel.updated",
    ),
    (
        "rotateNotificationChannelSecret",
        "mutation($id: ID!) { rotateNotificationChannelSecret(id: $id) { userErrors { code } } }",
        {"id": "{channel}"},
        "notification_channel.secret_rotated",
    ),
    (
        "testNotificationChannel",
        "mutation($id: ID!) { testNotificationChannel(id: $id) { userErrors { code } } }",
        {"id": "{channel}"},
        "notification_channel.tested",
    ),
    (
        "redeliver",
        "mutation($id: ID!) { redeliver(id: $id) { userErrors { code } } }",
        {"id": "{delivery}"},
        "delivery.redelivered",
    ),
    (
        "deleteNotificationChannel",
        "mutation($id: ID!) { deleteNotificationChannel(id: $id) { userErrors { code } } }",
        {"id": "{channel}"},
        "notification_channel.deleted",
    ),
    (
        "createBeaconKey",
        'mutation { createBeaconKey(name: "b", allowedOrigins: []) { userErrors { code } } }',
        {},
        "beacon_key.created",
    ),
    (
        "updateBeaconKey",
        'mutation($id: ID!) { updateBeaconKey(id: $id, input: {name: "b2"}) { userErrors { code } } }',
        {"id": "{beacon}"},
        "beacon_key.updated",
    ),
    (
        "revokeBeaconKey",
        "mutation($id: ID!) { revokeBeaconKey(id: $id) { userErrors { code } } }",
        {"id": "{beacon}"},
        "beacon_key.revoked",
    ),
    (
        "inviteMember",
        'mutation { inviteMember(input: {email: "new@example.com", role: VIEWER}) { userErrors { code } } }',
        {},
        "invitation.created",
    ),
    (
        "revokeInvitation",
        "mutation($id: ID!) { revokeInvitation(id: $id) { userErrors { code } } }",
        {"id": "{invitation}"},
        "invitation.revoked",
    ),
    (
        "updateMemberRole",
        "mutation($id: ID!) { updateMemberRole(id: $id, role: MEMBER) { userErrors { code } } }",
        {"id": "{member}"},
        "member.role_changed",
    ),
    (
        "removeMember",
        "mutation($id: ID!) { removeMember(id: $id) { userErrors { code } } }",
        {"id": "{member}"},
        "member.removed",
    ),
    (
        "deleteServiceGroup",
        "mutation($id: ID!) { deleteServiceGroup(id: $id) { userErrors { code } } }",
        {"id": "{group}"},
        "service_group.deleted",
    ),
    (
        "createOAuthApp",
        'mutation { createOAuthApp(input: {name: "A", confidential: true, redirectUris: ["https://a.example.com/cb"]}) { userErrors { code } } }',
        {},
        "oauth_app.created",
    ),
    (
        "updateOAuthApp",
        'mutation($id: ID!) { updateOAuthApp(id: $id, input: {name: "A2"}) { userErrors { code } } }',
        {"id": "{oauth_app}"},
        "oauth_app.updated",
    ),
    (
        "rotateOAuthAppSecret",
        "mutation($id: ID!) { rotateOAuthAppSecret(id: $id) { userErrors { code } } }",
        {"id": "{oauth_app}"},
        "oauth_app.secret_rotated",
    ),
    (
        "revokeOAuthGrant",
        "mutation($id: ID!) { revokeOAuthGrant(id: $id) { userErrors { code } } }",
        {"id": "{oauth_grant}"},
        "oauth_grant.revoked",
    ),
    (
        "deleteOAuthApp",
        "mutation($id: ID!) { deleteOAuthApp(id: $id) { userErrors { code } } }",
        {"id": "{oauth_app}"},
        "oauth_app.deleted",
    ),
    (
        "updateOrganizationSettings",
        'mutation { updateOrganizationSettings(input: {timeZone: "Europe/Paris"}) { userErrors { code } } }',
        {},
        "organization.settings_updated",
    ),
    (
        "createWorkflow",
        'mutation { createWorkflow(input: {name: "w", trigger: MANUAL, actions: [{type: RESOLVE_INCIDENT}]}) { userErrors { code } } }',
        {},
        "workflow.created",
    ),
    (
        "updateWorkflow",
        'mutation($id: ID!) { updateWorkflow(id: $id, input: {name: "w2"}) { userErrors { code } } }',
        {"id": "{workflow}"},
        "workflow.updated",
    ),
    (
        # Its one action finds no incident to resolve: the run's own entry only.
        "runWorkflow",
        "mutation($id: ID!) { runWorkflow(id: $id) { userErrors { code } } }",
        {"id": "{workflow}"},
        "workflow.run",
    ),
    (
        "deleteWorkflow",
        "mutation($id: ID!) { deleteWorkflow(id: $id) { userErrors { code } } }",
        {"id": "{workflow}"},
        "workflow.deleted",
    ),
]


@pytest.fixture
async def objects(
    client: httpx.AsyncClient, people: Personas, db: SessionFactory, clock: FrozenClock
) -> dict[str, str]:
    from tests.status_api import create_incident, create_page, create_service, create_window, mutate

    key = people.alice.secret
    acme = people.alice.organization
    oauth_app = await create_oauth_app(db, clock, acme)
    authorized = await create_oauth_app(db, clock, acme, name="Authorized")
    granted = await create_grant(db, clock, acme, authorized.app, scopes=["incidents:read"])
    viewer = await create_user(db, clock, acme, role="viewer", email="viewer@example.com")
    async with db() as session:
        member = await users.get_membership(session, acme.id, viewer.id)
    assert member is not None
    invitation = await mutate(
        client,
        key,
        'mutation { inviteMember(input: {email: "invited@example.com", role: MEMBER}) { invitation { id } userErrors { code } } }',
        {},
        "inviteMember",
    )
    group = await mutate(
        client,
        key,
        'mutation { createServiceGroup(name: "G") { serviceGroup { id } userErrors { code } } }',
        {},
        "createServiceGroup",
    )
    page = await create_page(client, key, "audit-page")
    token = await mutate(
        client,
        key,
        'mutation($p: ID!) { createStatusPageViewerToken(pageId: $p, name: "t") { viewerToken { id } userErrors { code } } }',
        {"p": page},
        "createStatusPageViewerToken",
    )
    channel = (
        await mutate(
            client,
            key,
            'mutation { createNotificationChannel(input: {name: "ops", kind: WEBHOOK, url: "http://127.0.0.1:9/hook"}) { notificationChannel { id } userErrors { code } } }',
            {},
            "createNotificationChannel",
        )
    )["notificationChannel"]["id"]
    delivery = (
        await mutate(
            client,
            key,
            "mutation($id: ID!) { testNotificationChannel(id: $id) { delivery { id } userErrors { code } } }",
            {"id": channel},
            "testNotificationChannel",
        )
    )["delivery"]["id"]
    subscribed = await gql(
        client, 'mutation { subscribe(slug: "audit-page", email: "a@example.com") { accepted } }'
    )
    assert subscribed.json()["data"]["subscribe"]["accepted"] is True
    listed = await gql(
        client,
        "query($p: ID!) { subscribers(pageId: $p) { edges { node { id } } } }",
        {"p": page},
        key=key,
    )
    workflow = await mutate(
        client,
        key,
        'mutation { createWorkflow(input: {name: "w", trigger: MANUAL, actions: [{type: RESOLVE_INCIDENT}]}) { workflow { id } userErrors { code } } }',
        {},
        "createWorkflow",
    )
    return {
        "workflow": workflow["workflow"]["id"],
        "oauth_app": oauth_app.app.id,
        "oauth_grant": granted.grant.id,
        "page_slug": "audit-page",
        "member": member.id,
        "invitation": invitation["invitation"]["id"],
        "subscriber": listed.json()["data"]["subscribers"]["edges"][0]["node"]["id"],
        "channel": channel,
        "delivery": delivery,
        "bob": people.bob.key_id,
        "group": group["serviceGroup"]["id"],
        "service": await create_service(client, key, "S"),
        "page": page,
        "token": token["viewerToken"]["id"],
        "incident": await create_incident(client, key, "I"),
        "window": await create_window(
            client, key, "W", "2026-03-03T00:00:00+00:00", "2026-03-03T01:00:00+00:00"
        ),
        "monitor": (
            await mutate(
                client,
                key,
                'mutation { createMonitor(input: {name: "cron", type: HEARTBEAT, periodSeconds: 60, graceSeconds: 60}) { monitor { id } userErrors { code } } }',
                {},
                "createMonitor",
            )
        )["monitor"]["id"],
        # Checked against a closed port on loopback: refused at once.
        "checked_monitor": (
            await mutate(
                client,
                key,
                'mutation { createMonitor(input: {name: "site", type: TCP, host: "127.0.0.1", port: 9}) { monitor { id } userErrors { code } } }',
                {},
                "createMonitor",
            )
        )["monitor"]["id"],
        "beacon": (
            await mutate(
                client,
                key,
                'mutation { createBeaconKey(name: "web", allowedOrigins: []) { beaconKey { id } userErrors { code } } }',
                {},
                "createBeaconKey",
            )
        )["beaconKey"]["id"],
    }


async def test_every_mutation_writes_an_audit_entry(client, db, people, objects):
    assert {name for name, *_ in SAMPLES} == set(root_fields("Mutation")), (
        "add a sample for the new mutation"
    )
    for name, operation, variables, action in SAMPLES:
        resolved = {
            k: objects[v.strip("{}")] if v.startswith("{") else v for k, v in variables.items()
        }
        async with db() as session:
            before = {event.id for event in (await session.exec(select(AuditEvent))).all()}
        response = await gql(
            client, operation, resolved, key=people.alice.secret, headers={"X-Request-ID": name}
        )
        assert response.json()["data"][name]["userErrors"] == [], (name, response.json())
        async with db() as session:
            added = [
                e for e in (await session.exec(select(AuditEvent))).all() if e.id not in before
            ]
        # A public mutation made anonymously has no actor to audit (subscribe).
        expected = [] if action is None else [(action, people.alice.key_id, name)]
        assert [(e.action, e.actor_id, e.request_id) for e in added] == expected, name
