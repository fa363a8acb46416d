"""What a service shows: the worst of its manual status, the open incidents that
hold it, and any maintenance in progress. Derived at read time, so resolving an
incident or the end of a maintenance window needs no job to "restore" anything."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.db.models import (
    Incident,
    IncidentService,
    MaintenanceService,
    MaintenanceWindow,
)
from statusgraph.db.types import UtcDateTime
from statusgraph.resolvers.vocabulary import MaintenanceStatus, ServiceStatus, worst


def maintenance_status(window: MaintenanceWindow, now: datetime) -> MaintenanceStatus:
    if window.cancelled_at is not None:
        return MaintenanceStatus.CANCELLED
    if now < window.starts_at:
        return MaintenanceStatus.SCHEDULED
    if now < window.ends_at:
        return MaintenanceStatus.IN_PROGRESS
    return MaintenanceStatus.COMPLETED


# Built once: a statement made per request costs its construction and its cache key
# each time; these only take their values (an expanding IN list and the instant).
_HELD_BY_INCIDENTS = (
    select(IncidentService.service_id, IncidentService.status)
    .join(Incident, col(Incident.id) == col(IncidentService.incident_id))
    .where(
        col(IncidentService.service_id).in_(bindparam("ids", expanding=True)),
        col(Incident.resolved_at).is_(None),
    )
)
_UNDER_MAINTENANCE = (
    select(MaintenanceService.service_id)
    .join(MaintenanceWindow, col(MaintenanceWindow.id) == col(MaintenanceService.maintenance_id))
    .where(
        col(MaintenanceService.service_id).in_(bindparam("ids", expanding=True)),
        col(MaintenanceWindow.cancelled_at).is_(None),
        col(MaintenanceWindow.starts_at) <= bindparam("now", type_=UtcDateTime),
        col(MaintenanceWindow.ends_at) > bindparam("now", type_=UtcDateTime),
    )
)


async def displayed_statuses(
    session: AsyncSession, manual: Sequence[tuple[str, str]], now: datetime
) -> dict[str, ServiceStatus]:
    """`manual` is (service id, manual status) pairs; two queries for any number."""
    ids = [service_id for service_id, _ in manual]
    if not ids:
        return {}
    holds: dict[str, list[ServiceStatus]] = defaultdict(list)
    incident_rows = await session.exec(_HELD_BY_INCIDENTS, params={"ids": ids})
    for service_id, status in incident_rows.all():
        holds[service_id].append(ServiceStatus(status))
    maintained = await session.exec(_UNDER_MAINTENANCE, params={"ids": ids, "now": now})
    for service_id in maintained.all():
        holds[service_id].append(ServiceStatus.UNDER_MAINTENANCE)
    return {
        service_id: worst([ServiceStatus(status), *holds[service_id]])
        for service_id, status in manual
    }
