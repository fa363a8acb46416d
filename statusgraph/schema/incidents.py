"""Incidents over GraphQL. Scopes: incidents:read, incidents:write."""

from collections.abc import Awaitable, Sequence
from datetime import datetime

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.scopes import Scope
from statusgraph.db import models
from statusgraph.errors import NotFoundError
from statusgraph.resolvers import incidents, owned
from statusgraph.resolvers import vocabulary as v
from statusgraph.schema.actors import Actor
from statusgraph.schema.context import Info
from statusgraph.schema.enums import IncidentImpact, IncidentStatus, ServiceStatus
from statusgraph.schema.mutations import Rejected, in_transaction, provided
from statusgraph.schema.permissions import requires
from statusgraph.schema.preload import NOT_LOADED, NotLoaded, preloaded_or, selection_paths, under
from statusgraph.schema.relay import Connection, Node, page_args
from statusgraph.schema.services import DeletePayload, Service, services_by_ids
from statusgraph.schema.user_errors import UserError


@strawberry.type
class AffectedService:
    status: ServiceStatus = strawberry.field(description="What this incident holds the service at.")
    service_id: strawberry.Private[str]
    preloaded_service: strawberry.Private[Service | NotLoaded] = NOT_LOADED

    @strawberry.field(graphql_type=Service)
    def service(self, info: Info) -> Service | Awaitable[Service]:
        async def load() -> Service:
            row = await info.context.loaders.service.load(self.service_id)
            if row is None:  # deleted since the incident was read (deletes cascade)
                raise NotFoundError.of("Service")
            return Service.of(row)

        return preloaded_or(self.preloaded_service, load)


@strawberry.type
class ServiceStatusChange:
    service_id: strawberry.ID
    status: ServiceStatus


@strawberry.type(description="One entry of an incident's timeline.")
class IncidentUpdate(Node):
    status: IncidentStatus
    message: str
    created_at: datetime
    author: Actor
    service_statuses: list[ServiceStatusChange]

    @classmethod
    def of(cls, row: models.IncidentUpdate) -> "IncidentUpdate":
        return cls(
            id=strawberry.ID(row.id),
            status=v.IncidentStatus(row.status),
            message=row.message,
            created_at=row.created_at,
            author=Actor.of(row.author_type, row.author_id, row.author_label),
            service_statuses=[
                ServiceStatusChange(service_id=strawberry.ID(key), status=v.ServiceStatus(value))
                for key, value in sorted(row.service_statuses.items())
            ],
        )


@strawberry.type
class Incident(Node):
    title: str
    status: IncidentStatus
    impact: IncidentImpact
    started_at: datetime
    resolved_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # Filled by `incidents_of` when the root's selection asks for them (schema/preload.py).
    preloaded_affected: strawberry.Private[list[AffectedService] | NotLoaded] = NOT_LOADED
    preloaded_updates: strawberry.Private[list[IncidentUpdate] | NotLoaded] = NOT_LOADED

    @strawberry.field(graphql_type=list[AffectedService])
    def affected_services(
        self, info: Info
    ) -> list[AffectedService] | Awaitable[list[AffectedService]]:
        async def load() -> list[AffectedService]:
            return _affected(await info.context.loaders.incident_effects.load(str(self.id)))

        return preloaded_or(self.preloaded_affected, load)

    @strawberry.field(graphql_type=list[IncidentUpdate], description="Oldest first.")
    def updates(self, info: Info) -> list[IncidentUpdate] | Awaitable[list[IncidentUpdate]]:
        async def load() -> list[IncidentUpdate]:
            rows = await info.context.loaders.incident_updates.load(str(self.id))
            return [IncidentUpdate.of(row) for row in rows]

        return preloaded_or(self.preloaded_updates, load)

    @classmethod
    def of(cls, row: models.Incident) -> "Incident":
        return cls(
            id=strawberry.ID(row.id),
            title=row.title,
            status=v.IncidentStatus(row.status),
            impact=v.IncidentImpact(row.impact),
            started_at=row.started_at,
            resolved_at=row.resolved_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def _affected(effects: list[incidents.Effect]) -> list[AffectedService]:
    return [
        AffectedService(status=v.ServiceStatus(row.status), service_id=row.service_id)
        for row in effects
    ]


async def incidents_of(
    session: AsyncSession, rows: Sequence[models.Incident], wanted: frozenset[str], now: datetime
) -> list[Incident]:
    """`rows` as Incident objects with what `wanted` (the paths selected under an
    Incident) asks for preloaded: one statement per kind, whatever the number of rows."""
    found = [Incident.of(row) for row in rows]
    ids = [row.id for row in rows]
    if "updates" in wanted:
        timelines = await incidents.updates_for(session, ids)
        for incident in found:
            incident.preloaded_updates = [IncidentUpdate.of(u) for u in timelines[str(incident.id)]]
    if "affectedServices" in wanted:
        effects = await incidents.effects_for(session, ids)
        affected = {incident_id: _affected(each) for incident_id, each in effects.items()}
        service_wanted = under(wanted, "affectedServices.service")
        if service_wanted:
            service_ids = (a.service_id for each in affected.values() for a in each)
            by_id = await services_by_ids(session, service_ids, service_wanted, now)
            for each in affected.values():
                for one in each:
                    # A service deleted since the effects were read (PostgreSQL reads each
                    # statement's own snapshot) falls back to the loader, which says so.
                    if one.service_id in by_id:
                        one.preloaded_service = by_id[one.service_id]
        for incident in found:
            incident.preloaded_affected = affected[str(incident.id)]
    return found


@strawberry.input
class ServiceEffectInput:
    service_id: strawberry.ID
    status: ServiceStatus


@strawberry.input
class CreateIncidentInput:
    title: str
    message: str = strawberry.field(description="The first entry of the timeline.")
    status: IncidentStatus = v.IncidentStatus.INVESTIGATING
    impact: IncidentImpact = v.IncidentImpact.MINOR
    services: list[ServiceEffectInput] = strawberry.field(default_factory=list)
    started_at: datetime | None = strawberry.field(default=None, description="Defaults to now.")


@strawberry.input
class PostIncidentUpdateInput:
    status: IncidentStatus
    message: str
    services: list[ServiceEffectInput] = strawberry.field(
        default_factory=list, description="Statuses to set; a service not yet affected is added."
    )


@strawberry.input
class UpdateIncidentInput:
    title: str | None = strawberry.UNSET
    impact: IncidentImpact | None = strawberry.UNSET
    started_at: datetime | None = strawberry.UNSET


@strawberry.type
class IncidentPayload:
    incident: Incident | None
    user_errors: list[UserError]


@strawberry.type
class PostIncidentUpdatePayload:
    incident: Incident | None
    update: IncidentUpdate | None
    user_errors: list[UserError]


def _effects(items: list[ServiceEffectInput]) -> list[incidents.ServiceEffect]:
    return [
        incidents.ServiceEffect(service_id=item.service_id, status=item.status) for item in items
    ]


@strawberry.type
class IncidentQueries:
    @strawberry.field(extensions=requires(Scope.incidents_read), description="Newest first.")
    async def incidents(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        open_only: bool = False,
    ) -> Connection[Incident] | None:
        ctx = info.context
        principal = ctx.require_principal()
        paths = selection_paths(info)
        async with ctx.read() as session:
            page = await incidents.list_incidents(
                session,
                principal.organization_id,
                open_only=open_only,
                page=page_args(first, after, last, before),
                with_count="totalCount" in paths,
            )
            nodes = await incidents_of(session, page.rows, under(paths, "edges.node"), ctx.now)
        return Connection.over(page, nodes)

    @strawberry.field(extensions=requires(Scope.incidents_read))
    async def incident(self, info: Info, id: strawberry.ID) -> Incident | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            row = await owned.require_owned(
                session, models.Incident, principal.organization_id, id, "Incident"
            )
            [incident] = await incidents_of(session, [row], selection_paths(info), ctx.now)
        return incident


@strawberry.type
class IncidentMutations:
    @strawberry.mutation(extensions=requires(Scope.incidents_write))
    async def create_incident(self, info: Info, input: CreateIncidentInput) -> IncidentPayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: incidents.create_incident(
                s,
                principal,
                title=input.title,
                status=input.status,
                impact=input.impact,
                message=input.message,
                effects=_effects(input.services),
                started_at=input.started_at,
                request=ctx.request_info,
                now=ctx.now,
            ),
        )
        if isinstance(result, Rejected):
            return IncidentPayload(incident=None, user_errors=result.user_errors)
        return IncidentPayload(incident=Incident.of(result), user_errors=[])

    @strawberry.mutation(extensions=requires(Scope.incidents_write))
    async def post_incident_update(
        self, info: Info, id: strawberry.ID, input: PostIncidentUpdateInput
    ) -> PostIncidentUpdatePayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: incidents.post_update(
                s,
                principal,
                incident_id=id,
                status=input.status,
                message=input.message,
                effects=_effects(input.services),
                request=ctx.request_info,
                now=ctx.now,
            ),
        )
        if isinstance(result, Rejected):
            return PostIncidentUpdatePayload(
                incident=None, update=None, user_errors=result.user_errors
            )
        incident, update = result
        return PostIncidentUpdatePayload(
            incident=Incident.of(incident), update=IncidentUpdate.of(update), user_errors=[]
        )

    @strawberry.mutation(
        extensions=requires(Scope.incidents_write), description="Title, impact, start time."
    )
    async def update_incident(
        self, info: Info, id: strawberry.ID, input: UpdateIncidentInput
    ) -> IncidentPayload:
        ctx = info.context
        principal = ctx.require_principal()
        changes = provided(
            input, {"title": "title", "impact": "impact", "started_at": "started_at"}
        )
        result = await in_transaction(
            ctx,
            lambda s: incidents.edit_incident(
                s,
                principal,
                incident_id=id,
                changes=changes,
                request=ctx.request_info,
                now=ctx.now,
            ),
        )
        if isinstance(result, Rejected):
            return IncidentPayload(incident=None, user_errors=result.user_errors)
        return IncidentPayload(incident=Incident.of(result), user_errors=[])

    @strawberry.mutation(
        extensions=requires(Scope.incidents_write),
        description="Posts a RESOLVED update; services return to their manual status unless "
        "another open incident or maintenance in progress still holds them.",
    )
    async def resolve_incident(
        self, info: Info, id: strawberry.ID, message: str = incidents.RESOLVED_MESSAGE
    ) -> PostIncidentUpdatePayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: incidents.post_update(
                s,
                principal,
                incident_id=id,
                status=v.IncidentStatus.RESOLVED,
                message=message,
                effects=[],
                request=ctx.request_info,
                now=ctx.now,
            ),
        )
        if isinstance(result, Rejected):
            return PostIncidentUpdatePayload(
                incident=None, update=None, user_errors=result.user_errors
            )
        incident, update = result
        return PostIncidentUpdatePayload(
            incident=Incident.of(incident), update=IncidentUpdate.of(update), user_errors=[]
        )

    @strawberry.mutation(extensions=requires(Scope.incidents_write))
    async def delete_incident(self, info: Info, id: strawberry.ID) -> DeletePayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: incidents.delete_incident(
                s, principal, incident_id=id, request=ctx.request_info, now=ctx.now
            ),
        )
        if isinstance(result, Rejected):
            return DeletePayload(deleted_id=None, user_errors=result.user_errors)
        return DeletePayload(deleted_id=strawberry.ID(result), user_errors=[])
