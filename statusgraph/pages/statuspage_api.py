"""Atlassian Statuspage's public JSON documents under /status/{slug}/api/v2/ (DESIGN §13),
built from what the page shows, so widgets and aggregators written for Statuspage read a
statusgraph page unchanged. Field names and enumerations are theirs; the mapping from
ours is in docs/status-pages.md ("Statuspage-compatible JSON").
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from statusgraph.pages.reading import Read
from statusgraph.resolvers import vocabulary as v
from statusgraph.schema.public import PublicIncident, PublicMaintenance

Document = dict[str, Any]

# The page's overall status → Statuspage's indicator and its own description of it.
INDICATOR = {
    v.ServiceStatus.OPERATIONAL: "none",
    v.ServiceStatus.UNDER_MAINTENANCE: "none",
    v.ServiceStatus.DEGRADED_PERFORMANCE: "minor",
    v.ServiceStatus.PARTIAL_OUTAGE: "major",
    v.ServiceStatus.MAJOR_OUTAGE: "critical",
}
SEVERITY = ["none", "minor", "major", "critical"]
DESCRIPTION = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major Service Outage",
}
MAINTENANCE_STATUS = {
    v.MaintenanceStatus.SCHEDULED: "scheduled",
    v.MaintenanceStatus.IN_PROGRESS: "in_progress",
    v.MaintenanceStatus.COMPLETED: "completed",
    v.MaintenanceStatus.CANCELLED: "completed",
}


def timestamp(moment: datetime | None) -> str | None:
    """Statuspage's form: ISO 8601 with milliseconds and the zone (always UTC here)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def page_of(read: Read, base_url: str) -> Document:
    page = read.page
    return {
        "id": page.id,
        "name": page.name,
        "url": f"{base_url}/status/{page.slug}",
        # The organization's zone (timeZone); the timestamps themselves stay in UTC.
        "time_zone": "Etc/UTC" if read.zone == "UTC" else read.zone,
        "updated_at": timestamp(_updated_at(read)),
    }


def _updated_at(read: Read) -> datetime:
    """The newest change the page shows: the page itself, a service, an incident update."""
    moments = [read.page.updated_at, *(row.updated_at for row in read.rows)]
    for incident in [*read.shown.active_incidents, *read.shown.incident_history]:
        moments.append(incident.started_at)
        moments.extend(update.created_at for update in incident.updates)
        if incident.resolved_at:
            moments.append(incident.resolved_at)
    return max(moments)


def indicator(read: Read) -> str:
    """The worse of the services' state and the open incidents' impact, as Statuspage."""
    found = INDICATOR[read.shown.overall_status]
    for incident in read.shown.active_incidents:
        impact = incident.impact.value.lower()
        if SEVERITY.index(impact) > SEVERITY.index(found):
            found = impact
    return found


def status(read: Read, base_url: str) -> Document:
    found = indicator(read)
    return {
        "page": page_of(read, base_url),
        "status": {"indicator": found, "description": DESCRIPTION[found]},
    }


def _components(read: Read) -> list[Document]:
    statuses = {str(service.id): service.status for service in read.shown.services}
    found: list[Document] = []
    members: dict[str, list[str]] = {}
    for position, row in enumerate(read.rows, start=1):
        if row.group_id in read.groups:
            members.setdefault(row.group_id, []).append(row.id)
        found.append(
            {
                "id": row.id,
                "name": row.name,
                "status": statuses.get(row.id, v.ServiceStatus(row.status)).value.lower(),
                "created_at": timestamp(row.created_at),
                "updated_at": timestamp(row.updated_at),
                "position": position,
                "description": row.description,
                "showcase": True,
                "start_date": None,
                "group_id": row.group_id if row.group_id in read.groups else None,
                "page_id": read.page.id,
                "group": False,
                "only_show_if_degraded": False,
            }
        )
    for position, (group_id, ids) in enumerate(members.items(), start=len(found) + 1):
        group = read.groups[group_id]
        worst = v.worst(tuple(statuses[i] for i in ids if i in statuses))
        found.append(
            {
                "id": group.id,
                "name": group.name,
                "status": worst.value.lower(),
                "created_at": timestamp(group.created_at),
                "updated_at": timestamp(group.updated_at),
                "position": position,
                "description": None,
                "showcase": False,
                "start_date": None,
                "group_id": None,
                "page_id": read.page.id,
                "group": True,
                "only_show_if_degraded": False,
                "components": ids,
            }
        )
    return found


def components(read: Read, base_url: str) -> Document:
    return {"page": page_of(read, base_url), "components": _components(read)}


def _component_refs(read: Read, ids: list[str]) -> list[Document]:
    wanted = set(ids)
    return [each for each in _components(read) if each["id"] in wanted]


def _incident(read: Read, incident: PublicIncident, base_url: str) -> Document:
    updates = incident.updates  # oldest first
    monitoring = next(
        (u.created_at for u in updates if u.status == v.IncidentStatus.MONITORING), None
    )
    latest = max([incident.started_at, *(u.created_at for u in updates)])
    affected = [str(each.service_id) for each in incident.affected_services]
    return {
        "id": str(incident.id),
        "name": incident.title,
        "status": incident.status.value.lower(),
        "created_at": timestamp(incident.started_at),
        "updated_at": timestamp(incident.resolved_at or latest),
        "monitoring_at": timestamp(monitoring),
        "resolved_at": timestamp(incident.resolved_at),
        "impact": incident.impact.value.lower(),
        "shortlink": f"{base_url}/status/{read.page.slug}/incidents/{incident.id}",
        "started_at": timestamp(incident.started_at),
        "page_id": read.page.id,
        # Newest first, as Statuspage lists them; an update's id is its incident's and
        # its place in the timeline (updates have no id of their own in the public API).
        "incident_updates": [
            {
                "id": f"{incident.id}.{number}",
                "status": update.status.value.lower(),
                "body": update.message,
                "incident_id": str(incident.id),
                "created_at": timestamp(update.created_at),
                "updated_at": timestamp(update.created_at),
                "display_at": timestamp(update.created_at),
                "affected_components": None,
            }
            for number, update in reversed(list(enumerate(updates, start=1)))
        ],
        "components": _component_refs(read, affected),
    }


def _maintenance(read: Read, window: PublicMaintenance, base_url: str) -> Document:
    shown_status = MAINTENANCE_STATUS[v.MaintenanceStatus(window.status.value)]
    return {
        "id": str(window.id),
        "name": window.title,
        "status": shown_status,
        "created_at": timestamp(window.starts_at),
        "updated_at": timestamp(window.starts_at),
        "monitoring_at": None,
        "resolved_at": None,
        "impact": "maintenance",
        "shortlink": f"{base_url}/status/{read.page.slug}",
        "started_at": timestamp(window.starts_at),
        "page_id": read.page.id,
        "incident_updates": [],
        "components": _component_refs(read, [str(s.id) for s in window.services]),
        "scheduled_for": timestamp(window.starts_at),
        "scheduled_until": timestamp(window.ends_at),
    }


def incidents(read: Read, base_url: str) -> Document:
    shown = [*read.shown.active_incidents, *read.shown.incident_history]
    return {
        "page": page_of(read, base_url),
        "incidents": [_incident(read, each, base_url) for each in shown],
    }


def unresolved(read: Read, base_url: str) -> Document:
    return {
        "page": page_of(read, base_url),
        "incidents": [_incident(read, each, base_url) for each in read.shown.active_incidents],
    }


def _windows(read: Read, base_url: str, statuses: set[str] | None = None) -> list[Document]:
    found = [_maintenance(read, each, base_url) for each in read.shown.maintenance]
    return [each for each in found if statuses is None or each["status"] in statuses]


def scheduled_maintenances(read: Read, base_url: str) -> Document:
    return {"page": page_of(read, base_url), "scheduled_maintenances": _windows(read, base_url)}


def upcoming(read: Read, base_url: str) -> Document:
    windows = _windows(read, base_url, {"scheduled"})
    return {"page": page_of(read, base_url), "scheduled_maintenances": windows}


def active(read: Read, base_url: str) -> Document:
    windows = _windows(read, base_url, {"in_progress", "verifying"})
    return {"page": page_of(read, base_url), "scheduled_maintenances": windows}


def summary(read: Read, base_url: str) -> Document:
    return {
        "page": page_of(read, base_url),
        "status": status(read, base_url)["status"],
        "components": _components(read),
        "incidents": unresolved(read, base_url)["incidents"],
        "scheduled_maintenances": _windows(read, base_url),
    }


DOCUMENTS: dict[str, Callable[[Read, str], Document]] = {
    "summary.json": summary,
    "status.json": status,
    "components.json": components,
    "incidents.json": incidents,
    "incidents/unresolved.json": unresolved,
    "scheduled-maintenances.json": scheduled_maintenances,
    "scheduled-maintenances/upcoming.json": upcoming,
    "scheduled-maintenances/active.json": active,
}
