"""Client authentication at the token, revocation and introspection endpoints (RFC 6749
§2.3, DESIGN §11).

A confidential app proves itself with its client secret (`sgs_…`), compared as HMACs
with hmac.compare_digest; a public app has no secret and names itself with its client
id only, and one that sends a secret anyway is refused (it has none to match). The same
work is done whether or not the client id exists, so timing does not say which ids do.
"""

import hmac

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth import keys, oauth_tokens
from statusgraph.db.models import OAuthApp

# Compared against when there is nothing to compare with: an unknown client id, or a
# public app, costs one HMAC and one compare_digest like a real check.
_NO_SECRET_HASH = "0" * 64


async def authenticate_client(
    session: AsyncSession, client_id: str, client_secret: str | None, pepper: bytes
) -> OAuthApp | None:
    """The app whose client id this is, if the secret (or its absence, for a public app)
    is right; None otherwise, with no reason given (RFC 6749 §5.2: invalid_client)."""
    app: OAuthApp | None = None
    if oauth_tokens.parse(oauth_tokens.CLIENT_ID_PREFIX, client_id) is not None:
        app = (
            await session.exec(select(OAuthApp).where(col(OAuthApp.client_id) == client_id))
        ).first()
    presented = keys.hash_secret(pepper, client_secret or "")
    stored = app.secret_hash if app is not None and app.secret_hash else _NO_SECRET_HASH
    matches = hmac.compare_digest(presented, stored)
    if app is None:
        return None
    if app.confidential:
        return app if client_secret and app.secret_hash and matches else None
    # A public client authenticates with its id alone: any secret it sends is wrong.
    return app if not client_secret else None
