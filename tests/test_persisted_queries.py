"""Automatic persisted queries (Apollo's APQ protocol) and conditional GET (ETag / 304)."""

import asyncio
import hashlib
import json
from typing import Any

import httpx
import pytest
from sqlmodel import func, select

from statusgraph.db.models import Service
from statusgraph.etags import still_fresh
from statusgraph.http.persisted_queries import MAX_REMEMBERED_CHARS, PersistedQueries
from tests.helpers import create_key, create_org

SERVICES = "{ services(first: 5) { edges { node { name } } } }"
CREATE = 'mutation { createService(input: {name: "API"}) { service { id } userErrors { code } } }'
GRAPHQL_RESPONSE = "application/graphql-response+json"


def sha(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def extension(digest: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": digest}}


async def post(
    client: httpx.AsyncClient,
    key: str | None,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {**({"X-API-Key": key} if key else {}), **(headers or {})}
    return await client.post("/graphql", json=body, headers=sent)


async def get(
    client: httpx.AsyncClient,
    key: str | None,
    params: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    encoded = {
        name: json.dumps(value) if isinstance(value, dict) else value
        for name, value in params.items()
    }
    sent = {**({"X-API-Key": key} if key else {}), **(headers or {})}
    return await client.get("/graphql", params=encoded, headers=sent)


async def services_stored(db: Any) -> int:
    async with db() as session:
        return int((await session.exec(select(func.count()).select_from(Service))).one())


class TestPersistedQueries:
    async def test_an_unknown_hash_asks_for_the_document(self, client, people):
        body = {"extensions": extension(sha(SERVICES))}
        response = await post(client, people.alice.secret, body)
        assert response.status_code == 200
        assert response.json() == {
            "errors": [
                {
                    "message": "PersistedQueryNotFound",
                    "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
                }
            ]
        }
        # A request error: 400 under GraphQL over HTTP's own media type.
        strict = await post(client, people.alice.secret, body, {"Accept": GRAPHQL_RESPONSE})
        assert strict.status_code == 400
        assert strict.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    async def test_the_document_with_its_hash_runs_and_the_hash_alone_then_does(
        self, client, people
    ):
        key = people.alice.secret
        await post(client, key, {"query": CREATE})
        registered = await post(
            client, key, {"query": SERVICES, "extensions": extension(sha(SERVICES))}
        )
        expected = {"services": {"edges": [{"node": {"name": "API"}}]}}
        assert registered.json()["data"] == expected
        by_hash = await post(client, key, {"extensions": extension(sha(SERVICES))})
        assert by_hash.json()["data"] == expected
        by_get = await get(client, key, {"extensions": extension(sha(SERVICES))})
        assert by_get.status_code == 200
        assert by_get.json()["data"] == expected

    async def test_a_hash_that_does_not_match_is_refused_and_not_remembered(self, client, people):
        key = people.alice.secret
        wrong = sha("{ viewer { name } }")
        response = await post(client, key, {"query": SERVICES, "extensions": extension(wrong)})
        assert response.status_code == 400
        assert response.json() == {
            "errors": [
                {
                    "message": "provided sha does not match query",
                    "extensions": {"code": "BAD_REQUEST"},
                }
            ]
        }
        again = await post(client, key, {"extensions": extension(wrong)})
        assert again.json()["errors"][0]["message"] == "PersistedQueryNotFound"

    @pytest.mark.parametrize(
        ("persisted", "message"),
        [
            ({"version": 2, "sha256Hash": "0" * 64}, "Unsupported persisted query version"),
            ("v1", "Unsupported persisted query version"),
            (
                {"version": 1, "sha256Hash": "ABC"},
                "persistedQuery.sha256Hash must be 64 lowercase hexadecimal characters",
            ),
            (
                {"version": 1, "sha256Hash": "A" * 64},
                "persistedQuery.sha256Hash must be 64 lowercase hexadecimal characters",
            ),
            (
                {"version": 1},
                "persistedQuery.sha256Hash must be 64 lowercase hexadecimal characters",
            ),
        ],
    )
    async def test_a_malformed_extension_is_a_bad_request(self, client, people, persisted, message):
        body = {"query": SERVICES, "extensions": {"persistedQuery": persisted}}
        response = await post(client, people.alice.secret, body)
        assert response.status_code == 400
        assert response.json() == {
            "errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]
        }

    async def test_a_document_that_does_not_validate_is_not_remembered(self, client, people):
        key = people.alice.secret
        broken = "{ services { nope } }"
        response = await post(client, key, {"query": broken, "extensions": extension(sha(broken))})
        assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        again = await post(client, key, {"extensions": extension(sha(broken))})
        assert again.json()["errors"][0]["message"] == "PersistedQueryNotFound"

    async def test_a_mutation_by_hash_alone_is_charged_as_a_write(self, app_with, clock):
        app, client = await app_with()
        team = await create_org(app.state.db, clock, slug="team", plan="team")
        key = (await create_key(app.state.db, clock, team, scopes=["*:*"])).secret
        await post(client, key, {"query": CREATE, "extensions": extension(sha(CREATE))})
        assert await services_stored(app.state.db) == 1
        response = await post(client, key, {"extensions": extension(sha(CREATE))})
        assert response.json()["data"]["createService"]["userErrors"] == []
        assert response.headers["x-ratelimit-limit"] == "120"  # the team plan's write bucket
        assert await services_stored(app.state.db) == 2

    async def test_a_mutation_by_hash_over_get_is_refused_and_writes_nothing(
        self, client, db, people
    ):
        key = people.alice.secret
        await post(client, key, {"query": CREATE, "extensions": extension(sha(CREATE))})
        response = await get(client, key, {"extensions": extension(sha(CREATE))})
        assert response.status_code == 405
        assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
        assert await services_stored(db) == 1

    async def test_a_hash_alone_runs_what_was_charged_even_if_registered_meanwhile(
        self, app_with, clock
    ):
        """The middleware looks the hash up once, before charging: a request that found
        nothing is answered PersistedQueryNotFound even if another request registers the
        document before it reaches the endpoint (else its mutation would run charged as
        a read)."""
        app, client = await app_with()
        team = await create_org(app.state.db, clock, slug="team", plan="team")
        key = (await create_key(app.state.db, clock, team, scopes=["*:*"])).secret
        limiter = app.state.limiter
        charge = limiter.hit
        gate = asyncio.Event()
        calls: list[Any] = []

        reached = asyncio.Event()

        async def held_first(policy: Any, identity: str, cost: int = 1) -> Any:
            calls.append(policy)
            if len(calls) == 1:
                reached.set()
                await gate.wait()
            return await charge(policy, identity, cost)

        limiter.hit = held_first
        hash_only = asyncio.create_task(post(client, key, {"extensions": extension(sha(CREATE))}))
        await reached.wait()
        registered = await post(
            client, key, {"query": CREATE, "extensions": extension(sha(CREATE))}
        )
        assert registered.json()["data"]["createService"]["userErrors"] == []
        gate.set()
        answer = await hash_only
        assert answer.json()["errors"][0]["message"] == "PersistedQueryNotFound"
        assert await services_stored(app.state.db) == 1

    async def test_a_response_served_from_the_public_cache_still_registers_the_hash(
        self, client, people
    ):
        page = "query($s: String!) { publicStatusPage(slug: $s) { name } }"
        variables = {"s": "none"}
        await post(client, None, {"query": page, "variables": variables})  # fills the cache
        # ...with an answer that executed (the page is missing: data null, an error).
        await get(
            client,
            None,
            {"query": page, "variables": variables, "extensions": extension(sha(page))},
        )
        by_hash = await get(
            client, None, {"variables": variables, "extensions": extension(sha(page))}
        )
        assert by_hash.json()["data"] == {"publicStatusPage": None}

    async def test_version_true_is_not_version_1(self, client, people):
        body = {
            "query": SERVICES,
            "extensions": {"persistedQuery": {"version": True, "sha256Hash": sha(SERVICES)}},
        }
        response = await post(client, people.alice.secret, body)
        assert response.status_code == 400
        assert response.json()["errors"][0]["message"] == "Unsupported persisted query version"

    async def test_switched_off_it_says_not_supported(self, app_with, clock):
        app, client = await app_with(graphql_persisted_queries=0)
        org = await create_org(app.state.db, clock, slug="off")
        key = (await create_key(app.state.db, clock, org, scopes=["*:*"])).secret
        response = await post(
            client, key, {"query": SERVICES, "extensions": extension(sha(SERVICES))}
        )
        assert response.status_code == 200
        assert response.json() == {
            "errors": [
                {
                    "message": "PersistedQueryNotSupported",
                    "extensions": {"code": "PERSISTED_QUERY_NOT_SUPPORTED"},
                }
            ]
        }

    async def test_a_document_is_remembered_for_any_credential_but_runs_as_the_caller(
        self, client, people
    ):
        await post(client, people.alice.secret, {"query": CREATE})
        await post(
            client, people.alice.secret, {"query": SERVICES, "extensions": extension(sha(SERVICES))}
        )
        theirs = await post(client, people.charlie.secret, {"extensions": extension(sha(SERVICES))})
        assert theirs.json()["data"] == {"services": {"edges": []}}

    def test_a_long_document_runs_but_is_not_remembered(self):
        store = PersistedQueries(max_entries=10)
        long = "{ viewer { name } }" + " " * MAX_REMEMBERED_CHARS
        store.remember("long", long)
        assert store.lookup("long") is None

    def test_the_store_keeps_the_most_recently_used(self):
        store = PersistedQueries(max_entries=2)
        store.remember("a", "{ a }")
        store.remember("b", "{ b }")
        assert store.lookup("a") == "{ a }"  # a is now the most recent
        store.remember("c", "{ c }")
        assert (store.lookup("a"), store.lookup("b"), store.lookup("c")) == ("{ a }", None, "{ c }")
        assert len(store) == 2


class TestConditionalGet:
    async def test_an_unchanged_answer_is_a_304_and_a_change_a_new_200(self, client, people):
        key = people.alice.secret
        await post(client, key, {"query": CREATE})
        first = await get(client, key, {"query": SERVICES})
        tag = first.headers["etag"]
        assert first.status_code == 200
        assert first.headers["cache-control"] == "private, no-cache"
        assert "X-API-Key" in first.headers["vary"]
        same = await get(client, key, {"query": SERVICES}, {"If-None-Match": tag})
        assert same.status_code == 304
        assert same.content == b""
        assert same.headers["etag"] == tag
        assert same.headers["x-ratelimit-limit"]  # still counted against the key
        await post(client, key, {"query": CREATE})
        changed = await get(client, key, {"query": SERVICES}, {"If-None-Match": tag})
        assert changed.status_code == 200
        assert changed.headers["etag"] != tag
        assert len(changed.json()["data"]["services"]["edges"]) == 2

    @pytest.mark.parametrize(
        ("sent", "fresh"),
        [
            ('"abc"', True),
            ('W/"abc"', True),
            ('"x", W/"abc"', True),
            ("*", True),
            ('"abcd"', False),
            ("abc", False),
            ("", False),
            (None, False),
        ],
    )
    def test_if_none_match_is_compared_weakly(self, sent, fresh):
        assert still_fresh(sent, '"abc"') is fresh

    async def test_another_organizations_tag_gets_its_own_answer(self, client, people):
        await post(client, people.alice.secret, {"query": CREATE})
        alices = await get(client, people.alice.secret, {"query": SERVICES})
        charlies = await get(
            client,
            people.charlie.secret,
            {"query": SERVICES},
            {"If-None-Match": alices.headers["etag"]},
        )
        assert charlies.status_code == 200
        assert charlies.json()["data"] == {"services": {"edges": []}}

    async def test_anonymous_answers_may_be_stored_by_shared_caches(self, client, people):
        query = {"query": '{ publicStatusPage(slug: "none") { name } }'}
        response = await get(client, None, query)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-cache"
        # A private page read with a viewer token is for that reader only.
        with_token = await get(client, None, query, {"X-Status-Page-Token": "sgv_x"})
        assert with_token.headers["cache-control"] == "private, no-cache"

    async def test_posts_and_errors_carry_no_tag(self, client, people):
        posted = await post(client, people.alice.secret, {"query": SERVICES})
        assert "etag" not in posted.headers
        refused = await get(client, "sg_live_nope", {"query": SERVICES})
        assert refused.status_code == 401
        assert "etag" not in refused.headers

    async def test_a_persisted_query_by_get_is_revalidated_too(self, client, people):
        key = people.alice.secret
        await post(client, key, {"query": SERVICES, "extensions": extension(sha(SERVICES))})
        params = {"extensions": extension(sha(SERVICES))}
        first = await get(client, key, params)
        again = await get(client, key, params, {"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
