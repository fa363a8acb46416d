"""The audit log: who did what, from where; filters; never a secret; 365-day purge."""

from datetime import timedelta
from typing import Any

import httpx
from sqlmodel import select

from statusgraph.db.models import AuditEvent
from statusgraph.resolvers import audit
from tests.helpers import create_grant, create_key, create_oauth_app, gql
from tests.status_api import create_service

QUERY = """
query($filter: AuditLogFilter) {
  auditLog(filter: $filter) {
    totalCount
    edges { node { action actor { type id label } targetType targetId ip userAgent requestId scopesUsed details } }
  }
}
"""
CREATE = (
    'mutation { createApiKey(input: {name: "deploy", scopes: ["incidents:write"]}) { secret } }'
)


async def audit_log(client: httpx.AsyncClient, key: str, **filters: Any) -> dict[str, Any]:
    response = await gql(client, QUERY, {"filter": filters or None}, key=key)
    assert response.status_code == 200, response.text
    log: dict[str, Any] = response.json()["data"]["auditLog"]
    return log


async def test_it_records_key_creation_with_actor_and_request(client, people):
    headers = {"User-Agent": "terraform/1.9", "X-Request-ID": "req-42"}
    created = await gql(client, CREATE, key=people.alice.secret, headers=headers)
    secret = created.json()["data"]["createApiKey"]["secret"]
    log = await audit_log(
        client, people.alice.secret, action="api_key.created", actorId=people.alice.key_id
    )
    assert log["totalCount"] == 1
    entry = log["edges"][0]["node"]
    assert entry["actor"] == {"type": "API_KEY", "id": people.alice.key_id, "label": "alice"}
    assert entry["ip"] == "203.0.113.7"
    assert entry["userAgent"] == "terraform/1.9"
    assert entry["requestId"] == "req-42"
    assert entry["scopesUsed"] == ["api_keys:write"]
    assert entry["targetType"] == "api_key"
    assert entry["details"]["scopes"] == ["incidents:write"]
    assert secret not in str(entry)


async def test_no_entry_ever_holds_a_secret(client, db, people):
    created = await gql(client, CREATE, key=people.alice.secret)
    key_id = None
    secrets = [created.json()["data"]["createApiKey"]["secret"]]
    keys = await gql(client, "{ apiKeys { edges { node { id name } } } }", key=people.alice.secret)
    key_id = next(
        e["node"]["id"]
        for e in keys.json()["data"]["apiKeys"]["edges"]
        if e["node"]["name"] == "deploy"
    )
    rotated = await gql(
        client,
        "mutation($id: ID!) { rotateApiKey(id: $id) { secret } }",
        {"id": key_id},
        key=people.alice.secret,
    )
    secrets.append(rotated.json()["data"]["rotateApiKey"]["secret"])
    async with db() as session:
        rows = (await session.exec(select(AuditEvent))).all()
    assert {row.action for row in rows} >= {"api_key.created", "api_key.rotated"}
    for row in rows:
        for secret in secrets:
            assert secret not in repr(row.model_dump())
            assert secret[8:40] not in repr(row.model_dump())


async def test_since_and_until_filter_entries_by_time(client, clock, people):
    await gql(client, CREATE, key=people.alice.secret)
    cutoff = clock.advance(hours=1)
    await gql(client, CREATE.replace("deploy", "later"), key=people.alice.secret)
    since = await audit_log(
        client, people.alice.secret, action="api_key.created", since=cutoff.isoformat()
    )
    until = await audit_log(
        client, people.alice.secret, action="api_key.created", until=cutoff.isoformat()
    )
    assert [e["node"]["details"]["name"] for e in since["edges"]] == ["later"]
    # Before the cutoff: the fixtures' three keys and "deploy".
    assert {e["node"]["details"]["name"] for e in until["edges"]} == {"alice", "bob", "deploy"}


async def test_purge_deletes_only_entries_older_than_365_days(db, clock, people):
    async with db() as session:
        total = len((await session.exec(select(AuditEvent))).all())
    async with db.begin() as session:
        assert await audit.purge(session, now=clock() + timedelta(days=365)) == 0
    async with db.begin() as session:
        assert (
            await audit.purge(session, now=clock() + timedelta(days=365, microseconds=1)) == total
        )
    async with db() as session:
        assert (await session.exec(select(AuditEvent))).all() == []


async def test_it_filters_by_api_key_and_by_oauth_app(client, db, clock, people):
    other = await create_key(db, clock, people.alice.organization, scopes=["*:*"], name="other")
    app = await create_oauth_app(db, clock, people.alice.organization, name="Dashboard")
    second = await create_oauth_app(db, clock, people.alice.organization, name="Second")
    granted = await create_grant(
        db, clock, people.alice.organization, app.app, scopes=["services:write"]
    )
    bearer = {"Authorization": f"Bearer {granted.access_token}"}
    await create_service(client, people.alice.secret, "by alice")
    await create_service(client, other.secret, "by other")
    await gql(
        client,
        'mutation { createService(input: {name: "by app"}) { service { id } } }',
        headers=bearer,
    )

    by_alice = await audit_log(
        client, people.alice.secret, apiKeyId=people.alice.key_id, action="service.created"
    )
    assert [e["node"]["details"]["name"] for e in by_alice["edges"]] == ["by alice"]
    by_other = await audit_log(client, people.alice.secret, apiKeyId=other.key.id)
    assert [e["node"]["action"] for e in by_other["edges"]] == ["service.created"]
    # A grant's id is not an API key's: the key filter never matches a token's entries.
    assert (await audit_log(client, people.alice.secret, apiKeyId=granted.grant.id))[
        "totalCount"
    ] == 0
    by_app = await audit_log(client, people.alice.secret, oauthAppId=app.app.id)
    assert by_app["totalCount"] == 1
    entry = by_app["edges"][0]["node"]
    assert entry["actor"]["type"] == "OAUTH_TOKEN"
    assert entry["actor"]["id"] == granted.grant.id
    assert entry["details"]["name"] == "by app"
    assert (await audit_log(client, people.alice.secret, oauthAppId=second.app.id))[
        "totalCount"
    ] == 0
    # Another organization's key or app: nothing, as for an id that does not exist.
    assert (await audit_log(client, people.charlie.secret, oauthAppId=app.app.id))[
        "totalCount"
    ] == 0
    assert (await audit_log(client, people.charlie.secret, apiKeyId=people.alice.key_id))[
        "totalCount"
    ] == 0
