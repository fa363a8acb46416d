"""The organization's plan, its limits and current use (DESIGN §15, `billing:read`).

Requests are read from request_count, which each web process's usage flush fills
(resolvers/key_usage.py): figures lag the requests by at most
STATUSGRAPH_USAGE_FLUSH_SECONDS. "This month" is the UTC calendar month.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlmodel import SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.db.models import (
    ApiKey,
    Membership,
    Monitor,
    NotificationChannel,
    RequestCount,
    Service,
    StatusPage,
    Workflow,
)
from statusgraph.db.models.accounts import Plan
from statusgraph.db.scoping import for_org, owned_by
from statusgraph.resolvers.vocabulary import PLAN_PAGE_LIMITS, PLAN_VISIBILITIES

# plan -> [(bucket, requests, window seconds)], from the limiter (ratelimit.Limiter).
RateLimits = Callable[[str], list[tuple[str, int, int]]]


@dataclass(frozen=True, slots=True)
class PlanLimits:
    status_pages: int | None  # None: unlimited
    visibilities: list[str]
    ip_allowlists: bool
    rate_limits: list[tuple[str, int, int]]


@dataclass(frozen=True, slots=True)
class Counts:
    status_pages: int
    api_keys: int  # usable now: neither revoked nor expired
    members: int
    monitors: int
    services: int
    notification_channels: int
    workflows: int


@dataclass(frozen=True, slots=True)
class CredentialRequests:
    credential_id: str
    requests: int
    last_request_at: datetime


def month_start(now: datetime) -> date:
    return now.date().replace(day=1)


def plan_limits(plan: str, rate_limits: RateLimits | None) -> PlanLimits:
    return PlanLimits(
        status_pages=PLAN_PAGE_LIMITS.get(plan),
        visibilities=sorted(v.value.upper() for v in PLAN_VISIBILITIES.get(plan, ())),
        ip_allowlists=plan == Plan.enterprise,
        rate_limits=rate_limits(plan) if rate_limits is not None else [],
    )


async def _count(
    session: AsyncSession, model: type[SQLModel], organization_id: str, *extra: Any
) -> int:
    statement = (
        select(func.count()).select_from(model).where(owned_by(model, organization_id), *extra)
    )
    return int((await session.exec(statement)).one()[0])  # type: ignore[call-overload]


async def counts(session: AsyncSession, organization_id: str, *, now: datetime) -> Counts:
    usable = (
        col(ApiKey.revoked_at).is_(None),
        or_(col(ApiKey.expires_at).is_(None), col(ApiKey.expires_at) > now),
    )
    return Counts(
        status_pages=await _count(session, StatusPage, organization_id),
        api_keys=await _count(session, ApiKey, organization_id, *usable),
        members=await _count(session, Membership, organization_id),
        monitors=await _count(session, Monitor, organization_id),
        services=await _count(session, Service, organization_id),
        notification_channels=await _count(session, NotificationChannel, organization_id),
        workflows=await _count(session, Workflow, organization_id),
    )


async def requests_since(session: AsyncSession, organization_id: str, since: date) -> int:
    statement = select(func.coalesce(func.sum(RequestCount.requests), 0)).where(
        owned_by(RequestCount, organization_id), col(RequestCount.day) >= since
    )
    return int((await session.exec(statement)).one()[0])  # type: ignore[call-overload]


async def requests_by_credential(
    session: AsyncSession, organization_id: str, since: date, *, kind: str, first: int
) -> list[CredentialRequests]:
    """The credentials of `kind` that made the most requests since `since`, most first."""
    total = func.sum(RequestCount.requests)
    statement = (
        select(col(RequestCount.credential_id), total, func.max(col(RequestCount.last_request_at)))
        .where(
            owned_by(RequestCount, organization_id),
            col(RequestCount.day) >= since,
            col(RequestCount.credential_kind) == kind,
        )
        .group_by(col(RequestCount.credential_id))
        .order_by(total.desc(), col(RequestCount.credential_id))
        .limit(first)
    )
    rows = (await session.exec(statement)).all()  # type: ignore[call-overload]
    return [CredentialRequests(row[0], int(row[1]), row[2]) for row in rows]


async def keys_by_id(
    session: AsyncSession, organization_id: str, ids: list[str]
) -> dict[str, ApiKey]:
    if not ids:
        return {}
    statement = for_org(ApiKey, organization_id).where(col(ApiKey.id).in_(ids))
    return {key.id: key for key in (await session.exec(statement)).all()}
