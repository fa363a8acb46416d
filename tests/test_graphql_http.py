"""/graphql over HTTP: media types, status codes, request errors, GraphiQL, introspection."""

import logging
import re
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from statusgraph.app import create_app
from statusgraph.resolvers import api_keys
from tests.helpers import gql

GRAPHQL_RESPONSE = "application/graphql-response+json"


def only_error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert len(body["errors"]) == 1, body
    error: dict[str, Any] = body["errors"][0]
    return error


async def test_it_answers_queries_over_get(client, people):
    response = await client.get(
        "/graphql",
        params={"query": "{ viewer { name } }"},
        headers={"X-API-Key": people.alice.secret},
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"viewer": {"name": "alice"}}


async def test_it_refuses_mutations_over_get(client, people):
    response = await client.get(
        "/graphql",
        params={"query": 'mutation { revokeApiKey(id: "key_x") { userErrors { code } } }'},
        headers={"X-API-Key": people.alice.secret},
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert only_error(response) == {
        "message": "Mutations must be sent with POST",
        "extensions": {"code": "METHOD_NOT_ALLOWED"},
    }


@pytest.mark.parametrize(("accept", "status"), [("application/json", 200), (GRAPHQL_RESPONSE, 400)])
async def test_several_operations_without_an_operation_name_are_refused_and_none_runs(
    client, people, accept, status
):
    """GraphQL's GetOperation: strawberry would run the first one, while the rate limiter
    (which follows the spec) counted no mutation, so a mutation placed before a query
    ran charged to the read bucket."""
    revoke = f'mutation A {{ revokeApiKey(id: "{people.bob.key_id}") {{ userErrors {{ code }} }} }}'
    response = await client.post(
        "/graphql",
        json={"query": revoke + " query B { __typename }"},
        headers={"X-API-Key": people.alice.secret, "Accept": accept},
    )
    assert response.status_code == status
    assert "data" not in response.json()
    assert only_error(response) == {
        "message": "Must provide operation name if query contains multiple operations.",
        "extensions": {"code": "BAD_REQUEST"},
    }
    still = await gql(client, "{ viewer { name } }", key=people.bob.secret)
    assert still.json()["data"] == {"viewer": {"name": "bob"}}
    named = await client.post(
        "/graphql",
        json={"query": revoke + " query B { __typename }", "operationName": "B"},
        headers={"X-API-Key": people.alice.secret},
    )
    assert named.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize(("accept", "status"), [("application/json", 200), (GRAPHQL_RESPONSE, 400)])
async def test_an_unknown_operation_name_is_a_request_error_with_the_status_of_its_media_type(
    client, people, accept, status
):
    response = await client.post(
        "/graphql",
        json={"query": "query A { __typename }", "operationName": "B"},
        headers={"X-API-Key": people.alice.secret, "Accept": accept},
    )
    assert response.status_code == status
    assert "data" not in response.json()
    assert only_error(response) == {
        "message": 'Unknown operation named "B".',
        "extensions": {"code": "BAD_REQUEST"},
    }


@pytest.mark.parametrize(("accept", "status"), [("application/json", 200), (GRAPHQL_RESPONSE, 400)])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_subscription_is_a_document_the_schema_does_not_validate_not_a_wrong_method(
    client, people, method, accept, status
):
    query = "subscription { viewer { name } }"
    headers = {"X-API-Key": people.alice.secret, "Accept": accept}
    if method == "GET":
        response = await client.get("/graphql", params={"query": query}, headers=headers)
    else:
        response = await client.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == status
    assert "allow" not in response.headers
    assert response.headers["content-type"] == accept
    assert only_error(response) == {
        "message": "The subscription operation is not supported by the schema.",
        "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
    }


@pytest.mark.parametrize(
    ("content", "content_type", "status", "message"),
    [
        (b"{not json", "application/json", 400, "Request body is not valid JSON"),
        (
            b"[]",
            "application/json",
            400,
            "Request body must be a JSON object (batching is not supported)",
        ),
        (b'{"query": 5}', "application/json", 400, "Must provide a query string"),
        (
            b'{"query": "{ viewer { name } }", "variables": [1]}',
            "application/json",
            400,
            "variables must be a JSON object",
        ),
        (
            b'{"query": "{ viewer { name } }", "extensions": "x"}',
            "application/json",
            400,
            "extensions must be a JSON object",
        ),
        (
            b"query=%7Bviewer%7D",
            "application/x-www-form-urlencoded",
            415,
            "Content-Type must be application/json",
        ),
    ],
)
async def test_it_rejects_malformed_requests_with_json_errors(
    client, content, content_type, status, message
):
    response = await client.post(
        "/graphql", content=content, headers={"Content-Type": content_type}
    )
    assert response.status_code == status
    assert response.json() == {
        "errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]
    }


# A well-formed request whose document or variables are wrong: no `data`, and the status
# GraphQL over HTTP gives each media type (DESIGN §5).
REQUEST_FAILED = pytest.mark.parametrize(
    ("accept", "status"), [("application/json", 200), (GRAPHQL_RESPONSE, 400)]
)


@REQUEST_FAILED
async def test_a_parse_failure_has_no_data(client, people, accept, status):
    response = await gql(client, "{ viewer { ", key=people.alice.secret, headers={"Accept": accept})
    assert response.status_code == status
    assert response.headers["content-type"] == accept
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["message"].startswith("Syntax Error")
    assert body["errors"][0]["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}


@REQUEST_FAILED
async def test_a_validation_failure_has_no_data_and_no_suggestions(client, people, accept, status):
    response = await gql(
        client, "{ viewr { name } }", key=people.alice.secret, headers={"Accept": accept}
    )
    assert response.status_code == status
    assert response.headers["content-type"] == accept
    error = only_error(response)
    assert error["message"] == "Cannot query field 'viewr' on type 'Query'."
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert "data" not in response.json()


@REQUEST_FAILED
async def test_variables_that_do_not_coerce_have_no_data(client, people, accept, status):
    response = await gql(
        client,
        "query($n: Int) { apiKeys(first: $n) { totalCount } }",
        {"n": "many"},
        key=people.alice.secret,
        headers={"Accept": accept},
    )
    assert response.status_code == status
    assert "data" not in response.json()
    error = only_error(response)
    assert (
        error["message"]
        == "Variable '$n' has invalid value: Int cannot represent non-integer value: 'many'"
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}


@REQUEST_FAILED
async def test_a_variable_our_json_reader_refuses_is_answered_like_one_that_does_not_coerce(
    client, people, accept, status
):
    response = await client.post(
        "/graphql",
        content=b'{"query": "query($n: String) { __typename }", "variables": {"n": "\\ud800"}}',
        headers={
            "Content-Type": "application/json",
            "Accept": accept,
            "X-API-Key": people.alice.secret,
        },
    )
    assert response.status_code == status
    assert response.json() == {
        "errors": [
            {
                "message": "Variable '$n' must not contain lone surrogates",
                "extensions": {"code": "BAD_USER_INPUT"},
            }
        ]
    }


async def test_a_map_of_extensions_is_accepted_over_post_and_get(client, people):
    posted = await client.post(
        "/graphql",
        json={"query": "{ __typename }", "extensions": {"some": "value"}},
        headers={"X-API-Key": people.alice.secret},
    )
    assert posted.status_code == 200
    assert posted.json()["data"] == {"__typename": "Query"}
    got = await client.get(
        "/graphql",
        params={"query": "{ __typename }", "extensions": '{"some": "value"}'},
        headers={"X-API-Key": people.alice.secret},
    )
    assert got.status_code == 200
    assert got.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize("extensions", ['"x"', "[]", "{not json"])
async def test_extensions_in_a_get_must_be_a_json_object(client, people, extensions):
    response = await client.get(
        "/graphql",
        params={"query": "{ __typename }", "extensions": extensions},
        headers={"X-API-Key": people.alice.secret},
    )
    assert response.status_code == 400
    assert only_error(response) == {
        "message": "extensions must be a JSON object",
        "extensions": {"code": "BAD_REQUEST"},
    }


async def test_it_answers_in_the_media_type_asked_for(client, people):
    response = await gql(
        client, "{ viewer { name } }", key=people.alice.secret, headers={"Accept": GRAPHQL_RESPONSE}
    )
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    plain = await gql(client, "{ viewer { name } }", key=people.alice.secret)
    assert plain.headers["content-type"] == "application/json"


async def test_it_refuses_an_unacceptable_media_type(client):
    response = await gql(client, "{ viewer { name } }", headers={"Accept": "text/csv"})
    assert response.status_code == 406


async def test_it_serves_graphiql_with_the_headers_editor(client):
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    # The explorer starts from a served file, not an inline script (http/graphiql.py).
    start = re.search(r'src="(/assets/graphiql/start\.[0-9a-f]{16}\.js)"', response.text)
    assert start is not None
    assert "isHeadersEditorEnabled: true" in (await client.get(start[1])).text


async def test_graphiql_can_be_turned_off(settings, clock):
    app = create_app(settings.model_copy(update={"graphiql": False}), clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        response = await http.get("/graphql", headers={"Accept": "text/html"})
    await app.state.close()
    assert response.status_code == 404


class TestIntrospection:
    QUERY = "{ __schema { queryType { name } } }"

    async def test_anonymous_callers_may_not_introspect(self, client):
        response = await gql(client, self.QUERY)
        assert response.status_code == 401
        assert only_error(response) == {
            "message": "Authentication required",
            "extensions": {"code": "UNAUTHENTICATED"},
        }

    async def test_anonymous_callers_may_not_introspect_through_a_fragment(self, client):
        response = await gql(
            client, 'query { ...F } fragment F on Query { __type(name: "Query") { name } }'
        )
        assert response.status_code == 401

    async def test_authenticated_callers_may_introspect(self, client, people):
        response = await gql(client, self.QUERY, key=people.bob.secret)
        assert response.json()["data"] == {"__schema": {"queryType": {"name": "Query"}}}

    async def test_typename_is_answered_without_a_key(self, client):
        response = await gql(client, "{ __typename }")
        assert response.json()["data"] == {"__typename": "Query"}


class TestUnexpectedErrors:
    async def test_a_resolver_bug_is_masked_and_logged_with_the_request_id(
        self, client, people, monkeypatch, caplog
    ):
        async def broken(*args, **kwargs):
            raise RuntimeError("connection string postgres://admin:hunter2@db")

        monkeypatch.setattr(api_keys, "list_keys", broken)
        with caplog.at_level(logging.ERROR, logger="statusgraph.graphql"):
            response = await gql(
                client,
                "{ apiKeys { totalCount } }",
                key=people.alice.secret,
                headers={"X-Request-ID": "trace-1"},
            )
        assert response.status_code == 500
        assert only_error(response)["message"] == "Unexpected error."
        assert only_error(response)["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
        assert "hunter2" not in response.text
        assert "trace-1" in caplog.text
        assert "hunter2" in caplog.text  # the operator sees the real cause

    async def test_a_failure_outside_graphql_is_a_json_500(self, settings, clock, monkeypatch):
        app: Starlette = create_app(settings, clock=clock)
        from statusgraph.resolvers import credentials

        async def broken(*args, **kwargs):
            raise OSError("database unreachable")

        monkeypatch.setattr(credentials, "authenticate", broken)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.post(
                "/graphql",
                json={"query": "{ viewer { name } }"},
                headers={"X-API-Key": "sg_live_x"},
            )
        await app.state.close()
        assert response.status_code == 500
        assert response.json() == {
            "errors": [
                {"message": "Unexpected error.", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
            ]
        }
        assert "x-request-id" in response.headers


async def test_healthz_answers_ok_with_a_request_id(client):
    response = await client.get("/healthz")
    assert response.json() == {"status": "ok"}
    assert "x-request-id" in response.headers


class TestRoutingErrors:
    """The app's only middleware is ours (http.routing.GuardedStarlette): the router's refusals
    come out as Starlette's default handler wrote them, with our headers."""

    async def test_an_unknown_path_is_a_plain_404(self, client):
        response = await client.get("/nowhere", headers={"X-Request-ID": "trace-404"})
        assert response.status_code == 404
        assert response.text == "Not Found"
        assert response.headers["x-request-id"] == "trace-404"

    async def test_a_wrong_method_is_a_405_with_allow(self, client):
        response = await client.delete("/healthz")
        assert response.status_code == 405
        assert response.text == "Method Not Allowed"
        assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD"}
        assert "x-request-id" in response.headers

    async def test_a_failure_in_a_rest_route_is_masked(self, settings, clock, monkeypatch, caplog):
        from statusgraph import app as app_module

        async def broken(_request):
            raise RuntimeError("secret detail")

        monkeypatch.setattr(app_module, "healthz", broken)
        app: Starlette = create_app(settings, clock=clock)  # routes bind healthz when built
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        with caplog.at_level(logging.ERROR, logger="statusgraph.http"):
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                response = await http.get("/healthz", headers={"X-Request-ID": "trace-500"})
        await app.state.close()
        assert response.status_code == 500
        assert response.json() == {"error": "Unexpected error."}
        assert "secret detail" not in response.text
        assert "trace-500" in caplog.text
