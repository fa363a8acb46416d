"""createApiKey, revokeApiKey, rotateApiKey, apiKeys, apiKey."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, text
from sqlmodel import SQLModel, select

from statusgraph.auth import keys
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import ApiKey, AuditEvent
from tests.helpers import create_key, create_org, gql

CREATE = """
mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) {
    secret
    apiKey { id name prefix scopes environment status expiresAt ipAllowlist createdBy { type id label } }
    userErrors { field code message }
  }
}
"""
REVOKE = "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id status revokedAt } userErrors { field code message } } }"
ROTATE = """
mutation($id: ID!, $overlap: Int!) {
  rotateApiKey(id: $id, overlapSeconds: $overlap) {
    secret
    apiKey { id name scopes status expiresAt }
    previousApiKey { id status expiresAt replacedById }
    userErrors { field code message }
  }
}
"""
LIST = """
query($first: Int, $after: String, $last: Int, $before: String, $revoked: Boolean! = false) {
  apiKeys(first: $first, after: $after, last: $last, before: $before, includeRevoked: $revoked) {
    totalCount
    edges { cursor node { id name } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


async def row_counts(db: SessionFactory) -> tuple[int, int]:
    async with db() as session:
        keys_count = (await session.exec(select(func.count()).select_from(ApiKey))).one()
        audit_count = (await session.exec(select(func.count()).select_from(AuditEvent))).one()
    return keys_count, audit_count


async def create(client: httpx.AsyncClient, key: str, **fields: Any) -> dict[str, Any]:
    payload = {"name": "ci", "scopes": ["incidents:write"], **fields}
    response = await gql(client, CREATE, {"input": payload}, key=key)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()["data"]["createApiKey"]
    return created


class TestCreateApiKey:
    async def test_it_returns_the_secret_once_with_the_key(self, client, people):
        created = await create(
            client, people.alice.secret, scopes=["incidents:write", "monitors:read"]
        )
        assert created["userErrors"] == []
        secret = created["secret"]
        assert keys.parse(secret) is not None
        assert secret.startswith("sg_live_")
        key = created["apiKey"]
        assert key["prefix"] == secret[:12]
        assert key["scopes"] == ["incidents:write", "monitors:read"]
        assert key["environment"] == "LIVE"
        assert key["status"] == "ACTIVE"
        assert key["createdBy"] == {"type": "API_KEY", "id": people.alice.key_id, "label": "alice"}
        # The new key works, with exactly its scopes.
        viewer = await gql(client, "{ viewer { scopes } }", key=secret)
        assert viewer.json()["data"]["viewer"]["scopes"] == ["incidents:write", "monitors:read"]

    async def test_it_issues_sandbox_keys(self, client, people):
        created = await create(client, people.alice.secret, sandbox=True)
        assert created["secret"].startswith("sg_test_")
        assert created["apiKey"]["environment"] == "TEST"

    async def test_it_stores_no_plaintext_anywhere(self, client, db, settings, people):
        created = await create(client, people.alice.secret)
        secret = created["secret"]
        async with db() as session:
            row = await session.get(ApiKey, created["apiKey"]["id"])
            assert row.secret_hash == keys.hash_secret(settings.pepper(), secret)
            assert secret not in repr(row.model_dump())
            for table in SQLModel.metadata.sorted_tables:
                dump = text(f'SELECT * FROM "{table.name}"')  # noqa: S608  (our own table names)
                for record in (await session.exec(dump)).all():
                    assert secret not in repr(tuple(record)), table.name
                    assert secret[8:] not in repr(tuple(record)), table.name
        if settings.is_sqlite:
            database = settings.database_url.split("///", 1)[1]
            for suffix in ("", "-wal"):
                path = Path(database + suffix)
                if path.exists():
                    assert secret.encode() not in path.read_bytes()

    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            (
                {"scopes": ["incidents:write", "incidents:destroy"]},
                [("scopes", "UNKNOWN_SCOPE", "Unknown scope: incidents:destroy")],
            ),
            ({"scopes": []}, [("scopes", "INVALID", "At least one scope is required")]),
            ({"name": "  "}, [("name", "INVALID", "Name must be 1 to 200 characters")]),
            ({"name": "x" * 201}, [("name", "INVALID", "Name must be 1 to 200 characters")]),
            (
                {"expiresAt": "2026-03-02T08:59:59+00:00"},
                [("expiresAt", "INVALID", "expiresAt must be in the future")],
            ),
            (
                {"ipAllowlist": ["10.0.0.0/33"]},
                [("ipAllowlist", "INVALID", "Invalid CIDR range: 10.0.0.0/33")],
            ),
            (
                {"ipAllowlist": ["10.0.0.1/24"]},
                [("ipAllowlist", "INVALID", "Invalid CIDR range: 10.0.0.1/24")],
            ),
            (
                {"ipAllowlist": [f"10.0.{i}.0/24" for i in range(101)]},
                [("ipAllowlist", "INVALID", "An IP allowlist holds at most 100 entries")],
            ),
        ],
    )
    async def test_it_rejects_bad_input_and_writes_nothing(
        self, client, db, people, fields, expected
    ):
        before = await row_counts(db)
        created = await create(client, people.alice.secret, **fields)
        assert created["secret"] is None
        assert created["apiKey"] is None
        assert [(e["field"], e["code"], e["message"]) for e in created["userErrors"]] == expected
        assert await row_counts(db) == before

    async def test_it_accepts_100_allowlist_entries(self, client, people):
        created = await create(
            client, people.alice.secret, ipAllowlist=[f"10.0.{i}.0/24" for i in range(100)]
        )
        assert created["userErrors"] == []
        assert len(created["apiKey"]["ipAllowlist"]) == 100

    async def test_it_reserves_ip_allowlists_for_enterprise(self, client, db, clock):
        team = await create_org(db, clock, slug="teamco", plan="team")
        owner = await create_key(db, clock, team, scopes=["*:*"])
        before = await row_counts(db)
        created = await create(client, owner.secret, ipAllowlist=["10.0.0.0/8"])
        assert created["userErrors"] == [
            {
                "field": "ipAllowlist",
                "code": "PLAN_LIMIT",
                "message": "IP allowlists require the enterprise plan",
            }
        ]
        assert await row_counts(db) == before

    async def test_it_refuses_to_mint_a_scope_the_caller_lacks(self, client, db, clock, people):
        minter = await create_key(
            db, clock, people.alice.organization, scopes=["api_keys:write", "incidents:read"]
        )
        before = await row_counts(db)
        created = await create(
            client, minter.secret, scopes=["incidents:write", "incidents:read", "*:*"]
        )
        assert created["userErrors"] == [
            {
                "field": "scopes",
                "code": "SCOPE_ESCALATION",
                "message": "Cannot grant a scope you do not hold: *:*",
            },
            {
                "field": "scopes",
                "code": "SCOPE_ESCALATION",
                "message": "Cannot grant a scope you do not hold: incidents:write",
            },
        ]
        assert await row_counts(db) == before

    async def test_it_lets_a_key_mint_what_it_holds(self, client, db, clock, people):
        minter = await create_key(
            db, clock, people.alice.organization, scopes=["api_keys:write", "monitors:*"]
        )
        created = await create(
            client, minter.secret, scopes=["monitors:read", "monitors:*", "api_keys:read"]
        )
        assert created["userErrors"] == []

    async def test_it_needs_api_keys_write(self, client, db, people):
        before = await row_counts(db)
        response = await gql(
            client,
            CREATE,
            {"input": {"name": "x", "scopes": ["incidents:read"]}},
            key=people.bob.secret,
        )
        assert response.status_code == 403
        assert response.json() == {
            "data": None,
            "extensions": {"cost": {"requested": 13, "maximum": 1000}},
            "errors": [
                {
                    "message": "Insufficient scope: api_keys:write required",
                    "locations": [{"line": 3, "column": 3}],
                    "path": ["createApiKey"],
                    "extensions": {"code": "FORBIDDEN", "requiredScope": "api_keys:write"},
                }
            ],
        }
        assert await row_counts(db) == before


class TestRevokeApiKey:
    async def test_it_revokes_and_audits(self, client, db, clock, people):
        response = await gql(client, REVOKE, {"id": people.bob.key_id}, key=people.alice.secret)
        payload = response.json()["data"]["revokeApiKey"]
        assert payload["userErrors"] == []
        assert payload["apiKey"]["status"] == "REVOKED"
        assert payload["apiKey"]["revokedAt"] == clock().isoformat()

    async def test_it_reports_an_already_revoked_key_and_writes_nothing(self, client, db, people):
        await gql(client, REVOKE, {"id": people.bob.key_id}, key=people.alice.secret)
        before = await row_counts(db)
        response = await gql(client, REVOKE, {"id": people.bob.key_id}, key=people.alice.secret)
        assert response.json()["data"]["revokeApiKey"] == {
            "apiKey": None,
            "userErrors": [
                {"field": "id", "code": "ALREADY_REVOKED", "message": "API key is already revoked"}
            ],
        }
        assert await row_counts(db) == before

    async def test_it_answers_not_found_for_an_unknown_id(self, client, people):
        response = await gql(client, REVOKE, {"id": "key_doesnotexist"}, key=people.alice.secret)
        assert response.json()["errors"][0]["message"] == "ApiKey not found"
        assert response.json()["errors"][0]["extensions"] == {"code": "NOT_FOUND"}


class TestRotateApiKey:
    async def test_old_key_works_during_the_overlap_and_fails_after(self, client, clock, people):
        response = await gql(
            client, ROTATE, {"id": people.bob.key_id, "overlap": 3600}, key=people.alice.secret
        )
        payload = response.json()["data"]["rotateApiKey"]
        assert payload["userErrors"] == []
        assert payload["apiKey"]["name"] == "bob"
        assert payload["apiKey"]["scopes"] == ["api_keys:read", "audit_log:read"]
        assert payload["previousApiKey"]["expiresAt"] == (clock() + timedelta(hours=1)).isoformat()
        assert payload["previousApiKey"]["replacedById"] == payload["apiKey"]["id"]
        new_secret = payload["secret"]

        clock.advance(minutes=59, seconds=59)
        assert (await gql(client, "{ viewer { name } }", key=people.bob.secret)).status_code == 200
        assert (await gql(client, "{ viewer { name } }", key=new_secret)).status_code == 200
        clock.advance(seconds=1)
        old = await gql(client, "{ viewer { name } }", key=people.bob.secret)
        assert old.status_code == 401
        assert old.json()["errors"][0]["message"] == "API key expired"
        assert (await gql(client, "{ viewer { name } }", key=new_secret)).status_code == 200

    async def test_it_defaults_to_a_day_of_overlap(self, client, clock, people):
        mutation = "mutation($id: ID!) { rotateApiKey(id: $id) { previousApiKey { expiresAt } } }"
        response = await gql(client, mutation, {"id": people.bob.key_id}, key=people.alice.secret)
        expires = response.json()["data"]["rotateApiKey"]["previousApiKey"]["expiresAt"]
        assert expires == (clock() + timedelta(days=1)).isoformat()

    @pytest.mark.parametrize("overlap", [-1, 604801])
    async def test_an_overlap_outside_zero_to_a_week_is_refused_and_writes_nothing(
        self, client, db, people, overlap
    ):
        before = await row_counts(db)
        response = await gql(
            client, ROTATE, {"id": people.bob.key_id, "overlap": overlap}, key=people.alice.secret
        )
        assert response.json()["data"]["rotateApiKey"]["userErrors"] == [
            {
                "field": "overlapSeconds",
                "code": "INVALID",
                "message": "overlapSeconds must be between 0 and 604800",
            }
        ]
        assert await row_counts(db) == before

    async def test_it_refuses_to_rotate_twice_or_a_revoked_key(self, client, db, people):
        await gql(client, ROTATE, {"id": people.bob.key_id, "overlap": 60}, key=people.alice.secret)
        again = await gql(
            client, ROTATE, {"id": people.bob.key_id, "overlap": 60}, key=people.alice.secret
        )
        assert again.json()["data"]["rotateApiKey"]["userErrors"][0]["code"] == "ALREADY_ROTATED"
        await gql(client, REVOKE, {"id": people.bob.key_id}, key=people.alice.secret)
        revoked = await gql(
            client, ROTATE, {"id": people.bob.key_id, "overlap": 60}, key=people.alice.secret
        )
        assert revoked.json()["data"]["rotateApiKey"]["userErrors"] == [
            {"field": "id", "code": "REVOKED", "message": "A revoked API key cannot be rotated"}
        ]

    async def test_it_refuses_to_rotate_a_key_with_wider_scopes(self, client, db, clock, people):
        rotator = await create_key(db, clock, people.alice.organization, scopes=["api_keys:write"])
        before = await row_counts(db)
        response = await gql(
            client, ROTATE, {"id": people.alice.key_id, "overlap": 60}, key=rotator.secret
        )
        assert response.json()["data"]["rotateApiKey"]["userErrors"] == [
            {
                "field": "id",
                "code": "SCOPE_ESCALATION",
                "message": "Cannot grant a scope you do not hold: *:*",
            }
        ]
        assert await row_counts(db) == before


class TestListApiKeys:
    async def test_it_pages_forward_and_backward_newest_first(self, client, db, clock, people):
        for index in range(5):
            clock.advance(seconds=1)
            await create_key(
                db, clock, people.alice.organization, scopes=["incidents:read"], name=f"k{index}"
            )
        names = ["k4", "k3", "k2", "k1", "k0"]

        first = (await gql(client, LIST, {"first": 2}, key=people.alice.secret)).json()["data"][
            "apiKeys"
        ]
        assert [edge["node"]["name"] for edge in first["edges"]] == names[:2]
        assert first["totalCount"] == 7  # alice, bob and the five new ones; none of globex
        assert first["pageInfo"]["hasNextPage"] is True
        assert first["pageInfo"]["hasPreviousPage"] is False

        second = (
            await gql(
                client,
                LIST,
                {"first": 2, "after": first["pageInfo"]["endCursor"]},
                key=people.alice.secret,
            )
        ).json()["data"]["apiKeys"]
        assert [edge["node"]["name"] for edge in second["edges"]] == names[2:4]
        assert second["pageInfo"]["hasPreviousPage"] is True

        back = (
            await gql(
                client,
                LIST,
                {"last": 2, "before": second["pageInfo"]["startCursor"]},
                key=people.alice.secret,
            )
        ).json()["data"]["apiKeys"]
        assert [edge["node"]["name"] for edge in back["edges"]] == names[:2]
        assert back["pageInfo"]["hasPreviousPage"] is False
        assert back["pageInfo"]["hasNextPage"] is True

    async def test_it_hides_revoked_keys_unless_asked(self, client, people):
        await gql(client, REVOKE, {"id": people.bob.key_id}, key=people.alice.secret)
        shown = (await gql(client, LIST, {}, key=people.alice.secret)).json()["data"]["apiKeys"]
        assert [edge["node"]["name"] for edge in shown["edges"]] == ["alice"]
        everything = (await gql(client, LIST, {"revoked": True}, key=people.alice.secret)).json()[
            "data"
        ]["apiKeys"]
        assert {edge["node"]["name"] for edge in everything["edges"]} == {"alice", "bob"}

    async def test_it_caps_the_page_size(self, client, people):
        response = await gql(client, LIST, {"first": 101}, key=people.alice.secret)
        assert response.status_code == 200  # a request error, under application/json
        assert "data" not in response.json()
        assert (
            response.json()["errors"][0]["message"]
            == "Requesting 101 records exceeds the limit of 100"
        )
        assert response.json()["errors"][0]["extensions"] == {
            "code": "EXCESSIVE_PAGINATION",
            "maxPageSize": 100,
        }
        assert (await gql(client, LIST, {"first": 100}, key=people.alice.secret)).json().get(
            "errors"
        ) is None

    @pytest.mark.parametrize(
        ("variables", "message"),
        [
            ({"after": "bm90IGEgY3Vyc29y"}, "Invalid cursor"),
            ({"after": "%%%"}, "Invalid cursor"),
            ({"first": 1, "last": 1}, "Pass either first or last, not both"),
            ({"first": -1}, "first and last must not be negative"),
        ],
    )
    async def test_it_rejects_bad_page_arguments(self, client, people, variables, message):
        response = await gql(client, LIST, variables, key=people.alice.secret)
        assert response.json()["errors"][0]["message"] == message
        assert response.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}

    async def test_a_key_unused_for_more_than_sixty_days_is_stale_until_used(
        self, client, db, clock, people
    ):
        query = "query($id: ID!) { apiKey(id: $id) { stale lastUsedAt } }"
        clock.advance(days=60)
        fresh = await gql(client, query, {"id": people.bob.key_id}, key=people.alice.secret)
        assert fresh.json()["data"]["apiKey"]["stale"] is False
        clock.advance(seconds=1)
        stale = await gql(client, query, {"id": people.bob.key_id}, key=people.alice.secret)
        assert stale.json()["data"]["apiKey"]["stale"] is True
        await gql(client, "{ viewer { name } }", key=people.bob.secret)
        used = await gql(client, query, {"id": people.bob.key_id}, key=people.alice.secret)
        assert used.json()["data"]["apiKey"] == {"stale": False, "lastUsedAt": clock().isoformat()}
