"""Team management (DESIGN §11): members and their roles, invitations.

Who may do what, beyond the `team:write` scope:

- the organization always keeps an owner: the last one can be neither removed nor
  demoted, whoever asks;
- an ADMIN (through an OAuth token) cannot remove, demote or create owners: no invitation
  as owner, no promotion to owner, no change to an owner's role, no removal of an owner;
- an API key with `team:write` acts for the organization itself, as an owner would: a
  key holding `team:write` (directly, or through `team:*` or `*:*`) was minted by the
  command line, an owner's OAuth token or a key that acts as an owner already. An
  ADMIN's token can neither create nor rotate one (resolvers/api_keys: OWNER_REQUIRED),
  so an ADMIN cannot get an owner's powers through a key.

Every change locks the organization row first (locks.lock_organization), so two
concurrent changes of the owners run one after the other and the second counts the
owners the first one left: two demotions of the last two owners leave one owner.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from statusgraph.auth import oauth_tokens
from statusgraph.auth.principal import Principal, RequestInfo
from statusgraph.auth.roles import Role
from statusgraph.auth.scopes import Scope
from statusgraph.db.models.users import Invitation, Membership, OAuthCode, OAuthGrant, User
from statusgraph.db.scoping import for_org, owned_by
from statusgraph.ids import new_id
from statusgraph.resolvers import audit, oauth_grants, users
from statusgraph.resolvers.locks import Lock, lock_organization
from statusgraph.resolvers.owned import require_owned
from statusgraph.resolvers.pagination import Page, PageArgs, paginate
from statusgraph.resolvers.user_errors import Problems, UserInputError

INVITATION_LIFETIME = timedelta(days=7)
INVITATION_PATH = "/invitation?token="

LAST_OWNER_REMOVED = "The last owner of the organization cannot be removed"
LAST_OWNER_DEMOTED = "The last owner of the organization cannot be demoted"
OWNER_INVITE = "Only an owner can invite an owner"
OWNER_PROMOTE = "Only an owner can make someone an owner"
OWNER_CHANGE = "Only an owner can change an owner's role"
OWNER_REMOVE = "Only an owner can remove an owner"
ALREADY_MEMBER = "This address belongs to a member of the organization already"
ALREADY_INVITED = "An invitation to this address is pending: revoke it first"
INVITATION_ACCEPTED = "Invitation has already been accepted"
INVITATION_REVOKED = "Invitation is already revoked"

_USED = (Scope.team_write,)


@dataclass(frozen=True, slots=True)
class IssuedInvitation:
    invitation: Invitation
    # The one-time link with its token: returned once, never stored or logged.
    url: str


def caller_role(principal: Principal) -> Role:
    """The role the caller acts in: a token's user's current role; an API key acts for
    the organization, as an owner would (only owners, the command line and owner-acting
    keys can hand out a key with team:write: api_keys._check_owner)."""
    if principal.delegation is not None:
        return Role(principal.delegation.role)
    return Role.owner


def invitation_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{INVITATION_PATH}{token}"


# Reads


async def list_members(
    session: AsyncSession, organization_id: str, *, page: PageArgs, with_count: bool = False
) -> tuple[Page[Membership], dict[str, User]]:
    """A page of the organization's memberships and their users, by user id."""
    found = await paginate(
        session, for_org(Membership, organization_id), Membership, page, with_count=with_count
    )
    return found, await users_by_ids(session, [row.user_id for row in found.rows])


async def users_by_ids(session: AsyncSession, user_ids: list[str]) -> dict[str, User]:
    if not user_ids:
        return {}
    statement = select(User).where(col(User.id).in_(set(user_ids)))
    return {user.id: user for user in (await session.exec(statement)).all()}


def _pending(organization_id: str, now: datetime) -> SelectOfScalar[Invitation]:
    return for_org(Invitation, organization_id).where(
        col(Invitation.accepted_at).is_(None),
        col(Invitation.revoked_at).is_(None),
        col(Invitation.expires_at) > now,
    )


async def list_invitations(
    session: AsyncSession,
    organization_id: str,
    *,
    now: datetime,
    page: PageArgs,
    with_count: bool = False,
) -> Page[Invitation]:
    """The pending invitations: neither accepted, revoked nor expired."""
    return await paginate(
        session, _pending(organization_id, now), Invitation, page, with_count=with_count
    )


async def _owners(session: AsyncSession, organization_id: str) -> int:
    statement = select(func.count()).where(
        owned_by(Membership, organization_id), col(Membership.role) == Role.owner
    )
    return int((await session.exec(statement)).one())


async def _last_owner(session: AsyncSession, member: Membership) -> bool:
    owners = await _owners(session, member.organization_id)
    return owners <= 1


async def _member(session: AsyncSession, organization_id: str, member_id: str) -> Membership:
    # Locked: what is checked (its role) holds until the change commits.
    return await require_owned(
        session, Membership, organization_id, member_id, "Member", lock=Lock.UPDATE
    )


async def _user(session: AsyncSession, user_id: str) -> User:
    user = await session.get(User, user_id)
    assert user is not None  # a membership's user is deleted with it (ON DELETE CASCADE)
    return user


# Changes


async def invite_member(
    session: AsyncSession,
    principal: Principal,
    *,
    email: str,
    role: str,
    base_url: str,
    pepper: bytes,
    request: RequestInfo,
    now: datetime,
) -> IssuedInvitation:
    """An invitation with a one-time link (7 days). Its token is stored as an HMAC."""
    organization_id = principal.organization_id
    problems = Problems()
    email = users.normalize_email(email)
    users.check_email(email, problems)
    users.check_role(role, problems)
    if role == Role.owner and caller_role(principal) is not Role.owner:
        problems.add("role", "OWNER_REQUIRED", OWNER_INVITE)
    problems.raise_if_any()

    await lock_organization(session, organization_id)
    existing = await users.get_by_email(session, email)
    if existing is not None and await users.get_membership(session, organization_id, existing.id):
        raise UserInputError.single("email", "ALREADY_MEMBER", ALREADY_MEMBER)
    pending = _pending(organization_id, now).where(col(Invitation.email) == email)
    if (await session.exec(pending)).first() is not None:
        raise UserInputError.single("email", "ALREADY_INVITED", ALREADY_INVITED)

    token = oauth_tokens.generate(oauth_tokens.INVITATION_PREFIX)
    actor = principal.actor
    invitation = Invitation(
        id=new_id("inv"),
        organization_id=organization_id,
        email=email,
        role=role,
        token_hash=users.invitation_hash(pepper, token),
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
        created_by_type=actor.type,
        created_by_id=actor.id,
        created_by_label=actor.label,
    )
    session.add(invitation)
    await audit.record(
        session,
        actor,
        organization_id=organization_id,
        action="invitation.created",
        target_type="invitation",
        target_id=invitation.id,
        request=request,
        now=now,
        scopes_used=_USED,
        details={"email": email, "role": role, "expiresAt": invitation.expires_at.isoformat()},
    )
    await session.flush()
    return IssuedInvitation(invitation=invitation, url=invitation_url(base_url, token))


async def revoke_invitation(
    session: AsyncSession,
    principal: Principal,
    *,
    invitation_id: str,
    request: RequestInfo,
    now: datetime,
) -> Invitation:
    await lock_organization(session, principal.organization_id)
    invitation = await require_owned(
        session,
        Invitation,
        principal.organization_id,
        invitation_id,
        "Invitation",
        lock=Lock.UPDATE,
    )
    if invitation.accepted_at is not None:
        raise UserInputError.single("id", "ALREADY_ACCEPTED", INVITATION_ACCEPTED)
    if invitation.revoked_at is not None:
        raise UserInputError.single("id", "ALREADY_REVOKED", INVITATION_REVOKED)
    invitation.revoked_at = now
    session.add(invitation)
    await audit.record(
        session,
        principal.actor,
        organization_id=invitation.organization_id,
        action="invitation.revoked",
        target_type="invitation",
        target_id=invitation.id,
        request=request,
        now=now,
        scopes_used=_USED,
        details={"email": invitation.email, "role": invitation.role},
    )
    await session.flush()
    return invitation


async def update_member_role(
    session: AsyncSession,
    principal: Principal,
    *,
    member_id: str,
    role: str,
    request: RequestInfo,
    now: datetime,
) -> tuple[Membership, User]:
    """A member's new role; the same role changes nothing and records nothing."""
    problems = Problems()
    users.check_role(role, problems)
    problems.raise_if_any()
    await lock_organization(session, principal.organization_id)
    member = await _member(session, principal.organization_id, member_id)
    user = await _user(session, member.user_id)
    if member.role == role:
        return member, user
    if caller_role(principal) is not Role.owner:
        if member.role == Role.owner:
            raise UserInputError.single("id", "OWNER_REQUIRED", OWNER_CHANGE)
        if role == Role.owner:
            raise UserInputError.single("role", "OWNER_REQUIRED", OWNER_PROMOTE)
    if member.role == Role.owner and await _last_owner(session, member):
        raise UserInputError.single("role", "LAST_OWNER", LAST_OWNER_DEMOTED)
    previous = member.role
    member.role = role
    session.add(member)
    await audit.record(
        session,
        principal.actor,
        organization_id=member.organization_id,
        action="member.role_changed",
        target_type="membership",
        target_id=member.id,
        request=request,
        now=now,
        scopes_used=_USED,
        details={"userId": user.id, "email": user.email, "from": previous, "to": role},
    )
    await session.flush()
    return member, user


async def remove_member(
    session: AsyncSession,
    principal: Principal,
    *,
    member_id: str,
    request: RequestInfo,
    now: datetime,
) -> tuple[Membership, User]:
    """Ends a membership, revokes the user's OAuth grants in the organization (their
    tokens already stop at once without the membership; the grants say why) and expires
    the user's unused authorization codes there (were the user added back within their
    ten minutes, an app could still exchange one)."""
    await lock_organization(session, principal.organization_id)
    member = await _member(session, principal.organization_id, member_id)
    user = await _user(session, member.user_id)
    if member.role == Role.owner:
        if caller_role(principal) is not Role.owner:
            raise UserInputError.single("id", "OWNER_REQUIRED", OWNER_REMOVE)
        if await _last_owner(session, member):
            raise UserInputError.single("id", "LAST_OWNER", LAST_OWNER_REMOVED)
    grants = await session.exec(
        select(OAuthGrant).where(
            owned_by(OAuthGrant, member.organization_id),
            col(OAuthGrant.user_id) == member.user_id,
            col(OAuthGrant.revoked_at).is_(None),
        )
    )
    revoked = 0
    for grant in grants.all():
        revoked += await oauth_grants.revoke_grant(
            session,
            principal.actor,
            grant,
            reason=oauth_grants.RevokedBy.MEMBER_REMOVED,
            request=request,
            now=now,
        )
    await session.exec(
        update(OAuthCode)
        .where(
            owned_by(OAuthCode, member.organization_id),
            col(OAuthCode.user_id) == member.user_id,
            col(OAuthCode.used_at).is_(None),
            col(OAuthCode.expires_at) > now,
        )
        .values(expires_at=now)
    )
    await session.delete(member)
    await audit.record(
        session,
        principal.actor,
        organization_id=member.organization_id,
        action="member.removed",
        target_type="membership",
        target_id=member.id,
        request=request,
        now=now,
        scopes_used=_USED,
        details={
            "userId": user.id,
            "email": user.email,
            "role": member.role,
            "grantsRevoked": revoked,
        },
    )
    await session.flush()
    return member, user
