"""OAuth apps and the organization's grants in the GraphQL API (DESIGN §11, #17 part A):
every validation rule with its exact userError and nothing written, the secret shown
once and stored as its HMAC, another organization's IDs answered NOT_FOUND, the scopes,
and revocation and deletion stopping live tokens."""

import json
from typing import Any

import httpx
import pytest
from sqlmodel import col, delete, func, select

from statusgraph.auth import keys
from statusgraph.auth.principal import SYSTEM, RequestInfo
from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import AuditEvent, Membership, OAuthApp, OAuthGrant, OAuthToken
from statusgraph.ids import new_id
from statusgraph.resolvers import oauth_apps, oauth_grants
from statusgraph.resolvers.oauth_apps import redirect_uri_problem
from tests.helpers import (
    PEPPER,
    Personas,
    create_grant,
    create_key,
    create_oauth_app,
    create_org,
    create_user,
    gql,
)
from tests.races import N, audit_entries, burst

APP_FIELDS = """id name description clientId confidential redirectUris secretHint createdAt
    updatedAt createdBy { type id label }"""
CREATE = f"""mutation($input: CreateOAuthAppInput!) {{ createOAuthApp(input: $input) {{
    oauthApp {{ {APP_FIELDS} }} clientSecret userErrors {{ field code message }} }} }}"""
UPDATE = f"""mutation($id: ID!, $input: UpdateOAuthAppInput!) {{
    updateOAuthApp(id: $id, input: $input) {{
      oauthApp {{ {APP_FIELDS} }} userErrors {{ field code message }} }} }}"""
ROTATE = """mutation($id: ID!) { rotateOAuthAppSecret(id: $id) {
    oauthApp { id secretHint } clientSecret userErrors { field code message } } }"""
DELETE = """mutation($id: ID!) { deleteOAuthApp(id: $id) {
    deletedId userErrors { field code message } } }"""
APP = f"query($id: ID!) {{ oauthApp(id: $id) {{ {APP_FIELDS} }} }}"
APPS = "query($first: Int, $after: String) { oauthApps(first: $first, after: $after) { totalCount edges { node { id name } } pageInfo { hasNextPage endCursor } } }"
GRANTS = """{ oauthGrants { totalCount edges { node {
    id scopes createdAt lastUsedAt app { id name clientId } user { id email name } } } } }"""
REVOKE = """mutation($id: ID!) { revokeOAuthGrant(id: $id) {
    oauthGrant { id scopes app { name } user { email } } userErrors { field code message } } }"""
INCIDENTS = "{ incidents(first: 1) { totalCount } }"

GOOD_URI = "https://dash.example.com/oauth/callback"


def app_input(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "Dashboard",
        "description": "Shows our incidents on the office TV.",
        "redirectUris": [GOOD_URI, "http://127.0.0.1:8765/callback"],
        "confidential": True,
    }
    values.update(overrides)
    return {"input": values}


def payload(response: httpx.Response, field: str) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"][field]
    return result


def user_errors(response: httpx.Response, field: str) -> list[tuple[str | None, str, str]]:
    return [(e["field"], e["code"], e["message"]) for e in payload(response, field)["userErrors"]]


async def count(db: SessionFactory, model: Any) -> int:
    async with db() as session:
        total: int = (await session.exec(select(func.count()).select_from(model))).one()
    return total


async def app_row(db: SessionFactory, app_id: str) -> OAuthApp:
    async with db() as session:
        return (await session.exec(select(OAuthApp).where(col(OAuthApp.id) == app_id))).one()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_confidential_app_gets_its_secret_once_and_it_is_stored_hashed(
    client: httpx.AsyncClient, db: SessionFactory, people: Personas
) -> None:
    created = payload(
        await gql(client, CREATE, app_input(), key=people.alice.secret), "createOAuthApp"
    )
    assert created["userErrors"] == []
    app, secret = created["oauthApp"], created["clientSecret"]
    assert secret.startswith("sgs_")
    assert keys.parse_token("sgs_", secret) == secret  # shape and checksum
    assert app["clientId"].startswith("sgc_")
    assert app["id"].startswith("oap_")
    assert app["secretHint"] == secret[:8]
    assert app["name"] == "Dashboard"
    assert app["description"] == "Shows our incidents on the office TV."
    assert app["redirectUris"] == [GOOD_URI, "http://127.0.0.1:8765/callback"]
    assert app["confidential"] is True
    assert app["createdBy"] == {"type": "API_KEY", "id": people.alice.key_id, "label": "alice"}
    assert app["createdAt"] == app["updatedAt"]

    row = await app_row(db, app["id"])
    assert row.secret_hash == keys.hash_secret(PEPPER.encode(), secret)
    assert secret not in json.dumps(row.model_dump(mode="json"))
    # Never shown again: no field of the app carries it, and the audit entry neither.
    again = await gql(client, APP, {"id": app["id"]}, key=people.alice.secret)
    assert again.json()["data"]["oauthApp"] == app
    assert secret not in again.text
    async with db() as session:
        entry = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "oauth_app.created"))
        ).one()
    assert entry.target_id == app["id"]
    assert entry.scopes_used == ["config:write"]
    assert entry.details == {
        "name": "Dashboard",
        "clientId": app["clientId"],
        "confidential": True,
        "redirectUris": [GOOD_URI, "http://127.0.0.1:8765/callback"],
    }


async def test_a_public_app_has_no_secret(client: httpx.AsyncClient, people: Personas) -> None:
    created = payload(
        await gql(client, CREATE, app_input(confidential=False), key=people.alice.secret),
        "createOAuthApp",
    )
    assert created["clientSecret"] is None
    assert created["oauthApp"]["secretHint"] is None
    assert created["oauthApp"]["confidential"] is False
    rotated = await gql(client, ROTATE, {"id": created["oauthApp"]["id"]}, key=people.alice.secret)
    assert user_errors(rotated, "rotateOAuthAppSecret") == [
        ("id", "PUBLIC_CLIENT", "A public app has no client secret")
    ]
    assert rotated.json()["data"]["rotateOAuthAppSecret"]["clientSecret"] is None


SCHEME = "Redirect URI must use https, or http on a loopback address (127.0.0.1 or [::1])"
REFUSED_URIS = [
    ("http://localhost:8765/callback", SCHEME),
    ("http://app.example.com/callback", SCHEME),
    ("http://127.0.0.1.evil.test/cb", SCHEME),
    ("http://[::2]:8080/cb", SCHEME),
    ("ftp://files.example.com/cb", SCHEME),
    ("com.example.app:/callback", SCHEME),
    ("javascript://example.com/%0aalert(1)", SCHEME),
    ("https://*.example.com/cb", "Redirect URI must not contain a wildcard"),
    ("https://app.example.com/*", "Redirect URI must not contain a wildcard"),
    ("http://localhost:80@evil.test/cb", "Redirect URI must not contain user information"),
    ("https://app.example.com@evil.test/cb", "Redirect URI must not contain user information"),
    ("https://user:pass@app.example.com/cb", "Redirect URI must not contain user information"),
    ("https://app.example.com/cb#section", "Redirect URI must not contain a fragment"),
    ("https://app.example.com/cb#", "Redirect URI must not contain a fragment"),
    ("/callback", "Redirect URI must be an absolute URI"),
    ("app.example.com/callback", "Redirect URI must be an absolute URI"),
    ("https:/app.example.com/cb", "Redirect URI must be an absolute URI"),
    ("https:///cb", "Redirect URI must be an absolute URI"),
    ("", "Redirect URI must be an absolute URI"),
    (
        "https://app.example.com\\@evil.test/cb",
        "Redirect URI must not contain spaces, backslashes or non-ASCII characters",
    ),
    (
        "https://app.example.com/c b",
        "Redirect URI must not contain spaces, backslashes or non-ASCII characters",
    ),
    (
        "https://exämple.com/cb",
        "Redirect URI must not contain spaces, backslashes or non-ASCII characters",
    ),
    ("https://app_example!.com/cb", "Redirect URI has an invalid host"),
    ("https://[::1/cb", "Redirect URI has an invalid host"),
    ("https://app.example.com:0/cb", "Redirect URI has an invalid port"),
    ("https://app.example.com:99999/cb", "Redirect URI has an invalid port"),
    ("https://app.example.com:/cb", "Redirect URI has an invalid port"),
    ("http://127.0.0.1:port/cb", "Redirect URI has an invalid port"),
]
ACCEPTED_URIS = [
    "https://app.example.com/cb",
    "https://app.example.com:8443/oauth/cb?tenant=acme",
    "HTTPS://App.Example.com/cb",
    "https://[2001:db8::1]/cb",
    "http://127.0.0.1:8765/callback",
    "http://127.0.0.1/callback",
    "http://[::1]:8765/callback",
]


@pytest.mark.parametrize(("uri", "message"), REFUSED_URIS)
def test_refused_redirect_uris(uri: str, message: str) -> None:
    assert redirect_uri_problem(uri) == message


@pytest.mark.parametrize("uri", ACCEPTED_URIS)
def test_accepted_redirect_uris(uri: str) -> None:
    assert redirect_uri_problem(uri) is None


def test_an_over_long_redirect_uri_is_refused() -> None:
    longest = "https://app.example.com/" + "a" * (2048 - 24)
    assert redirect_uri_problem(longest) is None
    assert redirect_uri_problem(longest + "a") == "Redirect URI must be at most 2048 characters"


async def test_every_rule_is_an_exact_user_error_and_nothing_is_written(
    client: httpx.AsyncClient, db: SessionFactory, people: Personas
) -> None:
    bad = "http://localhost:80@evil.test/cb"
    too_long = "https://app.example.com/" + "a" * 2048
    cases: list[tuple[dict[str, Any], list[tuple[str | None, str, str]]]] = [
        (app_input(name=""), [("name", "INVALID", "Name must be 1 to 200 characters")]),
        (app_input(name="   "), [("name", "INVALID", "Name must be 1 to 200 characters")]),
        (app_input(name="n" * 201), [("name", "INVALID", "Name must be 1 to 200 characters")]),
        (
            app_input(description="d" * 2001),
            [("description", "INVALID", "Description must be at most 2000 characters")],
        ),
        (
            app_input(redirectUris=[]),
            [("redirectUris", "INVALID", "An app needs 1 to 10 redirect URIs")],
        ),
        (
            app_input(redirectUris=[f"https://app.example.com/{i}" for i in range(11)]),
            [("redirectUris", "INVALID", "An app needs 1 to 10 redirect URIs")],
        ),
        (
            app_input(redirectUris=[GOOD_URI, bad]),
            [
                (
                    "redirectUris",
                    "INVALID_REDIRECT_URI",
                    f"Redirect URI must not contain user information: {bad}",
                )
            ],
        ),
        (
            app_input(redirectUris=[too_long]),
            [
                (
                    "redirectUris",
                    "INVALID_REDIRECT_URI",
                    "Redirect URI must be at most 2048 characters",
                )
            ],
        ),
        (
            app_input(redirectUris=[GOOD_URI, GOOD_URI]),
            [("redirectUris", "DUPLICATE", "redirectUris lists the same URI twice")],
        ),
        (
            # Every problem at once, not just the first.
            app_input(name="", description="d" * 2001, redirectUris=["http://localhost/cb"]),
            [
                ("name", "INVALID", "Name must be 1 to 200 characters"),
                ("description", "INVALID", "Description must be at most 2000 characters"),
                ("redirectUris", "INVALID_REDIRECT_URI", f"{SCHEME}: http://localhost/cb"),
            ],
        ),
    ]
    for variables, expected in cases:
        response = await gql(client, CREATE, variables, key=people.alice.secret)
        assert user_errors(response, "createOAuthApp") == expected, variables["input"]
        assert response.json()["data"]["createOAuthApp"]["oauthApp"] is None
        assert response.json()["data"]["createOAuthApp"]["clientSecret"] is None
    assert await count(db, OAuthApp) == 0
    assert await audit_entries(db, "oauth_app.created") == 0

    # The limits themselves are accepted; names and descriptions are trimmed.
    edge = app_input(
        name=" " + "n" * 200 + " ",
        description="d" * 2000,
        redirectUris=[f"https://app.example.com/{i}" for i in range(10)],
    )
    created = payload(await gql(client, CREATE, edge, key=people.alice.secret), "createOAuthApp")
    assert created["userErrors"] == []
    assert created["oauthApp"]["name"] == "n" * 200


async def test_update_changes_what_is_given_with_the_same_rules(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, people: Personas
) -> None:
    created = payload(
        await gql(client, CREATE, app_input(), key=people.alice.secret), "createOAuthApp"
    )
    app_id = created["oauthApp"]["id"]
    clock.advance(seconds=60)

    refused = [
        ({"name": ""}, [("name", "INVALID", "Name must be 1 to 200 characters")]),
        ({"name": None}, [("name", "INVALID", "Name must be 1 to 200 characters")]),
        (
            {"description": "d" * 2001},
            [("description", "INVALID", "Description must be at most 2000 characters")],
        ),
        (
            {"redirectUris": None},
            [("redirectUris", "INVALID", "An app needs 1 to 10 redirect URIs")],
        ),
        (
            {"redirectUris": ["https://*.example.com/cb"]},
            [
                (
                    "redirectUris",
                    "INVALID_REDIRECT_URI",
                    "Redirect URI must not contain a wildcard: https://*.example.com/cb",
                )
            ],
        ),
    ]
    for changes, expected in refused:
        response = await gql(
            client, UPDATE, {"id": app_id, "input": changes}, key=people.alice.secret
        )
        assert user_errors(response, "updateOAuthApp") == expected, changes
    assert (await app_row(db, app_id)).name == "Dashboard"
    assert await audit_entries(db, "oauth_app.updated") == 0

    changed = payload(
        await gql(
            client,
            UPDATE,
            {
                "id": app_id,
                "input": {"name": "TV board", "redirectUris": ["https://tv.example.com/cb"]},
            },
            key=people.alice.secret,
        ),
        "updateOAuthApp",
    )
    assert changed["userErrors"] == []
    app = changed["oauthApp"]
    assert app["name"] == "TV board"
    assert app["description"] == created["oauthApp"]["description"]  # left out: unchanged
    assert app["redirectUris"] == ["https://tv.example.com/cb"]
    assert app["clientId"] == created["oauthApp"]["clientId"]
    assert app["secretHint"] == created["oauthApp"]["secretHint"]
    assert app["updatedAt"] == clock().isoformat()
    cleared = payload(
        await gql(
            client, UPDATE, {"id": app_id, "input": {"description": None}}, key=people.alice.secret
        ),
        "updateOAuthApp",
    )
    assert cleared["oauthApp"]["description"] == ""
    async with db() as session:
        entries = (
            await session.exec(
                select(AuditEvent)
                .where(AuditEvent.action == "oauth_app.updated")
                .order_by(col(AuditEvent.created_at), col(AuditEvent.id))
            )
        ).all()
    assert sorted(entry.details["changed"] for entry in entries) == [
        ["description"],
        ["name", "redirect_uris"],
    ]


async def test_rotation_shows_the_new_secret_once_and_the_old_one_stops(
    client: httpx.AsyncClient, db: SessionFactory, people: Personas
) -> None:
    created = payload(
        await gql(client, CREATE, app_input(), key=people.alice.secret), "createOAuthApp"
    )
    app_id, old = created["oauthApp"]["id"], created["clientSecret"]
    rotated = payload(
        await gql(client, ROTATE, {"id": app_id}, key=people.alice.secret), "rotateOAuthAppSecret"
    )
    assert rotated["userErrors"] == []
    new = rotated["clientSecret"]
    assert new.startswith("sgs_")
    assert new != old
    assert rotated["oauthApp"]["secretHint"] == new[:8]
    row = await app_row(db, app_id)
    assert row.secret_hash == keys.hash_secret(PEPPER.encode(), new)
    assert row.secret_hash != keys.hash_secret(PEPPER.encode(), old)
    async with db() as session:
        entry = (
            await session.exec(
                select(AuditEvent).where(AuditEvent.action == "oauth_app.secret_rotated")
            )
        ).one()
    assert entry.details == {"secretHint": new[:8]}
    # No secret anywhere in the audit log.
    async with db() as session:
        logged = json.dumps(
            [e.model_dump(mode="json") for e in (await session.exec(select(AuditEvent))).all()]
        )
    assert old not in logged
    assert new not in logged


async def test_concurrent_rotations_leave_exactly_one_valid_secret(
    client: httpx.AsyncClient, db: SessionFactory, people: Personas
) -> None:
    created = payload(
        await gql(client, CREATE, app_input(), key=people.alice.secret), "createOAuthApp"
    )
    app_id = created["oauthApp"]["id"]
    bodies = await burst(client, db, people.alice.secret, ROTATE, [{"id": app_id}] * N)
    secrets = [body["data"]["rotateOAuthAppSecret"]["clientSecret"] for body in bodies]
    assert all(secret is not None for secret in secrets)
    assert len(set(secrets)) == N
    stored = (await app_row(db, app_id)).secret_hash
    valid = [
        s
        for s in [*secrets, created["clientSecret"]]
        if keys.hash_secret(PEPPER.encode(), s) == stored
    ]
    assert len(valid) == 1
    assert await audit_entries(db, "oauth_app.secret_rotated", app_id) == N


async def test_apps_are_listed_in_pages(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, people: Personas
) -> None:
    for name in ("one", "two", "three"):
        await create_oauth_app(db, clock, people.alice.organization, name=name)
        clock.advance(seconds=1)
    await create_oauth_app(db, clock, people.charlie.organization, name="globex's")
    first = await gql(client, APPS, {"first": 2}, key=people.alice.secret)
    listed = first.json()["data"]["oauthApps"]
    assert listed["totalCount"] == 3
    assert [edge["node"]["name"] for edge in listed["edges"]] == ["three", "two"]
    assert listed["pageInfo"]["hasNextPage"] is True
    rest = await gql(
        client,
        APPS,
        {"first": 2, "after": listed["pageInfo"]["endCursor"]},
        key=people.alice.secret,
    )
    assert [edge["node"]["name"] for edge in rest.json()["data"]["oauthApps"]["edges"]] == ["one"]
    too_many = await gql(client, APPS, {"first": 101}, key=people.alice.secret)
    assert too_many.json()["errors"][0]["extensions"]["code"] == "EXCESSIVE_PAGINATION"


async def test_another_organizations_ids_are_not_found_and_nothing_is_written(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, people: Personas
) -> None:
    acme = people.alice.organization
    issued = await create_oauth_app(db, clock, acme)
    granted = await create_grant(db, clock, acme, issued.app, scopes=["incidents:read"])
    before_row = (await app_row(db, issued.app.id)).model_dump()
    audit_before = await count(db, AuditEvent)
    charlie = people.charlie.secret
    app_id, grant_id = issued.app.id, granted.grant.id

    calls: list[tuple[str, dict[str, Any], str, str]] = [
        (APP, {"id": app_id}, "oauthApp", "OAuthApp"),
        (UPDATE, {"id": app_id, "input": {"name": "mine"}}, "updateOAuthApp", "OAuthApp"),
        (ROTATE, {"id": app_id}, "rotateOAuthAppSecret", "OAuthApp"),
        (DELETE, {"id": app_id}, "deleteOAuthApp", "OAuthApp"),
        (REVOKE, {"id": grant_id}, "revokeOAuthGrant", "OAuthGrant"),
        ("query($id: ID!) { node(id: $id) { id } }", {"id": app_id}, "node", "Node"),
    ]
    for document, variables, field, type_name in calls:
        foreign = await gql(client, document, variables, key=charlie)
        made_up = {
            k: (v[:4] + "doesnotexist0000000000" if k == "id" else v) for k, v in variables.items()
        }
        missing = await gql(client, document, made_up, key=charlie)
        for response in (foreign, missing):
            assert response.status_code == 200, field
            # A mutation's payload is non-null: the error nulls the whole answer.
            expected = {field: None} if field in ("oauthApp", "node") else None
            assert response.json()["data"] == expected, (field, response.json())
            assert response.json()["errors"] == [
                {
                    "message": f"{type_name} not found",
                    "locations": response.json()["errors"][0]["locations"],
                    "path": [field],
                    "extensions": {"code": "NOT_FOUND"},
                }
            ], field
    # Lists show only the caller's own.
    assert (await gql(client, APPS, {}, key=charlie)).json()["data"]["oauthApps"]["totalCount"] == 0
    assert (await gql(client, GRANTS, key=charlie)).json()["data"]["oauthGrants"]["totalCount"] == 0

    assert (await app_row(db, app_id)).model_dump() == before_row
    assert await count(db, AuditEvent) == audit_before
    async with db() as session:
        grant = (await session.exec(select(OAuthGrant).where(col(OAuthGrant.id) == grant_id))).one()
    assert grant.revoked_at is None
    still = await gql(client, INCIDENTS, headers=bearer(granted.access_token))
    assert still.status_code == 200


async def test_scopes_are_enforced(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, people: Personas
) -> None:
    acme = people.alice.organization
    issued = await create_oauth_app(db, clock, acme)
    granted = await create_grant(db, clock, acme, issued.app, scopes=["incidents:read"])
    reader = await create_key(db, clock, acme, scopes=["config:read", "team:read"], name="reader")
    nothing = await create_key(db, clock, acme, scopes=["incidents:read"], name="nothing")
    audit_before = await count(db, AuditEvent)

    def refused(response: httpx.Response, scope: str) -> None:
        assert response.status_code == 403, response.text
        assert response.json()["errors"] == [
            {
                "message": f"Insufficient scope: {scope} required",
                "locations": response.json()["errors"][0]["locations"],
                "path": response.json()["errors"][0]["path"],
                "extensions": {"code": "FORBIDDEN", "requiredScope": scope},
            }
        ]

    for document, variables, scope in [
        (CREATE, app_input(), "config:write"),
        (UPDATE, {"id": issued.app.id, "input": {"name": "x"}}, "config:write"),
        (ROTATE, {"id": issued.app.id}, "config:write"),
        (DELETE, {"id": issued.app.id}, "config:write"),
        (REVOKE, {"id": granted.grant.id}, "team:write"),
    ]:
        refused(await gql(client, document, variables, key=reader.secret), scope)
    refused(await gql(client, APPS, {}, key=nothing.secret), "config:read")
    refused(await gql(client, APP, {"id": issued.app.id}, key=nothing.secret), "config:read")
    refused(await gql(client, GRANTS, key=nothing.secret), "team:read")
    assert await count(db, OAuthApp) == 1
    assert await count(db, AuditEvent) == audit_before
    assert (await app_row(db, issued.app.id)).secret_hash == issued.app.secret_hash

    # The reader reads.
    assert (await gql(client, APPS, {}, key=reader.secret)).json()["data"]["oauthApps"][
        "totalCount"
    ] == 1
    assert (await gql(client, GRANTS, key=reader.secret)).json()["data"]["oauthGrants"][
        "totalCount"
    ] == 1


async def test_revoking_a_grant_stops_its_tokens_at_once(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, people: Personas
) -> None:
    acme = people.alice.organization
    issued = await create_oauth_app(db, clock, acme, name="Dashboard")
    granted = await create_grant(
        db, clock, acme, issued.app, scopes=["incidents:read", "monitors:read"]
    )
    other = await create_grant(
        db, clock, acme, issued.app, scopes=["incidents:read"], email="ada@example.com"
    )
    works = await gql(client, INCIDENTS, headers=bearer(granted.access_token))
    assert works.status_code == 200
    assert "errors" not in works.json()

    listed = (await gql(client, GRANTS, key=people.alice.secret)).json()["data"]["oauthGrants"]
    assert listed["totalCount"] == 2
    mine = next(e["node"] for e in listed["edges"] if e["node"]["id"] == granted.grant.id)
    assert mine["scopes"] == ["incidents:read", "monitors:read"]
    assert mine["app"] == {
        "id": issued.app.id,
        "name": "Dashboard",
        "clientId": issued.app.client_id,
    }
    assert mine["user"]["email"] == "grace@example.com"
    assert mine["user"]["name"] == "Grace Hopper"
    assert mine["lastUsedAt"] == clock().isoformat()  # the call above

    revoked = payload(
        await gql(client, REVOKE, {"id": granted.grant.id}, key=people.alice.secret),
        "revokeOAuthGrant",
    )
    assert revoked == {
        "oauthGrant": {
            "id": granted.grant.id,
            "scopes": ["incidents:read", "monitors:read"],
            "app": {"name": "Dashboard"},
            "user": {"email": "grace@example.com"},
        },
        "userErrors": [],
    }
    stopped = await gql(client, INCIDENTS, headers=bearer(granted.access_token))
    assert stopped.status_code == 401
    assert stopped.headers["x-error"] == "token_revoked"
    assert stopped.json()["errors"][0]["message"] == "Token revoked"
    assert stopped.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # The other member's grant of the same app goes on.
    assert (await gql(client, INCIDENTS, headers=bearer(other.access_token))).status_code == 200

    async with db() as session:
        grant = (
            await session.exec(select(OAuthGrant).where(col(OAuthGrant.id) == granted.grant.id))
        ).one()
        tokens = (
            await session.exec(select(OAuthToken).where(col(OAuthToken.grant_id) == grant.id))
        ).all()
        entry = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "oauth_grant.revoked"))
        ).one()
    assert grant.revoked_reason == "organization"
    assert all(token.revoked_at is not None for token in tokens)
    assert entry.actor_id == people.alice.key_id
    assert entry.target_id == grant.id
    assert entry.details == {
        "appId": issued.app.id,
        "userId": grant.user_id,
        "reason": "organization",
    }
    remaining = (await gql(client, GRANTS, key=people.alice.secret)).json()["data"]["oauthGrants"]
    assert [e["node"]["id"] for e in remaining["edges"]] == [other.grant.id]

    again = await gql(client, REVOKE, {"id": granted.grant.id}, key=people.alice.secret)
    assert user_errors(again, "revokeOAuthGrant") == [
        ("id", "ALREADY_REVOKED", "OAuth grant is already revoked")
    ]
    assert await audit_entries(db, "oauth_grant.revoked") == 1


async def test_deleting_an_app_revokes_its_grants_and_stops_its_tokens(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, people: Personas
) -> None:
    acme = people.alice.organization
    issued = await create_oauth_app(db, clock, acme)
    kept = await create_oauth_app(db, clock, acme, name="Kept")
    granted = await create_grant(db, clock, acme, issued.app, scopes=["incidents:read"])
    second = await create_grant(
        db, clock, acme, issued.app, scopes=["incidents:read"], email="ada@example.com"
    )
    untouched = await create_grant(
        db, clock, acme, kept.app, scopes=["incidents:read"], user=None, email="linus@example.com"
    )
    assert (await gql(client, INCIDENTS, headers=bearer(granted.access_token))).status_code == 200

    deleted = payload(
        await gql(client, DELETE, {"id": issued.app.id}, key=people.alice.secret), "deleteOAuthApp"
    )
    assert deleted == {"deletedId": issued.app.id, "userErrors": []}
    for token in (granted.access_token, second.access_token):
        stopped = await gql(client, INCIDENTS, headers=bearer(token))
        assert stopped.status_code == 401
        assert stopped.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await gql(client, INCIDENTS, headers=bearer(untouched.access_token))).status_code == 200

    async with db() as session:
        revocations = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "oauth_grant.revoked"))
        ).all()
        deletion = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "oauth_app.deleted"))
        ).one()
        left = (await session.exec(select(OAuthGrant))).all()
    assert sorted(e.target_id or "" for e in revocations) == sorted(
        [granted.grant.id, second.grant.id]
    )
    assert {e.details["reason"] for e in revocations} == {"app_deleted"}
    assert deletion.details == {
        "name": "Test app",
        "clientId": issued.app.client_id,
        "grantsRevoked": 2,
    }
    assert [grant.id for grant in left] == [untouched.grant.id]
    assert (await gql(client, APP, {"id": issued.app.id}, key=people.alice.secret)).json()[
        "errors"
    ][0]["message"] == "OAuthApp not found"
    again = await gql(client, DELETE, {"id": issued.app.id}, key=people.alice.secret)
    assert again.json()["errors"][0]["message"] == "OAuthApp not found"


async def test_grants_of_user_lists_live_grants_where_the_user_is_a_member(
    db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    globex = await create_org(db, clock, slug="globex")
    initech = await create_org(db, clock, slug="initech")
    ada = await create_user(db, clock, acme)
    for organization in (globex, initech):
        async with db.begin() as session:
            session.add(
                Membership(
                    id=new_id("mem"),
                    organization_id=organization.id,
                    user_id=ada.id,
                    role="member",
                    created_at=clock(),
                )
            )
    apps = {
        org.id: (await create_oauth_app(db, clock, org, name=f"{org.slug} app")).app
        for org in (acme, globex, initech)
    }
    live = await create_grant(db, clock, acme, apps[acme.id], scopes=["incidents:read"], user=ada)
    clock.advance(seconds=1)
    newer = await create_grant(
        db, clock, globex, apps[globex.id], scopes=["monitors:read"], user=ada
    )
    revoked = await create_grant(
        db, clock, initech, apps[initech.id], scopes=["incidents:read"], user=ada
    )
    someone_else = await create_grant(db, clock, acme, apps[acme.id], scopes=["incidents:read"])
    async with db.begin() as session:
        await oauth_grants.revoke_grant(
            session,
            SYSTEM,
            revoked.grant,
            reason=oauth_grants.RevokedBy.USER,
            request=RequestInfo(),
            now=clock(),
        )
    async with db() as session:
        found = await oauth_apps.grants_of_user(session, ada.id)
    assert [(g.id, a.name, o.slug, by) for g, a, o, by in found] == [
        (newer.grant.id, "globex app", "globex", "Globex"),
        (live.grant.id, "acme app", "acme", "Acme"),
    ]
    assert someone_else.grant.id not in {line.grant.id for line in found}

    # Once the user leaves an organization, its grants are no longer theirs to list.
    async with db.begin() as session:
        await session.exec(
            delete(Membership).where(
                col(Membership.user_id) == ada.id, col(Membership.organization_id) == globex.id
            )
        )
    async with db() as session:
        found = await oauth_apps.grants_of_user(session, ada.id)
    assert [line.grant.id for line in found] == [live.grant.id]


# Grants to an app registered by another organization (review H2).

FOREIGN_GRANTS = """{ oauthGrants { totalCount edges { node {
    id scopes app { id name clientId registeredBy } user { email } } } } }"""
FOREIGN_REVOKE = """mutation($id: ID!) { revokeOAuthGrant(id: $id) {
    oauthGrant { id app { id name clientId registeredBy } } userErrors { field code message } } }"""


async def audit_of(db: SessionFactory, organization_id: str, action: str) -> list[AuditEvent]:
    async with db() as session:
        statement = (
            select(AuditEvent)
            .where(col(AuditEvent.organization_id) == organization_id)
            .where(col(AuditEvent.action) == action)
            .order_by(col(AuditEvent.target_id))
        )
        return list((await session.exec(statement)).all())


async def test_a_grant_to_another_organization_s_app_is_listed_revoked_and_audited(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, people: Personas
) -> None:
    """Globex (P) registers an app; members of Acme (V) authorize it, so the grants are
    Acme's. Acme lists them (the app reduced to its name, client id and registrar's
    name) and revokes one; Globex deleting the app revokes the rest in Acme's audit log
    too, with the system as actor."""
    acme, globex = people.alice.organization, people.charlie.organization
    foreign = await create_oauth_app(db, clock, globex, name="Globex Dash")
    own = await create_oauth_app(db, clock, acme, name="Acme Dash")
    first = await create_grant(db, clock, acme, foreign.app, scopes=["incidents:read"])
    second = await create_grant(
        db, clock, acme, foreign.app, scopes=["incidents:read"], email="ada@example.com"
    )
    local = await create_grant(db, clock, acme, own.app, scopes=["incidents:read"], email="l@x.io")
    at_home = await create_grant(
        db, clock, globex, foreign.app, scopes=["incidents:read"], email="gus@example.com"
    )
    for token in (first, second, local, at_home):
        assert (await gql(client, INCIDENTS, headers=bearer(token.access_token))).status_code == 200

    listed = payload(await gql(client, FOREIGN_GRANTS, key=people.alice.secret), "oauthGrants")
    assert listed["totalCount"] == 3
    apps = {edge["node"]["id"]: edge["node"]["app"] for edge in listed["edges"]}
    expected_foreign = {
        "id": foreign.app.id,
        "name": "Globex Dash",
        "clientId": foreign.app.client_id,
        "registeredBy": "Globex",
    }
    assert apps == {
        first.grant.id: expected_foreign,
        second.grant.id: expected_foreign,
        local.grant.id: {
            "id": own.app.id,
            "name": "Acme Dash",
            "clientId": own.app.client_id,
            "registeredBy": "Acme",
        },
    }
    # Nothing more of the app can be asked for: not its redirect URIs, secret or creator.
    shape = await gql(
        client, '{ __type(name: "GrantedApp") { fields { name } } }', key=people.alice.secret
    )
    fields = {field["name"] for field in shape.json()["data"]["__type"]["fields"]}
    assert fields == {"id", "name", "clientId", "registeredBy"}
    # And the app itself stays Globex's: Acme cannot read it by id.
    app = await gql(client, APP, {"id": foreign.app.id}, key=people.alice.secret)
    assert app.json()["errors"][0]["message"] == "OAuthApp not found"
    # Globex does not see Acme's grants of its app.
    theirs = payload(await gql(client, FOREIGN_GRANTS, key=people.charlie.secret), "oauthGrants")
    assert [edge["node"]["id"] for edge in theirs["edges"]] == [at_home.grant.id]

    revoked = payload(
        await gql(client, FOREIGN_REVOKE, {"id": first.grant.id}, key=people.alice.secret),
        "revokeOAuthGrant",
    )
    assert revoked == {
        "oauthGrant": {"id": first.grant.id, "app": expected_foreign},
        "userErrors": [],
    }
    stopped = await gql(client, INCIDENTS, headers=bearer(first.access_token))
    assert stopped.status_code == 401
    assert stopped.headers["x-error"] == "token_revoked"
    assert stopped.json()["errors"][0]["message"] == "Token revoked"
    [by_acme] = await audit_of(db, acme.id, "oauth_grant.revoked")
    assert (by_acme.actor_type, by_acme.actor_id) == ("api_key", people.alice.key_id)
    assert by_acme.details["reason"] == "organization"
    # Globex cannot revoke Acme's grant of its app: the grant is Acme's.
    foreign_revoke = await gql(
        client, FOREIGN_REVOKE, {"id": second.grant.id}, key=people.charlie.secret
    )
    assert foreign_revoke.json()["errors"][0]["message"] == "OAuthGrant not found"

    deleted = payload(
        await gql(client, DELETE, {"id": foreign.app.id}, key=people.charlie.secret),
        "deleteOAuthApp",
    )
    assert deleted == {"deletedId": foreign.app.id, "userErrors": []}
    for token in (second, at_home):
        gone = await gql(client, INCIDENTS, headers=bearer(token.access_token))
        assert gone.status_code == 401, token
    assert (await gql(client, INCIDENTS, headers=bearer(local.access_token))).status_code == 200

    # Acme's log: the revocation of its remaining grant, by the system, naming the app
    # and the registrar but nothing of who at Globex deleted it, nor from where.
    [in_acme] = [
        e
        for e in await audit_of(db, acme.id, "oauth_grant.revoked")
        if e.target_id == second.grant.id
    ]
    assert (in_acme.actor_type, in_acme.actor_id, in_acme.actor_label) == (
        "system",
        None,
        "Globex (app deleted)",
    )
    assert in_acme.details == {
        "appId": foreign.app.id,
        "userId": second.grant.user_id,
        "reason": "app_deleted",
        "appName": "Globex Dash",
        "clientId": foreign.app.client_id,
    }
    assert (in_acme.ip, in_acme.user_agent, in_acme.request_id) == (None, None, None)
    assert in_acme.scopes_used == []
    # Globex's log: its own grant, revoked by the deleting key, and the deletion.
    [in_globex] = await audit_of(db, globex.id, "oauth_grant.revoked")
    assert (in_globex.target_id, in_globex.actor_type, in_globex.actor_id) == (
        at_home.grant.id,
        "api_key",
        people.charlie.key_id,
    )
    [deletion] = await audit_of(db, globex.id, "oauth_app.deleted")
    assert deletion.details["grantsRevoked"] == 2  # second and at_home; first was already
    async with db() as session:
        left = (await session.exec(select(OAuthGrant))).all()
    assert [grant.id for grant in left] == [local.grant.id]
    # Acme's grant list no longer has the app and still answers.
    after = payload(await gql(client, FOREIGN_GRANTS, key=people.alice.secret), "oauthGrants")
    assert [edge["node"]["id"] for edge in after["edges"]] == [local.grant.id]
