"""Factories and a GraphQL-over-HTTP helper shared by the tests."""

import os
import shutil
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from sqlalchemy import event
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar
from starlette.applications import Starlette

from statusgraph.auth.principal import SYSTEM, Principal, RequestInfo
from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import Event, Organization
from statusgraph.db.models.users import OAuthApp, OAuthGrant, User
from statusgraph.events.outbox import OPT_IN
from statusgraph.ids import new_id
from statusgraph.resolvers import api_keys, oauth_apps, oauth_grants, organizations, users

PEPPER = "test-pepper-not-secret"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# The `app_with` fixture: `await app_with(**setting_overrides)` builds an app and its client.
AppWith = Callable[..., Awaitable[tuple[Starlette, httpx.AsyncClient]]]


async def create_org(
    db: SessionFactory, clock: FrozenClock, *, slug: str, plan: str = "enterprise"
) -> Organization:
    async with db.begin() as session:
        return await organizations.create_organization(
            session,
            SYSTEM,
            name=slug.title(),
            slug=slug,
            plan=plan,
            request=RequestInfo(),
            now=clock(),
        )


async def create_key(
    db: SessionFactory,
    clock: FrozenClock,
    organization: Organization,
    *,
    scopes: list[str],
    name: str = "test key",
    **draft: Any,
) -> api_keys.IssuedKey:
    async with db.begin() as session:
        return await api_keys.create_key(
            session,
            SYSTEM,
            organization=organization,
            draft=api_keys.KeyDraft(name=name, scopes=scopes, **draft),
            granter=None,
            request=RequestInfo(),
            now=clock(),
            pepper=PEPPER.encode(),
        )


async def create_user(
    db: SessionFactory,
    clock: FrozenClock,
    organization: Organization,
    *,
    role: str = "owner",
    email: str = "ada@example.com",
    name: str = "Ada Lovelace",
    password: str = "correct horse battery",  # noqa: S107
) -> User:
    async with db.begin() as session:
        return await users.create_user(
            session,
            SYSTEM,
            organization=organization,
            email=email,
            name=name,
            password=password,
            role=role,
            request=RequestInfo(),
            now=clock(),
        )


@dataclass
class Persona:
    organization: Organization
    key_id: str
    secret: str


@dataclass
class Personas:
    alice: Persona  # owner of org A: *:*
    bob: Persona  # read-only member of org A
    charlie: Persona  # owner of org B, who must see nothing of org A


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    key: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = dict(headers or {})
    if key is not None:
        sent["X-API-Key"] = key
    return await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=sent
    )


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


class StatementCounter:
    """Counts the SQL statements an engine executes inside a `with` block."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine.sync_engine
        self.statements: list[str] = []

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # Transaction control (SQLite's explicit BEGIN) is not a query.
        if not statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
            self.statements.append(statement)

    def __enter__(self) -> "StatementCounter":
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)

    def __len__(self) -> int:
        return len(self.statements)


def tampered(secret: str) -> str:
    """`secret` with its last character changed (never to itself: a fixed replacement
    would equal the secret whenever it already ended with it)."""
    return secret[:-1] + ("1" if secret.endswith("0") else "0")


NODE_MODULES = Path(__file__).parent / "node" / "node_modules"


def node_or_skip(package: str, what: str) -> str:
    """The node binary, for a test that runs `package`, pinned in tests/node. In CI
    (CI=true) a missing node or package fails the test; elsewhere it is skipped,
    saying what to install."""
    node = shutil.which("node")
    if node is not None and (NODE_MODULES / package / "package.json").exists():
        return node
    missing = (
        "node is not installed (apt-get install nodejs npm)"
        if node is None
        else f"{package} is not installed (npm ci --prefix tests/node)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} cannot run in CI: {missing}")
    pytest.skip(missing)


class StaticResolver(aiohttp.abc.AbstractResolver):
    """aiohttp DNS that answers from a list, one address per lookup (the last one
    repeats): a name pointed at loopback, or answers that change between lookups."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)

    def next_address(self) -> str:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[Any]:
        return [
            {
                "hostname": host,
                "host": self.next_address(),
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


# The principal test factories act as: a full-access credential of the organization.
def helper_principal(organization: Organization) -> Principal:
    return Principal(
        kind="api_key",
        id="key_testhelper",
        name="test helper",
        organization_id=organization.id,
        plan=organization.plan,
        scopes=frozenset({"*:*"}),
        expires_at=None,
        sandbox=False,
    )


async def create_oauth_app(
    db: SessionFactory,
    clock: FrozenClock,
    organization: Organization,
    *,
    redirect_uris: list[str] | None = None,
    confidential: bool = True,
    name: str = "Test app",
) -> oauth_apps.IssuedApp:
    async with db.begin() as session:
        return await oauth_apps.create_oauth_app(
            session,
            helper_principal(organization),
            name=name,
            description="",
            redirect_uris=(
                redirect_uris if redirect_uris is not None else ["http://127.0.0.1:8765/callback"]
            ),
            confidential=confidential,
            request=RequestInfo(),
            now=clock(),
            pepper=PEPPER.encode(),
        )


@dataclass
class GrantedToken:
    grant: OAuthGrant
    access_token: str
    refresh_token: str


async def create_grant(
    db: SessionFactory,
    clock: FrozenClock,
    organization: Organization,
    app: OAuthApp,
    *,
    scopes: list[str],
    user: User | None = None,
    email: str = "grace@example.com",
) -> GrantedToken:
    """A grant of `app` in `organization` (for `user`, or a new owner at `email`) and a
    token pair issued from it, as the token endpoint would after a code exchange."""
    if user is None:
        user = await create_user(db, clock, organization, email=email, name="Grace Hopper")
    async with db.begin() as session:
        grant = OAuthGrant(
            id=new_id("grt"),
            organization_id=organization.id,
            app_id=app.id,
            user_id=user.id,
            scopes=scopes,
            created_at=clock(),
        )
        session.add(grant)
        await session.flush()
        pair = await oauth_grants.issue_pair(
            session,
            grant.id,
            pepper=PEPPER.encode(),
            now=clock(),
            refresh_lifetime=timedelta(days=30),
        )
    return GrantedToken(grant, pair.access_token, pair.refresh_token)


def change_events() -> SelectOfScalar[Event]:
    """The outbox's events but the usage alerts (an API key's first use writes one on any
    first request, whatever that request changes)."""
    return select(Event).where(col(Event.type).not_in(OPT_IN))
