"""What the OAuth 2.0 provider writes: codes, grants, token pairs, and revocation (DESIGN §11).

Shared by the consent page (which issues codes), the token endpoint (which exchanges
codes and refresh tokens), `/account/apps` and the GraphQL `revokeOAuthGrant`. The
protocol rules themselves (PKCE, redirect URIs, client authentication) live with the
endpoints in `statusgraph/oauth/`.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth import keys, oauth_tokens
from statusgraph.auth.principal import Actor, RequestInfo
from statusgraph.db.models import Membership, OAuthCode, OAuthGrant, OAuthToken
from statusgraph.ids import new_id
from statusgraph.resolvers import audit

CODE_LIFETIME = timedelta(minutes=10)
ACCESS_TOKEN_LIFETIME = timedelta(hours=1)


class RevokedBy:
    """Why a grant stopped: kept on the grant and in its audit entry."""

    USER = "user"  # the user, at /account/apps
    ORGANIZATION = "organization"  # revokeOAuthGrant
    CLIENT = "client"  # the app, through /oauth/revoke
    CODE_REUSE = "code_reuse"  # its authorization code was presented twice
    REFRESH_REUSE = "refresh_reuse"  # a used refresh token was presented again
    MEMBER_REMOVED = "member_removed"  # the user left the organization
    APP_DELETED = "app_deleted"


def grant_membership() -> ColumnElement[bool]:
    """The outer join from a grant to its user's membership in the grant's organization:
    the role it finds bounds the grant's tokens, and none means the user left."""
    return and_(
        col(Membership.user_id) == col(OAuthGrant.user_id),
        col(Membership.organization_id) == col(OAuthGrant.organization_id),
    )


async def issue_code(
    session: AsyncSession,
    *,
    app_id: str,
    organization_id: str,
    user_id: str,
    redirect_uri: str,
    code_challenge: str,
    scopes: list[str],
    pepper: bytes,
    now: datetime,
) -> str:
    """A one-time code bound to everything the authorization request said; only its
    HMAC is stored. Returns the code itself, for the redirect."""
    code = oauth_tokens.generate(oauth_tokens.CODE_PREFIX)
    session.add(
        OAuthCode(
            id=new_id("oac"),
            code_hash=keys.hash_secret(pepper, code),
            app_id=app_id,
            organization_id=organization_id,
            user_id=user_id,
            redirect_uri=redirect_uri,
            code_challenge=code_challenge,
            scopes=sorted(scopes),
            created_at=now,
            expires_at=now + CODE_LIFETIME,
        )
    )
    return code


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds, for the token response


async def issue_pair(
    session: AsyncSession,
    grant_id: str,
    *,
    pepper: bytes,
    now: datetime,
    refresh_lifetime: timedelta,
) -> TokenPair:
    """A fresh access token (1 h) and refresh token for a grant; both stored hashed."""
    access = oauth_tokens.generate(oauth_tokens.ACCESS_TOKEN_PREFIX)
    refresh = oauth_tokens.generate(oauth_tokens.REFRESH_TOKEN_PREFIX)
    for kind, token, lifetime in (
        ("access", access, ACCESS_TOKEN_LIFETIME),
        ("refresh", refresh, refresh_lifetime),
    ):
        session.add(
            OAuthToken(
                id=new_id("oat"),
                grant_id=grant_id,
                kind=kind,
                token_hash=keys.hash_secret(pepper, token),
                created_at=now,
                expires_at=now + lifetime,
            )
        )
    return TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_in=int(ACCESS_TOKEN_LIFETIME.total_seconds()),
    )


async def revoke_grant(
    session: AsyncSession,
    actor: Actor,
    grant: OAuthGrant,
    *,
    reason: str,
    request: RequestInfo,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> bool:
    """Stops a grant and every token issued from it, and audits it (`oauth_grant.revoked`,
    or `oauth_grant.refresh_reuse_detected` / `oauth_grant.code_reuse_detected`).

    `details` adds to the entry's (deleteOAuthApp names the app it is about to delete).

    Returns False, writing nothing, if it was already revoked: the UPDATE's WHERE makes
    two concurrent revocations write one audit entry.
    """
    stopped = await session.exec(
        update(OAuthGrant)
        .where(col(OAuthGrant.id) == grant.id, col(OAuthGrant.revoked_at).is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    if stopped.rowcount != 1:
        return False
    await session.exec(
        update(OAuthToken)
        .where(col(OAuthToken.grant_id) == grant.id, col(OAuthToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    action = {
        RevokedBy.REFRESH_REUSE: "oauth_grant.refresh_reuse_detected",
        RevokedBy.CODE_REUSE: "oauth_grant.code_reuse_detected",
    }.get(reason, "oauth_grant.revoked")
    await audit.record(
        session,
        actor,
        organization_id=grant.organization_id,
        action=action,
        target_type="oauth_grant",
        target_id=grant.id,
        request=request,
        now=now,
        details={
            "appId": grant.app_id,
            "userId": grant.user_id,
            "reason": reason,
            **(details or {}),
        },
    )
    return True
