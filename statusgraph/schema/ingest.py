"""Beacon keys and events, metrics and their points, over GraphQL.

Scopes: config:read / config:write for beacon keys, monitors:read for beacon events,
metrics:read for metrics.
"""

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from statusgraph.auth.scopes import Scope
from statusgraph.db import models
from statusgraph.resolvers import beacons, metrics, owned
from statusgraph.resolvers.metrics import Bucket
from statusgraph.schema.context import Info
from statusgraph.schema.mutations import Rejected, in_transaction, provided
from statusgraph.schema.permissions import requires
from statusgraph.schema.relay import Connection, Node, page_args, selects
from statusgraph.schema.user_errors import UserError

strawberry.enum(Bucket, name="MetricBucket")


@strawberry.type(description="A public key for browsers to post beacon events with.")
class BeaconKey(Node):
    name: str
    key: str = strawberry.field(description="Public by design: put it in your pages.")
    allowed_origins: list[str]
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: models.BeaconKey) -> "BeaconKey":
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            key=row.key,
            allowed_origins=list(row.allowed_origins),
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )


@strawberry.type
class BeaconEvent(Node):
    type: str
    name: str | None
    url: str | None
    data: JSON
    occurred_at: datetime
    ip: str | None
    user_agent: str | None
    beacon_key_id: strawberry.ID
    created_at: datetime

    @classmethod
    def of(cls, row: models.BeaconEvent) -> "BeaconEvent":
        return cls(
            id=strawberry.ID(row.id),
            type=row.type,
            name=row.name,
            url=row.url,
            data=cast(JSON, row.data),
            occurred_at=row.occurred_at,
            ip=row.ip,
            user_agent=row.user_agent,
            beacon_key_id=strawberry.ID(row.beacon_key_id),
            created_at=row.created_at,
        )


@strawberry.type
class MetricPoint:
    timestamp: datetime
    value: float
    tags: JSON


@strawberry.type
class MetricAggregate:
    start: datetime
    count: int
    min: float
    max: float
    avg: float
    sum: float


@strawberry.type
class Metric(Node):
    name: str
    created_at: datetime

    @strawberry.field(description="Raw points in [since, until), oldest first (at most 50,000).")
    async def points(self, info: Info, since: datetime, until: datetime) -> list[MetricPoint]:
        async with info.context.read() as session:
            rows = await metrics.points_between(session, str(self.id), since, until)
        return [
            MetricPoint(timestamp=row.timestamp, value=row.value, tags=cast(JSON, row.tags))
            for row in rows
        ]

    @strawberry.field(description="Points in [since, until) summed up per minute or hour (UTC).")
    async def series(
        self, info: Info, since: datetime, until: datetime, bucket: Bucket
    ) -> list[MetricAggregate]:
        async with info.context.read() as session:
            rows = await metrics.points_between(session, str(self.id), since, until)
        return [
            MetricAggregate(
                start=a.start,
                count=a.count,
                min=a.minimum,
                max=a.maximum,
                avg=a.average,
                sum=a.total,
            )
            for a in metrics.aggregate(rows, bucket)
        ]

    @classmethod
    def of(cls, row: models.Metric) -> "Metric":
        return cls(id=strawberry.ID(row.id), name=row.name, created_at=row.created_at)


@strawberry.input
class UpdateBeaconKeyInput:
    name: str | None = strawberry.UNSET
    allowed_origins: list[str] | None = strawberry.UNSET


@strawberry.type
class BeaconKeyPayload:
    beacon_key: BeaconKey | None
    user_errors: list[UserError]


def _payload(result: models.BeaconKey | Rejected) -> BeaconKeyPayload:
    if isinstance(result, Rejected):
        return BeaconKeyPayload(beacon_key=None, user_errors=result.user_errors)
    return BeaconKeyPayload(beacon_key=BeaconKey.of(result), user_errors=[])


@strawberry.type
class IngestQueries:
    @strawberry.field(extensions=requires(Scope.config_read))
    async def beacon_keys(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[BeaconKey] | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            page = await beacons.list_keys(
                session,
                principal.organization_id,
                page=page_args(first, after, last, before),
                with_count=selects(info, "totalCount"),
            )
        return Connection.of(page, BeaconKey.of)

    @strawberry.field(extensions=requires(Scope.monitors_read), description="Newest first.")
    async def beacon_events(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        type: str | None = None,
    ) -> Connection[BeaconEvent] | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            page = await beacons.list_events(
                session,
                principal.organization_id,
                kind=type,
                page=page_args(first, after, last, before),
                with_count=selects(info, "totalCount"),
            )
        return Connection.of(page, BeaconEvent.of)

    @strawberry.field(extensions=requires(Scope.metrics_read))
    async def metrics(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Metric] | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            page = await metrics.list_metrics(
                session,
                principal.organization_id,
                page=page_args(first, after, last, before),
                with_count=selects(info, "totalCount"),
            )
        return Connection.of(page, Metric.of)

    @strawberry.field(extensions=requires(Scope.metrics_read))
    async def metric(self, info: Info, id: strawberry.ID) -> Metric | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            row = await owned.require_owned(
                session, models.Metric, principal.organization_id, id, "Metric"
            )
        return Metric.of(row)


@strawberry.type
class IngestMutations:
    @strawberry.mutation(extensions=requires(Scope.config_write))
    async def create_beacon_key(
        self, info: Info, name: str, allowed_origins: list[str]
    ) -> BeaconKeyPayload:
        ctx = info.context
        principal = ctx.require_principal()
        return _payload(
            await in_transaction(
                ctx,
                lambda s: beacons.create_key(
                    s,
                    principal,
                    name=name,
                    allowed_origins=allowed_origins,
                    request=ctx.request_info,
                    now=ctx.now,
                ),
            )
        )

    @strawberry.mutation(extensions=requires(Scope.config_write))
    async def update_beacon_key(
        self, info: Info, id: strawberry.ID, input: UpdateBeaconKeyInput
    ) -> BeaconKeyPayload:
        ctx = info.context
        principal = ctx.require_principal()
        changes = provided(input, {"name": "name", "allowed_origins": "allowed_origins"})
        return _payload(
            await in_transaction(
                ctx,
                lambda s: beacons.update_key(
                    s,
                    principal,
                    key_id=id,
                    changes=changes,
                    request=ctx.request_info,
                    now=ctx.now,
                ),
            )
        )

    @strawberry.mutation(extensions=requires(Scope.config_write))
    async def revoke_beacon_key(self, info: Info, id: strawberry.ID) -> BeaconKeyPayload:
        ctx = info.context
        principal = ctx.require_principal()
        return _payload(
            await in_transaction(
                ctx,
                lambda s: beacons.revoke_key(
                    s, principal, key_id=id, request=ctx.request_info, now=ctx.now
                ),
            )
        )
