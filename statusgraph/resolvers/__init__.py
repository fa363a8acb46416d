"""Business operations. Never imports strawberry; used by `schema/` and `rest/`.

Signature convention: `(session, actor_or_principal, *, keyword arguments, now)`.
The caller owns the transaction: resolvers flush, never commit.
"""
