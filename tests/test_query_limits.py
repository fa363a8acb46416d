"""GraphQL documents are bounded before execution: each limit rejects at its boundary + 1
with no `data` (HTTP 200 under application/json), a specific code and nothing executed,
and accepts at the boundary."""

from collections.abc import AsyncIterator

import httpx
from sqlmodel import func, select

from statusgraph.db.models import ApiKey
from tests.helpers import gql

# apiKeys 1 + 100 * (edges 1 + node 1 + createdBy 1) = 301
PAGE_301 = "apiKeys(first: 100) { edges { node { id createdBy { label } } } }"


def rejected(response: httpx.Response, code: str, message: str) -> None:
    assert response.status_code == 200, response.text  # a request error, under application/json
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["message"] == message
    assert body["errors"][0]["extensions"]["code"] == code


def accepted(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert "errors" not in response.json()


async def test_defaults_match_the_design(settings):
    assert (
        settings.graphql_max_depth,
        settings.graphql_max_aliases,
        settings.graphql_max_tokens,
        settings.graphql_max_body_bytes,
        settings.graphql_max_page_size,
        settings.graphql_max_cost,
    ) == (10, 15, 2000, 65536, 100, 1000)


async def test_a_document_one_level_deeper_than_the_maximum_depth_is_refused(app_with, people):
    _, client = await app_with(graphql_max_depth=4)
    accepted(await gql(client, "{ apiKeys { edges { node { id } } } }", key=people.alice.secret))
    rejected(
        await gql(
            client,
            "{ apiKeys { edges { node { createdBy { label } } } } }",
            key=people.alice.secret,
        ),
        "MAX_DEPTH_EXCEEDED",
        "Query depth 5 exceeds the maximum of 4",
    )


async def test_depth_counts_the_levels_inside_fragments(app_with, people):
    _, client = await app_with(graphql_max_depth=4)
    query = (
        "{ apiKeys { edges { ...E } } } fragment E on ApiKeyEdge { node { createdBy { label } } }"
    )
    rejected(
        await gql(client, query, key=people.alice.secret),
        "MAX_DEPTH_EXCEEDED",
        "Query depth 5 exceeds the maximum of 4",
    )


async def test_introspection_fields_do_not_count_toward_the_depth(app_with, people):
    _, client = await app_with(graphql_max_depth=2)
    deep = "{ __schema { types { fields { type { ofType { ofType { name } } } } } } }"
    accepted(await gql(client, deep, key=people.alice.secret))


async def test_fifteen_aliases_pass_and_a_sixteenth_is_refused(client, people):
    fifteen = "{ " + " ".join(f"a{i}: viewer {{ name }}" for i in range(15)) + " }"
    sixteen = "{ " + " ".join(f"a{i}: viewer {{ name }}" for i in range(16)) + " }"
    accepted(await gql(client, fifteen, key=people.alice.secret))
    rejected(
        await gql(client, sixteen, key=people.alice.secret),
        "MAX_ALIASES_EXCEEDED",
        "16 aliases found; at most 15 are allowed",
    )


async def test_2000_tokens_pass_and_one_more_is_refused(client, people):
    # With n scopes this document is n + 23 tokens. (Repeating one field instead would
    # trip graphql-core's own guard against quadratic field-merging validation.)
    def document(n: int) -> str:
        scopes = " ".join(['"a"'] * n)
        return f'mutation {{ createApiKey(input: {{name: "x", scopes: [{scopes}]}}) {{ userErrors {{ code }} }} }}'

    at_limit, over = document(1977), document(1978)
    accepted(await gql(client, at_limit, key=people.alice.secret))
    rejected(
        await gql(client, over, key=people.alice.secret),
        "MAX_TOKENS_EXCEEDED",
        "Syntax Error: Document contains more than 2000 tokens. Parsing aborted.",
    )


async def test_a_body_of_65536_bytes_passes_and_one_more_byte_is_a_charged_413(client, people):
    document = b'{"query": "{ viewer { name } }"}'
    at_limit = document + b" " * (65536 - len(document))
    headers = {"X-API-Key": people.alice.secret, "Content-Type": "application/json"}
    accepted(await client.post("/graphql", content=at_limit, headers=headers))
    response = await client.post("/graphql", content=at_limit + b" ", headers=headers)
    assert response.status_code == 413
    assert response.json() == {
        "errors": [
            {
                "message": "Request body exceeds 65536 bytes",
                "extensions": {"code": "PAYLOAD_TOO_LARGE"},
            }
        ]
    }
    assert response.headers["x-ratelimit-limit"] == "2400"  # charged like any request


async def test_a_streamed_body_without_a_length_is_bounded_too(client, people):
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ viewer { name } }"}'
        yield b" " * 70000

    response = await client.post(
        "/graphql",
        content=chunks(),
        headers={"X-API-Key": people.alice.secret, "Content-Type": "application/json"},
    )
    assert response.status_code == 413


async def test_first_or_last_up_to_100_passes_and_101_is_refused(client, people):
    query = "query($n: Int) { apiKeys(first: $n) { totalCount } }"
    accepted(await gql(client, query, {"n": 100}, key=people.alice.secret))
    rejected(
        await gql(client, query, {"n": 101}, key=people.alice.secret),
        "EXCESSIVE_PAGINATION",
        "Requesting 101 records exceeds the limit of 100",
    )
    rejected(
        await gql(client, "{ apiKeys(last: 101) { totalCount } }", key=people.alice.secret),
        "EXCESSIVE_PAGINATION",
        "Requesting 101 records exceeds the limit of 100",
    )


async def test_a_document_at_the_maximum_cost_passes_and_one_over_is_refused_with_its_cost(
    app_with, people
):
    _, client = await app_with(graphql_max_cost=301)
    response = await gql(client, "{ " + PAGE_301 + " }", key=people.alice.secret)
    accepted(response)
    assert response.json()["extensions"] == {"cost": {"requested": 301, "maximum": 301}}
    _, tighter = await app_with(graphql_max_cost=300)
    response = await gql(tighter, "{ " + PAGE_301 + " }", key=people.alice.secret)
    rejected(response, "MAX_COST_EXCEEDED", "Query cost 301 exceeds the maximum of 300")
    assert response.json()["extensions"] == {"cost": {"requested": 301, "maximum": 300}}


async def test_the_default_maximum_cost_of_1000_admits_three_pages_of_301_not_four(client, people):
    three = "{ " + " ".join(f"p{i}: {PAGE_301}" for i in range(3)) + " }"
    four = "{ " + " ".join(f"p{i}: {PAGE_301}" for i in range(4)) + " }"
    accepted(await gql(client, three, key=people.alice.secret))
    rejected(
        await gql(client, four, key=people.alice.secret),
        "MAX_COST_EXCEEDED",
        "Query cost 1204 exceeds the maximum of 1000",
    )


async def test_a_connection_without_first_costs_the_default_page(client, people):
    response = await gql(client, "{ apiKeys { edges { node { id } } } }", key=people.alice.secret)
    assert response.json()["extensions"]["cost"]["requested"] == 1 + 20 * 2


async def test_a_rejected_mutation_writes_nothing(app_with, db, people):
    _, client = await app_with(graphql_max_cost=10)
    mutation = 'mutation { createApiKey(input: {name: "x", scopes: ["incidents:read"]}) { userErrors { code } } }'
    async with db() as session:
        before = (await session.exec(select(func.count()).select_from(ApiKey))).one()
    rejected(
        await gql(client, mutation, key=people.alice.secret),
        "MAX_COST_EXCEEDED",
        "Query cost 11 exceeds the maximum of 10",
    )
    async with db() as session:
        assert (await session.exec(select(func.count()).select_from(ApiKey))).one() == before
    _, roomier = await app_with(graphql_max_cost=11)
    accepted(await gql(roomier, mutation, key=people.alice.secret))
