"""REST bodies of the wrong JSON type, with lone surrogates, NUL, deep nesting or bytes
that are not UTF-8: a 400 naming the field, never a 500, and nothing stored."""

from typing import Any

import httpx
import pytest

from statusgraph.rest.heartbeat import MAX_DURATION_MS
from tests.helpers import Personas
from tests.test_heartbeats import heartbeat
from tests.test_ingest import ORIGIN, beacon_key
from tests.test_odd_input import rows

STATUS = "status must be one of: up, down, start"
DEEP = b'{"message": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"


async def refused(
    client: httpx.AsyncClient, db: Any, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    before = await rows(db)
    response = await client.post(path, content=body, headers=headers)
    assert await rows(db) == before
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"status": []}', STATUS),
        (b'{"status": {}}', STATUS),
        (b'{"status": 1}', STATUS),
        (b'{"message": {}}', "message must be a string"),
        (b'{"duration_ms": []}', f"duration_ms must be an integer from 0 to {MAX_DURATION_MS}"),
        (b'{"duration_ms": 1e400}', "Request body is not valid JSON"),
        (b'{"message": "\\ud800"}', "message must not contain lone surrogates"),
        (b'{"message": "\\u0000"}', "message must not contain NUL characters"),
        (b'{"status": "up", "\\udc00": 1}', "Request body must not contain lone surrogates"),
        (b'{"message": "\xff"}', "Request body is not valid UTF-8"),
        (DEEP, "Request body nests deeper than 64 levels"),
    ],
)
async def test_a_heartbeat_body_of_the_wrong_type_is_refused_naming_the_field(
    client: httpx.AsyncClient, people: Personas, db: Any, body: bytes, error: str
) -> None:
    monitor_id = await heartbeat(client, people.alice.secret)
    headers = {"X-API-Key": people.alice.secret, "Content-Type": "application/json"}
    answer = await refused(client, db, f"/api/heartbeat/{monitor_id}", body, headers)
    assert answer == (400, {"error": error})


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (b'{"type": []}', "events[0].type must be a string of 1 to 64 characters"),
        (b'{"type": "x", "name": {}}', "events[0].name must be a string of at most 200 characters"),
        (b'{"type": "x", "data": []}', "events[0].data must be an object"),
        (b'{"type": "x", "timestamp": {}}', "events[0].timestamp must be an ISO 8601 time"),
        (
            b'{"type": "x", "timestamp": "2026-03-02T09:00:00"}',
            "events[0].timestamp must include a time zone",
        ),
        (b'{"type": "x", "data": {"\\ud800": 1}}', "event.data must not contain lone surrogates"),
        (
            b'{"type": "x", "data": {"a": "\\u0000"}}',
            "event.data.a must not contain NUL characters",
        ),
        (
            b'{"type": "x", "timestamp": "0001-01-01T00:00:00+01:00"}',
            "events[0].timestamp is out of range",
        ),
        (b"[]", "events[0] must be an object"),
    ],
)
async def test_a_beacon_event_of_the_wrong_type_is_refused_naming_the_field(
    client: httpx.AsyncClient, people: Personas, db: Any, event: bytes, error: str
) -> None:
    key = (await beacon_key(client, people.alice.secret))["key"]
    body = b'{"key": "' + key.encode() + b'", "event": ' + event + b"}"
    answer = await refused(client, db, "/api/beacon", body, {"Origin": ORIGIN})
    assert answer == (400, {"error": error})


@pytest.mark.parametrize(
    ("point", "error"),
    [
        (b'{"name": [], "value": 1}', "points[0].name must be 1 to 200 of A-Z a-z 0-9 _ . : -"),
        (b'{"name": "cpu", "value": "1"}', "points[0].value must be a finite number"),
        (b'{"name": "cpu", "value": {}}', "points[0].value must be a finite number"),
        (
            b'{"name": "cpu", "value": 1, "timestamp": []}',
            "points[0].timestamp must be ISO 8601 or epoch seconds",
        ),
        (
            b'{"name": "cpu", "value": 1, "timestamp": 1e300}',
            "points[0].timestamp must be ISO 8601 or epoch seconds",
        ),
        (
            b'{"name": "cpu", "value": 1, "timestamp": "9999-12-31T23:59:59-01:00"}',
            "points[0].timestamp is out of range",
        ),
        (
            b'{"name": "cpu", "value": 1, "tags": {"a": []}}',
            "points[0].tags must map at most 20 names to strings",
        ),
        (
            b'{"name": "cpu", "value": 1, "tags": {"a": "\\udfff"}}',
            "points[0].tags.a must not contain lone surrogates",
        ),
    ],
)
async def test_a_metric_point_of_the_wrong_type_is_refused_naming_the_field(
    client: httpx.AsyncClient, people: Personas, db: Any, point: bytes, error: str
) -> None:
    headers = {"X-API-Key": people.alice.secret, "Content-Type": "application/json"}
    body = b'{"points": [' + point + b"]}"
    answer = await refused(client, db, "/api/metrics/ingest", body, headers)
    assert answer == (400, {"error": error})
