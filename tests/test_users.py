"""Users: creation rules, password checks and memberships (resolvers/users.py)."""

import pytest
from sqlmodel import func, select

from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import AuditEvent
from statusgraph.db.models.users import Membership, User
from statusgraph.resolvers import users
from statusgraph.resolvers.user_errors import UserInputError
from tests.helpers import create_org, create_user


async def _count(db: SessionFactory, model: type) -> int:
    async with db() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


async def test_create_user_adds_the_membership_and_audits(
    db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    user = await create_user(db, clock, acme, email="  Ada@Example.COM ", role="admin")
    assert user.email == "ada@example.com"
    assert user.password_hash.startswith("$argon2id$")
    async with db() as session:
        [(membership, organization)] = await users.memberships_of(session, user.id)
        assert (membership.role, organization.id) == ("admin", acme.id)
        event = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "member.added"))
        ).one()
    assert event.target_id == membership.id
    assert event.details == {"userId": user.id, "email": "ada@example.com", "role": "admin"}
    assert "correct horse" not in str(event.details)


@pytest.mark.parametrize(
    ("email", "name", "password", "role", "expected"),
    [
        (
            "not-an-email",
            "Ada",
            "long enough pw",
            "owner",
            ("email", "INVALID", "Email must be a valid email address"),
        ),
        (
            "ada@example.com",
            "  ",
            "long enough pw",
            "owner",
            ("name", "INVALID", "Name must be 1 to 200 characters"),
        ),
        (
            "ada@example.com",
            "x" * 201,
            "long enough pw",
            "owner",
            ("name", "INVALID", "Name must be 1 to 200 characters"),
        ),
        (
            "ada@example.com",
            "Ada",
            "short",
            "owner",
            ("password", "WEAK_PASSWORD", "Password must be at least 10 characters"),
        ),
        (
            "ada@example.com",
            "Ada",
            "p" * 1025,
            "owner",
            ("password", "WEAK_PASSWORD", "Password must be at most 1024 characters"),
        ),
        (
            "ada@example.com",
            "Ada",
            "long enough pw",
            "god",
            ("role", "INVALID", "Role must be one of: owner, admin, member, viewer"),
        ),
    ],
)
async def test_create_user_refuses_bad_input_and_writes_nothing(
    db: SessionFactory,
    clock: FrozenClock,
    email: str,
    name: str,
    password: str,
    role: str,
    expected: tuple[str, str, str],
) -> None:
    acme = await create_org(db, clock, slug="acme")
    with pytest.raises(UserInputError) as caught:
        await create_user(db, clock, acme, email=email, name=name, password=password, role=role)
    assert [(e.field, e.code, e.message) for e in caught.value.errors] == [expected]
    assert await _count(db, User) == 0
    assert await _count(db, Membership) == 0


async def test_an_address_with_an_account_is_refused_whatever_its_case(
    db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    globex = await create_org(db, clock, slug="globex")
    await create_user(db, clock, acme)
    with pytest.raises(UserInputError) as caught:
        await create_user(db, clock, globex, email="ADA@example.com")
    assert [(e.field, e.code, e.message) for e in caught.value.errors] == [
        ("email", "EMAIL_TAKEN", "A user with this email address already exists")
    ]
    assert await _count(db, User) == 1
    assert await _count(db, Membership) == 1


async def test_check_password(db: SessionFactory, clock: FrozenClock) -> None:
    acme = await create_org(db, clock, slug="acme")
    user = await create_user(db, clock, acme)
    async with db() as session:
        found = await users.check_password(session, "ADA@example.com", "correct horse battery")
        assert found is not None
        assert found.id == user.id
        assert await users.check_password(session, "ada@example.com", "wrong horse battery") is None
        assert (
            await users.check_password(session, "nobody@example.com", "correct horse battery")
            is None
        )
        assert await users.check_password(session, "ada@example.com", "") is None
        assert await users.check_password(session, "ada@example.com", "x" * 100_000) is None


async def test_memberships_of_lists_every_organization(
    db: SessionFactory, clock: FrozenClock
) -> None:
    acme = await create_org(db, clock, slug="acme")
    globex = await create_org(db, clock, slug="globex")
    user = await create_user(db, clock, acme)
    async with db.begin() as session:
        session.add(
            Membership(
                id="mem_x",
                organization_id=globex.id,
                user_id=user.id,
                role="viewer",
                created_at=clock(),
            )
        )
    async with db() as session:
        listed = await users.memberships_of(session, user.id)
        assert [(m.role, o.slug) for m, o in listed] == [("owner", "acme"), ("viewer", "globex")]
        assert await users.memberships_of(session, "usr_nobody") == []
