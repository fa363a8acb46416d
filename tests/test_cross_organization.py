"""Charlie (org B) tries every ID-taking field on org A's objects: always NOT_FOUND,
exactly like an ID that does not exist, and nothing changes."""

from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLType,
)

from statusgraph.schema import schema
from tests.helpers import Personas, gql

# Every root field that takes an ID, with an operation that uses org A's object. The
# object's own ID answers NOT_FOUND at the top level; IDs it refers to come back as a
# NOT_FOUND userError. Variables name objects of the `acme` fixture below.
ID_FIELDS = {
    "Query.apiKey": (
        "query($id: ID!) { apiKey(id: $id) { id } }",
        {"id": "key"},
        "ApiKey not found",
    ),
    "Query.node": ("query($id: ID!) { node(id: $id) { id } }", {"id": "key"}, "Node not found"),
    "Query.statusPage": (
        "query($id: ID!) { statusPage(id: $id) { id } }",
        {"id": "page"},
        "StatusPage not found",
    ),
    "Query.service": (
        "query($id: ID!) { service(id: $id) { id } }",
        {"id": "service"},
        "Service not found",
    ),
    "Query.incident": (
        "query($id: ID!) { incident(id: $id) { id } }",
        {"id": "incident"},
        "Incident not found",
    ),
    "Query.maintenanceWindow": (
        "query($id: ID!) { maintenanceWindow(id: $id) { id } }",
        {"id": "window"},
        "MaintenanceWindow not found",
    ),
    "Query.monitor": (
        "query($id: ID!) { monitor(id: $id) { id } }",
        {"id": "monitor"},
        "Monitor not found",
    ),
    "Mutation.updateMonitor": (
        'mutation($id: ID!) { updateMonitor(id: $id, input: {name: "x"}) { userErrors { code } } }',
        {"id": "monitor"},
        "Monitor not found",
    ),
    "Mutation.deleteMonitor": (
        "mutation($id: ID!) { deleteMonitor(id: $id) { userErrors { code } } }",
        {"id": "monitor"},
        "Monitor not found",
    ),
    "Mutation.pauseMonitor": (
        "mutation($id: ID!) { pauseMonitor(id: $id) { userErrors { code } } }",
        {"id": "monitor"},
        "Monitor not found",
    ),
    "Mutation.runMonitorCheck": (
        "mutation($id: ID!) { runMonitorCheck(id: $id) { userErrors { code } } }",
        {"id": "monitor"},
        "Monitor not found",
    ),
    "Mutation.resumeMonitor": (
        "mutation($id: ID!) { resumeMonitor(id: $id) { userErrors { code } } }",
        {"id": "monitor"},
        "Monitor not found",
    ),
    "Query.metric": (
        "query($id: ID!) { metric(id: $id) { id } }",
        {"id": "metric"},
        "Metric not found",
    ),
    "Mutation.updateBeaconKey": (
        'mutation($id: ID!) { updateBeaconKey(id: $id, input: {name: "x"}) { userErrors { code } } }',
        {"id": "beacon"},
        "BeaconKey not found",
    ),
    "Mutation.revokeBeaconKey": (
        "mutation($id: ID!) { revokeBeaconKey(id: $id) { userErrors { code } } }",
        {"id": "beacon"},
        "BeaconKey not found",
    ),
    "Mutation.revokeApiKey": (
        "mutation($id: ID!) { revokeApiKey(id: $id) { userErrors { code } } }",
        {"id": "key"},
        "ApiKey not found",
    ),
    "Mutation.rotateApiKey": (
        "mutation($id: ID!) { rotateApiKey(id: $id) { userErrors { code } } }",
        {"id": "key"},
        "ApiKey not found",
    ),
    "Mutation.updateStatusPage": (
        'mutation($id: ID!) { updateStatusPage(id: $id, input: {tagline: "x"}) { userErrors { code } } }',
        {"id": "page"},
        "StatusPage not found",
    ),
    "Mutation.deleteStatusPage": (
        "mutation($id: ID!) { deleteStatusPage(id: $id) { userErrors { code } } }",
        {"id": "page"},
        "StatusPage not found",
    ),
    "Mutation.createStatusPageViewerToken": (
        'mutation($id: ID!) { createStatusPageViewerToken(pageId: $id, name: "x") { userErrors { code } } }',
        {"id": "page"},
        "StatusPage not found",
    ),
    "Mutation.revokeStatusPageViewerToken": (
        "mutation($id: ID!) { revokeStatusPageViewerToken(id: $id) { userErrors { code } } }",
        {"id": "token"},
        "StatusPageViewerToken not found",
    ),
    "Mutation.updateService": (
        'mutation($id: ID!) { updateService(id: $id, input: {name: "x"}) { userErrors { code } } }',
        {"id": "service"},
        "Service not found",
    ),
    "Mutation.deleteService": (
        "mutation($id: ID!) { deleteService(id: $id) { userErrors { code } } }",
        {"id": "service"},
        "Service not found",
    ),
    "Mutation.updateServiceGroup": (
        'mutation($id: ID!) { updateServiceGroup(id: $id, name: "x") { userErrors { code } } }',
        {"id": "group"},
        "ServiceGroup not found",
    ),
    "Mutation.deleteServiceGroup": (
        "mutation($id: ID!) { deleteServiceGroup(id: $id) { userErrors { code } } }",
        {"id": "group"},
        "ServiceGroup not found",
    ),
    "Mutation.postIncidentUpdate": (
        'mutation($id: ID!) { postIncidentUpdate(id: $id, input: {status: MONITORING, message: "x"}) { userErrors { code } } }',
        {"id": "incident"},
        "Incident not found",
    ),
    "Mutation.updateIncident": (
        'mutation($id: ID!) { updateIncident(id: $id, input: {title: "x"}) { userErrors { code } } }',
        {"id": "incident"},
        "Incident not found",
    ),
    "Mutation.resolveIncident": (
        "mutation($id: ID!) { resolveIncident(id: $id) { userErrors { code } } }",
        {"id": "incident"},
        "Incident not found",
    ),
    "Mutation.deleteIncident": (
        "mutation($id: ID!) { deleteIncident(id: $id) { userErrors { code } } }",
        {"id": "incident"},
        "Incident not found",
    ),
    "Mutation.updateMaintenanceWindow": (
        'mutation($id: ID!) { updateMaintenanceWindow(id: $id, input: {title: "x"}) { userErrors { code } } }',
        {"id": "window"},
        "MaintenanceWindow not found",
    ),
    "Mutation.cancelMaintenanceWindow": (
        "mutation($id: ID!) { cancelMaintenanceWindow(id: $id) { userErrors { code } } }",
        {"id": "window"},
        "MaintenanceWindow not found",
    ),
    "Query.notificationChannel": (
        "query($id: ID!) { notificationChannel(id: $id) { id } }",
        {"id": "channel"},
        "NotificationChannel not found",
    ),
    "Query.deliveries": (
        "query($id: ID!) { deliveries(channelId: $id) { edges { node { id } } } }",
        {"id": "channel"},
        "NotificationChannel not found",
    ),
    "Query.delivery": (
        "query($id: ID!) { delivery(id: $id) { id } }",
        {"id": "delivery"},
        "Delivery not found",
    ),
    "Mutation.updateNotificationChannel": (
        'mutation($id: ID!) { updateNotificationChannel(id: $id, input: {name: "x"}) { userErrors { code } } }',
        {"id": "channel"},
        "NotificationChannel not found",
    ),
    "Mutation.deleteNotificationChannel": (
        "mutation($id: ID!) { deleteNotificationChannel(id: $id) { userErrors { code } } }",
        {"id": "channel"},
        "NotificationChannel not found",
    ),
    "Mutation.rotateNotificationChannelSecret": (
        "mutation($id: ID!) { rotateNotificationChannelSecret(id: $id) { userErrors { code } } }",
        {"id": "channel"},
        "NotificationChannel not found",
    ),
    "Mutation.testNotificationChannel": (
        "mutation($id: ID!) { testNotificationChannel(id: $id) { userErrors { code } } }",
        {"id": "channel"},
        "NotificationChannel not found",
    ),
    "Mutation.redeliver": (
        "mutation($id: ID!) { redeliver(id: $id) { userErrors { code } } }",
        {"id": "delivery"},
        "Delivery not found",
    ),
    "Query.subscribers": (
        "query($id: ID!) { subscribers(pageId: $id) { edges { node { id } } } }",
        {"id": "page"},
        "StatusPage not found",
    ),
    "Mutation.removeSubscriber": (
        "mutation($id: ID!) { removeSubscriber(id: $id) { userErrors { code } } }",
        {"id": "subscriber"},
        "Subscriber not found",
    ),
    "Mutation.deleteMaintenanceWindow": (
        "mutation($id: ID!) { deleteMaintenanceWindow(id: $id) { userErrors { code } } }",
        {"id": "window"},
        "MaintenanceWindow not found",
    ),
}
# Fields whose IDs are references inside the input: a foreign ID is a NOT_FOUND userError.
REFERENCE_FIELDS = {
    "Mutation.createStatusPage": (
        'mutation($s: ID!) { createStatusPage(input: {name: "x", slug: "charlie-x", serviceIds: [$s]}) { userErrors { field code message } } }',
        "createStatusPage",
        "serviceIds",
        "Service",
    ),
    "Mutation.createMonitor": (
        'mutation($s: ID!) { createMonitor(input: {name: "x", type: HEARTBEAT, periodSeconds: 60, graceSeconds: 60, serviceId: $s}) { userErrors { field code message } } }',
        "createMonitor",
        "serviceId",
        "Service",
    ),
    "Mutation.createService": (
        'mutation($g: ID!) { createService(input: {name: "x", groupId: $g}) { userErrors { field code message } } }',
        "createService",
        "groupId",
        "ServiceGroup",
    ),
    "Mutation.reorderServices": (
        "mutation($s: ID!) { reorderServices(serviceIds: [$s]) { userErrors { field code message } } }",
        "reorderServices",
        "serviceIds",
        "Service",
    ),
    "Mutation.createIncident": (
        'mutation($s: ID!) { createIncident(input: {title: "x", message: "x", services: [{serviceId: $s, status: MAJOR_OUTAGE}]}) { userErrors { field code message } } }',
        "createIncident",
        "services",
        "Service",
    ),
    "Mutation.createNotificationChannel": (
        'mutation($s: ID!) { createNotificationChannel(input: {name: "x", kind: WEBHOOK, url: "https://example.com/x", serviceIds: [$s]}) { userErrors { field code message } } }',
        "createNotificationChannel",
        "serviceIds",
        "Service",
    ),
    "Mutation.createMaintenanceWindow": (
        'mutation($s: ID!) { createMaintenanceWindow(input: {title: "x", startsAt: "2026-03-02T10:00:00Z", endsAt: "2026-03-02T11:00:00Z", serviceIds: [$s]}) { userErrors { field code message } } }',
        "createMaintenanceWindow",
        "serviceIds",
        "Service",
    ),
}
# ID arguments that filter a list rather than fetch one object: a foreign ID matches nothing.
ID_FILTERS = {"Query.auditLog", "Query.services"}
# Public fields whose IDs refer into the page named by slug: tried in their own tests.
TESTED_ELSEWHERE = {
    # tests/test_organization_settings.py: another organization's page as the default is
    # NOT_FOUND with nothing written
    "Mutation.updateOrganizationSettings",
    # tests/test_subscribers.py: a service of another organization is NOT_FOUND
    "Mutation.subscribe",
    # tests/test_team.py: another organization's member or invitation is NOT_FOUND, with
    # nothing written (its users are made outside GraphQL)
    "Mutation.updateMemberRole",
    "Mutation.removeMember",
    "Mutation.revokeInvitation",
    # tests/test_oauth_apps.py: another organization's app or grant is NOT_FOUND, exactly
    # as a made-up ID, with nothing written (its apps and grants are made outside GraphQL)
    "Query.oauthApp",
    "Mutation.updateOAuthApp",
    "Mutation.rotateOAuthAppSecret",
    "Mutation.deleteOAuthApp",
    "Mutation.revokeOAuthGrant",
    # tests/test_workflows.py: another organization's monitor, service or channel in a
    # workflow is a NOT_FOUND userError with nothing written, and another organization's
    # workflow is NOT_FOUND everywhere
    "Query.workflow",
    "Query.workflowRuns",
    "Mutation.createWorkflow",
    "Mutation.updateWorkflow",
    "Mutation.deleteWorkflow",
    "Mutation.runWorkflow",
}


@pytest.fixture
async def acme(client: httpx.AsyncClient, people: Personas) -> dict[str, str]:
    """One object of each kind in org A (alice's)."""
    from tests.status_api import one_of_each_kind

    return {"key": people.bob.key_id, **await one_of_each_kind(client, people.alice.secret)}


async def snapshot(client: httpx.AsyncClient, people: Personas) -> dict[str, Any]:
    """What org A looks like, to show a refused call changed nothing."""
    query = """{
      apiKeys(includeRevoked: true) { edges { node { id status replacedById } } }
      statusPages { edges { node { id tagline services { id } viewerTokens { id revokedAt } } } }
      services { edges { node { id name position group { id name } } } }
      serviceGroups { id name }
      incidents { edges { node { id title status updates { id } } } }
      maintenanceWindows { edges { node { id title status } } }
      monitors { edges { node { id name paused status } } }
      notificationChannels { edges { node { id name enabled } } }
      deliveries { edges { node { id status attemptCount } } }
      beaconKeys { edges { node { id name revokedAt allowedOrigins } } }
    }"""
    response = await gql(client, query, key=people.alice.secret)
    data: dict[str, Any] = response.json()["data"]
    return data


def _unwrap(type_: GraphQLType) -> GraphQLType:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def _takes_an_id(type_: GraphQLInputType) -> bool:
    named = _unwrap(type_)
    if getattr(named, "name", None) == "ID":
        return True
    if isinstance(named, GraphQLInputObjectType):
        return any(_takes_an_id(field.type) for field in named.fields.values())
    return False


def test_every_id_taking_root_field_is_tried_across_organizations():
    found = set()
    for root in ("Query", "Mutation"):
        graphql_type = schema._schema.get_type(root)
        assert isinstance(graphql_type, GraphQLObjectType)
        for name, field in graphql_type.fields.items():
            if any(_takes_an_id(argument.type) for argument in field.args.values()):
                found.add(f"{root}.{name}")
    assert found == set(ID_FIELDS) | set(REFERENCE_FIELDS) | ID_FILTERS | TESTED_ELSEWHERE


@pytest.mark.parametrize("field", sorted(ID_FIELDS))
async def test_a_foreign_id_is_not_found(client, people, acme, field):
    operation, variables, message = ID_FIELDS[field]
    before = await snapshot(client, people)
    foreign_ids = {name: acme[kind] for name, kind in variables.items()}
    foreign = await gql(client, operation, foreign_ids, key=people.charlie.secret)
    prefix = foreign_ids["id"].split("_")[0]
    missing = await gql(
        client, operation, {"id": f"{prefix}_doesnotexist000000000"}, key=people.charlie.secret
    )
    for response in (foreign, missing):
        assert response.status_code == 200
        assert response.json()["errors"][0]["message"] == message
        assert response.json()["errors"][0]["extensions"] == {"code": "NOT_FOUND"}
    assert await snapshot(client, people) == before


@pytest.mark.parametrize("field", sorted(REFERENCE_FIELDS))
async def test_a_foreign_reference_is_a_not_found_user_error(client, people, acme, field):
    operation, name, input_field, type_name = REFERENCE_FIELDS[field]
    kind, variable = ("group", "g") if type_name == "ServiceGroup" else ("service", "s")
    before = await snapshot(client, people)
    response = await gql(client, operation, {variable: acme[kind]}, key=people.charlie.secret)
    assert response.json()["data"][name]["userErrors"] == [
        {
            "field": input_field,
            "code": "NOT_FOUND",
            "message": f"{type_name} not found: {acme[kind]}",
        }
    ]
    assert await snapshot(client, people) == before


async def test_services_filtered_by_a_foreign_group_are_empty(client, people, acme):
    query = "query($g: ID!) { services(groupId: $g) { totalCount } }"
    response = await gql(client, query, {"g": acme["group"]}, key=people.charlie.secret)
    assert response.json()["data"]["services"]["totalCount"] == 0


@pytest.mark.parametrize(
    "kind",
    [
        "service",
        "page",
        "incident",
        "window",
        "group",
        "token",
        "monitor",
        "beacon",
        "metric",
        "channel",
        "delivery",
        "subscriber",
    ],
)
async def test_node_hides_other_organizations_status_objects(client, people, acme, kind):
    query = "query($id: ID!) { node(id: $id) { id } }"
    response = await gql(client, query, {"id": acme[kind]}, key=people.charlie.secret)
    assert response.json()["errors"][0]["extensions"] == {"code": "NOT_FOUND"}
    own = await gql(client, query, {"id": acme[kind]}, key=people.alice.secret)
    assert own.json()["data"]["node"] == {"id": acme[kind]}


@pytest.mark.parametrize("foreign", ["org", "audit"])
async def test_node_hides_other_organizations_objects(client, people, foreign):
    if foreign == "org":
        target = people.alice.organization.id
    else:
        events = await gql(
            client, "{ auditLog(first: 1) { edges { node { id } } } }", key=people.alice.secret
        )
        target = events.json()["data"]["auditLog"]["edges"][0]["node"]["id"]
    response = await gql(
        client,
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": target},
        key=people.charlie.secret,
    )
    assert response.json()["errors"][0]["extensions"] == {"code": "NOT_FOUND"}
    own = await gql(
        client, "query($id: ID!) { node(id: $id) { id } }", {"id": target}, key=people.alice.secret
    )
    assert own.json()["data"]["node"] == {"id": target}


async def test_audit_log_filtered_by_a_foreign_actor_is_empty(client, people):
    query = "query($a: ID!) { auditLog(filter: {actorId: $a}) { totalCount } }"
    await gql(client, "{ viewer { name } }", key=people.alice.secret)
    response = await gql(client, query, {"a": "key_system"}, key=people.charlie.secret)
    assert response.json()["data"]["auditLog"]["totalCount"] == 0


async def test_lists_never_show_another_organizations_rows(client, people):
    keys = await gql(client, "{ apiKeys { edges { node { name } } } }", key=people.charlie.secret)
    assert [edge["node"]["name"] for edge in keys.json()["data"]["apiKeys"]["edges"]] == ["charlie"]
    events = await gql(
        client, "{ auditLog { edges { node { targetId } } } }", key=people.charlie.secret
    )
    targets = {edge["node"]["targetId"] for edge in events.json()["data"]["auditLog"]["edges"]}
    assert people.alice.key_id not in targets
    assert people.bob.key_id not in targets


async def test_node_answers_anonymous_callers_with_not_found(client, people):
    response = await gql(
        client, "query($id: ID!) { node(id: $id) { id } }", {"id": people.bob.key_id}
    )
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"] == {"code": "NOT_FOUND"}


async def test_node_needs_the_scope_of_its_type(client, db, clock, people):
    from tests.helpers import create_key

    narrow = await create_key(db, clock, people.alice.organization, scopes=["incidents:read"])
    response = await gql(
        client,
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": people.bob.key_id},
        key=narrow.secret,
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["message"] == "Insufficient scope: api_keys:read required"
    assert response.json()["errors"][0]["extensions"] == {
        "code": "FORBIDDEN",
        "requiredScope": "api_keys:read",
    }
