"""Incidents: open with a first message, post updates to an append-only timeline,
edit, resolve, delete."""

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.principal import Principal, RequestInfo
from statusgraph.auth.scopes import Scope
from statusgraph.db.models import Incident, IncidentService, IncidentUpdate, Service
from statusgraph.db.rows import read_rows
from statusgraph.db.scoping import for_org
from statusgraph.events import outbox
from statusgraph.ids import new_id
from statusgraph.resolvers import audit
from statusgraph.resolvers.locks import Lock
from statusgraph.resolvers.owned import (
    check_references,
    delete_owned,
    owned_by_ids,
    require_owned,
    save_changes,
)
from statusgraph.resolvers.pagination import Page, PageArgs, paginate
from statusgraph.resolvers.user_errors import Problems
from statusgraph.resolvers.vocabulary import IncidentImpact, IncidentStatus, ServiceStatus

MAX_TITLE = 200
MAX_MESSAGE = 10_000
RESOLVED_MESSAGE = "This incident has been resolved."


@dataclass(frozen=True, slots=True)
class ServiceEffect:
    service_id: str
    status: ServiceStatus


def _check_title(problems: Problems, title: str) -> None:
    if not title.strip() or len(title) > MAX_TITLE:
        problems.add("title", "INVALID", f"Title must be 1 to {MAX_TITLE} characters")


def _check_message(problems: Problems, message: str) -> None:
    if not message.strip() or len(message) > MAX_MESSAGE:
        problems.add("message", "INVALID", f"Message must be 1 to {MAX_MESSAGE} characters")


async def _check_effects(
    session: AsyncSession,
    principal: Principal,
    effects: Sequence[ServiceEffect],
    problems: Problems,
) -> None:
    ids = [effect.service_id for effect in effects]
    found = await owned_by_ids(
        session, Service, principal.organization_id, ids, lock=Lock.REFERENCE
    )
    check_references(problems, "services", ids, found, "Service")


def _update(
    incident: Incident,
    principal: Principal,
    *,
    status: str,
    message: str,
    effects: Sequence[ServiceEffect],
    now: datetime,
) -> IncidentUpdate:
    return IncidentUpdate(
        id=new_id("upd"),
        incident_id=incident.id,
        status=status,
        message=message,
        service_statuses={effect.service_id: effect.status.value for effect in effects},
        author_type=principal.actor.type,
        author_id=principal.actor.id,
        author_label=principal.actor.label,
        created_at=now,
    )


_record = functools.partial(audit.record_change, scope=Scope.incidents_write)


def _tell(
    session: AsyncSession,
    incident: Incident,
    type: outbox.EventType,
    *,
    message: str,
    service_ids: Sequence[str],
    now: datetime,
) -> None:
    """The incident's event, in the transaction of its change (DESIGN §12)."""
    outbox.emit(
        session,
        organization_id=incident.organization_id,
        type=type,
        data={
            "incidentId": incident.id,
            "title": incident.title,
            "status": str(incident.status),
            "impact": str(incident.impact),
            "message": message,
        },
        service_ids=service_ids,
        now=now,
    )


async def create_incident(
    session: AsyncSession,
    principal: Principal,
    *,
    title: str,
    status: IncidentStatus,
    impact: IncidentImpact,
    message: str,
    effects: Sequence[ServiceEffect],
    started_at: datetime | None,
    request: RequestInfo,
    now: datetime,
) -> Incident:
    problems = Problems()
    _check_title(problems, title)
    _check_message(problems, message)
    if started_at is not None and started_at > now:
        problems.add("startedAt", "INVALID", "startedAt must not be in the future")
    await _check_effects(session, principal, effects, problems)
    problems.raise_if_any()
    incident = Incident(
        id=new_id("inc"),
        organization_id=principal.organization_id,
        title=title.strip(),
        status=status,
        impact=impact,
        started_at=started_at or now,
        resolved_at=now if status is IncidentStatus.RESOLVED else None,
        created_at=now,
        updated_at=now,
    )
    session.add(incident)
    await session.flush()  # the incident row first: the rows below reference it
    for effect in effects:
        session.add(
            IncidentService(
                incident_id=incident.id, service_id=effect.service_id, status=effect.status
            )
        )
    session.add(
        _update(incident, principal, status=status, message=message, effects=effects, now=now)
    )
    await _record(
        session,
        principal,
        "incident.created",
        incident,
        request=request,
        now=now,
        details={"title": incident.title, "status": status, "impact": impact},
    )
    _tell(
        session,
        incident,
        outbox.EventType.INCIDENT_CREATED,
        message=message,
        service_ids=[effect.service_id for effect in effects],
        now=now,
    )
    await session.flush()
    return incident


async def post_update(
    session: AsyncSession,
    principal: Principal,
    *,
    incident_id: str,
    status: IncidentStatus,
    message: str,
    effects: Sequence[ServiceEffect],
    request: RequestInfo,
    now: datetime,
) -> tuple[Incident, IncidentUpdate]:
    """Appends to the timeline; `effects` set (or add) what the incident holds services at.
    The incident is locked: concurrent updates append one after another, and of
    concurrent resolutions the first wins and the others find it resolved."""
    incident = await require_owned(
        session, Incident, principal.organization_id, incident_id, "Incident", lock=Lock.UPDATE
    )
    problems = Problems()
    if incident.resolved_at is not None:
        problems.add("id", "ALREADY_RESOLVED", "Incident is already resolved")
    _check_message(problems, message)
    await _check_effects(session, principal, effects, problems)
    problems.raise_if_any()
    current = {
        row.service_id: row
        for row in (
            await session.exec(
                select(IncidentService).where(IncidentService.incident_id == incident.id)
            )
        ).all()
    }
    for effect in effects:
        row = current.get(effect.service_id) or IncidentService(
            incident_id=incident.id, service_id=effect.service_id, status=effect.status
        )
        row.status = effect.status
        session.add(row)
    update = _update(incident, principal, status=status, message=message, effects=effects, now=now)
    session.add(update)
    incident.status = status
    incident.updated_at = now
    if status is IncidentStatus.RESOLVED:
        incident.resolved_at = now
    session.add(incident)
    await _record(
        session,
        principal,
        "incident.updated" if status is not IncidentStatus.RESOLVED else "incident.resolved",
        incident,
        request=request,
        now=now,
        details={"status": status, "updateId": update.id},
    )
    _tell(
        session,
        incident,
        outbox.EventType.INCIDENT_RESOLVED
        if status is IncidentStatus.RESOLVED
        else outbox.EventType.INCIDENT_UPDATED,
        message=message,
        service_ids=sorted({*current, *(effect.service_id for effect in effects)}),
        now=now,
    )
    await session.flush()
    return incident, update


async def edit_incident(
    session: AsyncSession,
    principal: Principal,
    *,
    incident_id: str,
    changes: dict[str, Any],
    request: RequestInfo,
    now: datetime,
) -> Incident:
    """Title, impact and start time; the timeline itself is never rewritten."""
    incident = await require_owned(
        session, Incident, principal.organization_id, incident_id, "Incident", lock=Lock.UPDATE
    )
    problems = Problems()
    if "title" in changes:
        _check_title(problems, changes["title"] or "")
    if "impact" in changes and changes["impact"] is None:
        problems.add("impact", "INVALID", "impact must not be null")
    started_at = changes.get("started_at")
    if "started_at" in changes and (started_at is None or started_at > now):
        problems.add("startedAt", "INVALID", "startedAt must not be in the future")
    problems.raise_if_any()
    await save_changes(
        session,
        principal,
        incident,
        changes,
        action="incident.edited",
        scope=Scope.incidents_write,
        text_field="title",
        request=request,
        now=now,
    )
    return incident


async def delete_incident(
    session: AsyncSession,
    principal: Principal,
    *,
    incident_id: str,
    request: RequestInfo,
    now: datetime,
) -> str:
    return await delete_owned(
        session,
        principal,
        Incident,
        incident_id,
        type_name="Incident",
        action="incident.deleted",
        scope=Scope.incidents_write,
        describe=lambda row: {"title": row.title},
        request=request,
        now=now,
    )


async def list_incidents(
    session: AsyncSession,
    organization_id: str,
    *,
    open_only: bool,
    page: PageArgs,
    with_count: bool = False,
) -> Page[Incident]:
    statement = for_org(Incident, organization_id)
    if open_only:
        statement = statement.where(col(Incident.resolved_at).is_(None))
    return await paginate(session, statement, Incident, page, with_count=with_count)


# The batch reads below are built once and take their ids as an expanding parameter: a
# statement made per request costs its construction and its cache key every time.
_UPDATES_FOR = (
    select(IncidentUpdate)
    .where(col(IncidentUpdate.incident_id).in_(bindparam("ids", expanding=True)))
    .order_by(col(IncidentUpdate.created_at), col(IncidentUpdate.id))
)
_EFFECTS_FOR = (
    select(IncidentService, Service.name)
    .join(Service, col(Service.id) == col(IncidentService.service_id))
    .where(col(IncidentService.incident_id).in_(bindparam("ids", expanding=True)))
    .order_by(col(Service.position), col(Service.id))
)


async def updates_for(
    session: AsyncSession, incident_ids: Sequence[str]
) -> dict[str, list[IncidentUpdate]]:
    """Timelines, oldest first, for any number of incidents in one query."""
    rows = await read_rows(session, _UPDATES_FOR, {"ids": list(incident_ids)})
    timelines: dict[str, list[IncidentUpdate]] = {incident_id: [] for incident_id in incident_ids}
    for update in rows:
        timelines[update.incident_id].append(update)
    return timelines


@dataclass(frozen=True, slots=True)
class Effect:
    service_id: str
    service_name: str
    status: ServiceStatus


async def effects_for(
    session: AsyncSession, incident_ids: Sequence[str]
) -> dict[str, list[Effect]]:
    """What each incident holds its services at, with their names, in one query."""
    rows = await session.exec(_EFFECTS_FOR, params={"ids": list(incident_ids)})
    effects: dict[str, list[Effect]] = {incident_id: [] for incident_id in incident_ids}
    for row, name in rows.all():
        effects[row.incident_id].append(Effect(row.service_id, name, ServiceStatus(row.status)))
    return effects
