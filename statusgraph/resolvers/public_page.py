"""What a public status page shows, and what it leaves out.

The rules behind `publicStatusPage`, kept apart from GraphQL so that the HTML page
(DESIGN §13) applies the same ones: the announcement shows only while it is visible,
open incidents are active and resolved ones are history (capped, and hidden when the
page hides its history), maintenance carries its status at the page's instant, and a
service, an incident or a window exposes no author, token or internal setting. Loading
is not here: the GraphQL types read through per-request DataLoaders
(schema/loaders.py over page_reads.py), which already bound incidents to HISTORY.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from statusgraph.db.models import Incident, IncidentUpdate, MaintenanceWindow, Service, StatusPage
from statusgraph.resolvers import vocabulary as v
from statusgraph.resolvers.service_status import maintenance_status

# How far back a page's incident history reaches, and how much of it is shown.
HISTORY = timedelta(days=90)
HISTORY_LIMIT = 50


@dataclass(frozen=True, slots=True)
class ShownService:
    id: str
    name: str
    description: str | None
    # The status set by hand; what the page displays also weighs open incidents and
    # maintenance in progress (service_status.displayed_statuses).
    manual_status: str
    group_id: str | None


@dataclass(frozen=True, slots=True)
class ShownIncident:
    id: str
    title: str
    status: v.IncidentStatus
    impact: v.IncidentImpact
    started_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class ShownUpdate:
    status: v.IncidentStatus
    message: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ShownMaintenance:
    id: str
    title: str
    description: str | None
    starts_at: datetime
    ends_at: datetime
    status: v.MaintenanceStatus


def announcement(page: StatusPage) -> str | None:
    """The banner's text while it is switched on; a hidden banner's text stays private."""
    return page.announcement if page.announcement_visible else None


def service(row: Service) -> ShownService:
    return ShownService(
        id=row.id,
        name=row.name,
        description=row.description,
        manual_status=row.status,
        group_id=row.group_id,
    )


def overall_status(statuses: Iterable[v.ServiceStatus]) -> v.ServiceStatus:
    """The worst of the page's services; a page without services is operational."""
    return v.worst(tuple(statuses))


def incident(row: Incident) -> ShownIncident:
    return ShownIncident(
        id=row.id,
        title=row.title,
        status=v.IncidentStatus(row.status),
        impact=v.IncidentImpact(row.impact),
        started_at=row.started_at,
        resolved_at=row.resolved_at,
    )


def update(row: IncidentUpdate) -> ShownUpdate:
    """An update without its author: the public sees what was said, not who said it."""
    return ShownUpdate(
        status=v.IncidentStatus(row.status), message=row.message, created_at=row.created_at
    )


def active_incidents(rows: Sequence[Incident]) -> list[ShownIncident]:
    """The open incidents, in the order given (the reads give newest first)."""
    return [incident(row) for row in rows if row.resolved_at is None]


def incident_history(rows: Sequence[Incident], *, shown: bool) -> list[ShownIncident]:
    """The resolved incidents, at most HISTORY_LIMIT of them, in the order given; none
    when the page hides its history (`shown` is the page's show_incident_history)."""
    if not shown:
        return []
    resolved = [row for row in rows if row.resolved_at is not None]
    return [incident(row) for row in resolved[:HISTORY_LIMIT]]


def maintenance(rows: Sequence[MaintenanceWindow], now: datetime) -> list[ShownMaintenance]:
    """Windows with their status at `now`, the page's one instant: a window that has
    started reads IN_PROGRESS, one that has not SCHEDULED."""
    return [
        ShownMaintenance(
            id=row.id,
            title=row.title,
            description=row.description,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            status=maintenance_status(row, now),
        )
        for row in rows
    ]
