"""`node(id:)` resolves every type that implements `Node` (issue #12, item 7).

The test walks the schema: a new Node type without a case here fails it, so `node()`
cannot silently answer NOT_FOUND for a type again.
"""

from dataclasses import dataclass
from typing import Any

import httpx
from graphql import GraphQLInterfaceType

from statusgraph.auth import scopes
from statusgraph.schema import schema
from tests.helpers import Personas, create_key, gql
from tests.status_api import BEACON_ORIGIN, one_of_each_kind

NODE = "query($id: ID!) { node(id: $id) { __typename id } }"


@dataclass(frozen=True)
class Case:
    scope: str | None  # the read scope of the type's own query (None: any credential)
    list_query: str | None  # that query, which a key without the scope is refused


CASES = {
    "ApiKey": Case("api_keys:read", "{ apiKeys { totalCount } }"),
    "AuditEvent": Case("audit_log:read", "{ auditLog { totalCount } }"),
    "Organization": Case(None, None),
    "StatusPage": Case("status_pages:read", "{ statusPages { totalCount } }"),
    "StatusPageViewerToken": Case(
        "status_pages:read", "{ statusPages { edges { node { viewerTokens { id } } } } }"
    ),
    "Service": Case("services:read", "{ services { totalCount } }"),
    "ServiceGroup": Case("services:read", "{ serviceGroups { id } }"),
    "Incident": Case("incidents:read", "{ incidents { totalCount } }"),
    "IncidentUpdate": Case("incidents:read", "{ incidents { edges { node { updates { id } } } } }"),
    "MaintenanceWindow": Case("maintenance:read", "{ maintenanceWindows { totalCount } }"),
    "Monitor": Case("monitors:read", "{ monitors { totalCount } }"),
    "HeartbeatPing": Case(
        "monitors:read", "{ monitors { edges { node { pings { totalCount } } } } }"
    ),
    "MonitorStatusChange": Case(
        "monitors:read", "{ monitors { edges { node { statusChanges { totalCount } } } } }"
    ),
    "CheckResult": Case(
        "monitors:read", "{ monitors { edges { node { checks { totalCount } } } } }"
    ),
    "BeaconKey": Case("config:read", "{ beaconKeys { totalCount } }"),
    "BeaconEvent": Case("monitors:read", "{ beaconEvents { totalCount } }"),
    "Metric": Case("metrics:read", "{ metrics { totalCount } }"),
    "NotificationChannel": Case(
        "notifications:read", "{ notificationChannels { edges { node { id } } } }"
    ),
    "Delivery": Case("notifications:read", "{ deliveries { edges { node { id } } } }"),
    "OAuthApp": Case("config:read", "{ oauthApps { totalCount } }"),
    "Subscriber": Case(
        "notifications:read",
        '{ subscribers(pageId: "page_x") { edges { node { id } } } }',
    ),
}


def node_types() -> set[str]:
    interface = schema._schema.get_type("Node")
    assert isinstance(interface, GraphQLInterfaceType)
    return {t.name for t in schema._schema.get_implementations(interface).objects}


async def read(
    client: httpx.AsyncClient, key: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await gql(client, query, variables, key=key)
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.json()
    data: dict[str, Any] = response.json()["data"]
    return data


async def one_of_each(client: httpx.AsyncClient, people: Personas) -> dict[str, str]:
    """An object of every Node type in alice's organization, made through the API."""
    key = people.alice.secret
    made = await one_of_each_kind(client, key)
    ping = await client.post(f"/api/heartbeat/{made['monitor']}", headers={"X-API-Key": key})
    assert ping.status_code == 200, ping.text
    sent = await client.post(
        "/api/beacon",
        json={"key": made["beacon_secret"], "event": {"type": "error"}},
        headers={"Origin": BEACON_ORIGIN},
    )
    assert sent.status_code == 202, sent.text
    # A check result: a TCP monitor checked now against a closed port on loopback.
    tcp = await gql(
        client,
        """mutation { createMonitor(input: {name: "db", type: TCP, host: "127.0.0.1", port: 9}) {
             monitor { id } } }""",
        key=key,
    )
    checked = await gql(
        client,
        "mutation($id: ID!) { runMonitorCheck(id: $id) { result { id } } }",
        {"id": tcp.json()["data"]["createMonitor"]["monitor"]["id"]},
        key=key,
    )
    check_id = checked.json()["data"]["runMonitorCheck"]["result"]["id"]
    registered = await read(
        client,
        key,
        """mutation { createOAuthApp(input: {name: "Dash", confidential: false,
             redirectUris: ["https://dash.example.com/cb"]}) { oauthApp { id } } }""",
    )
    lists = await read(
        client,
        key,
        """query($i: ID!, $m: ID!) {
          incident(id: $i) { updates { id } }
          monitor(id: $m) {
            pings(first: 1) { edges { node { id } } }
            statusChanges(first: 1) { edges { node { id } } }
          }
          beaconEvents(first: 1) { edges { node { id } } }
          auditLog(first: 1) { edges { node { id } } }
        }""",
        {"i": made["incident"], "m": made["monitor"]},
    )

    def first(connection: dict[str, Any]) -> str:
        node_id: str = connection["edges"][0]["node"]["id"]
        return node_id

    return {
        "ApiKey": people.bob.key_id,
        "AuditEvent": first(lists["auditLog"]),
        "Organization": people.alice.organization.id,
        "StatusPage": made["page"],
        "StatusPageViewerToken": made["token"],
        "Service": made["service"],
        "ServiceGroup": made["group"],
        "Incident": made["incident"],
        "IncidentUpdate": lists["incident"]["updates"][0]["id"],
        "MaintenanceWindow": made["window"],
        "Monitor": made["monitor"],
        "HeartbeatPing": first(lists["monitor"]["pings"]),
        "MonitorStatusChange": first(lists["monitor"]["statusChanges"]),
        "CheckResult": check_id,
        "BeaconKey": made["beacon"],
        "BeaconEvent": first(lists["beaconEvents"]),
        "Metric": made["metric"],
        "NotificationChannel": made["channel"],
        "Delivery": made["delivery"],
        "Subscriber": made["subscriber"],
        "OAuthApp": registered["createOAuthApp"]["oauthApp"]["id"],
    }


def test_every_node_type_of_the_schema_has_a_case():
    assert node_types() == set(CASES)


def made_up(object_id: str) -> str:
    """An ID of the same type that exists nowhere."""
    prefix = object_id.split("_", 1)[0]
    return f"{prefix}_doesnotexist0000000000"


def without(scope: str) -> list[str]:
    """Every concrete scope of the catalogue that does not grant `scope`."""
    return sorted(s for s in scopes.CATALOGUE if not scopes.grants(frozenset({s}), scope))


async def test_node_resolves_every_node_type_for_its_owner_only(client, db, clock, people):
    ids = await one_of_each(client, people)
    for type_name in sorted(node_types()):
        object_id, case = ids[type_name], CASES[type_name]

        owner = await gql(client, NODE, {"id": object_id}, key=people.alice.secret)
        assert owner.status_code == 200, (type_name, owner.text)
        assert owner.json()["data"] == {"node": {"__typename": type_name, "id": object_id}}, (
            type_name,
            owner.json(),
        )

        # Another organization's object is exactly a made-up one.
        foreign = await gql(client, NODE, {"id": object_id}, key=people.charlie.secret)
        missing = await gql(client, NODE, {"id": made_up(object_id)}, key=people.charlie.secret)
        for response in (foreign, missing):
            assert response.status_code == 200, type_name
            assert response.json()["data"] == {"node": None}, type_name
            assert response.json()["errors"][0]["message"] == "Node not found", type_name
            assert response.json()["errors"][0]["extensions"] == {"code": "NOT_FOUND"}
        assert foreign.json()["errors"] == missing.json()["errors"], type_name

        if case.scope is None:
            continue
        assert case.list_query is not None
        # A key without the type's read scope is refused by node() as by the type's list.
        narrow = await create_key(
            db, clock, people.alice.organization, scopes=without(case.scope), name=type_name
        )
        refused = await gql(client, NODE, {"id": object_id}, key=narrow.secret)
        listed = await gql(client, case.list_query, key=narrow.secret)
        expected = {
            "message": f"Insufficient scope: {case.scope} required",
            "extensions": {"code": "FORBIDDEN", "requiredScope": case.scope},
        }
        for response in (refused, listed):
            assert response.status_code == 403, (type_name, response.text)
            error = response.json()["errors"][0]
            assert {k: error[k] for k in expected} == expected, (type_name, error)
