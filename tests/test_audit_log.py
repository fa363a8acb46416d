"""The audit log: who did what, from where; filters; never a secret; 365-day purge."""

from datetime import timedelta
from typing import Any

import httpx
from sqlmodel import select

from statusgraph.db.models import AuditEvent
from statusgraph.resolvers import audit
from tests.helpers import gql

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
