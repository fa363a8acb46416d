"""Services and service groups over GraphQL. Scopes: services:read, services:write."""

from collections.abc import Awaitable, Iterable, Sequence
from datetime import datetime

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.scopes import Scope
from statusgraph.db import models
from statusgraph.resolvers import owned, page_reads, service_status, services
from statusgraph.resolvers import vocabulary as v
from statusgraph.schema.context import Info
from statusgraph.schema.enums import ServiceStatus
from statusgraph.schema.mutations import Rejected, in_transaction, provided
from statusgraph.schema.permissions import requires
from statusgraph.schema.preload import NOT_LOADED, NotLoaded, preloaded_or, selection_paths, under
from statusgraph.schema.relay import Connection, Node, page_args
from statusgraph.schema.user_errors import UserError


@strawberry.type
class ServiceGroup(Node):
    name: str
    position: int

    @classmethod
    def of(cls, row: models.ServiceGroup) -> "ServiceGroup":
        return cls(id=strawberry.ID(row.id), name=row.name, position=row.position)


@strawberry.type(description="A component of what you run, shown on status pages.")
class Service(Node):
    name: str
    description: str | None
    position: int
    manual_status: ServiceStatus = strawberry.field(description="The status set by hand.")
    created_at: datetime
    updated_at: datetime
    group_id: strawberry.Private[str | None]
    # Filled by `services_of` when the root's selection asks for them (schema/preload.py).
    preloaded_status: strawberry.Private[v.ServiceStatus | NotLoaded] = NOT_LOADED
    preloaded_group: strawberry.Private[ServiceGroup | NotLoaded | None] = NOT_LOADED

    @strawberry.field(
        graphql_type=ServiceStatus,
        description="What pages show: the worst of the manual status, open incidents and "
        "maintenance in progress.",
    )
    def status(self, info: Info) -> v.ServiceStatus | Awaitable[v.ServiceStatus]:
        return preloaded_or(
            self.preloaded_status,
            lambda: info.context.loaders.service_status.load(
                (str(self.id), self.manual_status.value)
            ),
        )

    @strawberry.field(graphql_type=ServiceGroup | None)
    def group(self, info: Info) -> ServiceGroup | Awaitable[ServiceGroup | None] | None:
        if self.group_id is None:
            return None
        group_id = self.group_id

        async def load() -> ServiceGroup | None:
            row = await info.context.loaders.service_group.load(group_id)
            return ServiceGroup.of(row) if row else None

        return preloaded_or(self.preloaded_group, load)

    @classmethod
    def of(cls, row: models.Service) -> "Service":
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            description=row.description,
            position=row.position,
            manual_status=v.ServiceStatus(row.status),
            created_at=row.created_at,
            updated_at=row.updated_at,
            group_id=row.group_id,
        )


async def services_of(
    session: AsyncSession, rows: Sequence[models.Service], wanted: frozenset[str], now: datetime
) -> list[Service]:
    """`rows` as Service objects with what `wanted` (the paths selected under a Service)
    asks for preloaded: one statement for the statuses, one for the groups."""
    services = [Service.of(row) for row in rows]
    if "status" in wanted:
        statuses = await service_status.displayed_statuses(
            session, [(row.id, row.status) for row in rows], now
        )
        for service in services:
            service.preloaded_status = statuses[str(service.id)]
    if "group" in wanted:
        group_ids = sorted({row.group_id for row in rows if row.group_id is not None})
        groups = await page_reads.groups_by_id(session, group_ids) if group_ids else {}
        for service in services:
            group = groups.get(service.group_id) if service.group_id else None
            service.preloaded_group = ServiceGroup.of(group) if group else None
    return services


async def services_by_ids(
    session: AsyncSession, ids: Iterable[str], wanted: frozenset[str], now: datetime
) -> dict[str, Service]:
    """The services of `ids` (which come from the tenant's own rows), by id, with what
    `wanted` asks for preloaded: for the types that point at services."""
    rows = await page_reads.services_by_id(session, sorted(set(ids)))
    services = await services_of(session, list(rows.values()), wanted, now)
    return {str(service.id): service for service in services}


SERVICE_FIELDS = {
    "name": "name",
    "description": "description",
    "group_id": "group_id",
    "status": "status",
}


@strawberry.input
class CreateServiceInput:
    name: str
    description: str | None = None
    group_id: strawberry.ID | None = None
    status: ServiceStatus = v.ServiceStatus.OPERATIONAL


@strawberry.input(
    description="Only the fields you send change; send null to clear description or group."
)
class UpdateServiceInput:
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    group_id: strawberry.ID | None = strawberry.UNSET
    status: ServiceStatus | None = strawberry.UNSET


@strawberry.type
class ServicePayload:
    service: Service | None
    user_errors: list[UserError]


@strawberry.type
class DeletePayload:
    deleted_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.type
class ReorderServicesPayload:
    services: list[Service]
    user_errors: list[UserError]


@strawberry.type
class ServiceGroupPayload:
    service_group: ServiceGroup | None
    user_errors: list[UserError]


@strawberry.type
class ServiceQueries:
    @strawberry.field(extensions=requires(Scope.services_read), description="In display order.")
    async def services(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        group_id: strawberry.ID | None = None,
    ) -> Connection[Service] | None:
        ctx = info.context
        principal = ctx.require_principal()
        paths = selection_paths(info)
        async with ctx.read() as session:
            page = await services.list_services(
                session,
                principal.organization_id,
                group_id=group_id,
                page=page_args(first, after, last, before),
                with_count="totalCount" in paths,
            )
            nodes = await services_of(session, page.rows, under(paths, "edges.node"), ctx.now)
        return Connection.over(page, nodes)

    @strawberry.field(extensions=requires(Scope.services_read))
    async def service(self, info: Info, id: strawberry.ID) -> Service | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            row = await owned.require_owned(
                session, models.Service, principal.organization_id, id, "Service"
            )
            [service] = await services_of(session, [row], selection_paths(info), ctx.now)
        return service

    @strawberry.field(extensions=requires(Scope.services_read))
    async def service_groups(self, info: Info) -> list[ServiceGroup] | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            rows = await services.list_groups(session, principal.organization_id)
        return [ServiceGroup.of(row) for row in rows]


@strawberry.type
class ServiceMutations:
    @strawberry.mutation(extensions=requires(Scope.services_write))
    async def create_service(self, info: Info, input: CreateServiceInput) -> ServicePayload:
        ctx = info.context
        principal = ctx.require_principal()
        fields = provided(input, SERVICE_FIELDS)
        result = await in_transaction(
            ctx,
            lambda s: services.create_service(
                s, principal, fields=fields, request=ctx.request_info, now=ctx.now
            ),
        )
        if isinstance(result, Rejected):
            return ServicePayload(service=None, user_errors=result.user_errors)
        return ServicePayload(service=Service.of(result), user_errors=[])

    @strawberry.mutation(extensions=requires(Scope.services_write))
    async def update_service(
        self, info: Info, id: strawberry.ID, input: UpdateServiceInput
    ) -> ServicePayload:
        ctx = info.context
        principal = ctx.require_principal()
        changes = provided(input, SERVICE_FIELDS)
        result = await in_transaction(
            ctx,
            lambda s: services.update_service(
                s,
                principal,
                service_id=id,
                changes=changes,
                request=ctx.request_info,
                now=ctx.now,
            ),
        )
        if isinstance(result, Rejected):
            return ServicePayload(service=None, user_errors=result.user_errors)
        return ServicePayload(service=Service.of(result), user_errors=[])

    @strawberry.mutation(extensions=requires(Scope.services_write))
    async def delete_service(self, info: Info, id: strawberry.ID) -> DeletePayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: services.delete_service(
                s, principal, service_id=id, request=ctx.request_info, now=ctx.now
            ),
        )
        if isinstance(result, Rejected):
            return DeletePayload(deleted_id=None, user_errors=result.user_errors)
        return DeletePayload(deleted_id=strawberry.ID(result), user_errors=[])

    @strawberry.mutation(
        extensions=requires(Scope.services_write),
        description="Puts the listed services first, in this order; the others follow.",
    )
    async def reorder_services(
        self, info: Info, service_ids: list[strawberry.ID]
    ) -> ReorderServicesPayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: services.reorder_services(
                s, principal, service_ids=service_ids, request=ctx.request_info, now=ctx.now
            ),
        )
        if isinstance(result, Rejected):
            return ReorderServicesPayload(services=[], user_errors=result.user_errors)
        return ReorderServicesPayload(services=[Service.of(row) for row in result], user_errors=[])

    @strawberry.mutation(extensions=requires(Scope.services_write))
    async def create_service_group(self, info: Info, name: str) -> ServiceGroupPayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: services.create_group(
                s, principal, name=name, request=ctx.request_info, now=ctx.now
            ),
        )
        if isinstance(result, Rejected):
            return ServiceGroupPayload(service_group=None, user_errors=result.user_errors)
        return ServiceGroupPayload(service_group=ServiceGroup.of(result), user_errors=[])

    @strawberry.mutation(extensions=requires(Scope.services_write))
    async def update_service_group(
        self,
        info: Info,
        id: strawberry.ID,
        name: str | None = strawberry.UNSET,
        position: int | None = strawberry.UNSET,
    ) -> ServiceGroupPayload:
        ctx = info.context
        principal = ctx.require_principal()
        changes = {
            key: value
            for key, value in (("name", name), ("position", position))
            if value is not strawberry.UNSET
        }
        result = await in_transaction(
            ctx,
            lambda s: services.update_group(
                s,
                principal,
                group_id=id,
                changes=changes,
                request=ctx.request_info,
                now=ctx.now,
            ),
        )
        if isinstance(result, Rejected):
            return ServiceGroupPayload(service_group=None, user_errors=result.user_errors)
        return ServiceGroupPayload(service_group=ServiceGroup.of(result), user_errors=[])

    @strawberry.mutation(
        extensions=requires(Scope.services_write), description="Its services stay, ungrouped."
    )
    async def delete_service_group(self, info: Info, id: strawberry.ID) -> DeletePayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: services.delete_group(
                s, principal, group_id=id, request=ctx.request_info, now=ctx.now
            ),
        )
        if isinstance(result, Rejected):
            return DeletePayload(deleted_id=None, user_errors=result.user_errors)
        return DeletePayload(deleted_id=strawberry.ID(result), user_errors=[])
