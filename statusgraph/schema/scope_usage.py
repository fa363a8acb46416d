"""Scope usage on API keys and OAuth grants (resolvers/scope_usage.py): when each scope
was last exercised, and which held scopes went unused."""

from datetime import datetime

import strawberry

from statusgraph.errors import BadUserInputError
from statusgraph.resolvers import scope_usage
from statusgraph.schema.context import Info

MAX_DAYS = 365


@strawberry.type(description="The last time a credential passed a check for this scope.")
class ScopeUsage:
    scope: str
    last_used_at: datetime = strawberry.field(
        description="Written by each server process about once a minute, so up to "
        "STATUSGRAPH_SCOPE_USAGE_FLUSH_SECONDS behind."
    )


SCOPE_USAGE = (
    "The scopes this credential's requests needed, each with the last time one did "
    "(the scope a field or route required, not the broader one held that allowed it)."
)
UNUSED_SCOPES = (
    "Scopes held but not exercised in the last `days` days (1 to 365): a held X:write "
    "counts as used only by a check that needed X:write, so a key that only reads is "
    "told its write scope is unused."
)


async def usage(info: Info, credential_id: str) -> list[ScopeUsage]:
    ctx = info.context
    principal = ctx.require_principal()
    async with ctx.read() as session:
        rows = await scope_usage.usage_of(session, principal.organization_id, credential_id)
    return [ScopeUsage(scope=row.scope, last_used_at=row.last_used_at) for row in rows]


async def unused(info: Info, credential_id: str, held: list[str], days: int) -> list[str]:
    if not 1 <= days <= MAX_DAYS:
        raise BadUserInputError(f"days must be between 1 and {MAX_DAYS}")
    ctx = info.context
    principal = ctx.require_principal()
    async with ctx.read() as session:
        rows = await scope_usage.usage_of(session, principal.organization_id, credential_id)
    return scope_usage.unused_scopes(held, rows, now=ctx.now, days=days)
