"""What the authorization and account pages read and do (DESIGN §11): the app a
`client_id` names, the user's role in an organization, the user's own grants, and the
code a consent issues."""

from datetime import datetime

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth import oauth_tokens
from statusgraph.auth.principal import Actor, RequestInfo
from statusgraph.db.models import Membership, OAuthApp, OAuthGrant, Organization, User
from statusgraph.resolvers import oauth_grants, users


async def app_by_client_id(
    session: AsyncSession, client_id: str
) -> tuple[OAuthApp, Organization] | None:
    """The app and the organization that registered it; None for anything else, a
    malformed id answered without a query."""
    if oauth_tokens.parse(oauth_tokens.CLIENT_ID_PREFIX, client_id) is None:
        return None
    app = (await session.exec(select(OAuthApp).where(OAuthApp.client_id == client_id))).first()
    if app is None:
        return None
    organization = await session.get(Organization, app.organization_id)
    return (app, organization) if organization is not None else None


async def user_by_id(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


DEFAULT_SESSION_HOURS = 12  # Organization.session_hours' default, for a user of none


async def session_hours(session: AsyncSession, user_id: str) -> int:
    """How long the user's browser session lasts: the shortest `sessionHours` among the
    organizations the user belongs to (one browser session reaches all of them, so the
    strictest one decides), 12 for a user of none."""
    hours = await session.scalar(
        select(func.min(Organization.session_hours))
        .join(Membership, col(Membership.organization_id) == col(Organization.id))
        .where(Membership.user_id == user_id)
    )
    return int(hours) if hours is not None else DEFAULT_SESSION_HOURS


async def organization_by_id(session: AsyncSession, organization_id: str) -> Organization | None:
    return await session.get(Organization, organization_id)


async def organizations_of(session: AsyncSession, user_id: str) -> list[tuple[Organization, str]]:
    """The user's organizations and their role in each, by organization name."""
    return [
        (organization, membership.role)
        for membership, organization in await users.memberships_of(session, user_id)
    ]


async def issue_code(
    session: AsyncSession,
    *,
    app: OAuthApp,
    user_id: str,
    organization_id: str,
    redirect_uri: str,
    code_challenge: str,
    scopes: list[str],
    pepper: bytes,
    now: datetime,
) -> str:
    """The code a consent answers with. Nothing is audited here: the grant is created,
    and audited, when the app exchanges the code."""
    return await oauth_grants.issue_code(
        session,
        app_id=app.id,
        organization_id=organization_id,
        user_id=user_id,
        redirect_uri=redirect_uri,
        code_challenge=code_challenge,
        scopes=scopes,
        pepper=pepper,
        now=now,
    )


async def revoke_own_grant(
    session: AsyncSession,
    user: User,
    grant_id: str,
    *,
    request: RequestInfo,
    now: datetime,
) -> OAuthGrant | None:
    """Revokes one of the user's own live grants (any of their organizations); None,
    writing nothing, for another user's grant, a revoked one or an unknown id."""
    statement = select(OAuthGrant).where(
        OAuthGrant.id == grant_id,
        OAuthGrant.user_id == user.id,
        col(OAuthGrant.revoked_at).is_(None),
    )
    grant = (await session.exec(statement)).first()
    if grant is None:
        return None
    actor = Actor(type="user", id=user.id, label=user.email)
    revoked = await oauth_grants.revoke_grant(
        session, actor, grant, reason=oauth_grants.RevokedBy.USER, request=request, now=now
    )
    return grant if revoked else None
