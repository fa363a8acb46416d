"""An OAuth access token (`sgo_…`) presented on GraphQL or REST, turned into a principal.

Not cached, unlike API keys: the token's scopes are its grant's ∩ the user's role as it
is now, and DESIGN §11 says a demoted or removed member's tokens shrink or stop at once,
in every process. One indexed join per request is the price.
"""

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlmodel import col

from statusgraph.auth import keys, oauth_tokens
from statusgraph.auth.principal import Delegation, Principal
from statusgraph.auth.roles import effective_scopes
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import Membership, OAuthApp, OAuthGrant, OAuthToken, Organization, User
from statusgraph.errors import AuthenticationError
from statusgraph.resolvers.oauth_grants import grant_membership

INVALID_TOKEN = "Invalid access token"  # noqa: S105  (a message)
TOKEN_REVOKED = "Token revoked"  # noqa: S105  (a message)
TOKEN_EXPIRED = "Token expired"  # noqa: S105  (a message)
# RFC 6750 names no code for "revoked"; the references answer X-Error: token_revoked.
REVOKED_HEADER = "token_revoked"

# A grant's lastUsedAt is written at most this often.
TOUCH_INTERVAL = timedelta(minutes=1)


def is_access_token(presented: str) -> bool:
    return presented.startswith(oauth_tokens.ACCESS_TOKEN_PREFIX)


async def authenticate(
    db: SessionFactory, presented: str, *, pepper: bytes, now: datetime
) -> Principal:
    if oauth_tokens.parse(oauth_tokens.ACCESS_TOKEN_PREFIX, presented) is None:
        raise AuthenticationError(INVALID_TOKEN)
    digest = keys.hash_secret(pepper, presented)
    statement = (
        select(OAuthToken, OAuthGrant, OAuthApp, User, col(Membership.role), col(Organization.plan))
        .join(OAuthGrant, col(OAuthGrant.id) == col(OAuthToken.grant_id))
        .join(OAuthApp, col(OAuthApp.id) == col(OAuthGrant.app_id))
        .join(User, col(User.id) == col(OAuthGrant.user_id))
        .join(Organization, col(Organization.id) == col(OAuthGrant.organization_id))
        .outerjoin(Membership, grant_membership())
        .where(col(OAuthToken.token_hash) == digest, col(OAuthToken.kind) == "access")
    )
    async with db() as session:
        # Six entities: more than sqlmodel's typed select() and exec() know of.
        found = (await session.exec(statement)).first()  # type: ignore[call-overload]
    if found is None:
        raise AuthenticationError(INVALID_TOKEN)
    token, grant, app, user, role, plan = found
    # A member who left the organization holds nothing there any more.
    if token.revoked_at is not None or grant.revoked_at is not None or role is None:
        raise AuthenticationError(TOKEN_REVOKED)
    if token.expires_at <= now:
        raise AuthenticationError(TOKEN_EXPIRED)
    if grant.last_used_at is None or now - grant.last_used_at >= TOUCH_INTERVAL:
        async with db.begin() as session:
            await session.exec(
                update(OAuthGrant)
                .where(col(OAuthGrant.id) == grant.id)
                .where(
                    or_(
                        col(OAuthGrant.last_used_at).is_(None),
                        col(OAuthGrant.last_used_at) <= now - TOUCH_INTERVAL,
                    )
                )
                .values(last_used_at=now)
            )
    return Principal(
        kind="oauth_token",
        id=grant.id,
        name=app.name,
        organization_id=grant.organization_id,
        plan=plan,
        scopes=effective_scopes(grant.scopes, role),
        expires_at=token.expires_at,
        sandbox=False,
        delegation=Delegation(
            user_id=user.id,
            user_email=user.email,
            user_name=user.name,
            role=role,
            app_id=app.id,
            app_name=app.name,
            client_id=app.client_id,
        ),
    )
