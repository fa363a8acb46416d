"""Maintenance windows over GraphQL. Scopes: maintenance:read, maintenance:write."""

from collections.abc import Awaitable, Sequence
from datetime import datetime

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.scopes import Scope
from statusgraph.db import models
from statusgraph.resolvers import maintenance, owned
from statusgraph.resolvers.service_status import maintenance_status
from statusgraph.schema.context import Info
from statusgraph.schema.enums import MaintenanceStatus
from statusgraph.schema.mutations import Rejected, in_transaction, provided
from statusgraph.schema.permissions import requires
from statusgraph.schema.preload import NOT_LOADED, NotLoaded, preloaded_or, selection_paths, under
from statusgraph.schema.relay import Connection, Node, page_args
from statusgraph.schema.services import DeletePayload, Service, services_by_ids
from statusgraph.schema.user_errors import UserError


@strawberry.type
class MaintenanceWindow(Node):
    title: str
    description: str | None
    starts_at: datetime
    ends_at: datetime
    status: MaintenanceStatus = strawberry.field(description="Derived from the clock.")
    cancelled_at: datetime | None
    created_at: datetime
    updated_at: datetime

    preloaded_services: strawberry.Private[list[Service] | NotLoaded] = NOT_LOADED

    @strawberry.field(graphql_type=list[Service])
    def services(self, info: Info) -> list[Service] | Awaitable[list[Service]]:
        async def load() -> list[Service]:
            loaders = info.context.loaders
            ids = await loaders.maintenance_services.load(str(self.id))
            rows = await loaders.service.load_many(ids)
            return [Service.of(row) for row in rows if row is not None]

        return preloaded_or(self.preloaded_services, load)

    @classmethod
    def of(cls, row: models.MaintenanceWindow, now: datetime) -> "MaintenanceWindow":
        return cls(
            id=strawberry.ID(row.id),
            title=row.title,
            description=row.description,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            status=maintenance_status(row, now),
            cancelled_at=row.cancelled_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


FIELDS = {
    "title": "title",
    "description": "description",
    "starts_at": "starts_at",
    "ends_at": "ends_at",
    "service_ids": "service_ids",
}


async def windows_of(
    session: AsyncSession,
    rows: Sequence[models.MaintenanceWindow],
    wanted: frozenset[str],
    now: datetime,
) -> list[MaintenanceWindow]:
    """`rows` as MaintenanceWindow objects, their services preloaded when selected."""
    windows = [MaintenanceWindow.of(row, now) for row in rows]
    if "services" in wanted and rows:
        ids = await maintenance.services_for(session, [row.id for row in rows])
        service_ids = (i for each in ids.values() for i in each)
        by_id = await services_by_ids(session, service_ids, under(wanted, "services"), now)
        for window in windows:
            window.preloaded_services = [by_id[i] for i in ids[str(window.id)] if i in by_id]
    return windows


@strawberry.input
class CreateMaintenanceWindowInput:
    title: str
    starts_at: datetime
    ends_at: datetime = strawberry.field(description="Must be after startsAt.")
    description: str | None = None
    service_ids: list[strawberry.ID] = strawberry.field(default_factory=list)


@strawberry.input
class UpdateMaintenanceWindowInput:
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    starts_at: datetime | None = strawberry.UNSET
    ends_at: datetime | None = strawberry.UNSET
    service_ids: list[strawberry.ID] | None = strawberry.UNSET


@strawberry.type
class MaintenanceWindowPayload:
    maintenance_window: MaintenanceWindow | None
    user_errors: list[UserError]


@strawberry.type
class MaintenanceQueries:
    @strawberry.field(extensions=requires(Scope.maintenance_read), description="Newest first.")
    async def maintenance_windows(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[MaintenanceWindow] | None:
        ctx = info.context
        principal = ctx.require_principal()
        paths = selection_paths(info)
        async with ctx.read() as session:
            page = await maintenance.list_windows(
                session,
                principal.organization_id,
                page=page_args(first, after, last, before),
                with_count="totalCount" in paths,
            )
            nodes = await windows_of(session, page.rows, under(paths, "edges.node"), ctx.now)
        return Connection.over(page, nodes)

    @strawberry.field(extensions=requires(Scope.maintenance_read))
    async def maintenance_window(self, info: Info, id: strawberry.ID) -> MaintenanceWindow | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            row = await owned.require_owned(
                session,
                models.MaintenanceWindow,
                principal.organization_id,
                id,
                "MaintenanceWindow",
            )
            [window] = await windows_of(session, [row], selection_paths(info), ctx.now)
        return window


@strawberry.type
class MaintenanceMutations:
    @strawberry.mutation(extensions=requires(Scope.maintenance_write))
    async def create_maintenance_window(
        self, info: Info, input: CreateMaintenanceWindowInput
    ) -> MaintenanceWindowPayload:
        ctx = info.context
        principal = ctx.require_principal()
        fields = provided(input, FIELDS)
        result = await in_transaction(
            ctx,
            lambda s: maintenance.create_window(
                s, principal, fields=fields, request=ctx.request_info, now=ctx.now
            ),
        )
        return _payload(result, ctx.now)

    @strawberry.mutation(extensions=requires(Scope.maintenance_write))
    async def update_maintenance_window(
        self, info: Info, id: strawberry.ID, input: UpdateMaintenanceWindowInput
    ) -> MaintenanceWindowPayload:
        ctx = info.context
        principal = ctx.require_principal()
        changes = provided(input, FIELDS)
        result = await in_transaction(
            ctx,
            lambda s: maintenance.update_window(
                s,
                principal,
                window_id=id,
                changes=changes,
                request=ctx.request_info,
                now=ctx.now,
            ),
        )
        return _payload(result, ctx.now)

    @strawberry.mutation(extensions=requires(Scope.maintenance_write))
    async def cancel_maintenance_window(
        self, info: Info, id: strawberry.ID
    ) -> MaintenanceWindowPayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: maintenance.cancel_window(
                s, principal, window_id=id, request=ctx.request_info, now=ctx.now
            ),
        )
        return _payload(result, ctx.now)

    @strawberry.mutation(extensions=requires(Scope.maintenance_write))
    async def delete_maintenance_window(self, info: Info, id: strawberry.ID) -> DeletePayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: maintenance.delete_window(
                s, principal, window_id=id, request=ctx.request_info, now=ctx.now
            ),
        )
        if isinstance(result, Rejected):
            return DeletePayload(deleted_id=None, user_errors=result.user_errors)
        return DeletePayload(deleted_id=strawberry.ID(result), user_errors=[])


def _payload(
    result: models.MaintenanceWindow | Rejected, now: datetime
) -> MaintenanceWindowPayload:
    if isinstance(result, Rejected):
        return MaintenanceWindowPayload(maintenance_window=None, user_errors=result.user_errors)
    return MaintenanceWindowPayload(
        maintenance_window=MaintenanceWindow.of(result, now), user_errors=[]
    )
