"""Small GraphQL helpers for the status-domain tests: each creates one object and
returns its ID, failing loudly if the API said no."""

from typing import Any

from tests.helpers import gql


async def mutate(
    client, key: str, document: str, variables: dict[str, Any], field: str
) -> dict[str, Any]:
    response = await gql(client, document, variables, key=key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    payload = body["data"][field]
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload


async def create_service(client, key: str, name: str, **fields: Any) -> str:
    payload = await mutate(
        client,
        key,
        "mutation($i: CreateServiceInput!) { createService(input: $i) { service { id } userErrors { field code message } } }",
        {"i": {"name": name, **fields}},
        "createService",
    )
    return payload["service"]["id"]


async def create_page(client, key: str, slug: str, **fields: Any) -> str:
    payload = await mutate(
        client,
        key,
        "mutation($i: CreateStatusPageInput!) { createStatusPage(input: $i) { statusPage { id } userErrors { field code message } } }",
        {"i": {"name": slug.title(), "slug": slug, **fields}},
        "createStatusPage",
    )
    return payload["statusPage"]["id"]


async def create_incident(
    client, key: str, title: str, services: list[tuple[str, str]] = (), **fields: Any
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
    return payload["incident"]["id"]


async def create_window(
    client, key: str, title: str, starts_at: str, ends_at: str, service_ids: list[str] = ()
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
    return payload["maintenanceWindow"]["id"]
