"""Scope usage (reference 002, DESIGN §15): when each credential last exercised each
scope, so an owner can see which keys hold more than they use.

A scope is exercised when a check for it passes: a GraphQL field's `@requiresScope`
(schema/permissions.HasScope) or a REST route's (rest/common.require). What is recorded
is the scope the field or route asked for, not the one held that satisfied it: a key
holding `monitors:write` that only ever reads records `monitors:read`, and
`unused_scopes` then names `monitors:write` as unused. The credential is an API key, or
an OAuth grant for all of its tokens (Principal.id is the grant's id).

Recording costs a dict hit (usage_counters.Counters); a Flusher writes the tallies to
`scope_usage` every STATUSGRAPH_SCOPE_USAGE_FLUSH_SECONDS.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.principal import Principal
from statusgraph.auth.scopes import FULL_ACCESS, grants
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import ScopeUsage
from statusgraph.db.scoping import for_org
from statusgraph.resolvers.usage_counters import Counters, Flusher, Tally

# (organization id, credential id, scope)
UsageKey = tuple[str, str, str]
TABLE: Any = ScopeUsage.__table__  # type: ignore[attr-defined]


class ScopeUsageRecorder:
    """One per process that serves requests."""

    def __init__(self, db: SessionFactory, *, flush_seconds: float) -> None:
        self.counters: Counters[UsageKey] = Counters()
        self.flusher = Flusher(self.counters, lambda taken: save(db, taken), interval=flush_seconds)

    def record(self, principal: Principal, scope: str, now: datetime) -> None:
        self.counters.hit((principal.organization_id, principal.id, scope), now)


async def save(db: SessionFactory, taken: dict[UsageKey, Tally]) -> None:
    """Upserts, keeping the later time: another process may have written a later one."""
    rows = [
        {
            "organization_id": organization_id,
            "credential_id": credential_id,
            "scope": scope,
            "last_used_at": tally.last_at,
        }
        for (organization_id, credential_id, scope), tally in sorted(taken.items())
    ]
    async with db.begin() as session:
        dialect = session.get_bind().dialect.name
        module: Any = postgresql if dialect == "postgresql" else sqlite
        statement = module.insert(TABLE)
        statement = statement.on_conflict_do_update(
            index_elements=[TABLE.c.credential_id, TABLE.c.scope],
            set_={"last_used_at": statement.excluded.last_used_at},
            where=TABLE.c.last_used_at < statement.excluded.last_used_at,
        )
        await session.exec(statement, params=rows)


async def usage_of(
    session: AsyncSession, organization_id: str, credential_id: str
) -> list[ScopeUsage]:
    statement = (
        for_org(ScopeUsage, organization_id)
        .where(col(ScopeUsage.credential_id) == credential_id)
        .order_by(col(ScopeUsage.scope))
    )
    return list((await session.exec(statement)).all())


def unused_scopes(
    held: Iterable[str], usage: Iterable[ScopeUsage], *, now: datetime, days: int
) -> list[str]:
    """The scopes held whose own power went unexercised in the last `days` days.

    A held scope counts as used when a recorded scope needed exactly it: `X:read` is
    used by `X:read` checks, `X:write` by `X:write` checks only (a key that only reads
    holds its write for nothing), `X:*` by any check on X, `*:*` by any check at all.
    """
    since = now - timedelta(days=days)
    recent = [row.scope for row in usage if row.last_used_at >= since]
    unused = []
    for scope in sorted(set(held)):
        if scope == FULL_ACCESS or scope.endswith(":*"):
            used = any(grants(frozenset({scope}), name) for name in recent)
        else:
            used = scope in recent
        if not used:
            unused.append(scope)
    return unused


def recorder_for(
    db: SessionFactory, *, enabled: bool, flush_seconds: float
) -> "ScopeUsageRecorder | None":
    return ScopeUsageRecorder(db, flush_seconds=flush_seconds) if enabled else None
