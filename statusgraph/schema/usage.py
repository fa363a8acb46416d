"""organization.usage (DESIGN §15, `billing:read`): the plan, its limits and current use."""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from statusgraph.resolvers import usage as usage_ops
from statusgraph.resolvers.pagination import PageArgs
from statusgraph.schema.api_keys import ApiKey
from statusgraph.schema.context import Info

if TYPE_CHECKING:
    from statusgraph.schema.organizations import Plan


@strawberry.type(description="A rate-limit bucket a credential of the plan is charged to.")
class RateLimit:
    bucket: str = strawberry.field(
        description="standard (or read and write for plans that split it), sandbox "
        "(sg_test_ keys), heartbeat (/api/heartbeat/*)."
    )
    limit: int = strawberry.field(description="Requests per window, per credential.")
    window_seconds: int


@strawberry.type
class PlanLimits:
    status_pages: int | None = strawberry.field(description="null: unlimited.")
    visibilities: list[str] = strawberry.field(description="The page visibilities allowed.")
    ip_allowlists: bool = strawberry.field(description="Whether keys may have IP allowlists.")
    rate_limits: list[RateLimit]


@strawberry.type(description="What the organization has now.")
class UsageCounts:
    status_pages: int
    api_keys: int = strawberry.field(description="Usable keys: neither revoked nor expired.")
    members: int
    monitors: int
    services: int
    notification_channels: int
    workflows: int


@strawberry.type
class KeyRequests:
    key: ApiKey
    requests: int = strawberry.field(description="Requests this month (UTC).")
    last_request_at: datetime


@strawberry.type
class OAuthGrantRequests:
    grant_id: strawberry.ID = strawberry.field(description="An oauthGrants node's id.")
    requests: int = strawberry.field(description="Requests this month (UTC), all its tokens.")
    last_request_at: datetime


def _first(first: int) -> int:
    """0 to 100, as a connection's page (a negative or larger one is refused)."""
    return PageArgs(first=first).size()


@strawberry.type(
    description="Plan, limits and current use (docs/usage.md). Requests are counted in "
    "memory and written every STATUSGRAPH_USAGE_FLUSH_SECONDS (60 by default), so they "
    "lag by up to that long."
)
class Usage:
    organization_id: strawberry.Private[str]
    plan_name: strawberry.Private[str]
    now: strawberry.Private[datetime]
    period_start: datetime = strawberry.field(
        description="The start of this month (UTC), from which requests are counted."
    )

    @strawberry.field
    def plan(self) -> Annotated["Plan", strawberry.lazy("statusgraph.schema.organizations")]:
        from statusgraph.schema.organizations import Plan

        return Plan(self.plan_name)

    @strawberry.field
    def limits(self, info: Info) -> PlanLimits:
        found = usage_ops.plan_limits(self.plan_name, info.context.rate_limits)
        return PlanLimits(
            status_pages=found.status_pages,
            visibilities=found.visibilities,
            ip_allowlists=found.ip_allowlists,
            rate_limits=[
                RateLimit(bucket=b, limit=n, window_seconds=s) for b, n, s in found.rate_limits
            ],
        )

    @strawberry.field
    async def counts(self, info: Info) -> UsageCounts:
        async with info.context.read() as session:
            found = await usage_ops.counts(session, self.organization_id, now=self.now)
        return UsageCounts(
            status_pages=found.status_pages,
            api_keys=found.api_keys,
            members=found.members,
            monitors=found.monitors,
            services=found.services,
            notification_channels=found.notification_channels,
            workflows=found.workflows,
        )

    @strawberry.field(description="Requests this month (UTC) by every key and OAuth grant.")
    async def requests_this_month(self, info: Info) -> int:
        async with info.context.read() as session:
            return await usage_ops.requests_since(
                session, self.organization_id, self.period_start.date()
            )

    @strawberry.field(
        description="The keys that made the most requests this month, most first (at most 100)."
    )
    async def requests_by_key(self, info: Info, first: int = 20) -> list[KeyRequests]:
        async with info.context.read() as session:
            rows = await usage_ops.requests_by_credential(
                session,
                self.organization_id,
                self.period_start.date(),
                kind="api_key",
                first=_first(first),
            )
            keys = await usage_ops.keys_by_id(
                session, self.organization_id, [row.credential_id for row in rows]
            )
        return [
            KeyRequests(
                key=ApiKey.of(keys[row.credential_id], self.now),
                requests=row.requests,
                last_request_at=row.last_request_at,
            )
            for row in rows
            if row.credential_id in keys
        ]

    @strawberry.field(
        name="requestsByOAuthGrant",
        description="The OAuth grants that made the most requests this month, most first "
        "(at most 100).",
    )
    async def requests_by_oauth_grant(
        self, info: Info, first: int = 20
    ) -> list[OAuthGrantRequests]:
        async with info.context.read() as session:
            rows = await usage_ops.requests_by_credential(
                session,
                self.organization_id,
                self.period_start.date(),
                kind="oauth_token",
                first=_first(first),
            )
        return [
            OAuthGrantRequests(
                grant_id=strawberry.ID(row.credential_id),
                requests=row.requests,
                last_request_at=row.last_request_at,
            )
            for row in rows
        ]


def usage_of(organization_id: str, plan: str, now: datetime) -> Usage:
    start = usage_ops.month_start(now)
    return Usage(
        organization_id=organization_id,
        plan_name=plan,
        now=now,
        period_start=datetime(start.year, start.month, 1, tzinfo=now.tzinfo),
    )
