"""What a service shows: the worst of its manual status, the open incidents that
hold it, any maintenance in progress, and its linked monitors (DESIGN §10: a DOWN
monitor shows its `status_when_down`, MAJOR_OUTAGE by default; a LATE heartbeat
DEGRADED_PERFORMANCE). Derived at read time, so resolving an incident, the end of a
maintenance window or a monitor coming back needs no job to "restore" anything.

Monitors count by their recorded status: the checker records it with each check, and
the heartbeat evaluator within `STATUSGRAPH_HEARTBEAT_EVALUATE_SECONDS` of a deadline."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, case, literal, select, union_all
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.db.models import (
    Incident,
    IncidentService,
    MaintenanceService,
    MaintenanceWindow,
    Monitor,
)
from statusgraph.db.rows import core_connection
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


# What holds each service below its manual status, in one statement: the open incidents
# that affect it, and maintenance in progress. Built once, from the tables rather than
# the ORM entities (the rows are plain tuples): a statement made per request costs its
# construction and its cache key every time; this one only takes its values.
_AFFECTS = IncidentService.__table__  # type: ignore[attr-defined]
_INCIDENTS = Incident.__table__  # type: ignore[attr-defined]
_MAINTAINS = MaintenanceService.__table__  # type: ignore[attr-defined]
_WINDOWS = MaintenanceWindow.__table__  # type: ignore[attr-defined]
_MONITORS = Monitor.__table__  # type: ignore[attr-defined]
_NOW = bindparam("now", type_=UtcDateTime)
_HOLDS = union_all(
    select(_AFFECTS.c.service_id, _AFFECTS.c.status)
    .join(_INCIDENTS, _INCIDENTS.c.id == _AFFECTS.c.incident_id)
    .where(
        _AFFECTS.c.service_id.in_(bindparam("ids", expanding=True)),
        _INCIDENTS.c.resolved_at.is_(None),
    ),
    select(_MAINTAINS.c.service_id, literal(ServiceStatus.UNDER_MAINTENANCE.value))
    .join(_WINDOWS, _WINDOWS.c.id == _MAINTAINS.c.maintenance_id)
    .where(
        _MAINTAINS.c.service_id.in_(bindparam("ids", expanding=True)),
        _WINDOWS.c.cancelled_at.is_(None),
        _WINDOWS.c.starts_at <= _NOW,
        _WINDOWS.c.ends_at > _NOW,
    ),
    select(
        _MONITORS.c.service_id,
        case(
            (_MONITORS.c.recorded_status == "down", _MONITORS.c.status_when_down),
            else_=literal(ServiceStatus.DEGRADED_PERFORMANCE.value),
        ),
    ).where(
        _MONITORS.c.service_id.in_(bindparam("ids", expanding=True)),
        _MONITORS.c.recorded_status.in_(("down", "late")),
        _MONITORS.c.paused.is_(False),
        _MONITORS.c.status_when_down != ServiceStatus.OPERATIONAL.value,
    ),
)


async def displayed_statuses(
    session: AsyncSession, manual: Sequence[tuple[str, str]], now: datetime
) -> dict[str, ServiceStatus]:
    """`manual` is (service id, manual status) pairs; one query for any number."""
    ids = [service_id for service_id, _ in manual]
    if not ids:
        return {}
    holds: dict[str, list[ServiceStatus]] = defaultdict(list)
    connection = await core_connection(session)  # plain Core rows, no ORM state
    for service_id, status in await connection.execute(_HOLDS, {"ids": ids, "now": now}):
        holds[service_id].append(ServiceStatus(status))
    return {
        service_id: worst([ServiceStatus(status), *holds[service_id]])
        for service_id, status in manual
    }
