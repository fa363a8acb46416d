"""What `POST /oauth/token` does (RFC 6749 §4.1.3 and §6, DESIGN §11): an authorization
code exchanged for a grant and its first token pair, and a refresh token rotated.

Every refusal is returned, not raised: detecting a reused code or refresh token revokes
the grant, and that must be committed although the answer is an error.

Decisions where the RFCs leave a choice:
- a code is checked in full (client, expiry, redirect URI, PKCE) before it is consumed:
  a request that fails a check changes nothing, so someone holding a stolen code but
  not its verifier cannot burn it for the app. A code that was already consumed, or that
  a concurrent request consumes first, is a reuse: `invalid_grant`, and the grant issued
  from it is revoked (RFC 6749 §4.1.2, RFC 9700 §4.14.2 for the refresh side).
- a malformed `code_verifier` is `invalid_request` (its syntax is RFC 7636 §4.1's); a
  well-formed one that does not match the challenge is `invalid_grant` (§4.6).
- a refresh rotates the pair; the access token issued before it keeps working until it
  expires (at most an hour): requests in flight while the app refreshes do not fail.
  Revoking the grant stops it at once.
- the exchange locks the organization (locks.lock_organization) before it checks the
  membership, as removeMember does before it revokes the user's grants: a removal and an
  exchange run one after the other. Either the removal comes first, and the exchange
  finds no membership, or the exchange does, and the removal revokes the grant it made.
  Without it, an exchange could read the membership a removal was deleting and commit
  its grant after the removal had revoked the others: a grant left live.
- two concurrent refreshes with one token: one gets the new pair, the other is a reuse
  and revokes the grant, the winner's new pair with it (a race and a theft look alike).
- `scope` on a refresh may repeat the granted scopes, in our names or their aliases
  (auth/scopes.canonical, as at /oauth/authorize: an app may send back the names it
  first asked for); narrowing is not supported (the tokens of a grant all carry the
  grant's scopes): ask for a new authorization instead.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth import keys, oauth_tokens, pkce
from statusgraph.auth.principal import SYSTEM, Actor, RequestInfo
from statusgraph.auth.scopes import normalize
from statusgraph.db.models import Membership, OAuthApp, OAuthCode, OAuthGrant, OAuthToken, User
from statusgraph.db.scoping import owned_by
from statusgraph.ids import new_id
from statusgraph.resolvers import audit, oauth_grants
from statusgraph.resolvers.locks import lock_organization
from statusgraph.resolvers.oauth_grants import RevokedBy, TokenPair

UNKNOWN_CODE = "The authorization code is not valid for this client"
USED_CODE = "The authorization code was already used; the tokens issued from it are revoked"
EXPIRED_CODE = "The authorization code has expired"
REDIRECT_MISMATCH = "redirect_uri does not match the authorization request's"
VERIFIER_MISMATCH = "code_verifier does not match the code_challenge"
NOT_A_MEMBER = "The user is no longer a member of the organization"
UNKNOWN_REFRESH = "The refresh token is not valid for this client"
REVOKED_REFRESH = "The refresh token has been revoked"
USED_REFRESH = "The refresh token was already used; the grant is revoked"
EXPIRED_REFRESH = "The refresh token has expired"
SCOPE_NOT_GRANTED = "scope asks for more than was granted"
SCOPE_NARROWING = (
    "Narrowing scope on refresh is not supported; omit scope, or ask the user for a new "
    "authorization with fewer scopes"
)


@dataclass(frozen=True, slots=True)
class Refusal:
    """An RFC 6749 §5.2 error: `error` is its code, `description` its text."""

    error: str
    description: str


@dataclass(frozen=True, slots=True)
class Issued:
    pair: TokenPair
    scopes: list[str]  # the grant's, as stored: the response's `scope`
    grant_id: str


async def _is_member(session: AsyncSession, organization_id: str, user_id: str) -> bool:
    found = await session.exec(
        select(col(Membership.id)).where(
            owned_by(Membership, organization_id),
            col(Membership.user_id) == user_id,
        )
    )
    return found.first() is not None


async def _revoke_for_reuse(
    session: AsyncSession, grant_id: str | None, reason: str, request: RequestInfo, now: datetime
) -> None:
    if grant_id is None:
        return
    grant = await session.get(OAuthGrant, grant_id, populate_existing=True)
    if grant is not None:
        await oauth_grants.revoke_grant(
            session, SYSTEM, grant, reason=reason, request=request, now=now
        )


async def exchange_code(
    session: AsyncSession,
    app: OAuthApp,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    pepper: bytes,
    request: RequestInfo,
    now: datetime,
    refresh_lifetime: timedelta,
) -> Issued | Refusal:
    """grant_type=authorization_code, for an authenticated client."""
    if not pkce.well_formed(code_verifier):
        return Refusal("invalid_request", pkce.VERIFIER_RULE)
    if oauth_tokens.parse(oauth_tokens.CODE_PREFIX, code) is None:
        return Refusal("invalid_grant", UNKNOWN_CODE)
    digest = keys.hash_secret(pepper, code)
    found = (
        await session.exec(select(OAuthCode).where(col(OAuthCode.code_hash) == digest))
    ).first()
    # Another client's code is refused like an unknown one, and left alone.
    if found is None or found.app_id != app.id:
        return Refusal("invalid_grant", UNKNOWN_CODE)
    if found.used_at is not None:
        await _revoke_for_reuse(session, found.grant_id, RevokedBy.CODE_REUSE, request, now)
        return Refusal("invalid_grant", USED_CODE)
    if found.expires_at <= now:
        return Refusal("invalid_grant", EXPIRED_CODE)
    if redirect_uri != found.redirect_uri:
        return Refusal("invalid_grant", REDIRECT_MISMATCH)
    if not pkce.matches(code_verifier, found.code_challenge):
        return Refusal("invalid_grant", VERIFIER_MISMATCH)
    # Held until commit: a concurrent removeMember waits, or is waited for (see above).
    await lock_organization(session, found.organization_id)
    if not await _is_member(session, found.organization_id, found.user_id):
        return Refusal("invalid_grant", NOT_A_MEMBER)
    # Consumed atomically: of two concurrent exchanges one updates the row; the other
    # (on PostgreSQL it waits for the first to commit) updates nothing, and is a reuse.
    consumed = await session.exec(
        update(OAuthCode)
        .where(col(OAuthCode.id) == found.id, col(OAuthCode.used_at).is_(None))
        .values(used_at=now)
    )
    if consumed.rowcount != 1:
        grant_id = (
            await session.exec(select(col(OAuthCode.grant_id)).where(col(OAuthCode.id) == found.id))
        ).first()
        await _revoke_for_reuse(session, grant_id, RevokedBy.CODE_REUSE, request, now)
        return Refusal("invalid_grant", USED_CODE)

    user = await session.get(User, found.user_id)
    assert user is not None  # a membership was found just now
    grant = OAuthGrant(
        id=new_id("grt"),
        organization_id=found.organization_id,
        app_id=app.id,
        user_id=found.user_id,
        scopes=list(found.scopes),
        created_at=now,
    )
    session.add(grant)
    await session.flush()
    await session.exec(
        update(OAuthCode).where(col(OAuthCode.id) == found.id).values(grant_id=grant.id)
    )
    await audit.record(
        session,
        Actor(type="user", id=user.id, label=user.email),
        organization_id=grant.organization_id,
        action="oauth_grant.created",
        target_type="oauth_grant",
        target_id=grant.id,
        request=request,
        now=now,
        details={"appId": app.id, "clientId": app.client_id, "scopes": grant.scopes},
    )
    pair = await oauth_grants.issue_pair(
        session, grant.id, pepper=pepper, now=now, refresh_lifetime=refresh_lifetime
    )
    return Issued(pair=pair, scopes=grant.scopes, grant_id=grant.id)


async def refresh(
    session: AsyncSession,
    app: OAuthApp,
    *,
    refresh_token: str,
    scope: list[str] | None,
    pepper: bytes,
    request: RequestInfo,
    now: datetime,
    refresh_lifetime: timedelta,
) -> Issued | Refusal:
    """grant_type=refresh_token, for an authenticated client: the pair rotated."""
    if oauth_tokens.parse(oauth_tokens.REFRESH_TOKEN_PREFIX, refresh_token) is None:
        return Refusal("invalid_grant", UNKNOWN_REFRESH)
    digest = keys.hash_secret(pepper, refresh_token)
    found = (
        await session.exec(
            select(OAuthToken, OAuthGrant)
            .join(OAuthGrant, col(OAuthGrant.id) == col(OAuthToken.grant_id))
            .where(col(OAuthToken.token_hash) == digest, col(OAuthToken.kind) == "refresh")
        )
    ).first()
    # Another client's refresh token is refused like an unknown one, and left alone.
    if found is None or found[1].app_id != app.id:
        return Refusal("invalid_grant", UNKNOWN_REFRESH)
    token, grant = found
    if grant.revoked_at is not None or token.revoked_at is not None:
        return Refusal("invalid_grant", REVOKED_REFRESH)
    if token.used_at is not None:
        await _revoke_for_reuse(session, grant.id, RevokedBy.REFRESH_REUSE, request, now)
        return Refusal("invalid_grant", USED_REFRESH)
    if token.expires_at <= now:
        return Refusal("invalid_grant", EXPIRED_REFRESH)
    if not await _is_member(session, grant.organization_id, grant.user_id):
        return Refusal("invalid_grant", NOT_A_MEMBER)
    asked = set(normalize(scope)) if scope is not None else None
    if asked is not None and asked != set(grant.scopes):
        narrower = asked < set(grant.scopes)
        return Refusal("invalid_scope", SCOPE_NARROWING if narrower else SCOPE_NOT_GRANTED)
    # Rotation: the token is marked used atomically; of two concurrent refreshes one
    # updates the row, the other updates nothing and is a reuse.
    rotated = await session.exec(
        update(OAuthToken)
        .where(
            col(OAuthToken.id) == token.id,
            col(OAuthToken.used_at).is_(None),
            col(OAuthToken.revoked_at).is_(None),
        )
        .values(used_at=now)
    )
    if rotated.rowcount != 1:
        await _revoke_for_reuse(session, grant.id, RevokedBy.REFRESH_REUSE, request, now)
        return Refusal("invalid_grant", USED_REFRESH)
    pair = await oauth_grants.issue_pair(
        session, grant.id, pepper=pepper, now=now, refresh_lifetime=refresh_lifetime
    )
    return Issued(pair=pair, scopes=list(grant.scopes), grant_id=grant.id)
