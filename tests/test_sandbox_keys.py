"""Sandbox keys (`sg_test_`) mint and rotate into sandbox keys only: a live key minted by
a sandbox key would escape the sandbox rate limit (issue #12, item 6)."""

from typing import Any

import httpx
from sqlmodel import func, select

from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import ApiKey, AuditEvent
from statusgraph.resolvers.api_keys import IssuedKey
from tests.helpers import Personas, create_key, gql

CREATE = """
mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) {
    secret
    apiKey { id environment }
    userErrors { field code message }
  }
}
"""
ROTATE = """
mutation($id: ID!) {
  rotateApiKey(id: $id, overlapSeconds: 60) {
    secret
    apiKey { id environment }
    previousApiKey { id }
    userErrors { field code message }
  }
}
"""


async def row_counts(db: SessionFactory) -> tuple[int, int]:
    async with db() as session:
        keys_count = (await session.exec(select(func.count()).select_from(ApiKey))).one()
        audit_count = (await session.exec(select(func.count()).select_from(AuditEvent))).one()
    return keys_count, audit_count


async def sandbox_key(db: SessionFactory, clock: FrozenClock, people: Personas) -> IssuedKey:
    return await create_key(db, clock, people.alice.organization, scopes=["*:*"], sandbox=True)


async def mutate(
    client: httpx.AsyncClient, document: str, variables: dict[str, Any], key: str, field: str
) -> dict[str, Any]:
    response = await gql(client, document, variables, key=key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"][field]
    return payload


class TestCreateApiKeyFromASandboxKey:
    async def test_a_sandbox_key_with_full_access_cannot_mint_a_live_key(
        self, client, db, clock, people
    ):
        sandbox = await sandbox_key(db, clock, people)
        before = await row_counts(db)
        for asked in ({"sandbox": False}, {}):  # explicitly, and by the input's default
            payload = await mutate(
                client,
                CREATE,
                {"input": {"name": "escape", "scopes": ["incidents:read"], **asked}},
                sandbox.secret,
                "createApiKey",
            )
            assert payload == {
                "secret": None,
                "apiKey": None,
                "userErrors": [
                    {
                        "field": "sandbox",
                        "code": "SANDBOX_ESCALATION",
                        "message": "A sandbox key can only create sandbox keys",
                    }
                ],
            }
        assert await row_counts(db) == before

    async def test_a_sandbox_key_mints_sandbox_keys(self, client, db, clock, people):
        sandbox = await sandbox_key(db, clock, people)
        payload = await mutate(
            client,
            CREATE,
            {"input": {"name": "ci", "scopes": ["incidents:read"], "sandbox": True}},
            sandbox.secret,
            "createApiKey",
        )
        assert payload["userErrors"] == []
        assert payload["secret"].startswith("sg_test_")
        assert payload["apiKey"]["environment"] == "TEST"

    async def test_a_live_key_still_mints_both_kinds(self, client, people):
        for sandbox, prefix in ((False, "sg_live_"), (True, "sg_test_")):
            payload = await mutate(
                client,
                CREATE,
                {"input": {"name": "ci", "scopes": ["incidents:read"], "sandbox": sandbox}},
                people.alice.secret,
                "createApiKey",
            )
            assert payload["userErrors"] == []
            assert payload["secret"].startswith(prefix)


class TestRotateApiKeyFromASandboxKey:
    async def test_a_sandbox_key_cannot_rotate_a_live_key(self, client, db, clock, people):
        sandbox = await sandbox_key(db, clock, people)
        live = await create_key(db, clock, people.alice.organization, scopes=["incidents:read"])
        before = await row_counts(db)
        payload = await mutate(client, ROTATE, {"id": live.key.id}, sandbox.secret, "rotateApiKey")
        assert payload == {
            "secret": None,
            "apiKey": None,
            "previousApiKey": None,
            "userErrors": [
                {
                    "field": "id",
                    "code": "SANDBOX_ESCALATION",
                    "message": "A sandbox key can only rotate sandbox keys",
                }
            ],
        }
        assert await row_counts(db) == before
        async with db() as session:
            row = await session.get(ApiKey, live.key.id)
        assert (row.replaced_by_id, row.expires_at) == (None, None)

    async def test_a_sandbox_key_rotates_a_sandbox_key_into_a_sandbox_key(
        self, client, db, clock, people
    ):
        sandbox = await sandbox_key(db, clock, people)
        other = await create_key(
            db, clock, people.alice.organization, scopes=["incidents:read"], sandbox=True
        )
        payload = await mutate(client, ROTATE, {"id": other.key.id}, sandbox.secret, "rotateApiKey")
        assert payload["userErrors"] == []
        assert payload["secret"].startswith("sg_test_")
        assert payload["apiKey"]["environment"] == "TEST"
