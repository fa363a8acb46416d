"""`publicStatusPage(slug:)`: what a status page renders, for anyone allowed to read it.

The rules of what is shown are resolvers/public_page.py's, shared with the HTML page;
these types only deliver them. The root field loads what the selection asks for, one
statement per kind of thing (load_shown_page, schema/preload.py), so a page costs the
same number of SQL statements whether it shows 5 services or 40, and its nested fields
are plain values.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.checks import service_bars
from statusgraph.db import models, page_versions
from statusgraph.resolvers import (
    incidents,
    maintenance,
    page_reads,
    public_page,
    service_status,
    status_pages,
)
from statusgraph.resolvers import vocabulary as v
from statusgraph.schema.checks import DailyBar
from statusgraph.schema.context import Info
from statusgraph.schema.enums import (
    AnnouncementStyle,
    BorderRadius,
    FontFamily,
    HeaderLayout,
    IncidentImpact,
    IncidentStatus,
    MaintenanceStatus,
    ServiceStatus,
    Theme,
    ThemeMode,
)
from statusgraph.schema.permissions import PUBLIC
from statusgraph.schema.preload import selection_paths, under

VIEWER_TOKEN_HEADER = "x-status-page-token"  # noqa: S105  (a header name)
# Where the request guard puts a viewer token sent as `Authorization: Bearer sgv_…` to a
# /status/ path (http/middleware.py), for the page to check (pages/reading.py).
VIEWER_TOKEN_STATE = "viewer_token"  # noqa: S105  (a key of the request state)
UPTIME_DAYS = 90  # what a public page shows: 90 daily bars, as Statuspage does


@strawberry.type
class PublicService:
    id: strawberry.ID
    name: str
    description: str | None
    status: ServiceStatus
    group_name: str | None
    uptime: float | None = strawberry.field(
        default=None,
        description=f"Percent, time-weighted over the {UPTIME_DAYS} days of the bars, from "
        "the service's monitors (down while any is down; maintenance left out). Null when "
        "the page hides uptime or the service has no monitor.",
    )
    daily_bars: list[DailyBar] | None = strawberry.field(
        default=None,
        description=f"{UPTIME_DAYS} UTC days, oldest first; null as uptime is.",
    )
    # The finished days behind daily_bars (all but the last), for the HTML page to keep
    # its markup of them with them (pages/status_page.py).
    finished: strawberry.Private[service_bars.Finished | None] = None

    @classmethod
    def of(
        cls, shown: public_page.ShownService, status: v.ServiceStatus, group_name: str | None
    ) -> "PublicService":
        return cls(
            id=strawberry.ID(shown.id),
            name=shown.name,
            description=shown.description,
            status=status,
            group_name=group_name,
        )


@strawberry.type
class PublicIncidentUpdate:
    status: IncidentStatus
    message: str
    created_at: datetime

    @classmethod
    def of(cls, shown: public_page.ShownUpdate) -> "PublicIncidentUpdate":
        return cls(status=shown.status, message=shown.message, created_at=shown.created_at)


@strawberry.type
class PublicAffectedService:
    service_id: strawberry.ID
    name: str
    status: ServiceStatus


@strawberry.type
class PublicIncident:
    id: strawberry.ID
    title: str
    status: IncidentStatus
    impact: IncidentImpact
    started_at: datetime
    resolved_at: datetime | None
    updates: list[PublicIncidentUpdate] = strawberry.field(
        description="The timeline, oldest first."
    )
    affected_services: list[PublicAffectedService]

    @classmethod
    def of(
        cls,
        shown: public_page.ShownIncident,
        updates: list[PublicIncidentUpdate],
        affected: list[PublicAffectedService],
    ) -> "PublicIncident":
        return cls(
            id=strawberry.ID(shown.id),
            title=shown.title,
            status=shown.status,
            impact=shown.impact,
            started_at=shown.started_at,
            resolved_at=shown.resolved_at,
            updates=updates,
            affected_services=affected,
        )


@strawberry.type
class PublicMaintenance:
    id: strawberry.ID
    title: str
    description: str | None
    starts_at: datetime
    ends_at: datetime
    status: MaintenanceStatus
    services: list[PublicService]

    @classmethod
    def of(
        cls, shown: public_page.ShownMaintenance, services: list[PublicService]
    ) -> "PublicMaintenance":
        return cls(
            id=strawberry.ID(shown.id),
            title=shown.title,
            description=shown.description,
            starts_at=shown.starts_at,
            ends_at=shown.ends_at,
            status=shown.status,
            services=services,
        )


@strawberry.type(description="What a status page renders.")
class PublicStatusPage:
    name: str
    slug: str
    tagline: str | None
    logo_url: str | None
    favicon_url: str | None
    primary_color: str | None
    secondary_color: str | None
    theme_mode: ThemeMode
    theme: Theme
    font_family: FontFamily
    header_layout: HeaderLayout
    border_radius: BorderRadius
    show_subscribe: bool
    show_uptime: bool
    show_incident_history: bool
    announcement: str | None = strawberry.field(description="Null unless the banner is visible.")
    announcement_style: AnnouncementStyle
    services: list[PublicService] = strawberry.field(
        description="In the page's order, each with its current status."
    )
    overall_status: ServiceStatus = strawberry.field(
        description="The worst status among the page's services."
    )
    active_incidents: list[PublicIncident] = strawberry.field(
        description="Open incidents touching the page's services, newest first."
    )
    incident_history: list[PublicIncident] = strawberry.field(
        description=f"Incidents resolved in the last {public_page.HISTORY.days} days (at most "
        f"{public_page.HISTORY_LIMIT}); empty when the page hides its history."
    )
    maintenance: list[PublicMaintenance] = strawberry.field(
        description="In-progress and upcoming maintenance, soonest first."
    )

    @classmethod
    def of(cls, row: models.StatusPage, shown: "ShownPage") -> "PublicStatusPage":
        return cls(
            name=row.name,
            slug=row.slug,
            tagline=row.tagline,
            logo_url=row.logo_url,
            favicon_url=row.favicon_url,
            primary_color=row.primary_color,
            secondary_color=row.secondary_color,
            theme_mode=v.ThemeMode(row.theme_mode),
            theme=v.Theme(row.theme),
            font_family=v.FontFamily(row.font_family),
            header_layout=v.HeaderLayout(row.header_layout),
            border_radius=v.BorderRadius(row.border_radius),
            show_subscribe=row.show_subscribe,
            show_uptime=row.show_uptime,
            show_incident_history=row.show_incident_history,
            announcement=public_page.announcement(row),
            announcement_style=v.AnnouncementStyle(row.announcement_style),
            services=shown.services,
            overall_status=shown.overall_status,
            active_incidents=shown.active_incidents,
            incident_history=shown.incident_history,
            maintenance=shown.maintenance,
        )


@dataclass(slots=True)
class ShownPage:
    """What the selection asks of a page; what it does not ask for stays empty and is
    never read (graphql-core reads only selected fields)."""

    services: list[PublicService] = field(default_factory=list)
    overall_status: v.ServiceStatus = v.ServiceStatus.OPERATIONAL
    active_incidents: list[PublicIncident] = field(default_factory=list)
    incident_history: list[PublicIncident] = field(default_factory=list)
    maintenance: list[PublicMaintenance] = field(default_factory=list)


async def _public_services(
    session: AsyncSession,
    rows: Sequence[models.Service],
    wanted: frozenset[str],
    now: datetime,
    *,
    show_uptime: bool = False,
) -> list[PublicService]:
    statuses = (
        await service_status.displayed_statuses(session, [(r.id, r.status) for r in rows], now)
        if "status" in wanted
        else {}
    )
    group_ids = sorted({r.group_id for r in rows if r.group_id is not None})
    groups = (
        await page_reads.groups_by_id(session, group_ids)
        if "groupName" in wanted and group_ids
        else {}
    )
    found = []
    for row in rows:
        group = groups.get(row.group_id) if row.group_id else None
        status = statuses.get(row.id, v.ServiceStatus(row.status))
        found.append(
            PublicService.of(public_page.service(row), status, group.name if group else None)
        )
    if show_uptime and ("uptime" in wanted or "dailyBars" in wanted):
        kept = await service_bars.service_bars(
            session, [r.id for r in rows], days=UPTIME_DAYS, now=now
        )
        for service in found:
            bars = kept.get(str(service.id))
            if bars is not None:
                service.uptime = bars.uptime_percent
                service.daily_bars = [*finished_bars(bars.finished), DailyBar.of(bars.today)]
                service.finished = bars.finished
    return found


def finished_bars(finished: service_bars.Finished) -> list[DailyBar]:
    """The API's bars of a service's finished days, converted once while they are kept."""
    converted: list[DailyBar] | None = finished.derived.get("DailyBar")
    if converted is None:
        converted = finished.derived["DailyBar"] = [DailyBar.of(bar) for bar in finished.bars]
    return converted


async def _public_incidents(
    session: AsyncSession, shown: list[public_page.ShownIncident], wanted: frozenset[str]
) -> list[PublicIncident]:
    ids = [incident.id for incident in shown]
    timelines = await incidents.updates_for(session, ids) if "updates" in wanted and ids else {}
    effects = (
        await incidents.effects_for(session, ids) if "affectedServices" in wanted and ids else {}
    )
    return [
        PublicIncident.of(
            incident,
            [
                PublicIncidentUpdate.of(public_page.update(u))
                for u in timelines.get(incident.id, [])
            ],
            [
                PublicAffectedService(
                    service_id=strawberry.ID(e.service_id), name=e.service_name, status=e.status
                )
                for e in effects.get(incident.id, [])
            ],
        )
        for incident in shown
    ]


async def load_shown_page(
    session: AsyncSession, page: models.StatusPage, wanted: frozenset[str], now: datetime
) -> ShownPage:
    """Everything `wanted` (the paths selected under publicStatusPage) asks for, one
    statement per kind of thing (schema/preload.py), by the rules of public_page.py."""
    shown = ShownPage()
    if "services" in wanted or "overallStatus" in wanted:
        service_rows = (await status_pages.services_for(session, [page.id]))[page.id]
        service_wanted = under(wanted, "services")
        if "overallStatus" in wanted:
            service_wanted |= {"status"}
        shown.services = await _public_services(
            session, service_rows, service_wanted, now, show_uptime=page.show_uptime
        )
        shown.overall_status = public_page.overall_status(s.status for s in shown.services)
    history_shown = "incidentHistory" in wanted and page.show_incident_history
    if "activeIncidents" in wanted or history_shown:
        rows = (await page_reads.incidents_for_pages(session, [page.id], now=now))[page.id]
        active = public_page.active_incidents(rows) if "activeIncidents" in wanted else []
        history = public_page.incident_history(rows, shown=history_shown)
        incident_wanted = under(wanted, "activeIncidents") | under(wanted, "incidentHistory")
        loaded = await _public_incidents(session, [*active, *history], incident_wanted)
        shown.active_incidents = loaded[: len(active)]
        shown.incident_history = loaded[len(active) :]
    if "maintenance" in wanted:
        windows = (await page_reads.maintenance_for_pages(session, [page.id], now=now))[page.id]
        listed = public_page.maintenance(windows, now)
        service_wanted = under(wanted, "maintenance.services")
        by_window: dict[str, list[PublicService]] = {}
        if service_wanted and listed:
            ids = await maintenance.services_for(session, [w.id for w in listed])
            rows_by_id = await page_reads.services_by_id(
                session, sorted({i for each in ids.values() for i in each})
            )
            services = await _public_services(
                session, list(rows_by_id.values()), service_wanted, now
            )
            by_id = {str(service.id): service for service in services}
            by_window = {
                window: [by_id[i] for i in each if i in by_id] for window, each in ids.items()
            }
        shown.maintenance = [PublicMaintenance.of(w, by_window.get(w.id, [])) for w in listed]
    return shown


@strawberry.type
class PublicQueries:
    @strawberry.field(
        directives=[PUBLIC],
        description="A PUBLIC page for anyone; a PRIVATE page with a viewer token "
        "(X-Status-Page-Token) or the organization's credential; an INTERNAL page with the "
        "organization's credential only. Any other page answers exactly like a missing one.",
    )
    async def public_status_page(self, info: Info, slug: str) -> PublicStatusPage | None:
        ctx = info.context
        async with ctx.read() as session:
            page = await status_pages.readable_page(
                session,
                slug=slug,
                principal=ctx.principal,
                viewer_token=ctx.request.headers.get(VIEWER_TOKEN_HEADER),
                pepper=ctx.pepper,
            )
            if page.organization_id not in ctx.page_versions:
                ctx.page_versions[page.organization_id] = await page_versions.read(
                    session, page.organization_id
                )
            shown = await load_shown_page(session, page, selection_paths(info), ctx.now)
        return PublicStatusPage.of(page, shown)
