"""Maintenance windows. Their status comes from the clock (service_status.py), so no
job has to start or finish them; a job only tells of their starting and ending
(announce_due, for notifications)."""

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.principal import Principal, RequestInfo
from statusgraph.auth.scopes import Scope
from statusgraph.db.models import MaintenanceService, MaintenanceWindow, Service
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
from statusgraph.resolvers.service_status import maintenance_status
from statusgraph.resolvers.user_errors import Problems
from statusgraph.resolvers.vocabulary import MaintenanceStatus

MAX_TITLE = 200
MAX_DESCRIPTION = 10_000


_record = functools.partial(audit.record_change, scope=Scope.maintenance_write)


def tell(
    session: AsyncSession,
    window: MaintenanceWindow,
    type: outbox.EventType,
    service_ids: Sequence[str],
    *,
    now: datetime,
) -> None:
    """The window's event, in the transaction of its change (DESIGN §12); started and
    completed are told by jobs/maintenance_events.py as the clock passes."""
    outbox.emit(
        session,
        organization_id=window.organization_id,
        type=type,
        data={
            "maintenanceId": window.id,
            "title": window.title,
            "description": window.description,
            "startsAt": window.starts_at.isoformat(),
            "endsAt": window.ends_at.isoformat(),
        },
        service_ids=service_ids,
        now=now,
    )


async def _validate(
    session: AsyncSession, principal: Principal, fields: dict[str, Any], problems: Problems
) -> None:
    title = fields.get("title")
    if "title" in fields and (title is None or not title.strip() or len(title) > MAX_TITLE):
        problems.add("title", "INVALID", f"Title must be 1 to {MAX_TITLE} characters")
    description = fields.get("description")
    if description is not None and len(description) > MAX_DESCRIPTION:
        problems.add(
            "description", "INVALID", f"Description must be at most {MAX_DESCRIPTION} characters"
        )
    if "service_ids" in fields:
        ids = fields["service_ids"] or []
        found = await owned_by_ids(
            session, Service, principal.organization_id, ids, lock=Lock.REFERENCE
        )
        check_references(problems, "serviceIds", ids, found, "Service")


def _check_times(starts_at: datetime, ends_at: datetime, problems: Problems) -> None:
    if ends_at <= starts_at:
        problems.add("endsAt", "INVALID", "endsAt must be after startsAt")


async def _set_services(
    session: AsyncSession, window: MaintenanceWindow, service_ids: Sequence[str]
) -> None:
    for row in (
        await session.exec(
            select(MaintenanceService).where(MaintenanceService.maintenance_id == window.id)
        )
    ).all():
        await session.delete(row)
    await session.flush()
    for service_id in service_ids:
        session.add(MaintenanceService(maintenance_id=window.id, service_id=service_id))


async def create_window(
    session: AsyncSession,
    principal: Principal,
    *,
    fields: dict[str, Any],
    request: RequestInfo,
    now: datetime,
) -> MaintenanceWindow:
    problems = Problems()
    await _validate(session, principal, fields, problems)
    _check_times(fields["starts_at"], fields["ends_at"], problems)
    problems.raise_if_any()
    window = MaintenanceWindow(
        id=new_id("mnt"),
        organization_id=principal.organization_id,
        title=fields["title"].strip(),
        description=fields.get("description"),
        starts_at=fields["starts_at"],
        ends_at=fields["ends_at"],
        created_at=now,
        updated_at=now,
    )
    session.add(window)
    await session.flush()
    service_ids = fields.get("service_ids") or []
    await _set_services(session, window, service_ids)
    tell(session, window, outbox.EventType.MAINTENANCE_SCHEDULED, service_ids, now=now)
    await _record(
        session,
        principal,
        "maintenance.created",
        window,
        request=request,
        now=now,
        details={
            "title": window.title,
            "startsAt": window.starts_at.isoformat(),
            "endsAt": window.ends_at.isoformat(),
        },
    )
    await session.flush()
    return window


async def update_window(
    session: AsyncSession,
    principal: Principal,
    *,
    window_id: str,
    changes: dict[str, Any],
    request: RequestInfo,
    now: datetime,
) -> MaintenanceWindow:
    window = await require_owned(
        session,
        MaintenanceWindow,
        principal.organization_id,
        window_id,
        "MaintenanceWindow",
        lock=Lock.UPDATE,
    )
    problems = Problems()
    if window.cancelled_at is not None:
        problems.add("id", "CANCELLED", "A cancelled maintenance window cannot be changed")
    for name, field in (("starts_at", "startsAt"), ("ends_at", "endsAt")):
        if name in changes and changes[name] is None:
            problems.add(field, "INVALID", f"{field} must not be null")
    await _validate(session, principal, changes, problems)
    if not problems.errors:
        _check_times(
            changes.get("starts_at", window.starts_at),
            changes.get("ends_at", window.ends_at),
            problems,
        )
    problems.raise_if_any()
    if "service_ids" in changes:
        await _set_services(session, window, changes["service_ids"] or [])
    await save_changes(
        session,
        principal,
        window,
        changes,
        action="maintenance.updated",
        scope=Scope.maintenance_write,
        text_field="title",
        request=request,
        now=now,
        skip=("service_ids",),
    )
    return window


async def cancel_window(
    session: AsyncSession,
    principal: Principal,
    *,
    window_id: str,
    request: RequestInfo,
    now: datetime,
) -> MaintenanceWindow:
    window = await require_owned(
        session,
        MaintenanceWindow,
        principal.organization_id,
        window_id,
        "MaintenanceWindow",
        lock=Lock.UPDATE,
    )
    problems = Problems()
    current = maintenance_status(window, now)
    if current is MaintenanceStatus.CANCELLED:
        problems.add("id", "CANCELLED", "Maintenance window is already cancelled")
    elif current is MaintenanceStatus.COMPLETED:
        problems.add("id", "COMPLETED", "A completed maintenance window cannot be cancelled")
    problems.raise_if_any()
    window.cancelled_at = now
    window.updated_at = now
    window.announced = "completed"  # nothing more to tell of it
    session.add(window)
    service_ids = (await services_for(session, [window.id]))[window.id]
    tell(session, window, outbox.EventType.MAINTENANCE_CANCELLED, service_ids, now=now)
    await _record(
        session,
        principal,
        "maintenance.cancelled",
        window,
        request=request,
        now=now,
        details={"title": window.title},
    )
    await session.flush()
    return window


async def delete_window(
    session: AsyncSession,
    principal: Principal,
    *,
    window_id: str,
    request: RequestInfo,
    now: datetime,
) -> str:
    return await delete_owned(
        session,
        principal,
        MaintenanceWindow,
        window_id,
        type_name="MaintenanceWindow",
        action="maintenance.deleted",
        scope=Scope.maintenance_write,
        describe=lambda row: {"title": row.title},
        request=request,
        now=now,
    )


async def list_windows(
    session: AsyncSession, organization_id: str, *, page: PageArgs, with_count: bool = False
) -> Page[MaintenanceWindow]:
    statement = for_org(MaintenanceWindow, organization_id)
    return await paginate(session, statement, MaintenanceWindow, page, with_count=with_count)


# Built once; the ids are an expanding parameter (resolvers/incidents.py says why).
_SERVICES_FOR = (
    select(MaintenanceService)
    .where(col(MaintenanceService.maintenance_id).in_(bindparam("ids", expanding=True)))
    .order_by(col(MaintenanceService.service_id))
)


async def services_for(session: AsyncSession, window_ids: Sequence[str]) -> dict[str, list[str]]:
    rows = await session.exec(_SERVICES_FOR, params={"ids": list(window_ids)})
    services: dict[str, list[str]] = {window_id: [] for window_id in window_ids}
    for row in rows.all():
        services[row.maintenance_id].append(row.service_id)
    return services


ANNOUNCE_BATCH = 200
_PHASES = ("scheduled", "started", "completed")


async def announce_due(session: AsyncSession, *, now: datetime) -> int:
    """Tells of the windows that started or ended since they were last looked at
    (maintenance.started, maintenance.completed), each once: the window's `announced`
    moves on in the transaction of its event, and on PostgreSQL windows another process
    is announcing are skipped. A window the job missed entirely tells both, in order."""
    statement = (
        select(MaintenanceWindow)
        .where(
            col(MaintenanceWindow.cancelled_at).is_(None),
            or_(
                and_(
                    col(MaintenanceWindow.announced) == "scheduled",
                    col(MaintenanceWindow.starts_at) <= now,
                ),
                and_(
                    col(MaintenanceWindow.announced) == "started",
                    col(MaintenanceWindow.ends_at) <= now,
                ),
            ),
        )
        .order_by(col(MaintenanceWindow.starts_at), col(MaintenanceWindow.id))
        .limit(ANNOUNCE_BATCH)
        .with_for_update(skip_locked=True)
    )
    windows = list((await session.exec(statement)).all())
    if not windows:
        return 0
    services = await services_for(session, [window.id for window in windows])
    told = 0
    for window in windows:
        reached = "completed" if window.ends_at <= now else "started"
        for phase in _PHASES[_PHASES.index(window.announced) + 1 : _PHASES.index(reached) + 1]:
            kind = (
                outbox.EventType.MAINTENANCE_STARTED
                if phase == "started"
                else outbox.EventType.MAINTENANCE_COMPLETED
            )
            tell(session, window, kind, services[window.id], now=now)
            told += 1
        window.announced = reached
        session.add(window)
    await session.flush()
    return told
