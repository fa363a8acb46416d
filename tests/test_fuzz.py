"""A bounded property-based fuzz (DESIGN §5): odd input never gets a response ≥ 500.

Every root field with arguments gets documents whose variables are drawn from its
own argument types (tests/fuzz_strategies.py), sent with a full-access key and
anonymously; the REST bodies (heartbeat ping, beacon, metrics) get JSON of the right
and wrong shapes and raw bytes. Runs are derandomized (the same cases every run, in
CI too) and bounded: SQLite gets the full run, PostgreSQL, where lone surrogates and
NUL used to fail, a smaller one. The number of requests is printed at the end.
"""

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as budget
from hypothesis import strategies as st

from statusgraph.config import Settings
from tests.fuzz_strategies import (
    DATETIMES,
    INTS,
    JSON_VALUES,
    STRINGS,
    WRONG_SHAPES,
    RootField,
    root_fields,
)
from tests.helpers import Personas, gql

ROOT_FIELDS = root_fields()
SQLITE = pytest.param("sqlite", id="sqlite")
POSTGRESQL = pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql)
FUZZ = budget(
    deadline=None,
    derandomize=True,  # the same cases every run, in CI too
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one app and database for all of a test's cases
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
SENT = {"requests": 0}


@pytest.fixture(scope="module", autouse=True)
def report_count(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # teardown output is captured otherwise
            reporter.write_line("")
            reporter.write_line(f"fuzz: {SENT['requests']} requests, none answered >= 500")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The rate limits would turn most cases into 429s, which test nothing.
    return settings.model_copy(update={"rate_limits_enabled": False})


async def send(client: httpx.AsyncClient, path: str, body: bytes, **headers: str) -> None:
    response = await client.post(path, content=body, headers=headers)
    SENT["requests"] += 1
    assert response.status_code < 500, (path, body[:300], response.text[:500])


def encode(document: Any) -> bytes:
    # json.dumps escapes lone surrogates (\ud800) and writes NaN: both must be refused.
    return json.dumps(document).encode()


async def fuzz_root_field(
    client: httpx.AsyncClient, key: str, field: RootField, variables: dict[str, Any]
) -> None:
    body = encode({"query": field.document(), "variables": variables})
    for headers in ({"X-API-Key": key}, {}):
        await send(client, "/graphql", body, **{"Content-Type": "application/json", **headers})


@pytest.mark.parametrize("database_url", [SQLITE], indirect=True)
@pytest.mark.parametrize("field", ROOT_FIELDS, ids=str)
@budget(FUZZ, max_examples=30)
@given(data=st.data())
async def test_no_root_field_answers_5xx_to_odd_arguments_on_sqlite(
    client: httpx.AsyncClient, people: Personas, field: RootField, data: st.DataObject
) -> None:
    await fuzz_root_field(client, people.alice.secret, field, data.draw(field.variables()))


@pytest.mark.parametrize("database_url", [POSTGRESQL], indirect=True)
@budget(FUZZ, max_examples=120)
@given(data=st.data())
async def test_no_root_field_answers_5xx_to_odd_arguments_on_postgresql(
    client: httpx.AsyncClient, people: Personas, data: st.DataObject
) -> None:
    # One test for all fields: a PostgreSQL database per field would cost more than the cases.
    field = data.draw(st.sampled_from(ROOT_FIELDS))
    await fuzz_root_field(client, people.alice.secret, field, data.draw(field.variables()))


@pytest.fixture
async def targets(client: httpx.AsyncClient, people: Personas) -> tuple[str, str]:
    """A heartbeat monitor's id and a beacon key, made once for all of a test's cases."""
    key = people.alice.secret
    monitor = await gql(
        client,
        'mutation { createMonitor(input: {name: "cron", type: HEARTBEAT, periodSeconds: 600, graceSeconds: 300}) { monitor { id } } }',
        key=key,
    )
    beacon = await gql(
        client,
        'mutation { createBeaconKey(name: "web", allowedOrigins: ["https://a.example"]) { beaconKey { key } } }',
        key=key,
    )
    return (
        monitor.json()["data"]["createMonitor"]["monitor"]["id"],
        beacon.json()["data"]["createBeaconKey"]["beaconKey"]["key"],
    )


def shaped(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Objects with these fields, any of them of the wrong type, or one of them for sure
    (hypothesis would rarely draw {"status": []} otherwise)."""

    def one_wrong(name: str) -> st.SearchStrategy[Any]:
        others = {other: s for other, s in fields.items() if other != name}
        return st.fixed_dictionaries({name: WRONG_SHAPES}, optional=others)

    anything = {name: st.one_of(s, WRONG_SHAPES) for name, s in fields.items()}
    return st.one_of(
        st.fixed_dictionaries({}, optional=anything),
        st.sampled_from(sorted(fields)).flatmap(one_wrong),
    )


HEARTBEAT_BODIES = shaped(
    {
        "status": st.sampled_from(["up", "down", "start"]) | STRINGS,
        "message": STRINGS,
        "duration_ms": INTS,
    }
)
EVENT = shaped(
    {"type": STRINGS, "name": STRINGS, "url": STRINGS, "data": JSON_VALUES, "timestamp": DATETIMES}
)
POINT = shaped(
    {
        "name": st.sampled_from(["cpu", "queue.depth"]) | STRINGS,
        "value": INTS | st.floats(),
        "timestamp": DATETIMES | INTS,
        "tags": st.dictionaries(STRINGS, STRINGS, max_size=3) | JSON_VALUES,
    }
)
RAW = st.binary(max_size=200) | st.sampled_from([b"", b"\xff\xfe", b'"\\ud800"', b"[" * 5000])


def bodies(shape: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return st.one_of(shape.map(encode), WRONG_SHAPES.map(encode), RAW)


@pytest.mark.parametrize("database_url", [SQLITE, POSTGRESQL], indirect=True)
@budget(FUZZ, max_examples=150)
@given(data=st.data())
async def test_no_rest_body_answers_5xx(
    client: httpx.AsyncClient, people: Personas, targets: tuple[str, str], data: st.DataObject
) -> None:
    key = people.alice.secret
    monitor_id, public_key = targets
    events = st.lists(EVENT, max_size=3)
    beacon = shaped({"key": st.just(public_key) | STRINGS, "event": EVENT, "events": events})
    points = shaped({"points": st.lists(POINT, max_size=3)})
    json_type = {"Content-Type": "application/json", "X-API-Key": key}
    await send(
        client, f"/api/heartbeat/{monitor_id}", data.draw(bodies(HEARTBEAT_BODIES)), **json_type
    )
    await send(client, "/api/beacon", data.draw(bodies(beacon)), Origin="https://a.example")
    await send(client, "/api/metrics/ingest", data.draw(bodies(points)), **json_type)
