"""Every credential failure of DESIGN §5: exact status, code, message and headers."""

from datetime import datetime, timedelta

import httpx
import pytest
from sqlmodel import select

from statusgraph.auth import keys
from statusgraph.db.models import ApiKey, AuditEvent
from tests.helpers import StatementCounter, create_key, gql

VIEWER = "{ viewer { name } }"
INVALID = 'Bearer realm="statusgraph", error="invalid_token", error_description="Invalid API key"'


def assert_graphql_error(response: httpx.Response, status: int, code: str, message: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["errors"] == [{"message": message, "extensions": {"code": code}}]
    assert "data" not in body


async def test_it_answers_anonymous_viewer_with_null(client):
    response = await gql(client, VIEWER)
    assert response.status_code == 200
    assert response.json()["data"] == {"viewer": None}
    assert "errors" not in response.json()


async def test_it_requires_a_credential_for_guarded_fields(client):
    response = await gql(client, "{ apiKeys { totalCount } }")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="statusgraph"'
    error = response.json()["errors"][0]
    assert error["message"] == "Authentication required"
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}


@pytest.mark.parametrize(
    "presented",
    [
        "not-a-key",
        "sg_live_short",
        "sk_live_" + "A" * 38,
        "",
    ],
)
async def test_it_rejects_a_malformed_key(client, people, presented):
    response = await gql(client, VIEWER, key=presented)
    assert_graphql_error(response, 401, "UNAUTHENTICATED", "Invalid API key")
    assert response.headers["www-authenticate"] == INVALID


async def test_it_rejects_a_bad_checksum_without_touching_the_database(client, app, people):
    secret = people.alice.secret
    tampered = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    with StatementCounter(app.state.engine) as counter:
        response = await gql(client, VIEWER, key=tampered)
    assert_graphql_error(response, 401, "UNAUTHENTICATED", "Invalid API key")
    assert counter.statements == []


async def test_it_rejects_an_unknown_key_with_a_valid_checksum(client, people):
    response = await gql(client, VIEWER, key=keys.generate().secret)
    assert_graphql_error(response, 401, "UNAUTHENTICATED", "Invalid API key")
    assert response.headers["www-authenticate"] == INVALID


async def test_it_rejects_an_expired_key(client, db, clock, people):
    issued = await create_key(
        db,
        clock,
        people.alice.organization,
        scopes=["*:*"],
        expires_at=clock() + timedelta(hours=1),
    )
    assert (await gql(client, VIEWER, key=issued.secret)).status_code == 200
    clock.advance(hours=1)
    response = await gql(client, VIEWER, key=issued.secret)
    assert_graphql_error(response, 401, "UNAUTHENTICATED", "API key expired")
    assert response.headers["www-authenticate"] == (
        'Bearer realm="statusgraph", error="invalid_token", error_description="API key expired"'
    )


async def test_it_rejects_a_revoked_key(client, people):
    mutation = "mutation($id: ID!) { revokeApiKey(id: $id) { userErrors { code } } }"
    revoked = await gql(client, mutation, {"id": people.bob.key_id}, key=people.alice.secret)
    assert revoked.json()["data"]["revokeApiKey"]["userErrors"] == []
    response = await gql(client, VIEWER, key=people.bob.secret)
    assert_graphql_error(response, 401, "UNAUTHENTICATED", "API key revoked")


async def test_it_rejects_both_headers_at_once(client, people):
    response = await gql(
        client,
        VIEWER,
        key=people.alice.secret,
        headers={"Authorization": f"Bearer {people.alice.secret}"},
    )
    assert_graphql_error(
        response,
        400,
        "BAD_USER_INPUT",
        "Send the API key in X-API-Key or in Authorization, not both",
    )


async def test_it_accepts_a_bearer_token(client, people):
    response = await gql(client, VIEWER, headers={"Authorization": f"Bearer {people.alice.secret}"})
    assert response.json()["data"] == {"viewer": {"name": "alice"}}


async def test_it_rejects_other_authorization_schemes(client, people):
    response = await gql(client, VIEWER, headers={"Authorization": f"Basic {people.alice.secret}"})
    assert_graphql_error(response, 401, "UNAUTHENTICATED", "Invalid API key")


async def test_it_never_reads_a_key_from_the_query_string(client, people):
    response = await client.get(
        "/graphql", params={"query": "{ apiKeys { totalCount } }", "api_key": people.alice.secret}
    )
    # Refused outright (DESIGN §5; tests/test_url_credentials.py), not read as a key.
    assert_graphql_error(
        response, 400, "BAD_REQUEST", "Credentials must be sent in a header, not in the URL"
    )


class TestIpAllowlist:
    async def test_it_refuses_a_client_outside_the_allowlist_and_audits_it(
        self, client, db, clock, people
    ):
        issued = await create_key(
            db, clock, people.alice.organization, scopes=["*:*"], ip_allowlist=["198.51.100.0/24"]
        )
        response = await gql(client, VIEWER, key=issued.secret, headers={"User-Agent": "probe/1.0"})
        assert_graphql_error(response, 403, "FORBIDDEN", "IP address not allowed")
        async with db() as session:
            events = (
                await session.exec(
                    select(AuditEvent).where(AuditEvent.action == "api_key.ip_denied")
                )
            ).all()
        assert len(events) == 1
        assert events[0].actor_id == issued.key.id
        assert events[0].ip == "203.0.113.7"
        assert events[0].user_agent == "probe/1.0"
        assert events[0].request_id == response.headers["x-request-id"]

    async def test_it_admits_a_client_inside_the_allowlist(self, client, db, clock, people):
        issued = await create_key(
            db, clock, people.alice.organization, scopes=["*:*"], ip_allowlist=["203.0.113.0/24"]
        )
        response = await gql(client, VIEWER, key=issued.secret)
        assert response.status_code == 200

    async def test_it_ignores_forwarded_for_from_an_untrusted_peer(self, client, db, clock, people):
        issued = await create_key(
            db, clock, people.alice.organization, scopes=["*:*"], ip_allowlist=["198.51.100.0/24"]
        )
        spoofed = {"X-Forwarded-For": "198.51.100.9"}
        response = await gql(client, VIEWER, key=issued.secret, headers=spoofed)
        assert response.status_code == 403


class TestRequestId:
    async def test_it_echoes_a_safe_request_id(self, client):
        response = await gql(client, VIEWER, headers={"X-Request-ID": "abc-123.def_4"})
        assert response.headers["x-request-id"] == "abc-123.def_4"

    @pytest.mark.parametrize("offered", ["has space", "x" * 129, "semi;colon"])
    async def test_it_replaces_an_unsafe_request_id(self, client, offered):
        response = await gql(client, VIEWER, headers={"X-Request-ID": offered})
        assert response.headers["x-request-id"] != offered
        assert len(response.headers["x-request-id"]) == 32

    async def test_it_sets_a_request_id_on_errors_too(self, client):
        response = await gql(client, VIEWER, key="garbage")
        assert response.status_code == 401
        assert len(response.headers["x-request-id"]) == 32


class TestLastUsed:
    async def test_it_writes_last_use_at_most_once_a_minute(self, client, db, clock, people):
        async def last_used() -> tuple[datetime | None, str | None]:
            async with db() as session:
                key = await session.get(ApiKey, people.bob.key_id)
                assert key is not None
                return key.last_used_at, key.last_used_ip

        assert await last_used() == (None, None)
        first_use = clock()
        await gql(client, VIEWER, key=people.bob.secret)
        assert await last_used() == (first_use, "203.0.113.7")
        clock.advance(seconds=59)
        await gql(client, VIEWER, key=people.bob.secret)
        assert await last_used() == (first_use, "203.0.113.7")
        clock.advance(seconds=1)
        await gql(client, VIEWER, key=people.bob.secret)
        assert await last_used() == (clock(), "203.0.113.7")


class TestCredentialCache:
    async def test_a_busy_key_is_read_from_the_database_once(self, client, app, people):
        await gql(client, VIEWER, key=people.bob.secret)
        with StatementCounter(app.state.engine) as counter:
            for _ in range(5):
                assert (await gql(client, VIEWER, key=people.bob.secret)).status_code == 200
        assert counter.statements == []

    async def test_revoking_through_this_process_takes_effect_at_once(self, client, people):
        assert (await gql(client, VIEWER, key=people.bob.secret)).status_code == 200
        await gql(
            client,
            "mutation($id: ID!) { revokeApiKey(id: $id) { userErrors { code } } }",
            {"id": people.bob.key_id},
            key=people.alice.secret,
        )
        response = await gql(client, VIEWER, key=people.bob.secret)
        assert response.status_code == 401
        assert response.json()["errors"][0]["message"] == "API key revoked"

    async def test_revoking_elsewhere_takes_effect_when_the_entry_expires(
        self, client, app, db, people
    ):
        assert (await gql(client, VIEWER, key=people.bob.secret)).status_code == 200
        # Another process revokes the key: straight in the database, no cache here knows.
        async with db.begin() as session:
            from statusgraph.db.models import ApiKey

            key = await session.get(ApiKey, people.bob.key_id)
            key.revoked_at = key.created_at
            session.add(key)
        assert (
            await gql(client, VIEWER, key=people.bob.secret)
        ).status_code == 200  # still trusted
        app.state.credential_cache.ttl = 0  # as if its 30 seconds had passed
        assert (await gql(client, VIEWER, key=people.bob.secret)).status_code == 401
