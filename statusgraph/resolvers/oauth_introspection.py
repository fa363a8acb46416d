"""What `POST /oauth/revoke` (RFC 7009) and `POST /oauth/introspect` (RFC 7662) do, for
an authenticated client (DESIGN §11).

Decisions where the RFCs leave a choice:
- revoking either token of a grant, access or refresh, revokes the whole grant and every
  token issued from it (RFC 7009 §2.1 allows it for an access token; it is what an app
  that signs the user out means, and what a leaked token calls for);
- a client sees only its own tokens: another client's token, like an unknown one, is
  "revoked" with nothing changed (RFC 7009 §2.2) and introspects as inactive (RFC 7662
  §2.2 lets the server refuse to say more);
- `token_type_hint` is ignored: both kinds are looked up at once, by their hash.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth import keys, oauth_tokens
from statusgraph.auth.principal import Actor, RequestInfo, delegated_label
from statusgraph.auth.roles import effective_scopes
from statusgraph.db.models import Membership, OAuthApp, OAuthGrant, OAuthToken, User
from statusgraph.resolvers import oauth_grants
from statusgraph.resolvers.oauth_grants import RevokedBy, grant_membership

KINDS = {
    oauth_tokens.ACCESS_TOKEN_PREFIX: "access",
    oauth_tokens.REFRESH_TOKEN_PREFIX: "refresh",
}


@dataclass(frozen=True, slots=True)
class Found:
    token: OAuthToken
    grant: OAuthGrant
    user: User
    role: str | None  # None once the user left the organization


async def _find(
    session: AsyncSession, app: OAuthApp, presented: str, pepper: bytes
) -> Found | None:
    """The token if it is one of this client's; None for anything else (no query for a
    string that is not a well-formed access or refresh token)."""
    kind = next((k for prefix, k in KINDS.items() if presented.startswith(prefix)), None)
    if kind is None or oauth_tokens.parse(presented[:4], presented) is None:
        return None
    statement = (
        select(OAuthToken, OAuthGrant, User, col(Membership.role))
        .join(OAuthGrant, col(OAuthGrant.id) == col(OAuthToken.grant_id))
        .join(User, col(User.id) == col(OAuthGrant.user_id))
        .outerjoin(Membership, grant_membership())
        .where(
            col(OAuthToken.token_hash) == keys.hash_secret(pepper, presented),
            col(OAuthToken.kind) == kind,
            col(OAuthGrant.app_id) == app.id,
        )
    )
    row = (await session.exec(statement)).first()
    if row is None:
        return None
    token, grant, user, role = row
    return Found(token=token, grant=grant, user=user, role=role)


async def revoke_token(
    session: AsyncSession,
    app: OAuthApp,
    *,
    token: str,
    pepper: bytes,
    request: RequestInfo,
    now: datetime,
) -> bool:
    """Revokes the grant of one of this client's tokens; False (nothing changed) for an
    unknown token, another client's, or a grant already revoked."""
    found = await _find(session, app, token, pepper)
    if found is None:
        return False
    label = delegated_label(app.name, found.user.email)
    return await oauth_grants.revoke_grant(
        session,
        Actor(type="oauth_token", id=found.grant.id, label=label, app_id=app.id),
        found.grant,
        reason=RevokedBy.CLIENT,
        request=request,
        now=now,
    )


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


async def introspect(
    session: AsyncSession, app: OAuthApp, *, token: str, pepper: bytes, issuer: str, now: datetime
) -> dict[str, Any]:
    """RFC 7662 §2.2: `{"active": false}` and nothing more for any token that is not a
    live one of this client's; otherwise what the token may do now."""
    found = await _find(session, app, token, pepper)
    inactive: dict[str, Any] = {"active": False}
    if found is None or found.role is None:
        return inactive
    stored, grant = found.token, found.grant
    if stored.revoked_at is not None or grant.revoked_at is not None:
        return inactive
    if stored.expires_at <= now or stored.used_at is not None:
        return inactive
    return {
        "active": True,
        "scope": " ".join(sorted(effective_scopes(grant.scopes, found.role))),
        "client_id": app.client_id,
        "username": found.user.email,
        "sub": found.user.id,
        "exp": _epoch(stored.expires_at),
        "iat": _epoch(stored.created_at),
        "token_type": "Bearer" if stored.kind == "access" else "refresh_token",
        "iss": issuer,
        # Extensions (RFC 7662 §2.2 allows them): which organization, which grant.
        "organization_id": grant.organization_id,
        "grant_id": grant.id,
    }
