"""`publicStatusPage(slug:)`: what a status page renders, for anyone allowed to read it.

The rules of what is shown are resolvers/public_page.py's, shared with the HTML page;
these types only deliver them. Every nested list loads through the per-request
DataLoaders, so a page costs the same number of SQL statements whether it shows 5
services or 40.
"""

from datetime import datetime

import strawberry

from statusgraph.db import models
from statusgraph.resolvers import public_page, status_pages
from statusgraph.resolvers import vocabulary as v
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

VIEWER_TOKEN_HEADER = "x-status-page-token"  # noqa: S105  (a header name)


@strawberry.type
class PublicService:
    id: strawberry.ID
    name: str
    description: str | None
    manual_status: strawberry.Private[str]
    group_id: strawberry.Private[str | None]

    @strawberry.field
    async def status(self, info: Info) -> ServiceStatus:
        status: v.ServiceStatus = await info.context.loaders.service_status.load(
            (str(self.id), self.manual_status)
        )
        return status

    @strawberry.field
    async def group_name(self, info: Info) -> str | None:
        if self.group_id is None:
            return None
        group = await info.context.loaders.service_group.load(self.group_id)
        return group.name if group else None

    @classmethod
    def of(cls, shown: public_page.ShownService) -> "PublicService":
        return cls(
            id=strawberry.ID(shown.id),
            name=shown.name,
            description=shown.description,
            manual_status=shown.manual_status,
            group_id=shown.group_id,
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

    @strawberry.field(description="The timeline, oldest first.")
    async def updates(self, info: Info) -> list[PublicIncidentUpdate]:
        rows = await info.context.loaders.incident_updates.load(str(self.id))
        return [PublicIncidentUpdate.of(public_page.update(row)) for row in rows]

    @strawberry.field
    async def affected_services(self, info: Info) -> list[PublicAffectedService]:
        rows = await info.context.loaders.incident_effects.load(str(self.id))
        return [
            PublicAffectedService(
                service_id=strawberry.ID(row.service_id), name=row.service_name, status=row.status
            )
            for row in rows
        ]

    @classmethod
    def of(cls, shown: public_page.ShownIncident) -> "PublicIncident":
        return cls(
            id=strawberry.ID(shown.id),
            title=shown.title,
            status=shown.status,
            impact=shown.impact,
            started_at=shown.started_at,
            resolved_at=shown.resolved_at,
        )


@strawberry.type
class PublicMaintenance:
    id: strawberry.ID
    title: str
    description: str | None
    starts_at: datetime
    ends_at: datetime
    status: MaintenanceStatus

    @strawberry.field
    async def services(self, info: Info) -> list[PublicService]:
        loaders = info.context.loaders
        rows = await loaders.service.load_many(
            await loaders.maintenance_services.load(str(self.id))
        )
        return [PublicService.of(public_page.service(row)) for row in rows if row is not None]

    @classmethod
    def of(cls, shown: public_page.ShownMaintenance) -> "PublicMaintenance":
        return cls(
            id=strawberry.ID(shown.id),
            title=shown.title,
            description=shown.description,
            starts_at=shown.starts_at,
            ends_at=shown.ends_at,
            status=shown.status,
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
    page_id: strawberry.Private[str]

    @strawberry.field(description="In the page's order, each with its current status.")
    async def services(self, info: Info) -> list[PublicService]:
        rows = await info.context.loaders.page_services.load(self.page_id)
        return [PublicService.of(public_page.service(row)) for row in rows]

    @strawberry.field(description="The worst status among the page's services.")
    async def overall_status(self, info: Info) -> ServiceStatus:
        loaders = info.context.loaders
        rows = await loaders.page_services.load(self.page_id)
        statuses = await loaders.service_status.load_many([(row.id, row.status) for row in rows])
        return public_page.overall_status(statuses)

    @strawberry.field(description="Open incidents touching the page's services, newest first.")
    async def active_incidents(self, info: Info) -> list[PublicIncident]:
        rows = await info.context.loaders.page_incidents.load(self.page_id)
        return [PublicIncident.of(shown) for shown in public_page.active_incidents(rows)]

    @strawberry.field(
        description=f"Incidents resolved in the last {public_page.HISTORY.days} days (at most "
        f"{public_page.HISTORY_LIMIT}); empty when the page hides its history."
    )
    async def incident_history(self, info: Info) -> list[PublicIncident]:
        if not self.show_incident_history:
            # public_page.incident_history says the same; this only saves the read.
            return []
        rows = await info.context.loaders.page_incidents.load(self.page_id)
        history = public_page.incident_history(rows, shown=self.show_incident_history)
        return [PublicIncident.of(shown) for shown in history]

    @strawberry.field(description="In-progress and upcoming maintenance, soonest first.")
    async def maintenance(self, info: Info) -> list[PublicMaintenance]:
        ctx = info.context
        rows = await ctx.loaders.page_maintenance.load(self.page_id)
        return [PublicMaintenance.of(shown) for shown in public_page.maintenance(rows, ctx.now)]

    @classmethod
    def of(cls, row: models.StatusPage) -> "PublicStatusPage":
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
            page_id=row.id,
        )


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
        return PublicStatusPage.of(page)
