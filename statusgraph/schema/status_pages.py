"""Status pages over GraphQL. Scopes: status_pages:read, status_pages:write.

Fields, enumerations, validation and messages follow reference/004 (camelCase names,
UPPER_SNAKE enum values).
"""

from collections.abc import Awaitable, Sequence
from datetime import datetime

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.scopes import Scope
from statusgraph.db import models
from statusgraph.resolvers import owned, status_pages, viewer_tokens
from statusgraph.resolvers import vocabulary as v
from statusgraph.schema.context import Info
from statusgraph.schema.enums import (
    AnnouncementStyle,
    BorderRadius,
    FontFamily,
    HeaderLayout,
    StatusPageVisibility,
    Theme,
    ThemeMode,
)
from statusgraph.schema.mutations import Rejected, in_transaction, provided
from statusgraph.schema.permissions import requires
from statusgraph.schema.preload import NOT_LOADED, NotLoaded, preloaded_or, selection_paths, under
from statusgraph.schema.relay import Connection, Node, page_args
from statusgraph.schema.services import DeletePayload, Service, services_of
from statusgraph.schema.user_errors import UserError


@strawberry.type
class StatusPageViewerToken(Node):
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: models.StatusPageViewerToken) -> "StatusPageViewerToken":
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            prefix=row.display_prefix,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )


@strawberry.type
class StatusPage(Node):
    name: str
    slug: str = strawberry.field(
        description="Unique across all organizations; used in /status/{slug}."
    )
    status_page_visibility: StatusPageVisibility
    is_default: bool = strawberry.field(description="The organization's first page.")
    primary_color: str | None
    secondary_color: str | None
    tagline: str | None
    logo_url: str | None
    favicon_url: str | None
    theme_mode: ThemeMode
    theme: Theme
    font_family: FontFamily
    header_layout: HeaderLayout
    border_radius: BorderRadius
    show_subscribe: bool
    show_incident_history: bool
    show_uptime: bool
    announcement: str | None
    announcement_style: AnnouncementStyle
    announcement_visible: bool
    created_at: datetime
    updated_at: datetime
    preloaded_services: strawberry.Private[list[Service] | NotLoaded] = NOT_LOADED

    @strawberry.field(graphql_type=list[Service], description="In the order given.")
    def services(self, info: Info) -> list[Service] | Awaitable[list[Service]]:
        async def load() -> list[Service]:
            rows = await info.context.loaders.page_services.load(str(self.id))
            return [Service.of(row) for row in rows]

        return preloaded_or(self.preloaded_services, load)

    @strawberry.field
    async def viewer_tokens(self, info: Info) -> list[StatusPageViewerToken]:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            rows = await viewer_tokens.viewer_tokens(
                session, principal.organization_id, str(self.id)
            )
        return [StatusPageViewerToken.of(row) for row in rows]

    @classmethod
    def of(cls, row: models.StatusPage) -> "StatusPage":
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            slug=row.slug,
            status_page_visibility=v.Visibility(row.visibility),
            is_default=row.is_default,
            primary_color=row.primary_color,
            secondary_color=row.secondary_color,
            tagline=row.tagline,
            logo_url=row.logo_url,
            favicon_url=row.favicon_url,
            theme_mode=v.ThemeMode(row.theme_mode),
            theme=v.Theme(row.theme),
            font_family=v.FontFamily(row.font_family),
            header_layout=v.HeaderLayout(row.header_layout),
            border_radius=v.BorderRadius(row.border_radius),
            show_subscribe=row.show_subscribe,
            show_incident_history=row.show_incident_history,
            show_uptime=row.show_uptime,
            announcement=row.announcement,
            announcement_style=v.AnnouncementStyle(row.announcement_style),
            announcement_visible=row.announcement_visible,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


# GraphQL input attribute -> column.
PAGE_FIELDS = {
    "name": "name",
    "slug": "slug",
    "status_page_visibility": "visibility",
    "service_ids": "service_ids",
    "primary_color": "primary_color",
    "secondary_color": "secondary_color",
    "tagline": "tagline",
    "logo_url": "logo_url",
    "favicon_url": "favicon_url",
    "theme_mode": "theme_mode",
    "theme": "theme",
    "font_family": "font_family",
    "header_layout": "header_layout",
    "border_radius": "border_radius",
    "show_subscribe": "show_subscribe",
    "show_incident_history": "show_incident_history",
    "show_uptime": "show_uptime",
    "announcement": "announcement",
    "announcement_style": "announcement_style",
    "announcement_visible": "announcement_visible",
}


@strawberry.input
class CreateStatusPageInput:
    name: str
    slug: str = strawberry.field(description="Lowercase letters, numbers and hyphens.")
    status_page_visibility: StatusPageVisibility = v.Visibility.PUBLIC
    service_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Displayed in the order given."
    )
    primary_color: str | None = strawberry.field(default=None, description='"#RRGGBB"')
    secondary_color: str | None = strawberry.field(default=None, description='"#RRGGBB"')
    tagline: str | None = None
    logo_url: str | None = None
    favicon_url: str | None = None
    theme_mode: ThemeMode = v.ThemeMode.SYSTEM
    theme: Theme = v.Theme.DEFAULT
    font_family: FontFamily = v.FontFamily.INTER
    header_layout: HeaderLayout = v.HeaderLayout.CENTERED
    border_radius: BorderRadius = v.BorderRadius.ROUNDED
    show_subscribe: bool = True
    show_incident_history: bool = True
    show_uptime: bool = True
    announcement: str | None = None
    announcement_style: AnnouncementStyle = v.AnnouncementStyle.INFO
    announcement_visible: bool = False


@strawberry.input(description="Only the fields you send change.")
class UpdateStatusPageInput:
    name: str | None = strawberry.UNSET
    slug: str | None = strawberry.UNSET
    status_page_visibility: StatusPageVisibility | None = strawberry.UNSET
    service_ids: list[strawberry.ID] | None = strawberry.UNSET
    primary_color: str | None = strawberry.UNSET
    secondary_color: str | None = strawberry.UNSET
    tagline: str | None = strawberry.UNSET
    logo_url: str | None = strawberry.UNSET
    favicon_url: str | None = strawberry.UNSET
    theme_mode: ThemeMode | None = strawberry.UNSET
    theme: Theme | None = strawberry.UNSET
    font_family: FontFamily | None = strawberry.UNSET
    header_layout: HeaderLayout | None = strawberry.UNSET
    border_radius: BorderRadius | None = strawberry.UNSET
    show_subscribe: bool | None = strawberry.UNSET
    show_incident_history: bool | None = strawberry.UNSET
    show_uptime: bool | None = strawberry.UNSET
    announcement: str | None = strawberry.UNSET
    announcement_style: AnnouncementStyle | None = strawberry.UNSET
    announcement_visible: bool | None = strawberry.UNSET


async def status_pages_of(
    session: AsyncSession, rows: Sequence[models.StatusPage], wanted: frozenset[str], now: datetime
) -> list["StatusPage"]:
    """`rows` as StatusPage objects, their services preloaded when selected."""
    pages = [StatusPage.of(row) for row in rows]
    if "services" in wanted and rows:
        by_page = await status_pages.services_for(session, [row.id for row in rows])
        unique = {s.id: s for each in by_page.values() for s in each}
        services = await services_of(session, list(unique.values()), under(wanted, "services"), now)
        by_id = {str(service.id): service for service in services}
        for page in pages:
            page.preloaded_services = [by_id[s.id] for s in by_page[str(page.id)]]
    return pages


@strawberry.type
class StatusPagePayload:
    status_page: StatusPage | None
    user_errors: list[UserError]


@strawberry.type
class CreateViewerTokenPayload:
    viewer_token: StatusPageViewerToken | None
    token: str | None = strawberry.field(
        description="Send as X-Status-Page-Token to read the PRIVATE page. Shown this once."
    )
    user_errors: list[UserError]


@strawberry.type
class RevokeViewerTokenPayload:
    viewer_token: StatusPageViewerToken | None
    user_errors: list[UserError]


def _payload(result: models.StatusPage | Rejected) -> StatusPagePayload:
    if isinstance(result, Rejected):
        return StatusPagePayload(status_page=None, user_errors=result.user_errors)
    return StatusPagePayload(status_page=StatusPage.of(result), user_errors=[])


@strawberry.type
class StatusPageQueries:
    @strawberry.field(extensions=requires(Scope.status_pages_read), description="Newest first.")
    async def status_pages(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[StatusPage] | None:
        ctx = info.context
        principal = ctx.require_principal()
        paths = selection_paths(info)
        async with ctx.read() as session:
            page = await status_pages.list_pages(
                session,
                principal.organization_id,
                page=page_args(first, after, last, before),
                with_count="totalCount" in paths,
            )
            nodes = await status_pages_of(session, page.rows, under(paths, "edges.node"), ctx.now)
        return Connection.over(page, nodes)

    @strawberry.field(extensions=requires(Scope.status_pages_read))
    async def status_page(self, info: Info, id: strawberry.ID) -> StatusPage | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            row = await owned.require_owned(
                session, models.StatusPage, principal.organization_id, id, "StatusPage"
            )
            [found] = await status_pages_of(session, [row], selection_paths(info), ctx.now)
        return found


@strawberry.type
class StatusPageMutations:
    @strawberry.mutation(extensions=requires(Scope.status_pages_write))
    async def create_status_page(
        self, info: Info, input: CreateStatusPageInput
    ) -> StatusPagePayload:
        ctx = info.context
        principal = ctx.require_principal()
        fields = provided(input, PAGE_FIELDS)
        return _payload(
            await in_transaction(
                ctx,
                lambda s: status_pages.create_page(
                    s, principal, fields=fields, request=ctx.request_info, now=ctx.now
                ),
            )
        )

    @strawberry.mutation(extensions=requires(Scope.status_pages_write))
    async def update_status_page(
        self, info: Info, id: strawberry.ID, input: UpdateStatusPageInput
    ) -> StatusPagePayload:
        ctx = info.context
        principal = ctx.require_principal()
        changes = provided(input, PAGE_FIELDS)
        return _payload(
            await in_transaction(
                ctx,
                lambda s: status_pages.update_page(
                    s,
                    principal,
                    page_id=id,
                    changes=changes,
                    request=ctx.request_info,
                    now=ctx.now,
                ),
            )
        )

    @strawberry.mutation(
        extensions=requires(Scope.status_pages_write),
        description="Deleting the default page makes the oldest remaining one the default.",
    )
    async def delete_status_page(self, info: Info, id: strawberry.ID) -> DeletePayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: status_pages.delete_page(
                s, principal, page_id=id, request=ctx.request_info, now=ctx.now
            ),
        )
        if isinstance(result, Rejected):
            return DeletePayload(deleted_id=None, user_errors=result.user_errors)
        return DeletePayload(deleted_id=strawberry.ID(result), user_errors=[])

    @strawberry.mutation(extensions=requires(Scope.status_pages_write))
    async def create_status_page_viewer_token(
        self, info: Info, page_id: strawberry.ID, name: str
    ) -> CreateViewerTokenPayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: viewer_tokens.create_viewer_token(
                s,
                principal,
                page_id=page_id,
                name=name,
                pepper=ctx.pepper,
                request=ctx.request_info,
                now=ctx.now,
            ),
        )
        if isinstance(result, Rejected):
            return CreateViewerTokenPayload(
                viewer_token=None, token=None, user_errors=result.user_errors
            )
        token, secret = result
        return CreateViewerTokenPayload(
            viewer_token=StatusPageViewerToken.of(token), token=secret, user_errors=[]
        )

    @strawberry.mutation(extensions=requires(Scope.status_pages_write))
    async def revoke_status_page_viewer_token(
        self, info: Info, id: strawberry.ID
    ) -> RevokeViewerTokenPayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: viewer_tokens.revoke_viewer_token(
                s, principal, token_id=id, request=ctx.request_info, now=ctx.now
            ),
        )
        if isinstance(result, Rejected):
            return RevokeViewerTokenPayload(viewer_token=None, user_errors=result.user_errors)
        return RevokeViewerTokenPayload(
            viewer_token=StatusPageViewerToken.of(result), user_errors=[]
        )
