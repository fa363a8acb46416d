"""Users and their memberships (DESIGN §11): creating a person with a password, checking
a password at sign-in, the organizations a user belongs to, and accepting an invitation.

Team management (members, roles, inviting) is in resolvers/team.py.
"""

import asyncio
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth import keys, oauth_tokens, passwords
from statusgraph.auth.principal import Actor, RequestInfo
from statusgraph.auth.roles import ROLES
from statusgraph.db.models import Organization
from statusgraph.db.models.users import Invitation, Membership, User
from statusgraph.db.scoping import for_org
from statusgraph.email_addresses import valid_address
from statusgraph.ids import new_id
from statusgraph.resolvers import audit
from statusgraph.resolvers.locks import Lock, lock_organization, locking
from statusgraph.resolvers.user_errors import Problems, UserInputError

MAX_NAME_LENGTH = 200
EMAIL_TAKEN = "A user with this email address already exists"
# Why an invitation link no longer works (accept_invitation's userErrors, field "token").
INVITATION_INVALID = "This invitation link is not valid"
INVITATION_EXPIRED = "This invitation has expired: ask for a new one"
INVITATION_REVOKED = "This invitation has been revoked"
INVITATION_USED = "This invitation has already been used"
ALREADY_MEMBER = "You are already a member of this organization"
WRONG_PASSWORD = "This address already has an account: enter its password to join"  # noqa: S105


def normalize_email(email: str) -> str:
    """Stored lower-cased: one account per address whatever its spelling."""
    return email.strip().lower()


def check_email(email: str, problems: Problems, field: str = "email") -> None:
    if not valid_address(email):
        problems.add(field, "INVALID", "Email must be a valid email address")


def check_name(name: str, problems: Problems, field: str = "name") -> None:
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        problems.add(field, "INVALID", f"Name must be 1 to {MAX_NAME_LENGTH} characters")


def check_password_rules(password: str, problems: Problems, field: str = "password") -> None:
    problem = passwords.password_problem(password)
    if problem is not None:
        problems.add(field, "WEAK_PASSWORD", problem)


def check_role(role: str, problems: Problems, field: str = "role") -> None:
    if role not in ROLES:
        problems.add(field, "INVALID", f"Role must be one of: {', '.join(ROLES)}")


async def hash_password(password: str) -> str:
    # argon2id takes tens of milliseconds of CPU: not on the event loop.
    return await asyncio.to_thread(passwords.hash_password, password)


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    statement = select(User).where(User.email == normalize_email(email))
    return (await session.exec(statement)).first()


async def add_user(
    session: AsyncSession, *, email: str, name: str, password_hash: str, now: datetime
) -> User:
    """Insert a user (already validated); a lost race on the address is EMAIL_TAKEN."""
    user = User(
        id=new_id("usr"), email=email, name=name, password_hash=password_hash, created_at=now
    )
    try:
        # A savepoint, so a lost race on the unique address leaves the transaction usable.
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError:
        raise UserInputError.single("email", "EMAIL_TAKEN", EMAIL_TAKEN) from None
    return user


async def create_user(
    session: AsyncSession,
    actor: Actor,
    *,
    organization: Organization,
    email: str,
    name: str,
    password: str,
    role: str,
    request: RequestInfo,
    now: datetime,
) -> User:
    """A new person with a password and a membership of `organization` in `role`
    (the command line's `users create`). An address that already has an account is
    refused: an existing user joins another organization by invitation."""
    problems = Problems()
    email = normalize_email(email)
    name = name.strip()
    check_email(email, problems)
    check_name(name, problems)
    check_password_rules(password, problems)
    check_role(role, problems)
    problems.raise_if_any()
    if await get_by_email(session, email) is not None:
        raise UserInputError.single("email", "EMAIL_TAKEN", EMAIL_TAKEN)

    user = await add_user(
        session, email=email, name=name, password_hash=await hash_password(password), now=now
    )
    membership = Membership(
        id=new_id("mem"),
        organization_id=organization.id,
        user_id=user.id,
        role=role,
        created_at=now,
    )
    session.add(membership)
    await audit.record(
        session,
        actor,
        organization_id=organization.id,
        action="member.added",
        target_type="membership",
        target_id=membership.id,
        request=request,
        now=now,
        details={"userId": user.id, "email": email, "role": role},
    )
    await session.flush()
    return user


async def check_password(session: AsyncSession, email: str, password: str) -> User | None:
    """The user whose address and password these are, or None.

    Costs one argon2 verification whether or not the address has an account (against
    passwords.dummy_hash() when it has none), so timing does not tell which do.
    """
    user = await get_by_email(session, email)
    if len(password) > passwords.MAX_LENGTH:
        return None
    stored = user.password_hash if user is not None else passwords.dummy_hash()
    verified = await asyncio.to_thread(passwords.verify_password, stored, password)
    return user if verified and user is not None else None


async def memberships_of(
    session: AsyncSession, user_id: str
) -> list[tuple[Membership, Organization]]:
    """The user's memberships with their organizations, by organization name."""
    statement = (
        select(Membership, Organization)
        .join(Organization, col(Organization.id) == col(Membership.organization_id))
        .where(Membership.user_id == user_id)
        .order_by(col(Organization.name), col(Organization.id))
    )
    return [
        (membership, organization) for membership, organization in await session.exec(statement)
    ]


async def get_membership(
    session: AsyncSession, organization_id: str, user_id: str
) -> Membership | None:
    statement = for_org(Membership, organization_id).where(Membership.user_id == user_id)
    return (await session.exec(statement)).first()


def user_actor(user: User) -> Actor:
    """A signed-in person, as the audit log names them."""
    return Actor(type="user", id=user.id, label=user.email)


def invitation_hash(pepper: bytes, token: str) -> str:
    return keys.hash_secret(pepper, token)


async def _invitation_by_token(
    session: AsyncSession, token: str, pepper: bytes, *, lock: Lock = Lock.NONE
) -> Invitation | None:
    # The format and checksum first: a made-up token costs no database lookup.
    if oauth_tokens.parse(oauth_tokens.INVITATION_PREFIX, token) is None:
        return None
    statement = select(Invitation).where(Invitation.token_hash == invitation_hash(pepper, token))
    return (await session.exec(locking(statement, lock))).first()


def invitation_problem(invitation: Invitation | None, now: datetime) -> str | None:
    """Why the invitation cannot be accepted now, or None."""
    if invitation is None:
        return INVITATION_INVALID
    if invitation.accepted_at is not None:
        return INVITATION_USED
    if invitation.revoked_at is not None:
        return INVITATION_REVOKED
    if invitation.expires_at <= now:
        return INVITATION_EXPIRED
    return None


async def invitation_for(
    session: AsyncSession, token: str, pepper: bytes, now: datetime
) -> Invitation | None:
    """The pending invitation this link's token opens; None if it is unknown, used,
    revoked or expired (accept_invitation says which)."""
    invitation = await _invitation_by_token(session, token, pepper)
    return invitation if invitation_problem(invitation, now) is None else None


async def accept_invitation(
    session: AsyncSession,
    token: str,
    name: str,
    password: str,
    pepper: bytes,
    request: RequestInfo,
    now: datetime,
) -> User:
    """Joins the invited address to the organization in the invitation's role, once.

    An address without an account gets one with `name` and `password`; an address that
    has one must give its password (`name` is then ignored), so a leaked link cannot
    attach someone's account to an organization, and the person joining proves they are
    who signs in. Refused with a userError on field "token" when the link is not valid,
    used, revoked or expired; of two concurrent acceptances one joins, the other is told
    the invitation was used.
    """
    found = await _invitation_by_token(session, token, pepper)
    if found is None:
        raise UserInputError.single("token", "INVALID", INVITATION_INVALID)
    # The organization, then the invitation (the order of every team change): of two
    # acceptances, the second waits and then sees the first one's acceptance.
    await lock_organization(session, found.organization_id)
    invitation = await _invitation_by_token(session, token, pepper, lock=Lock.UPDATE)
    problem = invitation_problem(invitation, now)
    if invitation is None or problem is not None:
        code = {
            INVITATION_USED: "ALREADY_ACCEPTED",
            INVITATION_REVOKED: "REVOKED",
            INVITATION_EXPIRED: "EXPIRED",
        }.get(problem or "", "INVALID")
        raise UserInputError.single("token", code, problem or INVITATION_INVALID)

    user = await get_by_email(session, invitation.email)
    if user is not None:
        verified = len(password) <= passwords.MAX_LENGTH and await asyncio.to_thread(
            passwords.verify_password, user.password_hash, password
        )
        if not verified:
            raise UserInputError.single("password", "WRONG_PASSWORD", WRONG_PASSWORD)
        joined = await get_membership(session, invitation.organization_id, user.id)
        if joined is not None:
            raise UserInputError.single("token", "ALREADY_MEMBER", ALREADY_MEMBER)
    else:
        problems = Problems()
        name = name.strip()
        check_name(name, problems)
        check_password_rules(password, problems)
        problems.raise_if_any()
        user = await add_user(
            session,
            email=invitation.email,
            name=name,
            password_hash=await hash_password(password),
            now=now,
        )

    membership = Membership(
        id=new_id("mem"),
        organization_id=invitation.organization_id,
        user_id=user.id,
        role=invitation.role,
        created_at=now,
    )
    session.add(membership)
    invitation.accepted_at = now
    invitation.accepted_by_user_id = user.id
    session.add(invitation)
    actor = user_actor(user)
    for action, target_type, target_id in (
        ("invitation.accepted", "invitation", invitation.id),
        ("member.added", "membership", membership.id),
    ):
        await audit.record(
            session,
            actor,
            organization_id=invitation.organization_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            request=request,
            now=now,
            details={
                "userId": user.id,
                "email": user.email,
                "role": invitation.role,
                "invitationId": invitation.id,
            },
        )
    await session.flush()
    return user
