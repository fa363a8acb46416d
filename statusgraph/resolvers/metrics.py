"""Metrics pushed by scripts (`POST /api/metrics/ingest`) and read back over GraphQL,
raw or in minute or hour buckets."""

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.db.models import Metric, MetricPoint
from statusgraph.db.scoping import for_org
from statusgraph.errors import BadUserInputError
from statusgraph.ids import new_id
from statusgraph.resolvers.pagination import Page, PageArgs, paginate

MAX_POINTS = 1000
MAX_TAGS = 20
NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
# Reads are bounded: a range may hold at most this many points.
MAX_READ_POINTS = 50_000


class Bucket(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"


@dataclass(frozen=True, slots=True)
class PointIn:
    name: str
    value: float
    timestamp: datetime
    tags: dict[str, str]


@dataclass(frozen=True, slots=True)
class Aggregate:
    start: datetime
    count: int
    minimum: float
    maximum: float
    total: float

    @property
    def average(self) -> float:
        return self.total / self.count


def parse_points(body: dict[str, Any], *, now: datetime) -> list[PointIn]:
    unknown = sorted(set(body) - {"points"})
    if unknown:
        raise BadUserInputError(f"Unknown field: {unknown[0]}")
    raw = body.get("points")
    if not isinstance(raw, list) or not raw:
        raise BadUserInputError("points must be a non-empty list")
    if len(raw) > MAX_POINTS:
        raise BadUserInputError(f"At most {MAX_POINTS} points per request")
    return [_point(item, index, now) for index, item in enumerate(raw)]


def _point(item: Any, index: int, now: datetime) -> PointIn:
    where = f"points[{index}]"
    if not isinstance(item, dict):
        raise BadUserInputError(f"{where} must be an object")
    unknown = sorted(set(item) - {"name", "value", "timestamp", "tags"})
    if unknown:
        raise BadUserInputError(f"{where}: unknown field {unknown[0]}")
    name = item.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise BadUserInputError(f"{where}.name must be 1 to 200 of A-Z a-z 0-9 _ . : -")
    value = item.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadUserInputError(f"{where}.value must be a finite number")
    stamp = now
    if item.get("timestamp") is not None:
        raw = item["timestamp"]
        try:
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                stamp = datetime.fromtimestamp(raw, UTC)
            else:
                stamp = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except (ValueError, OverflowError, OSError):
            raise BadUserInputError(
                f"{where}.timestamp must be ISO 8601 or epoch seconds"
            ) from None
        if stamp.tzinfo is None:
            raise BadUserInputError(f"{where}.timestamp must include a time zone")
        try:
            stamp = stamp.astimezone(UTC)  # what the column stores
        except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            raise BadUserInputError(f"{where}.timestamp is out of range") from None
    tags = item.get("tags", {})
    if (
        not isinstance(tags, dict)
        or len(tags) > MAX_TAGS
        or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 100 and len(v) <= 200
            for k, v in tags.items()
        )
    ):
        raise BadUserInputError(f"{where}.tags must map at most {MAX_TAGS} names to strings")
    return PointIn(name=name, value=float(value), timestamp=stamp, tags=tags)


async def _metrics_by_name(
    session: AsyncSession, organization_id: str, names: set[str]
) -> dict[str, Metric]:
    rows = await session.exec(for_org(Metric, organization_id).where(col(Metric.name).in_(names)))
    return {row.name: row for row in rows.all()}


async def ingest(
    session: AsyncSession, organization_id: str, points: Sequence[PointIn], *, now: datetime
) -> int:
    names = {point.name for point in points}
    metrics = await _metrics_by_name(session, organization_id, names)
    for name in sorted(names - set(metrics)):
        metric = Metric(
            id=new_id("met"), organization_id=organization_id, name=name, created_at=now
        )
        try:
            # A savepoint: a concurrent ingest may create the same metric first.
            async with session.begin_nested():
                session.add(metric)
                await session.flush()
        except IntegrityError:
            metric = (await _metrics_by_name(session, organization_id, {name}))[name]
        metrics[name] = metric
    for point in points:
        session.add(
            MetricPoint(
                id=new_id("mpt"),
                metric_id=metrics[point.name].id,
                timestamp=point.timestamp,
                value=point.value,
                tags=point.tags,
            )
        )
    await session.flush()
    return len(points)


async def list_metrics(
    session: AsyncSession, organization_id: str, *, page: PageArgs, with_count: bool = False
) -> Page[Metric]:
    return await paginate(
        session, for_org(Metric, organization_id), Metric, page, with_count=with_count
    )


async def points_between(
    session: AsyncSession, metric_id: str, since: datetime, until: datetime
) -> list[MetricPoint]:
    if until <= since:
        raise BadUserInputError("until must be after since")
    rows = list(
        (
            await session.exec(
                select(MetricPoint)
                .where(
                    MetricPoint.metric_id == metric_id,
                    col(MetricPoint.timestamp) >= since,
                    col(MetricPoint.timestamp) < until,
                )
                .order_by(col(MetricPoint.timestamp), col(MetricPoint.id))
                .limit(MAX_READ_POINTS + 1)
            )
        ).all()
    )
    if len(rows) > MAX_READ_POINTS:
        raise BadUserInputError(
            f"The range holds more than {MAX_READ_POINTS} points; ask for a shorter one"
        )
    return rows


def aggregate(points: Sequence[MetricPoint], bucket: Bucket) -> list[Aggregate]:
    size = timedelta(minutes=1) if bucket is Bucket.MINUTE else timedelta(hours=1)
    groups: dict[datetime, list[float]] = defaultdict(list)
    for point in points:
        stamp = point.timestamp
        start = stamp.replace(second=0, microsecond=0)
        if size == timedelta(hours=1):
            start = start.replace(minute=0)
        groups[start].append(point.value)
    return [
        Aggregate(
            start=start,
            count=len(values),
            minimum=min(values),
            maximum=max(values),
            total=sum(values),
        )
        for start, values in sorted(groups.items())
    ]
