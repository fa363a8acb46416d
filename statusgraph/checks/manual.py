"""What the API needs of the checks: where a monitor may point, the shortest interval,
and "check now" (`runMonitorCheck`), which probes at once and records the result like
any scheduled check (results.record with `manual`: the schedule is kept)."""

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.principal import Principal, RequestInfo
from statusgraph.auth.scopes import Scope
from statusgraph.checks.guard import Guard
from statusgraph.checks.prober import Prober, Target
from statusgraph.checks.results import Checked, record
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import CheckResult, Monitor
from statusgraph.resolvers import audit
from statusgraph.resolvers.monitors import MonitorType
from statusgraph.resolvers.user_errors import Problems

MIN_INTERVAL = 30
__all__ = ["Checking", "Target", "check_now", "read_result", "target_of"]


@dataclass(frozen=True, slots=True)
class Checking:
    guard: Guard = field(default_factory=Guard)
    prober: Prober | None = None  # None: this process cannot check now (tests)
    min_interval: int = MIN_INTERVAL


def target_of(monitor: Monitor, now: datetime) -> Target:
    """A monitor's check, refused with a userError for one that is not checked."""
    problems = Problems()
    if monitor.type == MonitorType.HEARTBEAT:
        problems.add("id", "NOT_CHECKED", "HEARTBEAT monitors are not checked: they wait for pings")
    elif monitor.paused:
        problems.add("id", "PAUSED", "Monitor is paused: resume it first")
    problems.raise_if_any()
    return Target(
        monitor_id=monitor.id,
        type=monitor.type,
        settings=dict(monitor.settings),
        timeout_seconds=monitor.timeout_seconds,
        interval_seconds=monitor.interval_seconds,
        due=now,
        version=monitor.updated_at,
    )


async def check_now(
    db: SessionFactory,
    prober: Prober,
    target: Target,
    *,
    principal: Principal,
    request: RequestInfo,
    now: datetime,
) -> str | None:
    """Probes `target` (outside any transaction), records the result and an audit entry;
    the result's id, or None when the monitor was deleted meanwhile."""
    outcome = await prober.probe(target, now)
    async with db.begin() as session:
        recorded = await record(session, [Checked(target, now, outcome)], now=now, manual=True)
        result_id = recorded.result_ids[0]
        if result_id is not None:
            await audit.record_change(
                session,
                principal,
                "monitor.checked",
                await session.get(Monitor, target.monitor_id),
                scope=Scope.monitors_write,
                request=request,
                now=now,
                details={"up": outcome.up, "reason": outcome.reason[:200]},
            )
    return result_id


async def read_result(session: AsyncSession, result_id: str) -> CheckResult | None:
    return await session.get(CheckResult, result_id)
