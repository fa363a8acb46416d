"""What active checks found, over GraphQL (DESIGN §10): results, certificates,
registrations, uptime, daily bars and response times. Scope: monitors:read, through
the Monitor (or public page) they hang from."""

import enum
import math
from datetime import date, datetime, timedelta
from typing import Any

import strawberry

from statusgraph.checks import uptime
from statusgraph.checks.history import ResponseTimes as ResponseTimeRow
from statusgraph.checks.probes import Failure
from statusgraph.schema.relay import Node

strawberry.enum(Failure, name="CheckFailure")


@strawberry.type
class CheckPhases:
    """Milliseconds per phase, as far as the check got."""

    resolve: float | None
    connect: float | None
    first_byte: float | None
    total: float | None


@strawberry.type
class CheckResult(Node):
    checked_at: datetime
    up: bool
    failure: Failure | None = strawberry.field(description="Why it failed, when it did.")
    reason: str
    response_time_ms: float | None
    status_code: int | None
    phases: CheckPhases | None

    @classmethod
    def of(cls, row: Any) -> "CheckResult":
        """From a CheckResult model or a Core row of check_result."""
        phases = (row.details or {}).get("phases")
        return cls(
            id=strawberry.ID(row.id),
            checked_at=row.checked_at,
            up=row.up,
            failure=Failure(row.failure) if row.failure else None,
            reason=row.reason,
            response_time_ms=row.response_ms,
            status_code=row.status_code,
            phases=CheckPhases(
                resolve=phases.get("resolve"),
                connect=phases.get("connect"),
                first_byte=phases.get("first_byte"),
                total=phases.get("total"),
            )
            if phases
            else None,
        )


def _days_left(moment: datetime, now: datetime) -> int:
    return math.floor((moment - now).total_seconds() / 86400)


@strawberry.type
class Certificate:
    subject: str
    issuer: str
    not_after: datetime
    days_left: int

    @classmethod
    def of(cls, found: dict[str, Any], now: datetime) -> "Certificate":
        not_after = datetime.fromisoformat(found["not_after"])
        return cls(
            subject=found["subject"],
            issuer=found["issuer"],
            not_after=not_after,
            days_left=_days_left(not_after, now),
        )


@strawberry.type
class Registration:
    registrar: str | None
    expires_at: datetime
    days_left: int

    @classmethod
    def of(cls, found: dict[str, Any], now: datetime) -> "Registration":
        expires_at = datetime.fromisoformat(found["expires_at"])
        return cls(
            registrar=found.get("registrar"),
            expires_at=expires_at,
            days_left=_days_left(expires_at, now),
        )


@strawberry.enum
class UptimeWindow(enum.Enum):
    LAST_24_HOURS = "24h"
    LAST_7_DAYS = "7d"
    LAST_30_DAYS = "30d"
    LAST_90_DAYS = "90d"


WINDOW_LENGTH = {
    UptimeWindow.LAST_24_HOURS: timedelta(hours=24),
    UptimeWindow.LAST_7_DAYS: timedelta(days=7),
    UptimeWindow.LAST_30_DAYS: timedelta(days=30),
    UptimeWindow.LAST_90_DAYS: timedelta(days=90),
}


@strawberry.type(description="Time-weighted: maintenance, paused and pending time left out.")
class Uptime:
    window: UptimeWindow
    percent: float | None = strawberry.field(description="Null when nothing is known yet.")
    up_seconds: float
    down_seconds: float

    @classmethod
    def of(cls, window: UptimeWindow, spans: list[uptime.Span]) -> "Uptime":
        found = uptime.uptime(spans)
        return cls(
            window=window,
            percent=found.percent,
            up_seconds=found.up_seconds,
            down_seconds=found.down_seconds,
        )


@strawberry.enum
class DayStatus(enum.Enum):
    NO_DATA = "no_data"
    UP = "up"
    LATE = "late"
    MAINTENANCE = "maintenance"
    DOWN = "down"


@strawberry.type(description="One UTC day: its worst status and its downtime.")
class DailyBar:
    date: date
    status: DayStatus
    downtime_minutes: int
    maintenance_minutes: int
    uptime_percent: float | None

    @classmethod
    def of(cls, bar: uptime.DayBar) -> "DailyBar":
        return cls(
            date=bar.day,
            status=DayStatus(bar.worst),
            downtime_minutes=bar.downtime_minutes,
            maintenance_minutes=math.ceil(bar.maintenance_seconds / 60),
            uptime_percent=bar.uptime_percent,
        )


@strawberry.enum
class TimeBucket(enum.Enum):
    HOUR = "hour"
    DAY = "day"


@strawberry.type(description="Response times of one hour or day, from the histograms.")
class ResponseTimes:
    starts_at: datetime
    checks: int
    failures: int
    average_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @classmethod
    def of(cls, row: ResponseTimeRow) -> "ResponseTimes":
        return cls(
            starts_at=row.starts_at,
            checks=row.checks,
            failures=row.failures,
            average_ms=row.average_ms,
            p50_ms=row.p50_ms,
            p95_ms=row.p95_ms,
            p99_ms=row.p99_ms,
        )
