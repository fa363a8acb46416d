"""Odd input never reaches a 500 (DESIGN §5): each class, its exact answer, and that
nothing was written. tests/test_fuzz.py looks for the cases nobody listed here."""

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import SQLModel, select

from statusgraph.db.engine import SessionFactory
from tests.helpers import Personas, change_events

STRICT = "application/graphql-response+json"  # request errors: 400 whatever the kind
CREATE_SERVICE = (
    "mutation($name: String!) { createService(input: {name: $name}) { service { id } } }"
)
CREATE_WINDOW = "mutation($input: CreateMaintenanceWindowInput!) { createMaintenanceWindow(input: $input) { maintenanceWindow { startsAt endsAt } userErrors { message } } }"
PUBLIC_PAGE = "query($slug: String!) { publicStatusPage(slug: $slug) { name } }"


# What using a key records whatever the request asks (its usage counted, the address
# it came from): bookkeeping of the credential, not something the request changed.
USAGE_TABLES = frozenset({"request_count", "key_address", "scope_usage"})


async def rows(db: SessionFactory) -> dict[str, int]:
    """Every table's row count: a refused request must leave all of them as they were.
    The outbox's events are counted but the usage alerts (a key's first use writes one
    on its first request, refused or not)."""
    async with db() as session:
        counts = {
            table.name: (await session.exec(select(func.count()).select_from(table))).one()
            for table in SQLModel.metadata.sorted_tables
            if table.name not in USAGE_TABLES
        }
        changes = await session.exec(select(func.count()).select_from(change_events().subquery()))
        counts["event"] = changes.one()
        return counts


async def post(client: httpx.AsyncClient, body: bytes, key: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json", "Accept": STRICT}
    if key is not None:
        headers["X-API-Key"] = key
    return await client.post("/graphql", content=body, headers=headers)


def graphql_body(query: str, variables: dict[str, Any] | None = None) -> bytes:
    # json.dumps writes a lone surrogate as the escape "\ud800" (httpx would refuse it).
    return json.dumps({"query": query, "variables": variables}).encode()


def only_error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert "data" not in body, body
    [error] = body["errors"]
    return response.status_code, error["extensions"]["code"], error["message"]


@pytest.mark.parametrize("surrogate", [chr(0xD800), chr(0xDFFF), "tail" + chr(0xD83D)])
async def test_a_lone_surrogate_in_an_anonymous_variable_is_refused_naming_the_variable(
    client: httpx.AsyncClient, surrogate: str
) -> None:
    response = await post(client, graphql_body(PUBLIC_PAGE, {"slug": surrogate}))
    assert only_error(response) == (
        400,
        "BAD_USER_INPUT",
        "Variable '$slug' must not contain lone surrogates",
    )


async def test_a_lone_surrogate_deep_in_mutation_input_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient, people: Personas, db: SessionFactory
) -> None:
    before = await rows(db)
    variables = {
        "input": {
            "title": "x",
            "startsAt": "2026-03-02T10:00:00Z",
            "endsAt": "2026-03-02T11:00:00Z",
            "serviceIds": ["svc_1", "svc_\udc00"],
        }
    }
    response = await post(client, graphql_body(CREATE_WINDOW, variables), people.alice.secret)
    assert only_error(response) == (
        400,
        "BAD_USER_INPUT",
        "Variable '$input.serviceIds[1]' must not contain lone surrogates",
    )
    assert await rows(db) == before


async def test_a_lone_surrogate_outside_the_variables_is_a_bad_request(
    client: httpx.AsyncClient,
) -> None:
    query = graphql_body('{ publicStatusPage(slug: "\ud800") { name } }')
    assert only_error(await post(client, query)) == (
        400,
        "BAD_REQUEST",
        "query must not contain lone surrogates",
    )
    # The same character written as a GraphQL escape: graphql-core's lexer refuses it.
    escaped = graphql_body('{ publicStatusPage(slug: "\\ud800") { name } }')
    status, code, message = only_error(await post(client, escaped))
    assert (status, code) == (400, "GRAPHQL_PARSE_FAILED")
    assert message == "Syntax Error: Invalid Unicode escape sequence: '\\ud800'."


async def test_a_body_that_is_not_utf8_is_a_bad_request(client: httpx.AsyncClient) -> None:
    body = b'{"query": "{ publicStatusPage(slug: \\"\xff\\") { name } }"}'
    assert only_error(await post(client, body)) == (
        400,
        "BAD_REQUEST",
        "Request body is not valid UTF-8",
    )


async def test_get_variables_with_a_lone_surrogate_are_refused(client: httpx.AsyncClient) -> None:
    params = {"query": PUBLIC_PAGE, "variables": '{"slug": "\\ud800"}'}
    response = await client.get("/graphql", params=params, headers={"Accept": STRICT})
    assert only_error(response) == (
        400,
        "BAD_USER_INPUT",
        "Variable '$slug' must not contain lone surrogates",
    )


async def test_get_query_strings_with_invalid_utf8_are_read_with_replacement_characters(
    client: httpx.AsyncClient,
) -> None:
    # Starlette decodes percent-escapes with "replace": %ff arrives as U+FFFD, never as bytes.
    response = await client.get(
        "/graphql?query=query($s:String!){publicStatusPage(slug:$s){name}}&variables=%7B%22s%22:%22%ff%22%7D"
    )
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_nul_in_a_variable_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient, people: Personas, db: SessionFactory
) -> None:
    before = await rows(db)
    response = await post(
        client, graphql_body(CREATE_SERVICE, {"name": "a\x00b"}), people.alice.secret
    )
    assert only_error(response) == (
        400,
        "BAD_USER_INPUT",
        "Variable '$name' must not contain NUL characters",
    )
    assert await rows(db) == before


@pytest.mark.parametrize("escape", ["\\u0000", "\\u{0}", "\\u{000000}"])
async def test_nul_in_a_string_literal_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient, people: Personas, db: SessionFactory, escape: str
) -> None:
    before = await rows(db)
    document = f'mutation {{ createService(input: {{name: "a{escape}b"}}) {{ service {{ id }} }} }}'
    response = await post(client, graphql_body(document), people.alice.secret)
    assert only_error(response) == (
        400,
        "BAD_USER_INPUT",
        "String literals must not contain NUL characters",
    )
    assert await rows(db) == before


async def test_an_escaped_backslash_before_u0000_is_not_a_nul(
    client: httpx.AsyncClient, people: Personas
) -> None:
    document = 'mutation { createService(input: {name: "a\\\\u0000b"}) { service { name } } }'
    response = await post(client, graphql_body(document), people.alice.secret)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["createService"]["service"]["name"] == "a\\u0000b"


NAIVE = "DateTime must include a time zone (Z or ±hh:mm)"


@pytest.mark.parametrize(
    ("starts_at", "reason"),
    [
        ("2026-03-02T10:00:00", NAIVE),
        ("2026-03-02", NAIVE),
        ("0001-01-01T00:00:00+01:00", "DateTime is out of range"),
        ("next tuesday", "DateTime must be an ISO 8601 string, e.g. 2026-03-02T09:00:00Z"),
        (1772445600, "DateTime must be an ISO 8601 string, e.g. 2026-03-02T09:00:00Z"),
    ],
)
async def test_a_date_time_variable_without_a_zone_or_out_of_range_is_refused_naming_the_field(
    client: httpx.AsyncClient, people: Personas, db: SessionFactory, starts_at: Any, reason: str
) -> None:
    before = await rows(db)
    variables = {
        "input": {"title": "Upgrade", "startsAt": starts_at, "endsAt": "2026-03-02T12:00:00Z"}
    }
    response = await post(client, graphql_body(CREATE_WINDOW, variables), people.alice.secret)
    assert only_error(response) == (
        400,
        "BAD_USER_INPUT",
        f"Variable '$input' has invalid value at .startsAt: {reason}",
    )
    assert await rows(db) == before


async def test_a_date_time_literal_without_a_zone_is_refused_where_it_stands(
    client: httpx.AsyncClient, people: Personas, db: SessionFactory
) -> None:
    before = await rows(db)
    document = 'mutation { createMaintenanceWindow(input: {title: "Upgrade", startsAt: "2026-03-02T10:00:00", endsAt: "2026-03-02T12:00:00Z"}) { maintenanceWindow { id } } }'
    response = await post(client, graphql_body(document), people.alice.secret)
    [error] = response.json()["errors"]
    assert response.status_code == 400
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == f'{NAIVE}, found "2026-03-02T10:00:00"'
    assert error["locations"] == [{"line": 1, "column": 72}]
    assert await rows(db) == before


async def test_a_date_time_with_a_zone_is_stored_and_answered_in_utc(
    client: httpx.AsyncClient, people: Personas
) -> None:
    variables = {
        "input": {
            "title": "Upgrade",
            "startsAt": "2026-03-02T12:00:00+02:00",
            "endsAt": "2026-03-02T07:30:00-05:00",
        }
    }
    response = await post(client, graphql_body(CREATE_WINDOW, variables), people.alice.secret)
    payload = response.json()["data"]["createMaintenanceWindow"]
    assert payload["userErrors"] == []
    assert payload["maintenanceWindow"] == {
        "startsAt": "2026-03-02T10:00:00+00:00",
        "endsAt": "2026-03-02T12:30:00+00:00",
    }


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [64, 5_000])
async def test_variables_nested_deeper_than_the_bound_are_refused(
    client: httpx.AsyncClient, depth: int
) -> None:
    # Built as text: json.dumps itself gives up (RecursionError) long before 5,000.
    variables = f'{{"slug": {nested(depth)}}}'
    body = f'{{"query": {json.dumps(PUBLIC_PAGE)}, "variables": {variables}}}'.encode()
    response = await post(client, body)
    assert only_error(response) == (400, "BAD_REQUEST", "Request body nests deeper than 64 levels")
    params = {"query": PUBLIC_PAGE, "variables": variables}
    response = await client.get("/graphql", params=params, headers={"Accept": STRICT})
    assert only_error(response) == (400, "BAD_REQUEST", "variables nests deeper than 64 levels")


async def test_variables_nested_up_to_the_bound_reach_graphql_coercion(
    client: httpx.AsyncClient,
) -> None:
    # 62 lists in `variables` in the body: 64 levels, the most json_input lets through.
    response = await post(client, graphql_body(PUBLIC_PAGE, {"slug": json.loads(nested(62))}))
    status, code, message = only_error(response)
    assert (status, code) == (400, "BAD_USER_INPUT")
    assert message.startswith("Variable '$slug' has invalid value")
