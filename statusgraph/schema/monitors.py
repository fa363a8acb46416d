"""Monitors over GraphQL. Scopes: monitors:read, monitors:write."""

import asyncio
from collections.abc import Awaitable, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.scopes import Scope
from statusgraph.checks import history, manual
from statusgraph.checks.guard import BlockedAddressError, Guard
from statusgraph.db import models
from statusgraph.errors import BadUserInputError
from statusgraph.resolvers import heartbeats, monitor_secrets, monitors, owned
from statusgraph.resolvers.heartbeats import MonitorStatus, PingKind
from statusgraph.resolvers.monitors import HttpMethod, KeywordMode, MonitorType
from statusgraph.resolvers.vocabulary import ServiceStatus as ServiceStatusValue
from statusgraph.schema.checks import (
    WINDOW_LENGTH,
    Certificate,
    CheckResult,
    DailyBar,
    Registration,
    ResponseTimes,
    TimeBucket,
    Uptime,
    UptimeWindow,
)
from statusgraph.schema.context import Info
from statusgraph.schema.enums import ServiceStatus
from statusgraph.schema.mutations import Rejected, in_transaction, provided
from statusgraph.schema.permissions import requires
from statusgraph.schema.preload import NOT_LOADED, NotLoaded, preloaded_or, selection_paths, under
from statusgraph.schema.relay import Connection, Node, page_args, selects
from statusgraph.schema.services import DeletePayload, Service, services_by_ids
from statusgraph.schema.user_errors import UserError

for _enum in (MonitorType, HttpMethod, MonitorStatus, PingKind, KeywordMode):
    strawberry.enum(_enum)

MAX_BARS = 400
# How many response-time buckets one request may ask for: 31 days of hours, 400 of days.
MAX_BUCKETS = 744


@strawberry.type
class HttpHeader:
    name: str
    value: str


@strawberry.input
class HttpHeaderInput:
    name: str
    value: str


@strawberry.type
class HeartbeatPing(Node):
    kind: PingKind
    message: str | None
    duration_ms: int | None
    ip: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: models.HeartbeatPing) -> "HeartbeatPing":
        return cls(
            id=strawberry.ID(row.id),
            kind=PingKind(row.kind),
            message=row.message,
            duration_ms=row.duration_ms,
            ip=row.ip,
            created_at=row.created_at,
        )


@strawberry.type
class MonitorStatusChange(Node):
    from_status: MonitorStatus
    to_status: MonitorStatus
    reason: str
    created_at: datetime

    @classmethod
    def of(cls, row: models.MonitorStatusChange) -> "MonitorStatusChange":
        return cls(
            id=strawberry.ID(row.id),
            from_status=MonitorStatus(row.from_status),
            to_status=MonitorStatus(row.to_status),
            reason=row.reason,
            created_at=row.created_at,
        )


@strawberry.type
class Monitor(Node):
    name: str
    type: MonitorType
    paused: bool
    status: MonitorStatus = strawberry.field(
        description="Heartbeats: derived from their pings and the clock. Active checks: "
        "PENDING until the first check, then UP or DOWN as the checks confirm."
    )
    interval_seconds: int | None
    timeout_seconds: int | None
    period_seconds: int | None
    grace_seconds: int | None
    url: str | None
    method: HttpMethod | None
    expected_status_codes: list[int] | None
    keyword: str | None
    host: str | None
    port: int | None
    domain: str | None
    warning_days: int | None = strawberry.field(
        deprecation_reason="Use expiryThresholdDays (DESIGN §10's name); the same value."
    )
    expiry_threshold_days: int | None = strawberry.field(
        description="SSL and DOMAIN: DOWN when the certificate or registration expires "
        "within this many days (default 14 for SSL, 30 for DOMAIN)."
    )
    headers: list[HttpHeader] | None
    body: str | None
    follow_redirects: bool | None
    verify_tls: bool | None
    keyword_mode: KeywordMode | None
    case_sensitive: bool | None
    sni_name: str | None
    confirmations: int | None = strawberry.field(
        description="Consecutive failed checks before DOWN (active checks; default 2)."
    )
    retry_interval_seconds: int | None = strawberry.field(
        description="After a failure, the next check comes this much later (default 20)."
    )
    status_when_down: ServiceStatus = strawberry.field(
        description="What the linked service shows while this monitor is DOWN."
    )
    notify_channel_ids: list[strawberry.ID] | None = strawberry.field(
        description="The channels this monitor's events go to; null: every channel whose "
        "filters match."
    )
    renotify_minutes: int | None = strawberry.field(
        description="While DOWN, remind every this many minutes; null: never."
    )
    last_ping_at: datetime | None
    next_deadline_at: datetime | None
    next_check_at: datetime | None = strawberry.field(
        description="Active checks: when the next check is due."
    )
    created_at: datetime
    updated_at: datetime
    service_id: strawberry.Private[str | None]
    row: strawberry.Private[models.Monitor]
    now: strawberry.Private[datetime]
    preloaded_service: strawberry.Private[Service | NotLoaded | None] = NOT_LOADED

    @strawberry.field(description="The newest check's result (active checks).")
    async def last_check(self, info: Info) -> CheckResult | None:
        row = await info.context.loaders.last_check.load(str(self.id))
        return CheckResult.of(row) if row is not None else None

    @strawberry.field(description="SSL: the certificate the newest check was shown.")
    async def certificate(self, info: Info) -> Certificate | None:
        row = await info.context.loaders.last_check.load(str(self.id))
        found = row.details.get("certificate") if row is not None else None
        return Certificate.of(found, self.now) if found else None

    @strawberry.field(description="DOMAIN: the registration the newest check found.")
    async def registration(self, info: Info) -> Registration | None:
        row = await info.context.loaders.last_check.load(str(self.id))
        found = row.details.get("registration") if row is not None else None
        return Registration.of(found, self.now) if found else None

    @strawberry.field(description="Check results, newest first (kept 7 days by default).")
    async def checks(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[CheckResult]:
        async with info.context.read() as session:
            page = await history.list_results(
                session,
                str(self.id),
                page=page_args(first, after, last, before),
                with_count=selects(info, "totalCount"),
            )
        return Connection.of(page, CheckResult.of)

    @strawberry.field(description="Time-weighted uptime over a window ending now.")
    async def uptime(self, info: Info, window: UptimeWindow = UptimeWindow.LAST_30_DAYS) -> Uptime:
        since = self.now - WINDOW_LENGTH[window]
        past = await info.context.loaders.monitor_history.load((self.row.id, since))
        return Uptime.of(window, past.spans)

    @strawberry.field(description="One bar per UTC day, oldest first, ending today.")
    async def daily_bars(self, info: Info, days: int = 90) -> list[DailyBar]:
        if not 1 <= days <= MAX_BARS:
            raise BadUserInputError(f"days must be between 1 and {MAX_BARS}")
        since = history.bars_since(days, self.now)
        past = await info.context.loaders.monitor_history.load((self.row.id, since))
        return [DailyBar.of(bar) for bar in history.bars(past, days=days, now=self.now)]

    @strawberry.field(
        description="Response-time average and percentiles per hour or day, oldest first; "
        "hours or days without checks are left out. Default: the last 24 hours."
    )
    async def response_times(
        self,
        info: Info,
        since: datetime | None = None,
        until: datetime | None = None,
        bucket: TimeBucket = TimeBucket.HOUR,
    ) -> list[ResponseTimes]:
        until = until or self.now
        if until.tzinfo is None or (since is not None and since.tzinfo is None):
            raise BadUserInputError("since and until need a time zone offset")
        try:
            since = since or until - timedelta(hours=24)
        except OverflowError:  # until at the first moment datetime can hold
            raise BadUserInputError("until is out of range") from None
        step = timedelta(hours=1) if bucket is TimeBucket.HOUR else timedelta(days=1)
        if since >= until or (until - since) / step > MAX_BUCKETS:
            raise BadUserInputError(
                f"since must be before until, and at most {MAX_BUCKETS} {bucket.value}s before it"
            )
        async with info.context.read() as session:
            rows = await history.response_times(
                session, str(self.id), since=since, until=until, period=bucket.value
            )
        return [ResponseTimes.of(row) for row in rows]

    @strawberry.field(graphql_type=Service | None)
    def service(self, info: Info) -> Service | Awaitable[Service | None] | None:
        if self.service_id is None:
            return None
        service_id = self.service_id

        async def load() -> Service | None:
            row = await info.context.loaders.service.load(service_id)
            return Service.of(row) if row else None

        return preloaded_or(self.preloaded_service, load)

    @strawberry.field(description="Heartbeat pings, newest first.")
    async def pings(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[HeartbeatPing]:
        async with info.context.read() as session:
            page = await monitors.list_pings(
                session,
                str(self.id),
                page=page_args(first, after, last, before),
                with_count=selects(info, "totalCount"),
            )
        return Connection.of(page, HeartbeatPing.of)

    @strawberry.field(description="Recorded transitions, newest first.")
    async def status_changes(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[MonitorStatusChange]:
        async with info.context.read() as session:
            page = await monitors.list_status_changes(
                session,
                str(self.id),
                page=page_args(first, after, last, before),
                with_count=selects(info, "totalCount"),
            )
        return Connection.of(page, MonitorStatusChange.of)

    @classmethod
    def of(cls, row: models.Monitor, now: datetime) -> "Monitor":
        settings = row.settings
        if row.type == MonitorType.HEARTBEAT:
            derived = heartbeats.derive(row, now)
            status, deadline = derived.status, derived.next_deadline
        else:
            status = MonitorStatus.PAUSED if row.paused else MonitorStatus(row.recorded_status)
            deadline = None
        method = settings.get("method")
        mode = settings.get("keyword_mode")
        headers = settings.get("headers")
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            type=MonitorType(row.type),
            paused=row.paused,
            status=status,
            interval_seconds=row.interval_seconds,
            timeout_seconds=row.timeout_seconds,
            period_seconds=row.period_seconds,
            grace_seconds=row.grace_seconds,
            url=monitor_secrets.masked_url(settings["url"]) if settings.get("url") else None,
            method=HttpMethod(method) if method else None,
            expected_status_codes=settings.get("expected_status_codes"),
            keyword=settings.get("keyword"),
            host=settings.get("host"),
            port=settings.get("port"),
            domain=settings.get("domain"),
            warning_days=settings.get("warning_days"),
            expiry_threshold_days=settings.get("warning_days"),
            headers=[HttpHeader(**h) for h in monitor_secrets.masked_headers(headers)]
            if headers is not None
            else None,
            body=settings.get("body"),
            follow_redirects=settings.get("follow_redirects"),
            verify_tls=settings.get("verify_tls"),
            keyword_mode=KeywordMode(mode) if mode else None,
            case_sensitive=settings.get("case_sensitive"),
            sni_name=settings.get("sni_name"),
            confirmations=settings.get("confirmations"),
            retry_interval_seconds=settings.get("retry_interval_seconds"),
            status_when_down=ServiceStatusValue(row.status_when_down),
            notify_channel_ids=[strawberry.ID(i) for i in row.notify_channel_ids]
            if row.notify_channel_ids is not None
            else None,
            renotify_minutes=row.renotify_minutes,
            last_ping_at=row.last_ping_at,
            next_deadline_at=deadline,
            next_check_at=row.next_check_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            service_id=row.service_id,
            row=row,
            now=now,
        )


FIELDS = {
    "name": "name",
    "type": "type",
    "service_id": "service_id",
    "interval_seconds": "interval_seconds",
    "timeout_seconds": "timeout_seconds",
    "period_seconds": "period_seconds",
    "grace_seconds": "grace_seconds",
    "url": "url",
    "method": "method",
    "expected_status_codes": "expected_status_codes",
    "keyword": "keyword",
    "host": "host",
    "port": "port",
    "domain": "domain",
    "warning_days": "warning_days",
    "expiry_threshold_days": "expiry_threshold_days",
    "headers": "headers",
    "body": "body",
    "follow_redirects": "follow_redirects",
    "verify_tls": "verify_tls",
    "keyword_mode": "keyword_mode",
    "case_sensitive": "case_sensitive",
    "sni_name": "sni_name",
    "confirmations": "confirmations",
    "retry_interval_seconds": "retry_interval_seconds",
    "status_when_down": "status_when_down",
    "notify_channel_ids": "notify_channel_ids",
    "renotify_minutes": "renotify_minutes",
}


async def monitors_of(
    session: AsyncSession, rows: Sequence[models.Monitor], wanted: frozenset[str], now: datetime
) -> list[Monitor]:
    """`rows` as Monitor objects, their services preloaded when selected."""
    found = [Monitor.of(row, now) for row in rows]
    if "service" in wanted:
        ids = [row.service_id for row in rows if row.service_id is not None]
        by_id = await services_by_ids(session, ids, under(wanted, "service"), now) if ids else {}
        for monitor in found:
            if monitor.service_id is not None:
                monitor.preloaded_service = by_id.get(monitor.service_id)
    return found


@strawberry.input(description="Settings that do not apply to the type are refused.")
class CreateMonitorInput:
    name: str
    type: MonitorType
    service_id: strawberry.ID | None = None
    interval_seconds: int | None = strawberry.field(
        default=None,
        description="At least STATUSGRAPH_CHECK_MIN_INTERVAL (30 by default); default 60.",
    )
    timeout_seconds: int | None = strawberry.field(
        default=None, description="At most 60 and less than the interval; default 10."
    )
    period_seconds: int | None = strawberry.field(
        default=None, description="HEARTBEAT: 60 s to 365 days."
    )
    grace_seconds: int | None = strawberry.field(
        default=None, description="HEARTBEAT: 60 s to 365 days."
    )
    url: str | None = None
    method: HttpMethod | None = None
    expected_status_codes: list[int] | None = None
    keyword: str | None = None
    host: str | None = None
    port: int | None = None
    domain: str | None = None
    warning_days: int | None = strawberry.field(
        default=None, deprecation_reason="Use expiryThresholdDays."
    )
    expiry_threshold_days: int | None = strawberry.field(
        default=None, description="SSL: default 14; DOMAIN: default 30; 1 to 365."
    )
    headers: list[HttpHeaderInput] | None = None
    body: str | None = None
    follow_redirects: bool | None = strawberry.field(default=None, description="Default true.")
    verify_tls: bool | None = strawberry.field(default=None, description="Default true.")
    keyword_mode: KeywordMode | None = strawberry.field(
        default=None, description="Default PRESENT."
    )
    case_sensitive: bool | None = strawberry.field(default=None, description="Default true.")
    sni_name: str | None = strawberry.field(
        default=None, description="SSL: the name sent in the handshake; default the host."
    )
    confirmations: int | None = strawberry.field(default=None, description="1 to 10; default 2.")
    retry_interval_seconds: int | None = strawberry.field(
        default=None, description="5 to 3600; default 20."
    )
    status_when_down: ServiceStatus | None = strawberry.field(
        default=None,
        description="What the linked service shows while DOWN: MAJOR_OUTAGE (default), "
        "PARTIAL_OUTAGE, DEGRADED_PERFORMANCE, or OPERATIONAL for no effect.",
    )
    notify_channel_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="The channels this monitor notifies; null (default): every channel "
        "whose filters match.",
    )
    renotify_minutes: int | None = strawberry.field(
        default=None, description="While DOWN, remind every 1 to 10080 minutes; null: never."
    )


@strawberry.input(description="Only the fields you send change; the type cannot change.")
class UpdateMonitorInput:
    name: str | None = strawberry.UNSET
    service_id: strawberry.ID | None = strawberry.UNSET
    interval_seconds: int | None = strawberry.UNSET
    timeout_seconds: int | None = strawberry.UNSET
    period_seconds: int | None = strawberry.UNSET
    grace_seconds: int | None = strawberry.UNSET
    url: str | None = strawberry.UNSET
    method: HttpMethod | None = strawberry.UNSET
    expected_status_codes: list[int] | None = strawberry.UNSET
    keyword: str | None = strawberry.UNSET
    host: str | None = strawberry.UNSET
    port: int | None = strawberry.UNSET
    domain: str | None = strawberry.UNSET
    warning_days: int | None = strawberry.field(
        default=strawberry.UNSET, deprecation_reason="Use expiryThresholdDays."
    )
    expiry_threshold_days: int | None = strawberry.UNSET
    headers: list[HttpHeaderInput] | None = strawberry.UNSET
    body: str | None = strawberry.UNSET
    follow_redirects: bool | None = strawberry.UNSET
    verify_tls: bool | None = strawberry.UNSET
    keyword_mode: KeywordMode | None = strawberry.UNSET
    case_sensitive: bool | None = strawberry.UNSET
    sni_name: str | None = strawberry.UNSET
    confirmations: int | None = strawberry.UNSET
    retry_interval_seconds: int | None = strawberry.UNSET
    status_when_down: ServiceStatus | None = strawberry.UNSET
    notify_channel_ids: list[strawberry.ID] | None = strawberry.UNSET
    renotify_minutes: int | None = strawberry.UNSET


@strawberry.type
class MonitorPayload:
    monitor: Monitor | None
    user_errors: list[UserError]


# How long saving a monitor waits for its host's name to resolve; unresolved, it is saved.
TARGET_LOOKUP_SECONDS = 3.0


def _target(fields: dict[str, Any]) -> tuple[str, str, int] | None:
    """(input field, host, port) a monitor's settings point at, if they name one that
    parses (a malformed URL or host is the resolver's validation to refuse)."""
    url, host = fields.get("url"), fields.get("host")
    if isinstance(url, str):
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return None
        return ("url", parts.hostname, port) if parts.hostname else None
    if isinstance(host, str) and host:
        given = fields.get("port")
        return "host", host, given if isinstance(given, int) and 0 < given < 65536 else 443
    return None


async def refused_target(guard: Guard, fields: dict[str, Any]) -> list[UserError]:
    """DESIGN §10: a monitor may not point at a loopback, private or link-local address
    unless STATUSGRAPH_CHECKS_ALLOW_PRIVATE_NETWORKS is on; the probes check again where
    they dial (checks/guard.py). Runs before the transaction, so a refusal writes nothing."""
    target = _target(fields)
    if target is None:
        return []
    field_name, host, port = target
    try:
        async with asyncio.timeout(TARGET_LOOKUP_SECONDS):
            await guard.check_target(host, port)
    except BlockedAddressError as error:
        return [UserError(field=field_name, code="BLOCKED_ADDRESS", message=str(error))]
    except TimeoutError:
        return []  # a slow resolver: the check will say what it finds
    return []


async def _target_of(
    session: AsyncSession, organization_id: str, monitor_id: str, now: datetime
) -> manual.Target:
    row = await owned.require_owned(session, models.Monitor, organization_id, monitor_id, "Monitor")
    return manual.target_of(row, now)


BOTH_THRESHOLDS = UserError(
    field="expiryThresholdDays",
    code="INVALID",
    message="Give expiryThresholdDays or warningDays (its old name), not both",
)


def _plain(fields: dict[str, Any]) -> dict[str, Any]:
    """Input objects and enums as the resolvers store them (headers as dicts, values,
    expiryThresholdDays under its stored name); the caller checks both() first."""
    plain = dict(fields)
    if "expiry_threshold_days" in plain:
        threshold = plain.pop("expiry_threshold_days")
        if threshold is not None or "warning_days" not in plain:
            plain["warning_days"] = threshold
    if plain.get("headers") is not None:
        plain["headers"] = [{"name": h.name, "value": h.value} for h in plain["headers"]]
    for name in ("keyword_mode", "status_when_down"):
        if plain.get(name) is not None:
            plain[name] = plain[name].value
    return plain


def _payload(result: models.Monitor | Rejected, now: datetime) -> MonitorPayload:
    if isinstance(result, Rejected):
        return MonitorPayload(monitor=None, user_errors=result.user_errors)
    return MonitorPayload(monitor=Monitor.of(result, now), user_errors=[])


@strawberry.type
class RunMonitorCheckPayload:
    result: CheckResult | None
    monitor: Monitor | None
    user_errors: list[UserError]


@strawberry.type
class MonitorQueries:
    @strawberry.field(extensions=requires(Scope.monitors_read), description="Newest first.")
    async def monitors(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        type: MonitorType | None = None,
    ) -> Connection[Monitor] | None:
        ctx = info.context
        principal = ctx.require_principal()
        paths = selection_paths(info)
        async with ctx.read() as session:
            page = await monitors.list_monitors(
                session,
                principal.organization_id,
                kind=type,
                page=page_args(first, after, last, before),
                with_count="totalCount" in paths,
            )
            nodes = await monitors_of(session, page.rows, under(paths, "edges.node"), ctx.now)
        return Connection.over(page, nodes)

    @strawberry.field(extensions=requires(Scope.monitors_read))
    async def monitor(self, info: Info, id: strawberry.ID) -> Monitor | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            row = await owned.require_owned(
                session, models.Monitor, principal.organization_id, id, "Monitor"
            )
            [monitor] = await monitors_of(session, [row], selection_paths(info), ctx.now)
        return monitor


@strawberry.type
class MonitorMutations:
    @strawberry.mutation(extensions=requires(Scope.monitors_write))
    async def create_monitor(self, info: Info, input: CreateMonitorInput) -> MonitorPayload:
        ctx = info.context
        principal = ctx.require_principal()
        given = provided(input, FIELDS)
        if given.get("warning_days") is not None and given.get("expiry_threshold_days") is not None:
            return MonitorPayload(monitor=None, user_errors=[BOTH_THRESHOLDS])
        fields = _plain(given)
        # A target the type does not take is refused as INVALID by the resolver, not
        # looked up here.
        takes = monitors.TYPE_FIELDS[MonitorType(fields["type"])]
        targets = {k: v for k, v in fields.items() if k in takes or k not in ("url", "host")}
        refused = await refused_target(ctx.checking.guard, targets)
        if refused:
            return MonitorPayload(monitor=None, user_errors=refused)
        return _payload(
            await in_transaction(
                ctx,
                lambda s: monitors.create_monitor(
                    s,
                    principal,
                    fields=fields,
                    request=ctx.request_info,
                    now=ctx.now,
                    min_interval=ctx.checking.min_interval,
                ),
            ),
            ctx.now,
        )

    @strawberry.mutation(extensions=requires(Scope.monitors_write))
    async def update_monitor(
        self, info: Info, id: strawberry.ID, input: UpdateMonitorInput
    ) -> MonitorPayload:
        ctx = info.context
        principal = ctx.require_principal()
        given = provided(input, {k: v for k, v in FIELDS.items() if k != "type"})
        if "warning_days" in given and "expiry_threshold_days" in given:
            return MonitorPayload(monitor=None, user_errors=[BOTH_THRESHOLDS])
        changes = _plain(given)
        refused = await refused_target(ctx.checking.guard, changes)
        if refused:
            return MonitorPayload(monitor=None, user_errors=refused)
        return _payload(
            await in_transaction(
                ctx,
                lambda s: monitors.update_monitor(
                    s,
                    principal,
                    monitor_id=id,
                    changes=changes,
                    request=ctx.request_info,
                    now=ctx.now,
                    min_interval=ctx.checking.min_interval,
                ),
            ),
            ctx.now,
        )

    @strawberry.mutation(
        extensions=requires(Scope.monitors_write),
        description="Pings to a paused heartbeat answer 409.",
    )
    async def pause_monitor(self, info: Info, id: strawberry.ID) -> MonitorPayload:
        ctx = info.context
        principal = ctx.require_principal()
        return _payload(
            await in_transaction(
                ctx,
                lambda s: monitors.set_paused(
                    s,
                    principal,
                    monitor_id=id,
                    paused=True,
                    request=ctx.request_info,
                    now=ctx.now,
                ),
            ),
            ctx.now,
        )

    @strawberry.mutation(
        extensions=requires(Scope.monitors_write), description="Starts afresh, as PENDING."
    )
    async def resume_monitor(self, info: Info, id: strawberry.ID) -> MonitorPayload:
        ctx = info.context
        principal = ctx.require_principal()
        return _payload(
            await in_transaction(
                ctx,
                lambda s: monitors.set_paused(
                    s,
                    principal,
                    monitor_id=id,
                    paused=False,
                    request=ctx.request_info,
                    now=ctx.now,
                ),
            ),
            ctx.now,
        )

    @strawberry.mutation(
        extensions=requires(Scope.monitors_write),
        description="Checks the monitor now and answers with the result, which counts "
        "like any scheduled check (it may change the status); the schedule is kept.",
    )
    async def run_monitor_check(self, info: Info, id: strawberry.ID) -> RunMonitorCheckPayload:
        ctx = info.context
        principal = ctx.require_principal()
        prober = ctx.checking.prober
        if prober is None:
            raise RuntimeError("this process has no prober")  # masked: a wiring bug
        target = await in_transaction(
            ctx,
            lambda s: _target_of(s, principal.organization_id, id, ctx.now),
        )
        if isinstance(target, Rejected):
            return RunMonitorCheckPayload(result=None, monitor=None, user_errors=target.user_errors)
        result_id = await manual.check_now(
            ctx.db, prober, target, principal=principal, request=ctx.request_info, now=ctx.now
        )
        async with ctx.read() as session:
            row = await session.get(models.Monitor, str(id))
            result = await manual.read_result(session, result_id) if result_id else None
        if row is None or result is None:  # deleted while it was being checked
            return RunMonitorCheckPayload(
                result=None,
                monitor=None,
                user_errors=[UserError(field="id", code="NOT_FOUND", message="Monitor not found")],
            )
        return RunMonitorCheckPayload(
            result=CheckResult.of(result), monitor=Monitor.of(row, ctx.now), user_errors=[]
        )

    @strawberry.mutation(extensions=requires(Scope.monitors_write))
    async def delete_monitor(self, info: Info, id: strawberry.ID) -> DeletePayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: monitors.delete_monitor(
                s, principal, monitor_id=id, request=ctx.request_info, now=ctx.now
            ),
        )
        if isinstance(result, Rejected):
            return DeletePayload(deleted_id=None, user_errors=result.user_errors)
        return DeletePayload(deleted_id=strawberry.ID(result), user_errors=[])
