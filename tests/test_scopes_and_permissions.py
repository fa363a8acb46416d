"""Scope rules (write implies read, wildcards) and how denials reach the client."""

import httpx
import pytest

from statusgraph.auth import scopes
from tests.helpers import Personas, create_key, gql

LIST = "{ apiKeys { totalCount } }"
AUDIT = "{ auditLog { totalCount } }"


@pytest.mark.parametrize(
    ("held", "required", "granted"),
    [
        ({"incidents:write"}, "incidents:read", True),
        ({"incidents:read"}, "incidents:write", False),
        ({"incidents:*"}, "incidents:write", True),
        ({"incidents:*"}, "services:read", False),
        ({"*:*"}, "billing:read", True),
        ({"monitors:write"}, "heartbeat:write", False),
        (set(), "incidents:read", False),
    ],
)
def test_held_scopes_grant_through_write_implies_read_and_wildcards(held, required, granted):
    assert scopes.grants(frozenset(held), required) is granted


@pytest.mark.parametrize(
    ("held", "requested", "allowed"),
    [
        ({"*:*"}, "*:*", True),
        ({"incidents:*"}, "*:*", False),
        ({"incidents:*"}, "incidents:*", True),
        ({"incidents:write", "incidents:read"}, "incidents:*", False),
        ({"incidents:write"}, "incidents:read", True),
        ({"incidents:read"}, "incidents:write", False),
    ],
)
def test_a_key_mints_what_it_grants_and_a_wildcard_only_from_an_equal_or_wider_one(
    held, requested, allowed
):
    assert scopes.covers(frozenset(held), requested) is allowed


def test_unknown_lists_only_names_outside_the_catalogue():
    assert scopes.unknown(
        ["incidents:read", "monitors:*", "*:*", "nope:read", "incidents:delete"]
    ) == [
        "nope:read",
        "incidents:delete",
    ]


class TestDenials:
    async def test_a_denied_field_answers_403_when_nothing_else_resolved(
        self, client, db, clock, people
    ):
        reader = await create_key(db, clock, people.alice.organization, scopes=["incidents:read"])
        response = await gql(client, LIST, key=reader.secret)
        assert response.status_code == 403
        assert response.json()["data"] == {"apiKeys": None}
        error = response.json()["errors"][0]
        assert error["message"] == "Insufficient scope: api_keys:read required"
        assert error["extensions"] == {"code": "FORBIDDEN", "requiredScope": "api_keys:read"}

    async def test_a_denied_field_beside_an_allowed_one_answers_200_with_partial_data(
        self, client, people
    ):
        restricted = await create_key_with(client, people, ["api_keys:read"])
        partial = await gql(
            client, "{ apiKeys { totalCount } auditLog { totalCount } }", key=restricted
        )
        assert partial.status_code == 200
        assert partial.json()["data"]["apiKeys"] == {"totalCount": 3}
        assert partial.json()["data"]["auditLog"] is None
        assert (
            partial.json()["errors"][0]["message"] == "Insufficient scope: audit_log:read required"
        )

    async def test_a_write_scope_lets_its_holder_read_too(self, client, db, clock, people):
        writer = await create_key(db, clock, people.alice.organization, scopes=["api_keys:write"])
        response = await gql(client, LIST, key=writer.secret)
        assert response.status_code == 200
        assert response.json()["data"]["apiKeys"]["totalCount"] == 3

    async def test_a_resource_wildcard_grants_both_actions(self, client, db, clock, people):
        wildcard = await create_key(db, clock, people.alice.organization, scopes=["api_keys:*"])
        assert (await gql(client, LIST, key=wildcard.secret)).status_code == 200
        assert (await gql(client, AUDIT, key=wildcard.secret)).status_code == 403

    async def test_a_legacy_key_has_full_access(self, client, db, clock, people):
        legacy = await create_key(db, clock, people.alice.organization, scopes=[], legacy=True)
        response = await gql(
            client, "{ viewer { scopes } auditLog { totalCount } }", key=legacy.secret
        )
        assert response.status_code == 200
        assert response.json()["data"]["viewer"]["scopes"] == ["*:*"]


async def create_key_with(client: httpx.AsyncClient, people: Personas, wanted: list[str]) -> str:
    mutation = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }"
    response = await gql(
        client, mutation, {"i": {"name": "restricted", "scopes": wanted}}, key=people.alice.secret
    )
    secret: str = response.json()["data"]["createApiKey"]["secret"]
    return secret
