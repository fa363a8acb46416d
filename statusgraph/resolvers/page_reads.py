"""Batch reads behind what a status page shows: one query per kind of thing, whatever
the number of pages, services, incidents or updates (the per-request DataLoaders in
schema/loaders.py call these)."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import String, bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.db.models import (
    Incident,
    IncidentService,
    MaintenanceService,
    MaintenanceWindow,
    Service,
    ServiceGroup,
    StatusPageService,
)
from statusgraph.db.rows import read_rows
from statusgraph.db.types import UtcDateTime
from statusgraph.resolvers.public_page import HISTORY

# Built once; ids and the instant are parameters (resolvers/incidents.py says why).
_IDS = bindparam("ids", type_=String, expanding=True)
_SERVICES_BY_ID = select(Service).where(col(Service.id).in_(_IDS))
_GROUPS_BY_ID = select(ServiceGroup).where(col(ServiceGroup.id).in_(_IDS))
_INCIDENTS_FOR_PAGES = (
    select(StatusPageService.page_id, Incident)
    .join(IncidentService, col(IncidentService.service_id) == col(StatusPageService.service_id))
    .join(Incident, col(Incident.id) == col(IncidentService.incident_id))
    .where(
        col(StatusPageService.page_id).in_(_IDS),
        (col(Incident.resolved_at).is_(None))
        | (col(Incident.resolved_at) >= bindparam("since", type_=UtcDateTime)),
    )
    .order_by(col(Incident.started_at).desc(), col(Incident.id))
)
_MAINTENANCE_FOR_PAGES = (
    select(StatusPageService.page_id, MaintenanceWindow)
    .join(
        MaintenanceService,
        col(MaintenanceService.service_id) == col(StatusPageService.service_id),
    )
    .join(MaintenanceWindow, col(MaintenanceWindow.id) == col(MaintenanceService.maintenance_id))
    .where(
        col(StatusPageService.page_id).in_(_IDS),
        col(MaintenanceWindow.cancelled_at).is_(None),
        col(MaintenanceWindow.ends_at) > bindparam("now", type_=UtcDateTime),
    )
    .order_by(col(MaintenanceWindow.starts_at), col(MaintenanceWindow.id))
)


async def services_by_id(session: AsyncSession, ids: Sequence[str]) -> dict[str, Service]:
    rows = await read_rows(session, _SERVICES_BY_ID, {"ids": list(ids)})
    return {row.id: row for row in rows}


async def groups_by_id(session: AsyncSession, ids: Sequence[str]) -> dict[str, ServiceGroup]:
    rows = await read_rows(session, _GROUPS_BY_ID, {"ids": list(ids)})
    return {row.id: row for row in rows}


async def incidents_for_pages(
    session: AsyncSession, page_ids: Sequence[str], *, now: datetime
) -> dict[str, list[Incident]]:
    """Incidents touching each page's services: every open one, and those resolved
    within public_page.HISTORY; newest first."""
    rows = await session.exec(
        _INCIDENTS_FOR_PAGES, params={"ids": list(page_ids), "since": now - HISTORY}
    )
    found: dict[str, list[Incident]] = {page_id: [] for page_id in page_ids}
    seen: set[tuple[str, str]] = set()
    for page_id, incident in rows.all():
        if (page_id, incident.id) not in seen:  # one row per affected service: keep one
            seen.add((page_id, incident.id))
            found[page_id].append(incident)
    return found


async def maintenance_for_pages(
    session: AsyncSession, page_ids: Sequence[str], *, now: datetime
) -> dict[str, list[MaintenanceWindow]]:
    """In-progress and upcoming (not cancelled) windows touching each page's services."""
    rows = await session.exec(_MAINTENANCE_FOR_PAGES, params={"ids": list(page_ids), "now": now})
    found: dict[str, list[MaintenanceWindow]] = {page_id: [] for page_id in page_ids}
    seen: set[tuple[str, str]] = set()
    for page_id, window in rows.all():
        if (page_id, window.id) not in seen:
            seen.add((page_id, window.id))
            found[page_id].append(window)
    return found
