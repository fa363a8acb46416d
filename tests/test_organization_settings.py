"""organization { settings } and updateOrganizationSettings; the key policy on new keys,
on old ones (exceedsPolicy) and in the key_policy job (DESIGN §15)."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import func, select

from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import ApiKey, AuditEvent, Organization
from statusgraph.jobs import key_policy
from statusgraph.jobs.runner import JobContext
from statusgraph.resolvers import organization_settings
from tests.helpers import create_key, create_org, gql
from tests.status_api import create_page

READ = """
{ organization { name settings { name timeZone defaultStatusPage { id slug }
  keyPolicy { maxLifetimeDays disableOlderThanDays } sessionHours } } }
"""
UPDATE = """
mutation($input: UpdateOrganizationSettingsInput!) {
  updateOrganizationSettings(input: $input) {
    settings { name timeZone defaultStatusPage { id slug }
      keyPolicy { maxLifetimeDays disableOlderThanDays } sessionHours }
    userErrors { field code message }
  }
}
"""
CREATE_KEY = """
mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { apiKey { id expiresAt exceedsPolicy } userErrors { field code message } }
}
"""


async def update(client: httpx.AsyncClient, key: str, **fields: Any) -> dict[str, Any]:
    response = await gql(client, UPDATE, {"input": fields}, key=key)
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()["data"]["updateOrganizationSettings"]
    return payload


async def snapshot(db: SessionFactory, organization_id: str) -> tuple[Any, ...]:
    async with db() as session:
        row = await session.get(Organization, organization_id)
        assert row is not None
        audits = (await session.exec(select(func.count()).select_from(AuditEvent))).one()
        return (row.model_dump(), audits)


async def settings_entries(db: SessionFactory) -> list[AuditEvent]:
    async with db() as session:
        statement = select(AuditEvent).where(AuditEvent.action == "organization.settings_updated")
        return list((await session.exec(statement)).all())


async def test_the_defaults_read_with_config_read(client, db, clock, people):
    reader = await create_key(db, clock, people.alice.organization, scopes=["config:read"])
    response = await gql(client, READ, key=reader.secret)
    assert response.json()["data"]["organization"] == {
        "name": "Acme",
        "settings": {
            "name": "Acme",
            "timeZone": "UTC",
            "defaultStatusPage": None,
            "keyPolicy": {"maxLifetimeDays": None, "disableOlderThanDays": None},
            "sessionHours": 12,
        },
    }


async def test_reading_and_changing_need_their_scopes(client, people):
    response = await gql(client, READ, key=people.bob.secret)
    error = response.json()["errors"][0]
    assert error["message"] == "Insufficient scope: config:read required"
    assert error["extensions"]["code"] == "FORBIDDEN"
    response = await gql(client, UPDATE, {"input": {"name": "X"}}, key=people.bob.secret)
    assert response.json()["errors"][0]["message"] == "Insufficient scope: config:write required"
    # Through the viewer too: the settings are guarded where they are, not only at the root.
    response = await gql(
        client, "{ viewer { organization { name settings { name } } } }", key=people.bob.secret
    )
    body = response.json()
    assert body["data"]["viewer"]["organization"] == {"name": "Acme", "settings": None}
    assert body["errors"][0]["message"] == "Insufficient scope: config:read required"


async def test_every_setting_changes_and_is_audited_with_before_and_after(client, db, people):
    first = await create_page(client, people.alice.secret, "first")
    second = await create_page(client, people.alice.secret, "second")
    payload = await update(
        client,
        people.alice.secret,
        name="  Acme Corp ",
        timeZone="Europe/Paris",
        defaultStatusPageId=second,
        keyPolicy={"maxLifetimeDays": 90, "disableOlderThanDays": 365},
        sessionHours=8,
    )
    assert payload["userErrors"] == []
    assert payload["settings"] == {
        "name": "Acme Corp",
        "timeZone": "Europe/Paris",
        "defaultStatusPage": {"id": second, "slug": "second"},
        "keyPolicy": {"maxLifetimeDays": 90, "disableOlderThanDays": 365},
        "sessionHours": 8,
    }
    pages = await gql(
        client, "{ statusPages { edges { node { id isDefault } } } }", key=people.alice.secret
    )
    defaults = {
        e["node"]["id"]: e["node"]["isDefault"]
        for e in pages.json()["data"]["statusPages"]["edges"]
    }
    assert defaults == {first: False, second: True}
    [entry] = await settings_entries(db)
    assert entry.actor_id == people.alice.key_id
    assert entry.scopes_used == ["config:write"]
    assert entry.details == {
        "before": {
            "name": "Acme",
            "timeZone": "UTC",
            "keyMaxLifetimeDays": None,
            "keyDisableOlderThanDays": None,
            "sessionHours": 12,
            "defaultStatusPageId": first,
        },
        "after": {
            "name": "Acme Corp",
            "timeZone": "Europe/Paris",
            "keyMaxLifetimeDays": 90,
            "keyDisableOlderThanDays": 365,
            "sessionHours": 8,
            "defaultStatusPageId": second,
        },
    }
    # Only what changed is recorded; a change to nothing records nothing.
    payload = await update(client, people.alice.secret, keyPolicy={"maxLifetimeDays": None})
    assert payload["settings"]["keyPolicy"] == {
        "maxLifetimeDays": None,
        "disableOlderThanDays": 365,
    }
    await update(client, people.alice.secret, timeZone="Europe/Paris", defaultStatusPageId=second)
    entries = await settings_entries(db)
    assert len(entries) == 2
    assert {e.details["after"].get("keyMaxLifetimeDays", "absent") for e in entries} == {90, None}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": "  "}, ("name", "INVALID", "Name must be 1 to 200 characters")),
        ({"name": "x" * 201}, ("name", "INVALID", "Name must be 1 to 200 characters")),
        (
            {"timeZone": "Mars/Olympus_Mons"},
            ("timeZone", "INVALID", "Unknown time zone: Mars/Olympus_Mons"),
        ),
        ({"timeZone": "localtime"}, ("timeZone", "INVALID", "Unknown time zone: localtime")),
        (
            {"timeZone": "../../etc/passwd"},
            ("timeZone", "INVALID", "Unknown time zone: ../../etc/passwd"),
        ),
        (
            {"timeZone": "Europe/" + "x" * 100},
            ("timeZone", "INVALID", "Unknown time zone: Europe/" + "x" * 57 + "…"),
        ),
        (
            {"keyPolicy": {"maxLifetimeDays": 0}},
            (
                "keyPolicy.maxLifetimeDays",
                "INVALID",
                "keyPolicy.maxLifetimeDays must be between 1 and 3650",
            ),
        ),
        (
            {"keyPolicy": {"disableOlderThanDays": 3651}},
            (
                "keyPolicy.disableOlderThanDays",
                "INVALID",
                "keyPolicy.disableOlderThanDays must be between 1 and 3650",
            ),
        ),
        (
            {"sessionHours": 0},
            ("sessionHours", "INVALID", "sessionHours must be between 1 and 720"),
        ),
        (
            {"sessionHours": 721},
            ("sessionHours", "INVALID", "sessionHours must be between 1 and 720"),
        ),
        (
            {"sessionHours": None},
            ("sessionHours", "INVALID", "sessionHours must be between 1 and 720"),
        ),
        (
            {"defaultStatusPageId": None},
            ("defaultStatusPageId", "INVALID", "defaultStatusPageId cannot be null"),
        ),
    ],
)
async def test_each_rule_refuses_exactly_and_writes_nothing(client, db, people, fields, expected):
    before = await snapshot(db, people.alice.organization.id)
    # With a valid change beside the invalid one: that is not written either.
    payload = await update(client, people.alice.secret, **{"name": "Changed", **fields})
    assert payload["settings"] is None
    assert [(e["field"], e["code"], e["message"]) for e in payload["userErrors"]] == [expected]
    assert await snapshot(db, people.alice.organization.id) == before


async def test_another_organizations_page_is_not_found_and_nothing_is_written(client, db, people):
    theirs = await create_page(client, people.charlie.secret, "theirs")
    before = await snapshot(db, people.alice.organization.id)
    response = await gql(
        client,
        UPDATE,
        {"input": {"name": "Changed", "defaultStatusPageId": theirs}},
        key=people.alice.secret,
    )
    error = response.json()["errors"][0]
    assert (error["message"], error["extensions"]["code"]) == ("StatusPage not found", "NOT_FOUND")
    assert await snapshot(db, people.alice.organization.id) == before


class TestKeyPolicy:
    async def test_new_keys_must_expire_within_the_maximum(self, client, db, clock, people):
        await update(client, people.alice.secret, keyPolicy={"maxLifetimeDays": 30})
        async with db() as session:
            keys_before = (await session.exec(select(func.count()).select_from(ApiKey))).one()
        cases = [
            (
                None,
                "This organization's key policy requires an expiry within 30 days: set expiresAt",
            ),
            (
                (clock() + timedelta(days=30, seconds=1)).isoformat(),
                "expiresAt must be within 30 days (the organization's key policy)",
            ),
        ]
        for expires_at, message in cases:
            response = await gql(
                client,
                CREATE_KEY,
                {"input": {"name": "ci", "scopes": ["incidents:read"], "expiresAt": expires_at}},
                key=people.alice.secret,
            )
            payload = response.json()["data"]["createApiKey"]
            assert payload["apiKey"] is None
            assert payload["userErrors"] == [
                {"field": "expiresAt", "code": "KEY_POLICY", "message": message}
            ]
        async with db() as session:
            assert (
                await session.exec(select(func.count()).select_from(ApiKey))
            ).one() == keys_before
        within = (clock() + timedelta(days=30)).isoformat()
        response = await gql(
            client,
            CREATE_KEY,
            {"input": {"name": "ci", "scopes": ["incidents:read"], "expiresAt": within}},
            key=people.alice.secret,
        )
        created = response.json()["data"]["createApiKey"]
        assert created["userErrors"] == []
        assert created["apiKey"]["exceedsPolicy"] is False

    async def test_old_keys_beyond_the_policy_are_reported(self, client, people):
        listing = "{ apiKeys { edges { node { name exceedsPolicy } } } }"
        response = await gql(client, listing, key=people.alice.secret)
        assert {
            e["node"]["exceedsPolicy"] for e in response.json()["data"]["apiKeys"]["edges"]
        } == {False}
        await update(client, people.alice.secret, keyPolicy={"maxLifetimeDays": 30})
        response = await gql(client, listing, key=people.alice.secret)
        edges = response.json()["data"]["apiKeys"]["edges"]
        assert {e["node"]["name"]: e["node"]["exceedsPolicy"] for e in edges} == {
            "alice": True,
            "bob": True,
        }

    async def test_the_job_revokes_keys_older_than_the_policy_once(self, client, db, clock, people):
        await update(client, people.alice.secret, keyPolicy={"disableOlderThanDays": 365})
        clock.advance(days=200)
        young = await create_key(db, clock, people.alice.organization, scopes=["incidents:read"])
        clock.advance(days=165)
        context = JobContext(db=db, clock=clock, stopping=asyncio.Event())
        assert await key_policy.disable_old_keys(context) == 2  # alice and bob, not charlie's
        assert await key_policy.disable_old_keys(context) == 0
        async with db() as session:
            rows = {k.id: k for k in (await session.exec(select(ApiKey))).all()}
            entries = (
                await session.exec(
                    select(AuditEvent).where(AuditEvent.action == "api_key.disabled_by_policy")
                )
            ).all()
        assert rows[people.alice.key_id].revoked_at == clock()
        assert rows[people.bob.key_id].revoked_at == clock()
        assert rows[young.key.id].revoked_at is None
        assert rows[people.charlie.key_id].revoked_at is None
        assert sorted(e.target_id for e in entries) == sorted(
            [people.alice.key_id, people.bob.key_id]
        )
        assert {(e.actor_type, e.actor_id) for e in entries} == {("system", None)}
        assert entries[0].details["olderThanDays"] == 365

    async def test_a_policy_never_touches_another_organization(self, db, clock):
        quiet = await create_org(db, clock, slug="quiet")
        kept = await create_key(db, clock, quiet, scopes=["incidents:read"])
        clock.advance(days=4000)
        async with db.begin() as session:
            assert await organization_settings.disable_old_keys(session, now=clock()) == 0
        async with db() as session:
            row = await session.get(ApiKey, kept.key.id)
            assert row is not None
            assert row.revoked_at is None
