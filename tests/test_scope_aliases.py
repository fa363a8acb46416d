"""The other reference products' scope names, accepted as aliases of ours (DESIGN §15)."""

import pytest
from sqlmodel import func, select

from statusgraph.auth import scopes
from statusgraph.cli import main
from statusgraph.db.models import ApiKey
from tests.helpers import create_key, gql

CREATE = """
mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { apiKey { scopes } userErrors { field code message } }
}
"""

ALIASES = [
    ("status-pages:read", "status_pages:read"),
    ("status-pages:write", "status_pages:write"),
    ("status-pages:*", "status_pages:*"),
    ("api-keys:read", "api_keys:read"),
    ("api-keys:write", "api_keys:write"),
    ("api-keys:*", "api_keys:*"),
    ("checks:read", "monitors:read"),
    ("checks:write", "monitors:write"),
    ("checks:*", "monitors:*"),
    ("webhooks:read", "notifications:read"),
    ("webhooks:write", "notifications:write"),
    ("webhooks:*", "notifications:*"),
    ("alerts:read", "notifications:read"),
    ("alerts:write", "notifications:write"),
    ("alerts:*", "notifications:*"),
    ("teams:read", "team:read"),
    ("teams:write", "team:write"),
    ("teams:admin", "team:write"),
    ("audit-log:read", "audit_log:read"),
]


@pytest.mark.parametrize(("alias", "ours"), ALIASES)
def test_each_alias_maps_to_our_name(alias: str, ours: str) -> None:
    assert scopes.canonical(alias) == ours
    assert scopes.canonical(f"  {alias} ") == ours


@pytest.mark.parametrize("name", sorted(scopes.VALID))
def test_our_own_names_map_to_themselves(name: str) -> None:
    assert scopes.canonical(name) == name


@pytest.mark.parametrize(
    "name",
    ["checks:destroy", "teams:owner", "audit-log:write", "checks", "webhooks:", "nope:read", ""],
)
def test_a_name_that_is_neither_ours_nor_an_alias_has_no_canonical_form(name: str) -> None:
    assert scopes.canonical(name) is None


async def test_a_key_created_with_aliases_stores_and_shows_our_names(client, people):
    names = [alias for alias, _ in ALIASES]
    response = await gql(
        client, CREATE, {"input": {"name": "ported", "scopes": names}}, key=people.alice.secret
    )
    payload = response.json()["data"]["createApiKey"]
    assert payload["userErrors"] == []
    assert payload["apiKey"]["scopes"] == sorted({ours for _, ours in ALIASES})


async def test_an_alias_grants_what_our_name_grants(client, people):
    created = await gql(
        client,
        'mutation { createApiKey(input: {name: "c", scopes: ["checks:read"]}) { secret } }',
        key=people.alice.secret,
    )
    secret = created.json()["data"]["createApiKey"]["secret"]
    viewer = await gql(client, "{ viewer { scopes } }", key=secret)
    assert viewer.json()["data"]["viewer"]["scopes"] == ["monitors:read"]
    monitors = await gql(client, "{ monitors { totalCount } }", key=secret)
    assert monitors.json()["data"]["monitors"] == {"totalCount": 0}


async def test_an_unknown_alias_is_refused_with_the_usual_message_and_nothing_written(
    client, db, people
):
    async with db() as session:
        before = (await session.exec(select(func.count()).select_from(ApiKey))).one()
    response = await gql(
        client,
        CREATE,
        {"input": {"name": "x", "scopes": ["checks:read", "teams:owner"]}},
        key=people.alice.secret,
    )
    payload = response.json()["data"]["createApiKey"]
    assert payload["apiKey"] is None
    assert payload["userErrors"] == [
        {"field": "scopes", "code": "UNKNOWN_SCOPE", "message": "Unknown scope: teams:owner"}
    ]
    async with db() as session:
        assert (await session.exec(select(func.count()).select_from(ApiKey))).one() == before


async def test_an_alias_cannot_escalate_past_the_granter(client, db, clock, people):
    minter = await create_key(db, clock, people.alice.organization, scopes=["api_keys:write"])
    created = await gql(
        client,
        CREATE,
        {"input": {"name": "c", "scopes": ["checks:read"]}},
        key=minter.secret,
    )
    assert created.json()["data"]["createApiKey"]["userErrors"] == [
        {
            "field": "scopes",
            "code": "SCOPE_ESCALATION",
            "message": "Cannot grant a scope you do not hold: monitors:read",
        }
    ]


def test_the_command_line_takes_aliases_too(monkeypatch, database_url, tmp_path, capsys):
    monkeypatch.setenv("STATUSGRAPH_DATABASE_URL", database_url)
    monkeypatch.setenv("STATUSGRAPH_SECRET_KEY", "test-pepper-not-secret")
    monkeypatch.setenv("STATUSGRAPH_DATA_DIR", str(tmp_path / "data"))
    assert main(["orgs", "create", "--name", "Acme", "--slug", "acme"]) == 0
    capsys.readouterr()
    argv = [
        "keys",
        "create",
        "--org",
        "acme",
        "--name",
        "ci",
        "--scopes",
        "checks:read,teams:admin",
    ]
    assert main(argv) == 0
    assert "(monitors:read, team:write)" in capsys.readouterr().err
