"""Monitors over GraphQL: per-type settings and their validation."""

from typing import Any

import httpx
import pytest
from sqlmodel import func, select

from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import AuditEvent, Monitor
from tests.helpers import gql
from tests.status_api import create_service

CREATE = """
mutation($i: CreateMonitorInput!) {
  createMonitor(input: $i) {
    monitor { id name type status intervalSeconds timeoutSeconds periodSeconds graceSeconds url method
              expectedStatusCodes keyword host port domain expiryThresholdDays service { name } }
    userErrors { field code message }
  }
}
"""


async def create(client: httpx.AsyncClient, key: str, **fields: Any) -> dict[str, Any]:
    response = await gql(client, CREATE, {"i": fields}, key=key)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()["data"]["createMonitor"]
    return created


async def counts(db: SessionFactory) -> tuple[int, int]:
    async with db() as session:
        return (
            (await session.exec(select(func.count()).select_from(Monitor))).one(),
            (await session.exec(select(func.count()).select_from(AuditEvent))).one(),
        )


async def test_each_type_gets_its_settings_and_defaults(client, people):
    key = people.alice.secret
    service = await create_service(client, key, "API")
    http = (
        await create(
            client,
            key,
            name="site",
            type="HTTP",
            url="https://example.com/health",
            serviceId=service,
        )
    )["monitor"]
    assert {
        k: http[k]
        for k in (
            "type",
            "status",
            "intervalSeconds",
            "timeoutSeconds",
            "method",
            "expectedStatusCodes",
            "service",
        )
    } == {
        "type": "HTTP",
        "status": "PENDING",
        "intervalSeconds": 60,
        "timeoutSeconds": 10,
        "method": "GET",
        "expectedStatusCodes": None,  # any 2xx or 3xx
        "service": {"name": "API"},
    }
    keyword = (
        await create(
            client,
            key,
            name="kw",
            type="KEYWORD",
            url="https://example.com",
            keyword="OK",
            method="POST",
            expectedStatusCodes=[200, 204],
        )
    )["monitor"]
    assert (keyword["keyword"], keyword["method"], keyword["expectedStatusCodes"]) == (
        "OK",
        "POST",
        [200, 204],
    )
    tcp = (
        await create(
            client,
            key,
            name="db",
            type="TCP",
            host="10.0.0.5",
            port=5432,
            intervalSeconds=30,
            timeoutSeconds=5,
        )
    )["monitor"]
    assert (tcp["host"], tcp["port"], tcp["intervalSeconds"], tcp["timeoutSeconds"]) == (
        "10.0.0.5",
        5432,
        30,
        5,
    )
    ssl = (await create(client, key, name="cert", type="SSL", host="example.com"))["monitor"]
    assert (ssl["port"], ssl["expiryThresholdDays"]) == (443, 14)
    domain = (await create(client, key, name="dns", type="DOMAIN", domain="example.com"))["monitor"]
    assert domain["expiryThresholdDays"] == 30
    beat = (
        await create(
            client, key, name="cron", type="HEARTBEAT", periodSeconds=86400, graceSeconds=3600
        )
    )["monitor"]
    assert (beat["periodSeconds"], beat["graceSeconds"], beat["intervalSeconds"]) == (
        86400,
        3600,
        None,
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"type": "HTTP"}, [("url", "INVALID", "url is required for HTTP monitors")]),
        (
            {"type": "HTTP", "url": "ftp://example.com"},
            [("url", "INVALID", "url must be an http or https URL with a host")],
        ),
        (
            {"type": "HTTP", "url": "https://e.com", "intervalSeconds": 29, "timeoutSeconds": 5},
            [("intervalSeconds", "INVALID", "intervalSeconds must be at least 30")],
        ),
        (
            {"type": "HTTP", "url": "https://e.com", "intervalSeconds": 30, "timeoutSeconds": 30},
            [
                (
                    "timeoutSeconds",
                    "INVALID",
                    "timeoutSeconds must be between 1 and 60, and less than intervalSeconds",
                )
            ],
        ),
        (
            {"type": "HTTP", "url": "https://e.com", "expectedStatusCodes": [200, 700]},
            [
                (
                    "expectedStatusCodes",
                    "INVALID",
                    "expectedStatusCodes must be HTTP status codes (100-599)",
                )
            ],
        ),
        (
            {"type": "HTTP", "url": "https://e.com", "periodSeconds": 60},
            [("periodSeconds", "INVALID", "periodSeconds does not apply to HTTP monitors")],
        ),
        (
            {"type": "KEYWORD", "url": "https://e.com"},
            [("keyword", "INVALID", "keyword is required for KEYWORD monitors")],
        ),
        (
            {"type": "TCP", "host": "bad host", "port": 70000},
            [
                ("host", "INVALID", "host must be a hostname or an IP address"),
                ("port", "INVALID", "port must be between 1 and 65535"),
            ],
        ),
        (
            {"type": "SSL", "host": "example.com", "expiryThresholdDays": 0},
            [("expiryThresholdDays", "INVALID", "expiryThresholdDays must be between 1 and 365")],
        ),
        (
            # The old name still works, and its errors use the new one.
            {"type": "SSL", "host": "example.com", "warningDays": 366},
            [("expiryThresholdDays", "INVALID", "expiryThresholdDays must be between 1 and 365")],
        ),
        (
            {"type": "SSL", "host": "example.com", "warningDays": 7, "expiryThresholdDays": 7},
            [
                (
                    "expiryThresholdDays",
                    "INVALID",
                    "Give expiryThresholdDays or warningDays (its old name), not both",
                )
            ],
        ),
        (
            {"type": "DOMAIN", "domain": "Example..com"},
            [("domain", "INVALID", "domain must be a lowercase domain name such as example.com")],
        ),
        (
            {"type": "HEARTBEAT", "periodSeconds": 59, "graceSeconds": 60},
            [("periodSeconds", "INVALID", "periodSeconds must be between 60 and 31536000 seconds")],
        ),
        (
            {"type": "HEARTBEAT", "periodSeconds": 60, "graceSeconds": 31536001},
            [("graceSeconds", "INVALID", "graceSeconds must be between 60 and 31536000 seconds")],
        ),
        (
            {"type": "HEARTBEAT", "periodSeconds": 60},
            [("graceSeconds", "INVALID", "graceSeconds must be between 60 and 31536000 seconds")],
        ),
        (
            {"type": "HEARTBEAT", "periodSeconds": 60, "graceSeconds": 60, "url": "https://e.com"},
            [("url", "INVALID", "url does not apply to HEARTBEAT monitors")],
        ),
        (
            {"type": "HEARTBEAT", "periodSeconds": 60, "graceSeconds": 60, "serviceId": "svc_nope"},
            [("serviceId", "NOT_FOUND", "Service not found: svc_nope")],
        ),
        (
            {"type": "HEARTBEAT", "periodSeconds": 60, "graceSeconds": 60, "name": ""},
            [("name", "INVALID", "Name must be 1 to 200 characters")],
        ),
        (
            {"type": "HTTP", "url": "https://e.com", "intervalSeconds": 120, "timeoutSeconds": 61},
            [
                (
                    "timeoutSeconds",
                    "INVALID",
                    "timeoutSeconds must be between 1 and 60, and less than intervalSeconds",
                )
            ],
        ),
        (
            {"type": "HTTP", "url": "https://e.com", "timeoutSeconds": 0},
            [
                (
                    "timeoutSeconds",
                    "INVALID",
                    "timeoutSeconds must be between 1 and 60, and less than intervalSeconds",
                )
            ],
        ),
        (
            {"type": "HTTP", "url": "https://"},
            [("url", "INVALID", "url must be an http or https URL with a host")],
        ),
        (
            {"type": "KEYWORD", "url": "https://e.com", "keyword": ""},
            [("keyword", "INVALID", "keyword must be 1 to 200 characters")],
        ),
        (
            {"type": "HTTP", "url": "https://e.com", "keywordMode": "ABSENT"},
            [("keywordMode", "INVALID", "keywordMode does not apply to HTTP monitors")],
        ),
        (
            {"type": "HTTP", "url": "https://e.com", "confirmations": 0},
            [("confirmations", "INVALID", "confirmations must be between 1 and 10")],
        ),
        (
            {"type": "TCP", "host": "db", "port": 5432, "confirmations": 11},
            [("confirmations", "INVALID", "confirmations must be between 1 and 10")],
        ),
        (
            {"type": "HTTP", "url": "https://e.com", "retryIntervalSeconds": 4},
            [
                (
                    "retryIntervalSeconds",
                    "INVALID",
                    "retryIntervalSeconds must be between 5 and 3600, and at most intervalSeconds",
                )
            ],
        ),
        (
            {
                "type": "TCP",
                "host": "db",
                "port": 1,
                "intervalSeconds": 30,
                "retryIntervalSeconds": 31,
            },
            [
                (
                    "retryIntervalSeconds",
                    "INVALID",
                    "retryIntervalSeconds must be between 5 and 3600, and at most intervalSeconds",
                )
            ],
        ),
        (
            {
                "type": "DOMAIN",
                "domain": "e.com",
                "intervalSeconds": 7200,
                "retryIntervalSeconds": 3601,
            },
            [
                (
                    "retryIntervalSeconds",
                    "INVALID",
                    "retryIntervalSeconds must be between 5 and 3600, and at most intervalSeconds",
                )
            ],
        ),
        (
            {"type": "HEARTBEAT", "periodSeconds": 60, "graceSeconds": 60, "confirmations": 2},
            [("confirmations", "INVALID", "confirmations does not apply to HEARTBEAT monitors")],
        ),
        (
            {
                "type": "HTTP",
                "url": "https://e.com",
                "headers": [{"name": "Bad Header", "value": "x"}],
            },
            [("headers", "INVALID", "'Bad Header' is not a valid header name")],
        ),
        (
            {
                "type": "HTTP",
                "url": "https://e.com",
                "headers": [{"name": "X-A", "value": "a\r\nB: c"}],
            },
            [
                (
                    "headers",
                    "INVALID",
                    "The value of 'X-A' must be at most 1000 characters, without line breaks",
                )
            ],
        ),
        (
            {
                "type": "HTTP",
                "url": "https://e.com",
                "headers": [{"name": f"X-{n}", "value": "v"} for n in range(21)],
            },
            [("headers", "INVALID", "At most 20 headers")],
        ),
        (
            {"type": "HTTP", "url": "https://e.com", "method": "POST", "body": "x" * 16385},
            [("body", "INVALID", "body must be at most 16384 bytes")],
        ),
        (
            {"type": "SSL", "host": "e.com", "sniName": "not a host"},
            [("sniName", "INVALID", "sniName must be a hostname")],
        ),
        (
            {"type": "TCP", "host": "e.com", "port": 0},
            [("port", "INVALID", "port must be between 1 and 65535")],
        ),
    ],
)
async def test_it_rejects_bad_settings_and_writes_nothing(client, db, people, fields, expected):
    before = await counts(db)
    created = await create(client, people.alice.secret, **{"name": "m", **fields})
    assert created["monitor"] is None
    assert sorted((e["field"], e["code"], e["message"]) for e in created["userErrors"]) == sorted(
        expected
    )
    assert await counts(db) == before


async def test_settings_at_their_bounds_are_accepted(client, people):
    key = people.alice.secret
    assert (
        await create(
            client, key, name="b", type="HEARTBEAT", periodSeconds=60, graceSeconds=31536000
        )
    )["userErrors"] == []
    assert (
        await create(
            client,
            key,
            name="h",
            type="HTTP",
            url="https://e.com",
            intervalSeconds=30,
            timeoutSeconds=29,
        )
    )["userErrors"] == []


async def test_update_validates_against_the_whole_monitor(client, people):
    key = people.alice.secret
    monitor = (
        await create(
            client,
            key,
            name="site",
            type="HTTP",
            url="https://e.com",
            intervalSeconds=120,
            timeoutSeconds=60,
        )
    )["monitor"]
    update = "mutation($id: ID!, $i: UpdateMonitorInput!) { updateMonitor(id: $id, input: $i) { monitor { intervalSeconds name } userErrors { field code message } } }"
    bad = await gql(client, update, {"id": monitor["id"], "i": {"intervalSeconds": 60}}, key=key)
    assert bad.json()["data"]["updateMonitor"]["userErrors"] == [
        {
            "field": "timeoutSeconds",
            "code": "INVALID",
            "message": "timeoutSeconds must be between 1 and 60, and less than intervalSeconds",
        }
    ]
    good = await gql(
        client, update, {"id": monitor["id"], "i": {"intervalSeconds": 90, "name": "Site"}}, key=key
    )
    assert good.json()["data"]["updateMonitor"]["monitor"] == {
        "intervalSeconds": 90,
        "name": "Site",
    }


async def test_pings_are_listed_newest_first(client, clock, people):
    key = people.alice.secret
    monitor = (
        await create(client, key, name="cron", type="HEARTBEAT", periodSeconds=60, graceSeconds=60)
    )["monitor"]["id"]
    for n in range(3):
        clock.advance(seconds=1)
        await client.post(
            f"/api/heartbeat/{monitor}",
            headers={"X-API-Key": key},
            json={"message": f"run {n}", "duration_ms": n},
        )
    query = "query($id: ID!) { monitor(id: $id) { lastPingAt pings(first: 2) { totalCount edges { node { kind message durationMs ip } } } } }"
    data = (await gql(client, query, {"id": monitor}, key=key)).json()["data"]["monitor"]
    assert data["lastPingAt"] == clock().isoformat()
    assert data["pings"]["totalCount"] == 3
    assert [e["node"] for e in data["pings"]["edges"]] == [
        {"kind": "SUCCESS", "message": "run 2", "durationMs": 2, "ip": "203.0.113.7"},
        {"kind": "SUCCESS", "message": "run 1", "durationMs": 1, "ip": "203.0.113.7"},
    ]


async def test_the_shortest_interval_is_a_setting(app_with, people):
    _app, client = await app_with(check_min_interval=120)
    created = await create(
        client, people.alice.secret, name="m", type="HTTP", url="https://e.com", intervalSeconds=60
    )
    assert created["userErrors"] == [
        {
            "field": "intervalSeconds",
            "code": "INVALID",
            "message": "intervalSeconds must be at least 120",
        }
    ]


async def test_http_settings_round_trip(client, people):
    created = (
        await gql(
            client,
            """mutation { createMonitor(input: {name: "api", type: KEYWORD,
                 url: "https://e.com/h", method: POST, body: "{}", keyword: "ok",
                 keywordMode: ABSENT, caseSensitive: false, followRedirects: false,
                 verifyTls: false, headers: [{name: "Authorization", value: "Bearer t"}],
                 confirmations: 3, retryIntervalSeconds: 30}) {
               monitor { body keywordMode caseSensitive followRedirects verifyTls
                         headers { name value } confirmations retryIntervalSeconds }
               userErrors { message } } }""",
            key=people.alice.secret,
        )
    ).json()["data"]["createMonitor"]
    assert created == {
        "monitor": {
            "body": "{}",
            "keywordMode": "ABSENT",
            "caseSensitive": False,
            "followRedirects": False,
            "verifyTls": False,
            "headers": [{"name": "Authorization", "value": "********"}],  # masked
            "confirmations": 3,
            "retryIntervalSeconds": 30,
        },
        "userErrors": [],
    }


async def test_secrets_in_settings_are_masked_and_a_mask_sent_back_keeps_them(client, db, people):
    key = people.alice.secret
    made = (
        await gql(
            client,
            """mutation { createMonitor(input: {name: "api", type: HTTP,
                 url: "https://probe:s3cret@api.example.com/health",
                 headers: [{name: "X-Api-Key", value: "k-123"}, {name: "Accept", value: "text/plain"}]}) {
               monitor { id url headers { name value } } } }""",
            key=key,
        )
    ).json()["data"]["createMonitor"]["monitor"]
    assert made["url"] == "https://probe:********@api.example.com/health"
    assert made["headers"] == [
        {"name": "X-Api-Key", "value": "********"},
        {"name": "Accept", "value": "text/plain"},
    ]
    # Read, change one header, write the settings back whole: the secrets stay.
    updated = await gql(
        client,
        """mutation($id: ID!, $url: String!, $headers: [HttpHeaderInput!]) {
             updateMonitor(id: $id, input: {url: $url, headers: $headers}) {
               userErrors { message } } }""",
        {
            "id": made["id"],
            "url": made["url"],
            "headers": [made["headers"][0], {"name": "Accept", "value": "application/json"}],
        },
        key=key,
    )
    assert updated.json()["data"]["updateMonitor"]["userErrors"] == []
    async with db() as session:
        row = await session.get(Monitor, made["id"])
    assert row.settings["url"] == "https://probe:s3cret@api.example.com/health"
    assert row.settings["headers"] == [
        {"name": "X-Api-Key", "value": "k-123"},
        {"name": "Accept", "value": "application/json"},
    ]
