"""The audit log: one helper writes every entry; entries are never updated."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.principal import Actor, Principal, RequestInfo
from statusgraph.db.models import AuditEvent
from statusgraph.db.scoping import for_org
from statusgraph.ids import new_id
from statusgraph.resolvers.pagination import Page, PageArgs, paginate

RETENTION = timedelta(days=365)


async def record(
    session: AsyncSession,
    actor: Actor,
    *,
    organization_id: str,
    action: str,
    request: RequestInfo,
    now: datetime,
    target_type: str | None = None,
    target_id: str | None = None,
    scopes_used: tuple[str, ...] = (),
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an entry to the caller's transaction. `details` must never hold a secret."""
    event = AuditEvent(
        id=new_id("aud"),
        organization_id=organization_id,
        created_at=now,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        target_type=target_type,
        target_id=target_id,
        ip=request.ip,
        user_agent=(request.user_agent or "")[:512] or None,
        request_id=request.request_id,
        scopes_used=list(scopes_used),
        details=details or {},
        oauth_app_id=actor.app_id,
    )
    session.add(event)
    return event


async def get_event(
    session: AsyncSession, organization_id: str, event_id: str
) -> AuditEvent | None:
    statement = for_org(AuditEvent, organization_id).where(AuditEvent.id == event_id)
    return (await session.exec(statement)).first()


async def record_change(
    session: AsyncSession,
    principal: Principal,
    action: str,
    target: Any,
    *,
    scope: str,
    request: RequestInfo,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> None:
    """An entry for a change a credential made to `target` (a table row, or None)."""
    await record(
        session,
        principal.actor,
        organization_id=principal.organization_id,
        action=action,
        target_type=target.__tablename__ if target is not None else None,
        target_id=target.id if target is not None else None,
        request=request,
        now=now,
        scopes_used=(scope,),
        details=details,
    )


@dataclass(frozen=True, slots=True)
class AuditFilter:
    action: str | None = None
    actor_id: str | None = None
    # What a key did (its id is the actor's), and what any token of an OAuth app did.
    api_key_id: str | None = None
    oauth_app_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_events(
    session: AsyncSession,
    organization_id: str,
    *,
    filters: AuditFilter,
    page: PageArgs,
    with_count: bool = False,
) -> Page[AuditEvent]:
    statement = for_org(AuditEvent, organization_id)
    if filters.action is not None:
        statement = statement.where(AuditEvent.action == filters.action)
    if filters.actor_id is not None:
        statement = statement.where(AuditEvent.actor_id == filters.actor_id)
    if filters.api_key_id is not None:
        statement = statement.where(
            AuditEvent.actor_type == "api_key", AuditEvent.actor_id == filters.api_key_id
        )
    if filters.oauth_app_id is not None:
        statement = statement.where(AuditEvent.oauth_app_id == filters.oauth_app_id)
    if filters.since is not None:
        statement = statement.where(col(AuditEvent.created_at) >= filters.since)
    if filters.until is not None:
        statement = statement.where(col(AuditEvent.created_at) < filters.until)
    return await paginate(session, statement, AuditEvent, page, with_count=with_count)


async def purge(session: AsyncSession, *, now: datetime) -> int:
    """Delete entries older than the retention period, across all organizations."""
    statement = delete(AuditEvent).where(col(AuditEvent.created_at) < now - RETENTION)
    result = await session.exec(statement)
    return int(result.rowcount or 0)
