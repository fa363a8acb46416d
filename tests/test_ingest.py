"""POST /api/beacon and POST /api/metrics/ingest: accepted data, exact errors, nothing stored on error."""

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import SQLModel, func, select

from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import BeaconEvent, MetricPoint
from tests.helpers import create_key, gql
from tests.status_api import mutate

ORIGIN = "https://app.example.com"
CREATE_KEY = 'mutation($o: [String!]!) { createBeaconKey(name: "web", allowedOrigins: $o) { beaconKey { id key allowedOrigins } userErrors { field code message } } }'


async def beacon_key(
    client: httpx.AsyncClient, key: str, origins: Sequence[str] = (ORIGIN,)
) -> dict[str, Any]:
    payload = await mutate(client, key, CREATE_KEY, {"o": list(origins)}, "createBeaconKey")
    created: dict[str, Any] = payload["beaconKey"]
    return created


async def count(db: SessionFactory, model: type[SQLModel]) -> int:
    async with db() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


class TestBeacon:
    async def test_it_accepts_one_event_or_many(self, client, db, people):
        key = (await beacon_key(client, people.alice.secret))["key"]
        assert key.startswith("bpk_")
        one = await client.post(
            "/api/beacon",
            json={
                "key": key,
                "event": {
                    "type": "error",
                    "name": "TypeError",
                    "url": "https://app.example.com/x",
                    "data": {"line": 3},
                },
            },
            headers={"Origin": ORIGIN},
        )
        assert one.status_code == 202
        assert one.json() == {"accepted": 1}
        assert one.headers["access-control-allow-origin"] == ORIGIN
        many = await client.post(
            "/api/beacon",
            json={"key": key, "events": [{"type": "perf", "data": {"lcp": n}} for n in range(100)]},
        )
        assert many.json() == {"accepted": 100}
        listed = await gql(
            client,
            '{ beaconEvents(first: 1, type: "error") { totalCount edges { node { type name url data ip } } } }',
            key=people.alice.secret,
        )
        assert listed.json()["data"]["beaconEvents"] == {
            "totalCount": 1,
            "edges": [
                {
                    "node": {
                        "type": "error",
                        "name": "TypeError",
                        "url": "https://app.example.com/x",
                        "data": {"line": 3},
                        "ip": "203.0.113.7",
                    }
                }
            ],
        }

    async def test_send_beacon_text_plain_bodies_are_read_as_json(self, client, people):
        key = (await beacon_key(client, people.alice.secret))["key"]
        body = f'{{"key": "{key}", "event": {{"type": "visit"}}}}'
        response = await client.post(
            "/api/beacon",
            content=body,
            headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": ORIGIN},
        )
        assert response.json() == {"accepted": 1}

    async def test_preflight_is_answered_for_allowed_origins_only(self, client, people):
        await beacon_key(client, people.alice.secret)
        allowed = await client.options(
            "/api/beacon", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
        )
        assert allowed.status_code == 204
        assert allowed.headers["access-control-allow-origin"] == ORIGIN
        assert allowed.headers["access-control-allow-methods"] == "POST"
        refused = await client.options(
            "/api/beacon",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert refused.status_code == 403
        assert "access-control-allow-origin" not in refused.headers

    @pytest.mark.parametrize(
        ("body", "status", "message"),
        [
            ({"key": "bpk_nope", "event": {"type": "x"}}, 401, "Invalid beacon key"),
            ({"event": {"type": "x"}}, 401, "Invalid beacon key"),
            (
                {"key": "{key}", "event": {"type": "x"}, "events": []},
                400,
                "Send either event or events",
            ),
            ({"key": "{key}", "events": []}, 400, "events must be a non-empty list"),
            (
                {"key": "{key}", "events": [{"type": "x"}] * 101},
                400,
                "At most 100 events per request",
            ),
            (
                {"key": "{key}", "event": {"type": ""}},
                400,
                "events[0].type must be a string of 1 to 64 characters",
            ),
            (
                {"key": "{key}", "events": [{"type": "ok"}, {"type": "x", "data": []}]},
                400,
                "events[1].data must be an object",
            ),
            (
                {"key": "{key}", "event": {"type": "x", "timestamp": "yesterday"}},
                400,
                "events[0].timestamp must be an ISO 8601 time",
            ),
            (
                {"key": "{key}", "event": {"type": "x", "colour": 1}},
                400,
                "events[0]: unknown field colour",
            ),
        ],
    )
    async def test_a_bad_event_gets_its_exact_error_and_stores_nothing(
        self, client, db, people, body, status, message
    ):
        key = (await beacon_key(client, people.alice.secret))["key"]
        if body.get("key") == "{key}":
            body = {**body, "key": key}
        response = await client.post("/api/beacon", json=body)
        assert response.status_code == status
        assert response.json() == {"error": message}
        assert await count(db, BeaconEvent) == 0

    async def test_a_disallowed_origin_or_revoked_key_stores_nothing(self, client, db, people):
        created = await beacon_key(client, people.alice.secret)
        response = await client.post(
            "/api/beacon",
            json={"key": created["key"], "event": {"type": "x"}},
            headers={"Origin": "https://evil.example"},
        )
        assert response.status_code == 403
        assert response.json() == {"error": "Origin not allowed"}
        await gql(
            client,
            "mutation($id: ID!) { revokeBeaconKey(id: $id) { userErrors { code } } }",
            {"id": created["id"]},
            key=people.alice.secret,
        )
        revoked = await client.post(
            "/api/beacon", json={"key": created["key"], "event": {"type": "x"}}
        )
        assert revoked.status_code == 401
        assert await count(db, BeaconEvent) == 0

    async def test_an_oversize_body_is_413(self, client, db, people):
        key = (await beacon_key(client, people.alice.secret))["key"]
        response = await client.post(
            "/api/beacon", json={"key": key, "event": {"type": "x", "data": {"blob": "z" * 70000}}}
        )
        assert response.status_code == 413
        assert response.json() == {"error": "Request body exceeds 65536 bytes"}
        assert await count(db, BeaconEvent) == 0

    async def test_a_beacon_key_refuses_origins_that_are_not_scheme_and_host(self, client, people):
        response = await gql(
            client,
            CREATE_KEY,
            {"o": ["https://ok.example", "javascript:alert(1)", "https://x.example/path"]},
            key=people.alice.secret,
        )
        assert response.json()["data"]["createBeaconKey"]["userErrors"] == [
            {
                "field": "allowedOrigins",
                "code": "INVALID",
                "message": "Invalid origin: javascript:alert(1)",
            },
            {
                "field": "allowedOrigins",
                "code": "INVALID",
                "message": "Invalid origin: https://x.example/path",
            },
        ]

    async def test_managing_keys_needs_config_write(self, client, db, clock, people):
        reader = await create_key(db, clock, people.alice.organization, scopes=["config:read"])
        response = await gql(client, CREATE_KEY, {"o": [ORIGIN]}, key=reader.secret)
        assert response.status_code == 403
        assert (
            response.json()["errors"][0]["message"] == "Insufficient scope: config:write required"
        )


class TestMetrics:
    async def test_points_are_stored_and_read_back_raw_and_bucketed(
        self, client, db, clock, people
    ):
        key = people.alice.secret
        base = clock()
        points = [
            {
                "name": "queue.depth",
                "value": v,
                "timestamp": (base + timedelta(seconds=s)).isoformat(),
                "tags": {"region": "eu"},
            }
            for s, v in ((0, 1), (30, 3), (60, 10), (3700, 7))
        ]
        points.append({"name": "latency_ms", "value": 12.5})  # no timestamp: now
        response = await client.post(
            "/api/metrics/ingest", json={"points": points}, headers={"X-API-Key": key}
        )
        assert response.status_code == 202
        assert response.json() == {"accepted": 5}

        listed = await gql(client, "{ metrics { edges { node { id name } } } }", key=key)
        metrics = {
            e["node"]["name"]: e["node"]["id"] for e in listed.json()["data"]["metrics"]["edges"]
        }
        assert set(metrics) == {"queue.depth", "latency_ms"}
        query = """query($id: ID!, $since: DateTime!, $until: DateTime!) { metric(id: $id) {
            points(since: $since, until: $until) { value tags }
            minutes: series(since: $since, until: $until, bucket: MINUTE) { start count min max avg sum }
            hours: series(since: $since, until: $until, bucket: HOUR) { count sum } } }"""
        variables = {
            "id": metrics["queue.depth"],
            "since": base.isoformat(),
            "until": (base + timedelta(hours=2)).isoformat(),
        }
        metric = (await gql(client, query, variables, key=key)).json()["data"]["metric"]
        assert [p["value"] for p in metric["points"]] == [1, 3, 10, 7]
        assert metric["points"][0]["tags"] == {"region": "eu"}
        assert metric["minutes"][:2] == [
            {"start": base.isoformat(), "count": 2, "min": 1, "max": 3, "avg": 2, "sum": 4},
            {
                "start": (base + timedelta(minutes=1)).isoformat(),
                "count": 1,
                "min": 10,
                "max": 10,
                "avg": 10,
                "sum": 10,
            },
        ]
        assert metric["hours"] == [{"count": 3, "sum": 14}, {"count": 1, "sum": 7}]

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({}, "points must be a non-empty list"),
            ({"points": [{"name": "ok", "value": 1}] * 1001}, "At most 1000 points per request"),
            (
                {"points": [{"name": "bad name", "value": 1}]},
                "points[0].name must be 1 to 200 of A-Z a-z 0-9 _ . : -",
            ),
            (
                {"points": [{"name": "ok", "value": 1}, {"name": "ok", "value": "1"}]},
                "points[1].value must be a finite number",
            ),
            (
                {"points": [{"name": "ok", "value": 1, "timestamp": "2026-01-01T00:00:00"}]},
                "points[0].timestamp must include a time zone",
            ),
            (
                {"points": [{"name": "ok", "value": 1, "tags": {"a": 1}}]},
                "points[0].tags must map at most 20 names to strings",
            ),
            ({"points": [{"name": "ok", "value": 1}], "extra": 1}, "Unknown field: extra"),
        ],
    )
    async def test_bad_points_are_400_and_store_nothing(self, client, db, people, body, message):
        response = await client.post(
            "/api/metrics/ingest", json=body, headers={"X-API-Key": people.alice.secret}
        )
        assert response.status_code == 400
        assert response.json() == {"error": message}
        assert await count(db, MetricPoint) == 0

    async def test_ingest_needs_metrics_write(self, client, db, clock, people):
        reader = await create_key(db, clock, people.alice.organization, scopes=["metrics:read"])
        response = await client.post(
            "/api/metrics/ingest",
            json={"points": [{"name": "x", "value": 1}]},
            headers={"X-API-Key": reader.secret},
        )
        assert response.status_code == 403
        assert response.json() == {"error": "Insufficient scope: metrics:write required"}
        anonymous = await client.post(
            "/api/metrics/ingest", json={"points": [{"name": "x", "value": 1}]}
        )
        assert anonymous.status_code == 401
        assert anonymous.json() == {"error": "Authentication required"}
        assert await count(db, MetricPoint) == 0

    async def test_1000_points_are_accepted(self, client, db, people):
        response = await client.post(
            "/api/metrics/ingest",
            json={"points": [{"name": f"m{n % 7}", "value": n} for n in range(1000)]},
            headers={"X-API-Key": people.alice.secret},
        )
        assert response.json() == {"accepted": 1000}
        assert await count(db, MetricPoint) == 1000

    async def test_another_organizations_metric_is_not_found(self, client, people):
        await client.post(
            "/api/metrics/ingest",
            json={"points": [{"name": "secret", "value": 1}]},
            headers={"X-API-Key": people.alice.secret},
        )
        listed = await gql(client, "{ metrics { edges { node { id } } } }", key=people.alice.secret)
        metric_id = listed.json()["data"]["metrics"]["edges"][0]["node"]["id"]
        response = await gql(
            client,
            "query($id: ID!) { metric(id: $id) { name } }",
            {"id": metric_id},
            key=people.charlie.secret,
        )
        assert response.json()["errors"][0]["message"] == "Metric not found"
        theirs = await gql(client, "{ metrics { totalCount } }", key=people.charlie.secret)
        assert theirs.json()["data"]["metrics"]["totalCount"] == 0
