"""Small GraphQL helpers for the status-domain tests: each creates one object and
returns its ID, failing loudly if the API said no."""

from collections.abc import Sequence
from typing import Any

import httpx

from tests.helpers import gql


async def mutate(
    client: httpx.AsyncClient, key: str, document: str, variables: dict[str, Any], field: str
) -> dict[str, Any]:
    response = await gql(client, document, variables, key=key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"][field]
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload


async def create_service(client: httpx.AsyncClient, key: str, name: str, **fields: Any) -> str:
    payload = await mutate(
        client,
        key,
        "mutation($i: CreateServiceInput!) { createService(input: $i) { service { id } userErrors { field code message } } }",
        {"i": {"name": name, **fields}},
        "createService",
    )
    created: str = payload["service"]["id"]
    return created


async def create_page(client: httpx.AsyncClient, key: str, slug: str, **fields: Any) -> str:
    payload = await mutate(
        client,
        key,
        "mutation($i: CreateStatusPageInput!) { createStatusPage(input: $i) { statusPage { id } userErrors { field code message } } }",
        {"i": {"name": slug.title(), "slug": slug, **fields}},
        "createStatusPage",
    )
    created: str = payload["statusPage"]["id"]
    return created


async def create_incident(
    client: httpx.AsyncClient,
    key: str,
    title: str,
    services: Sequence[tuple[str, str]] = (),
    **fields: Any,
) -> str:
    payload = await mutate(
        client,
        key,
        "mutation($i: CreateIncidentInput!) { createIncident(input: $i) { incident { id } userErrors { field code message } } }",
        {
            "i": {
                "title": title,
                "message": fields.pop("message", "Looking into it"),
                "services": [{"serviceId": s, "status": st} for s, st in services],
                **fields,
            }
        },
        "createIncident",
    )
    created: str = payload["incident"]["id"]
    return created


async def create_window(
    client: httpx.AsyncClient,
    key: str,
    title: str,
    starts_at: str,
    ends_at: str,
    service_ids: Sequence[str] = (),
) -> str:
    payload = await mutate(
        client,
        key,
        "mutation($i: CreateMaintenanceWindowInput!) { createMaintenanceWindow(input: $i) { maintenanceWindow { id } userErrors { field code message } } }",
        {
            "i": {
                "title": title,
                "startsAt": starts_at,
                "endsAt": ends_at,
                "serviceIds": list(service_ids),
            }
        },
        "createMaintenanceWindow",
    )
    created: str = payload["maintenanceWindow"]["id"]
    return created


BEACON_ORIGIN = "https://a.example"


async def one_of_each_kind(client: httpx.AsyncClient, key: str) -> dict[str, str]:
    """One object of each kind, in the key's organization, made through the API: a service
    group, a service, a status page showing it with a viewer token, an incident and a
    maintenance window on that service, a heartbeat monitor, a beacon key allowed from
    BEACON_ORIGIN (`beacon_secret` is its public key, to post events with) and a metric."""
    group = await mutate(
        client,
        key,
        'mutation { createServiceGroup(name: "G") { serviceGroup { id } userErrors { code } } }',
        {},
        "createServiceGroup",
    )
    service = await create_service(client, key, "API")
    page = await create_page(client, key, "acme-page", serviceIds=[service])
    token = await mutate(
        client,
        key,
        'mutation($p: ID!) { createStatusPageViewerToken(pageId: $p, name: "t") { viewerToken { id } userErrors { code } } }',
        {"p": page},
        "createStatusPageViewerToken",
    )
    incident = await create_incident(client, key, "Down", [(service, "MAJOR_OUTAGE")])
    monitor = await mutate(
        client,
        key,
        'mutation { createMonitor(input: {name: "cron", type: HEARTBEAT, periodSeconds: 60, graceSeconds: 60}) { monitor { id } userErrors { code } } }',
        {},
        "createMonitor",
    )
    beacon = await mutate(
        client,
        key,
        'mutation($o: [String!]!) { createBeaconKey(name: "web", allowedOrigins: $o) { beaconKey { id key } userErrors { code } } }',
        {"o": [BEACON_ORIGIN]},
        "createBeaconKey",
    )
    ingested = await client.post(
        "/api/metrics/ingest",
        json={"points": [{"name": "cpu", "value": 1}]},
        headers={"X-API-Key": key},
    )
    assert ingested.status_code < 300, ingested.text
    metrics = await gql(client, "{ metrics { edges { node { id } } } }", key=key)
    window = await create_window(
        client, key, "Upgrade", "2026-03-03T00:00:00+00:00", "2026-03-03T01:00:00+00:00", [service]
    )
    channel = await mutate(
        client,
        key,
        'mutation { createNotificationChannel(input: {name: "ops", kind: WEBHOOK, url: "http://127.0.0.1:9/hook"}) { notificationChannel { id } userErrors { code } } }',
        {},
        "createNotificationChannel",
    )
    # A delivery of the channel: its test, refused by the closed port, logged all the same.
    tested = await mutate(
        client,
        key,
        "mutation($id: ID!) { testNotificationChannel(id: $id) { delivery { id } userErrors { code } } }",
        {"id": channel["notificationChannel"]["id"]},
        "testNotificationChannel",
    )
    subscribed = await gql(
        client,
        'mutation($p: String!) { subscribe(slug: $p, email: "reader@example.com") { accepted } }',
        {"p": "acme-page"},
    )
    assert subscribed.json()["data"]["subscribe"]["accepted"] is True, subscribed.text
    listed = await gql(
        client,
        "query($p: ID!) { subscribers(pageId: $p, first: 1) { edges { node { id } } } }",
        {"p": page},
        key=key,
    )
    return {
        "subscriber": listed.json()["data"]["subscribers"]["edges"][0]["node"]["id"],
        "channel": channel["notificationChannel"]["id"],
        "delivery": tested["delivery"]["id"],
        "group": group["serviceGroup"]["id"],
        "service": service,
        "page": page,
        "token": token["viewerToken"]["id"],
        "incident": incident,
        "window": window,
        "monitor": monitor["monitor"]["id"],
        "beacon": beacon["beaconKey"]["id"],
        "beacon_secret": beacon["beaconKey"]["key"],
        "metric": metrics.json()["data"]["metrics"]["edges"][0]["node"]["id"],
    }
