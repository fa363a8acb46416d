"""The team (DESIGN §11): roles → scopes, members, invitations and their rules, over
GraphQL with API keys and with OAuth tokens of each role, and accepting an invitation."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlmodel import col, func, select

from statusgraph.auth import keys, oauth_tokens
from statusgraph.auth.principal import RequestInfo
from statusgraph.auth.roles import ROLE_SCOPES, Role
from statusgraph.auth.scopes import CATALOGUE
from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import (
    ApiKey,
    AuditEvent,
    Invitation,
    Membership,
    OAuthApp,
    OAuthGrant,
    Organization,
    User,
)
from statusgraph.ids import new_id
from statusgraph.resolvers import oauth_grants, users
from statusgraph.resolvers.user_errors import UserInputError
from tests.helpers import PEPPER, AppWith, create_key, create_org, create_user, gql
from tests.races import burst_mixed
from tests.smtp_sink import Sink

MEMBER_FIELDS = "id role createdAt user { id email name }"
INVITATION_FIELDS = "id email role createdAt expiresAt createdBy { type id label }"
MEMBERS = f"""query($first: Int, $after: String) {{
  members(first: $first, after: $after) {{
    totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {MEMBER_FIELDS} }} }}
  }}
}}"""
INVITATIONS = f"{{ invitations {{ totalCount edges {{ node {{ {INVITATION_FIELDS} }} }} }} }}"
INVITE = f"""mutation($email: String!, $role: MemberRole!) {{
  inviteMember(input: {{email: $email, role: $role}}) {{
    invitation {{ {INVITATION_FIELDS} }} invitationUrl mailed userErrors {{ field code message }}
  }}
}}"""
UPDATE_ROLE = f"""mutation($id: ID!, $role: MemberRole!) {{
  updateMemberRole(id: $id, role: $role) {{
    member {{ {MEMBER_FIELDS} }} userErrors {{ field code message }}
  }}
}}"""
REMOVE = f"""mutation($id: ID!) {{
  removeMember(id: $id) {{ member {{ {MEMBER_FIELDS} }} userErrors {{ field code message }} }}
}}"""
REVOKE_INVITATION = f"""mutation($id: ID!) {{
  revokeInvitation(id: $id) {{
    invitation {{ {INVITATION_FIELDS} }} userErrors {{ field code message }}
  }}
}}"""
VIEWER_SCOPES = "{ viewer { scopes role } }"
PASSWORD = "correct horse battery"

# DESIGN §11's table, written out scope by scope (not derived from auth/roles.py).
READS = {
    "status_pages:read",
    "services:read",
    "incidents:read",
    "maintenance:read",
    "monitors:read",
    "metrics:read",
    "notifications:read",
    "config:read",
    "team:read",
    "billing:read",
}
EXPECTED_EFFECTIVE: dict[str, set[str]] = {
    # *:* ∩ everything, with each read its write implies left out.
    "owner": {s for s in CATALOGUE if s.endswith(":write")} | {"audit_log:read", "billing:read"},
    "admin": {s for s in CATALOGUE if s.endswith(":write")} | {"audit_log:read", "billing:read"},
    "member": {
        "status_pages:write",
        "services:write",
        "incidents:write",
        "maintenance:write",
        "monitors:write",
        "heartbeat:write",
        "metrics:write",
        "notifications:read",
        "config:read",
        "team:read",
        "billing:read",
    },
    "viewer": READS,
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def token_for(
    db: SessionFactory,
    clock: FrozenClock,
    organization: Organization,
    user: User,
    scopes: list[str] | None = None,
) -> tuple[OAuthGrant, str]:
    """A grant of `user` in `organization` (to an app of its own) and its access token."""
    now = clock()
    async with db.begin() as session:
        app = OAuthApp(
            id=new_id("oap"),
            organization_id=organization.id,
            name="Dashboard",
            client_id=oauth_tokens.generate(oauth_tokens.CLIENT_ID_PREFIX),
            confidential=False,
            redirect_uris=["http://127.0.0.1:8765/cb"],
            created_at=now,
            updated_at=now,
            created_by_type="system",
            created_by_label="test",
        )
        session.add(app)
        await session.flush()
        grant = OAuthGrant(
            id=new_id("grt"),
            organization_id=organization.id,
            app_id=app.id,
            user_id=user.id,
            scopes=scopes or ["*:*"],
            created_at=now,
        )
        session.add(grant)
        await session.flush()
        pair = await oauth_grants.issue_pair(
            session, grant.id, pepper=PEPPER.encode(), now=now, refresh_lifetime=timedelta(days=30)
        )
    return grant, pair.access_token


async def membership_of(db: SessionFactory, user: User, organization: Organization) -> Membership:
    async with db() as session:
        found = await users.get_membership(session, organization.id, user.id)
    assert found is not None
    return found


async def count(db: SessionFactory, model: Any, *where: Any) -> int:
    async with db() as session:
        statement = select(func.count()).select_from(model).where(*where)
        return int((await session.exec(statement)).one())


async def actions(db: SessionFactory) -> list[str]:
    async with db() as session:
        rows = await session.exec(select(AuditEvent.action).order_by(col(AuditEvent.created_at)))
        return sorted(rows.all())


def errors_of(body: dict[str, Any], field: str) -> list[tuple[str | None, str, str]]:
    assert "errors" not in body, body
    return [(e["field"], e["code"], e["message"]) for e in body["data"][field]["userErrors"]]


def token_of(url: str) -> str:
    return url.split("token=", 1)[1]


# Roles → scopes


def test_role_scopes_are_design_s_table() -> None:
    assert ROLE_SCOPES[Role.owner] == {"*:*"}
    assert ROLE_SCOPES[Role.admin] == {"*:*"}
    assert ROLE_SCOPES[Role.viewer] == READS
    assert ROLE_SCOPES[Role.member] == READS | {
        "status_pages:write",
        "services:write",
        "incidents:write",
        "maintenance:write",
        "monitors:write",
        "heartbeat:write",
        "metrics:write",
    }


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
async def test_a_token_of_each_role_holds_exactly_its_role_s_scopes(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock, role: str
) -> None:
    acme = await create_org(db, clock, slug="acme")
    user = await create_user(db, clock, acme, role=role)
    _, token = await token_for(db, clock, acme, user)
    viewer = (await gql(client, VIEWER_SCOPES, headers=bearer(token))).json()["data"]["viewer"]
    assert set(viewer["scopes"]) == EXPECTED_EFFECTIVE[role]
    assert viewer["role"] == role.upper()
    # And the API enforces them: the audit log and the team's changes.
    audit = await gql(client, "{ auditLog(first: 1) { totalCount } }", headers=bearer(token))
    invite = await gql(
        client, INVITE, {"email": "new@example.com", "role": "VIEWER"}, headers=bearer(token)
    )
    if role in ("owner", "admin"):
        assert "errors" not in audit.json()
        assert errors_of(invite.json(), "inviteMember") == []
    else:
        assert audit.json()["errors"][0]["message"] == "Insufficient scope: audit_log:read required"
        assert invite.json()["errors"][0]["message"] == "Insufficient scope: team:write required"
        assert await count(db, Invitation) == 0


# Reading the team


async def test_members_and_invitations_need_team_read(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    key = await create_key(db, clock, acme, scopes=["incidents:read"])
    for document in (MEMBERS, INVITATIONS):
        body = (await gql(client, document, key=key.secret)).json()
        assert body["errors"][0]["message"] == "Insufficient scope: team:read required"
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    for document, variables in (
        (INVITE, {"email": "a@example.com", "role": "VIEWER"}),
        (UPDATE_ROLE, {"id": "mem_x", "role": "VIEWER"}),
        (REMOVE, {"id": "mem_x"}),
        (REVOKE_INVITATION, {"id": "inv_x"}),
    ):
        reader = await create_key(db, clock, acme, scopes=["team:read"])
        body = (await gql(client, document, variables, key=reader.secret)).json()
        assert body["errors"][0]["message"] == "Insufficient scope: team:write required"


async def test_members_are_listed_in_pages_with_their_users(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    globex = await create_org(db, clock, slug="globex")
    for number, role in enumerate(["owner", "admin", "member"]):
        clock.advance(seconds=1)
        await create_user(db, clock, acme, role=role, email=f"p{number}@example.com")
    await create_user(db, clock, globex, email="stranger@example.com")
    key = await create_key(db, clock, acme, scopes=["team:read"])
    first = (await gql(client, MEMBERS, {"first": 2}, key=key.secret)).json()["data"]["members"]
    assert first["totalCount"] == 3
    assert first["pageInfo"]["hasNextPage"] is True
    cursor = first["pageInfo"]["endCursor"]
    rest = (await gql(client, MEMBERS, {"first": 2, "after": cursor}, key=key.secret)).json()
    nodes = [e["node"] for e in first["edges"] + rest["data"]["members"]["edges"]]
    # Newest first, like every list.
    assert [(n["role"], n["user"]["email"]) for n in nodes] == [
        ("MEMBER", "p2@example.com"),
        ("ADMIN", "p1@example.com"),
        ("OWNER", "p0@example.com"),
    ]
    assert nodes[0]["user"]["name"] == "Ada Lovelace"
    assert nodes[0]["id"].startswith("mem_")
    assert nodes[0]["user"]["id"].startswith("usr_")


# Inviting


async def test_invite_member_returns_the_link_once_and_stores_only_its_hash(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    key = await create_key(db, clock, acme, scopes=["team:write"], name="ops")
    body = (
        await gql(client, INVITE, {"email": " New@Example.com", "role": "ADMIN"}, key=key.secret)
    ).json()
    payload = body["data"]["inviteMember"]
    assert payload["userErrors"] == []
    assert payload["mailed"] is False  # no SMTP server configured
    invitation = payload["invitation"]
    assert invitation["email"] == "new@example.com"
    assert invitation["role"] == "ADMIN"
    assert invitation["expiresAt"] == (clock() + timedelta(days=7)).isoformat()
    assert invitation["createdBy"] == {"type": "API_KEY", "id": key.key.id, "label": "ops"}
    url = payload["invitationUrl"]
    assert url.startswith("http://127.0.0.1:8000/invitation?token=sgi_")
    token = token_of(url)
    async with db() as session:
        row = await session.get(Invitation, invitation["id"])
        event = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "invitation.created"))
        ).one()
    assert row is not None
    assert row.token_hash == keys.hash_secret(PEPPER.encode(), token)
    assert token not in str(row.model_dump())
    assert token not in str(event.model_dump())
    assert event.details == {
        "email": "new@example.com",
        "role": "admin",
        "expiresAt": row.expires_at.isoformat(),
    }
    assert event.scopes_used == ["team:write"]
    listed = (
        await gql(
            client,
            INVITATIONS,
            key=(await create_key(db, clock, acme, scopes=["team:read"])).secret,
        )
    ).json()["data"]["invitations"]
    assert listed["totalCount"] == 1
    assert listed["edges"][0]["node"] == invitation


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("not an email", ("email", "INVALID", "Email must be a valid email address")),
        ("x" * 250 + "@example.com", ("email", "INVALID", "Email must be a valid email address")),
        (
            "ADA@example.com",
            (
                "email",
                "ALREADY_MEMBER",
                "This address belongs to a member of the organization already",
            ),
        ),
        (
            "pending@example.com",
            (
                "email",
                "ALREADY_INVITED",
                "An invitation to this address is pending: revoke it first",
            ),
        ),
    ],
)
async def test_invitations_refused_write_nothing(
    client: httpx.AsyncClient,
    db: SessionFactory,
    clock: FrozenClock,
    email: str,
    expected: tuple[str, str, str],
) -> None:
    acme = await create_org(db, clock, slug="acme")
    await create_user(db, clock, acme)
    key = await create_key(db, clock, acme, scopes=["team:write"])
    made = await gql(
        client, INVITE, {"email": "pending@example.com", "role": "MEMBER"}, key=key.secret
    )
    assert errors_of(made.json(), "inviteMember") == []
    before = await actions(db)
    body = (await gql(client, INVITE, {"email": email, "role": "VIEWER"}, key=key.secret)).json()
    assert errors_of(body, "inviteMember") == [expected]
    assert body["data"]["inviteMember"]["invitation"] is None
    assert body["data"]["inviteMember"]["invitationUrl"] is None
    assert await count(db, Invitation) == 1
    assert await actions(db) == before


async def test_a_member_of_another_organization_may_be_invited(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    globex = await create_org(db, clock, slug="globex")
    await create_user(db, clock, globex)
    key = await create_key(db, clock, acme, scopes=["team:write"])
    body = (
        await gql(client, INVITE, {"email": "ada@example.com", "role": "VIEWER"}, key=key.secret)
    ).json()
    assert errors_of(body, "inviteMember") == []


async def test_an_expired_invitation_no_longer_blocks_a_new_one(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    key = await create_key(db, clock, acme, scopes=["team:*"])
    variables = {"email": "new@example.com", "role": "VIEWER"}
    assert (
        errors_of((await gql(client, INVITE, variables, key=key.secret)).json(), "inviteMember")
        == []
    )
    clock.advance(days=7)
    assert (await gql(client, INVITATIONS, key=key.secret)).json()["data"]["invitations"][
        "totalCount"
    ] == 0
    assert (
        errors_of((await gql(client, INVITE, variables, key=key.secret)).json(), "inviteMember")
        == []
    )


async def test_the_invitation_is_mailed_when_smtp_is_configured(
    app_with: AppWith, db: SessionFactory, clock: FrozenClock, smtp_sink: Sink
) -> None:
    _, client = await app_with(
        smtp_url=SecretStr(smtp_sink.url()), public_url="https://status.example.com"
    )
    acme = await create_org(db, clock, slug="acme")
    key = await create_key(db, clock, acme, scopes=["team:write"], name="ops")
    body = (
        await gql(client, INVITE, {"email": "new@example.com", "role": "MEMBER"}, key=key.secret)
    ).json()
    payload = body["data"]["inviteMember"]
    assert payload["mailed"] is True
    url = payload["invitationUrl"]
    assert url.startswith("https://status.example.com/invitation?token=sgi_")
    [mail] = smtp_sink.received
    assert mail.rcpt_tos == ["new@example.com"]
    assert mail.message["Subject"] == "You are invited to join Acme on statusgraph"
    plain = mail.message.get_body(("plain",))
    assert plain is not None
    text = plain.get_content()
    assert url in text
    assert "ops invited you to join Acme as member" in text


async def test_a_mail_that_fails_still_creates_the_invitation(
    app_with: AppWith, db: SessionFactory, clock: FrozenClock, smtp_sink: Sink
) -> None:
    smtp_sink.refuse.add("new@example.com")
    _, client = await app_with(smtp_url=SecretStr(smtp_sink.url()))
    acme = await create_org(db, clock, slug="acme")
    key = await create_key(db, clock, acme, scopes=["team:write"])
    body = (
        await gql(client, INVITE, {"email": "new@example.com", "role": "MEMBER"}, key=key.secret)
    ).json()
    payload = body["data"]["inviteMember"]
    assert payload["mailed"] is False
    assert payload["invitationUrl"].startswith("http://127.0.0.1:8000/invitation?token=sgi_")
    assert await count(db, Invitation) == 1


# Roles, removal and the owners


async def test_update_member_role_and_its_audit(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    await create_user(db, clock, acme, email="owner@example.com")
    bob = await create_user(db, clock, acme, role="viewer", email="bob@example.com", name="Bob")
    member = await membership_of(db, bob, acme)
    key = await create_key(db, clock, acme, scopes=["team:write"])
    body = (
        await gql(client, UPDATE_ROLE, {"id": member.id, "role": "ADMIN"}, key=key.secret)
    ).json()
    changed = body["data"]["updateMemberRole"]
    assert changed["userErrors"] == []
    assert changed["member"]["role"] == "ADMIN"
    assert changed["member"]["user"] == {"id": bob.id, "email": "bob@example.com", "name": "Bob"}
    async with db() as session:
        event = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "member.role_changed"))
        ).one()
    assert event.target_id == member.id
    assert event.details == {
        "userId": bob.id,
        "email": "bob@example.com",
        "from": "viewer",
        "to": "admin",
    }
    # The same role again changes and records nothing.
    again = (
        await gql(client, UPDATE_ROLE, {"id": member.id, "role": "ADMIN"}, key=key.secret)
    ).json()
    assert errors_of(again, "updateMemberRole") == []
    assert (await actions(db)).count("member.role_changed") == 1


async def test_the_last_owner_can_be_neither_demoted_nor_removed(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    ada = await create_user(db, clock, acme)
    await create_user(db, clock, acme, role="admin", email="admin@example.com")
    owner = await membership_of(db, ada, acme)
    key = await create_key(db, clock, acme, scopes=["team:write"])
    before = await actions(db)
    demoted = (
        await gql(client, UPDATE_ROLE, {"id": owner.id, "role": "ADMIN"}, key=key.secret)
    ).json()
    assert errors_of(demoted, "updateMemberRole") == [
        ("role", "LAST_OWNER", "The last owner of the organization cannot be demoted")
    ]
    assert demoted["data"]["updateMemberRole"]["member"] is None
    removed = (await gql(client, REMOVE, {"id": owner.id}, key=key.secret)).json()
    assert errors_of(removed, "removeMember") == [
        ("id", "LAST_OWNER", "The last owner of the organization cannot be removed")
    ]
    # The owner's own token is held to it too.
    _, token = await token_for(db, clock, acme, ada)
    self_removed = (await gql(client, REMOVE, {"id": owner.id}, headers=bearer(token))).json()
    assert errors_of(self_removed, "removeMember")[0][1] == "LAST_OWNER"
    assert (await membership_of(db, ada, acme)).role == "owner"
    assert await actions(db) == before
    # With a second owner, the first may go.
    second = await create_user(db, clock, acme, email="second@example.com")
    assert (
        errors_of(
            (await gql(client, REMOVE, {"id": owner.id}, key=key.secret)).json(), "removeMember"
        )
        == []
    )
    assert (await membership_of(db, second, acme)).role == "owner"


async def test_an_admin_cannot_create_demote_or_remove_owners(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    ada = await create_user(db, clock, acme)
    await create_user(db, clock, acme, email="owner2@example.com")
    admin = await create_user(db, clock, acme, role="admin", email="admin@example.com")
    viewer = await create_user(db, clock, acme, role="viewer", email="viewer@example.com")
    owner = await membership_of(db, ada, acme)
    plain = await membership_of(db, viewer, acme)
    _, token = await token_for(db, clock, acme, admin)
    headers = bearer(token)
    before = await actions(db)
    cases = [
        (INVITE, {"email": "new@example.com", "role": "OWNER"}, "inviteMember",
         ("role", "OWNER_REQUIRED", "Only an owner can invite an owner")),
        (UPDATE_ROLE, {"id": plain.id, "role": "OWNER"}, "updateMemberRole",
         ("role", "OWNER_REQUIRED", "Only an owner can make someone an owner")),
        (UPDATE_ROLE, {"id": owner.id, "role": "ADMIN"}, "updateMemberRole",
         ("id", "OWNER_REQUIRED", "Only an owner can change an owner's role")),
        (REMOVE, {"id": owner.id}, "removeMember",
         ("id", "OWNER_REQUIRED", "Only an owner can remove an owner")),
    ]  # fmt: skip
    for document, variables, field, expected in cases:
        body = (await gql(client, document, variables, headers=headers)).json()
        assert errors_of(body, field) == [expected], (document, variables)
    assert await actions(db) == before
    assert await count(db, Invitation) == 0
    assert (await membership_of(db, ada, acme)).role == "owner"
    # What an admin may do: everything else.
    assert (
        errors_of(
            (
                await gql(client, UPDATE_ROLE, {"id": plain.id, "role": "ADMIN"}, headers=headers)
            ).json(),
            "updateMemberRole",
        )
        == []
    )
    assert (
        errors_of(
            (
                await gql(
                    client, INVITE, {"email": "new@example.com", "role": "ADMIN"}, headers=headers
                )
            ).json(),
            "inviteMember",
        )
        == []
    )
    assert (
        errors_of(
            (await gql(client, REMOVE, {"id": plain.id}, headers=headers)).json(), "removeMember"
        )
        == []
    )
    # An owner's token may do what the admin's may not.
    _, owner_token = await token_for(db, clock, acme, ada)
    promoted = await gql(
        client, UPDATE_ROLE, {"id": (await membership_of(db, admin, acme)).id, "role": "OWNER"},
        headers=bearer(owner_token),
    )  # fmt: skip
    assert errors_of(promoted.json(), "updateMemberRole") == []


CREATE_KEY = """mutation($scopes: [String!]!) {
  createApiKey(input: {name: "ops", scopes: $scopes, expiresAt: "2100-01-01T00:00:00Z"}) {
    secret apiKey { id scopes } userErrors { field code message }
  }
}"""
ROTATE_KEY = """mutation($id: ID!) {
  rotateApiKey(id: $id) { secret apiKey { id scopes } userErrors { field code message } }
}"""


async def test_an_admin_cannot_get_a_key_that_acts_as_an_owner(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    """Review H1: a key holding team:write acts as an owner, so an ADMIN's token may
    neither mint one (team:write itself, team:*, *:*, or the alias teams:admin) nor
    rotate one an owner made; an owner's token may do both."""
    acme = await create_org(db, clock, slug="acme")
    ada = await create_user(db, clock, acme)
    admin = await create_user(db, clock, acme, role="admin", email="admin@example.com")
    _, token = await token_for(db, clock, acme, admin)
    headers = bearer(token)
    existing = await create_key(db, clock, acme, scopes=["team:write"], name="owners' key")
    before = (await actions(db), await count(db, ApiKey))
    refused = ("scopes", "OWNER_REQUIRED", "Only an owner can create a key with team:write")
    for scopes in (["team:write"], ["teams:admin"], ["config:read", "team:write"]):
        body = (await gql(client, CREATE_KEY, {"scopes": scopes}, headers=headers)).json()
        assert errors_of(body, "createApiKey") == [refused], scopes
        assert body["data"]["createApiKey"]["secret"] is None
    # A token's effective scopes are concrete (granted ∩ role), so a wildcard is beyond
    # it already; it is refused as owner-acting too.
    for wildcard in ("team:*", "*:*"):
        body = (await gql(client, CREATE_KEY, {"scopes": [wildcard]}, headers=headers)).json()
        assert errors_of(body, "createApiKey") == [
            ("scopes", "SCOPE_ESCALATION", f"Cannot grant a scope you do not hold: {wildcard}"),
            refused,
        ]
    rotated = (await gql(client, ROTATE_KEY, {"id": existing.key.id}, headers=headers)).json()
    assert errors_of(rotated, "rotateApiKey") == [
        ("id", "OWNER_REQUIRED", "Only an owner can rotate a key with team:write")
    ]
    assert rotated["data"]["rotateApiKey"]["secret"] is None
    assert (await actions(db), await count(db, ApiKey)) == before
    async with db() as session:
        untouched = await session.get(ApiKey, existing.key.id)
    assert untouched is not None
    assert (untouched.expires_at, untouched.replaced_by_id) == (None, None)

    # Everything short of team:write, team:read included, the admin may still hand out.
    allowed = await gql(
        client,
        CREATE_KEY,
        {"scopes": ["team:read", "api_keys:write", "config:write"]},
        headers=headers,
    )
    assert errors_of(allowed.json(), "createApiKey") == []
    admins_key = allowed.json()["data"]["createApiKey"]["secret"]
    # ...and that key cannot make an owner-acting key either: it holds no team:write.
    body = (await gql(client, CREATE_KEY, {"scopes": ["team:write"]}, key=admins_key)).json()
    assert errors_of(body, "createApiKey") == [
        ("scopes", "SCOPE_ESCALATION", "Cannot grant a scope you do not hold: team:write")
    ]
    # The review's reproduction ends here: no key, so no owner invitation, no demotion.
    invite = await gql(client, INVITE, {"email": "o@example.com", "role": "OWNER"}, key=admins_key)
    assert invite.json()["errors"][0]["message"] == "Insufficient scope: team:write required"
    assert (await membership_of(db, ada, acme)).role == "owner"

    # An owner's token may mint and rotate keys with team:write, as may the CLI (above).
    _, owner_token = await token_for(db, clock, acme, ada)
    minted = await gql(client, CREATE_KEY, {"scopes": ["team:write"]}, headers=bearer(owner_token))
    assert errors_of(minted.json(), "createApiKey") == []
    assert minted.json()["data"]["createApiKey"]["apiKey"]["scopes"] == ["team:write"]
    rotated = (
        await gql(client, ROTATE_KEY, {"id": existing.key.id}, headers=bearer(owner_token))
    ).json()
    assert errors_of(rotated, "rotateApiKey") == []
    assert rotated["data"]["rotateApiKey"]["apiKey"]["scopes"] == ["team:write"]


async def test_demotion_shrinks_and_removal_stops_a_live_token(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    await create_user(db, clock, acme, email="owner@example.com")
    bob = await create_user(db, clock, acme, role="member", email="bob@example.com")
    member = await membership_of(db, bob, acme)
    grant, token = await token_for(db, clock, acme, bob, ["incidents:write", "monitors:read"])
    key = await create_key(db, clock, acme, scopes=["team:write"])
    scopes = (await gql(client, VIEWER_SCOPES, headers=bearer(token))).json()
    assert scopes["data"]["viewer"]["scopes"] == ["incidents:write", "monitors:read"]

    await gql(client, UPDATE_ROLE, {"id": member.id, "role": "VIEWER"}, key=key.secret)
    shrunk = (await gql(client, VIEWER_SCOPES, headers=bearer(token))).json()
    assert shrunk["data"]["viewer"]["scopes"] == ["incidents:read", "monitors:read"]

    removed = (await gql(client, REMOVE, {"id": member.id}, key=key.secret)).json()
    assert errors_of(removed, "removeMember") == []
    assert removed["data"]["removeMember"]["member"]["user"]["email"] == "bob@example.com"
    stopped = await gql(client, VIEWER_SCOPES, headers=bearer(token))
    assert stopped.status_code == 401
    assert stopped.headers["x-error"] == "token_revoked"
    assert stopped.json()["errors"][0]["message"] == "Token revoked"
    async with db() as session:
        revoked = await session.get(OAuthGrant, grant.id)
        entries = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "member.removed"))
        ).one()
    assert revoked is not None
    assert revoked.revoked_reason == "member_removed"
    assert entries.details == {
        "userId": bob.id,
        "email": "bob@example.com",
        "role": "viewer",
        "grantsRevoked": 1,
    }
    assert "oauth_grant.revoked" in await actions(db)
    # The user remains, a member of nothing.
    async with db() as session:
        assert await users.memberships_of(session, bob.id) == []
        assert await session.get(User, bob.id) is not None


async def test_another_organization_s_members_and_invitations_are_not_found(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    globex = await create_org(db, clock, slug="globex")
    ada = await create_user(db, clock, acme)
    await create_user(db, clock, globex, email="charlie@example.com")
    acme_key = await create_key(db, clock, acme, scopes=["team:*"])
    globex_key = await create_key(db, clock, globex, scopes=["team:*"])
    member = await membership_of(db, ada, acme)
    invited = await gql(
        client, INVITE, {"email": "x@example.com", "role": "VIEWER"}, key=acme_key.secret
    )
    invitation_id = invited.json()["data"]["inviteMember"]["invitation"]["id"]
    before = await actions(db)
    for document, variables, type_name in (
        (UPDATE_ROLE, {"id": member.id, "role": "VIEWER"}, "Member"),
        (REMOVE, {"id": member.id}, "Member"),
        (REVOKE_INVITATION, {"id": invitation_id}, "Invitation"),
        (REMOVE, {"id": "mem_doesnotexist"}, "Member"),
        (REVOKE_INVITATION, {"id": "nonsense"}, "Invitation"),
    ):
        body = (await gql(client, document, variables, key=globex_key.secret)).json()
        assert [(e["extensions"]["code"], e["message"]) for e in body["errors"]] == [
            ("NOT_FOUND", f"{type_name} not found")
        ]
    listed = (await gql(client, MEMBERS, key=globex_key.secret)).json()["data"]["members"]
    assert [e["node"]["user"]["email"] for e in listed["edges"]] == ["charlie@example.com"]
    assert (await gql(client, INVITATIONS, key=globex_key.secret)).json()["data"]["invitations"][
        "totalCount"
    ] == 0
    assert await actions(db) == before
    assert (await membership_of(db, ada, acme)).role == "owner"


# Revoking and accepting invitations


async def invite(
    client: httpx.AsyncClient, key: str, email: str = "new@example.com", role: str = "MEMBER"
) -> tuple[str, str]:
    """(invitation id, token)"""
    body = (await gql(client, INVITE, {"email": email, "role": role}, key=key)).json()
    payload = body["data"]["inviteMember"]
    assert payload["userErrors"] == [], payload
    return payload["invitation"]["id"], token_of(payload["invitationUrl"])


async def accept(
    db: SessionFactory,
    clock: FrozenClock,
    token: str,
    name: str = "Grace",
    password: str = PASSWORD,
) -> User:
    async with db.begin() as session:
        return await users.accept_invitation(
            session, token, name, password, PEPPER.encode(), RequestInfo(ip="203.0.113.9"), clock()
        )


async def refused(
    db: SessionFactory,
    clock: FrozenClock,
    token: str,
    name: str = "Grace",
    password: str = PASSWORD,
) -> list[tuple[str | None, str, str]]:
    with pytest.raises(UserInputError) as caught:
        await accept(db, clock, token, name, password)
    return [(e.field, e.code, e.message) for e in caught.value.errors]


async def test_accepting_creates_the_user_and_the_membership_once(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    key = await create_key(db, clock, acme, scopes=["team:*"])
    invitation_id, token = await invite(client, key.secret, "Grace@Example.com", "ADMIN")
    async with db() as session:
        shown = await users.invitation_for(session, token, PEPPER.encode(), clock())
        assert shown is not None
        assert shown.id == invitation_id
        assert (
            await users.invitation_for(session, token[:-1] + "x", PEPPER.encode(), clock()) is None
        )
    user = await accept(db, clock, token, name="  Grace Hopper ")
    assert (user.email, user.name) == ("grace@example.com", "Grace Hopper")
    assert (await membership_of(db, user, acme)).role == "admin"
    async with db() as session:
        assert await users.check_password(session, "grace@example.com", PASSWORD) is not None
        assert await users.invitation_for(session, token, PEPPER.encode(), clock()) is None
        entries = (
            await session.exec(
                select(AuditEvent).where(
                    col(AuditEvent.action).in_(["invitation.accepted", "member.added"])
                )
            )
        ).all()
    assert sorted(e.action for e in entries) == ["invitation.accepted", "member.added"]
    assert {(e.actor_type, e.actor_id, e.actor_label, e.ip) for e in entries} == {
        ("user", user.id, "grace@example.com", "203.0.113.9")
    }
    assert await refused(db, clock, token) == [
        ("token", "ALREADY_ACCEPTED", "This invitation has already been used")
    ]
    revoked = (await gql(client, REVOKE_INVITATION, {"id": invitation_id}, key=key.secret)).json()
    assert errors_of(revoked, "revokeInvitation") == [
        ("id", "ALREADY_ACCEPTED", "Invitation has already been accepted")
    ]
    assert await count(db, Membership) == 1


async def test_links_revoked_expired_or_made_up_are_refused(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    key = await create_key(db, clock, acme, scopes=["team:*"])
    revoked_id, revoked_token = await invite(client, key.secret, "one@example.com")
    body = (await gql(client, REVOKE_INVITATION, {"id": revoked_id}, key=key.secret)).json()
    assert errors_of(body, "revokeInvitation") == []
    assert body["data"]["revokeInvitation"]["invitation"]["id"] == revoked_id
    again = (await gql(client, REVOKE_INVITATION, {"id": revoked_id}, key=key.secret)).json()
    assert errors_of(again, "revokeInvitation") == [
        ("id", "ALREADY_REVOKED", "Invitation is already revoked")
    ]
    assert (await actions(db)).count("invitation.revoked") == 1
    _, expiring_token = await invite(client, key.secret, "two@example.com")
    clock.advance(days=7)
    assert await refused(db, clock, revoked_token) == [
        ("token", "REVOKED", "This invitation has been revoked")
    ]
    assert await refused(db, clock, expiring_token) == [
        ("token", "EXPIRED", "This invitation has expired: ask for a new one")
    ]
    made_up = oauth_tokens.generate(oauth_tokens.INVITATION_PREFIX)
    for token in (made_up, "", "sgi_short", "x" * 10_000, "sgi_\ud800"):
        assert await refused(db, clock, token) == [
            ("token", "INVALID", "This invitation link is not valid")
        ]
        async with db() as session:
            assert await users.invitation_for(session, token, PEPPER.encode(), clock()) is None
    assert await count(db, User) == 0
    assert await count(db, Membership) == 0


async def test_a_new_account_s_name_and_password_are_checked(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    key = await create_key(db, clock, acme, scopes=["team:*"])
    _, token = await invite(client, key.secret)
    assert await refused(db, clock, token, name=" ", password="short") == [
        ("name", "INVALID", "Name must be 1 to 200 characters"),
        ("password", "WEAK_PASSWORD", "Password must be at least 10 characters"),
    ]
    assert await count(db, User) == 0
    async with db() as session:
        assert await users.invitation_for(session, token, PEPPER.encode(), clock()) is not None


async def test_an_existing_account_joins_with_its_password(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    globex = await create_org(db, clock, slug="globex")
    ada = await create_user(db, clock, globex)
    key = await create_key(db, clock, acme, scopes=["team:*"])
    _, token = await invite(client, key.secret, "ada@example.com", "VIEWER")
    assert await refused(db, clock, token, password="wrong horse battery") == [
        (
            "password",
            "WRONG_PASSWORD",
            "This address already has an account: enter its password to join",
        )
    ]
    assert await count(db, Membership) == 1
    joined = await accept(db, clock, token, name="Someone Else")
    assert joined.id == ada.id
    assert joined.name == "Ada Lovelace"  # an existing account keeps its name
    assert (await membership_of(db, ada, acme)).role == "viewer"
    assert (await membership_of(db, ada, globex)).role == "owner"


async def test_an_invitation_to_someone_who_joined_meanwhile_is_refused(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    key = await create_key(db, clock, acme, scopes=["team:*"])
    _, token = await invite(client, key.secret, "ada@example.com")
    await create_user(db, clock, acme)  # the command line, while the link was in the mail
    assert await refused(db, clock, token) == [
        ("token", "ALREADY_MEMBER", "You are already a member of this organization")
    ]


# Races (on PostgreSQL the calls overlap; on SQLite they queue)


async def test_two_concurrent_demotions_of_the_last_two_owners_leave_one(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    ada = await create_user(db, clock, acme)
    bob = await create_user(db, clock, acme, email="bob@example.com")
    key = await create_key(db, clock, acme, scopes=["team:write"])
    ids = [(await membership_of(db, person, acme)).id for person in (ada, bob)]
    for document, variables, field in (
        (UPDATE_ROLE, [{"id": i, "role": "ADMIN"} for i in ids], "updateMemberRole"),
        (REMOVE, [{"id": i} for i in ids], "removeMember"),
    ):
        bodies = await asyncio.gather(
            *(gql(client, document, each, key=key.secret) for each in variables)
        )
        errors = [errors_of(body.json(), field) for body in bodies]
        assert sorted(errors) == [[], [("id" if field == "removeMember" else "role", "LAST_OWNER",
            "The last owner of the organization cannot be "
            + ("removed" if field == "removeMember" else "demoted"))]]  # fmt: skip
        assert await count(db, Membership, col(Membership.role) == "owner") == 1
        # Back to two owners for the next round.
        if field == "updateMemberRole":
            demoted = next(i for i, e in zip(ids, errors, strict=True) if not e)
            await gql(client, UPDATE_ROLE, {"id": demoted, "role": "OWNER"}, key=key.secret)


async def test_many_concurrent_demotions_leave_an_owner(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    people = [
        await create_user(db, clock, acme, email=f"o{n}@example.com", password=PASSWORD)
        for n in range(4)
    ]
    key = await create_key(db, clock, acme, scopes=["team:write"])
    ids = [(await membership_of(db, person, acme)).id for person in people]
    calls = [(UPDATE_ROLE, {"id": i, "role": "VIEWER"}) for i in ids] + [
        (REMOVE, {"id": i}) for i in ids
    ]
    bodies = await burst_mixed(client, db, key.secret, calls)
    # Some calls find their member removed meanwhile (NOT_FOUND), some the last owner.
    refusals = {
        (e["code"], e["message"])
        for body in bodies
        if "errors" not in body
        for e in body["data"][next(iter(body["data"]))]["userErrors"]
    }
    assert refusals <= {
        ("LAST_OWNER", "The last owner of the organization cannot be demoted"),
        ("LAST_OWNER", "The last owner of the organization cannot be removed"),
    }
    assert await count(db, Membership, col(Membership.role) == "owner") == 1


async def test_two_concurrent_acceptances_make_one_membership(
    client: httpx.AsyncClient, db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    key = await create_key(db, clock, acme, scopes=["team:*"])
    _, token = await invite(client, key.secret)

    async def attempt() -> str:
        try:
            await accept(db, clock, token)
        except UserInputError as error:
            return error.errors[0].code
        return "joined"

    outcomes = await asyncio.gather(*(attempt() for _ in range(4)))
    assert sorted(outcomes) == ["ALREADY_ACCEPTED"] * 3 + ["joined"]
    assert await count(db, Membership) == 1
    assert await count(db, User) == 1
    assert (await actions(db)).count("invitation.accepted") == 1
