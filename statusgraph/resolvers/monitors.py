"""Monitors: HTTP, KEYWORD, TCP, SSL, DOMAIN and HEARTBEAT, each with its own settings
(DESIGN §10, docs/monitors.md). Heartbeats are passive; the others are checked by the
checker (checks/scheduler.py), which runs a monitor once its `next_check_at` is due.
"""

import functools
import ipaddress
import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AnyHttpUrl, TypeAdapter, ValidationError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.principal import Principal, RequestInfo
from statusgraph.auth.scopes import Scope
from statusgraph.db.models import (
    HeartbeatPing,
    Monitor,
    MonitorStatusChange,
    NotificationChannel,
    Service,
)
from statusgraph.db.scoping import for_org
from statusgraph.ids import new_id
from statusgraph.resolvers import audit, heartbeats, monitor_secrets
from statusgraph.resolvers.heartbeats import MonitorStatus
from statusgraph.resolvers.locks import Lock
from statusgraph.resolvers.owned import check_references, delete_owned, owned_by_ids, require_owned
from statusgraph.resolvers.pagination import Page, PageArgs, paginate
from statusgraph.resolvers.user_errors import Problems
from statusgraph.resolvers.vocabulary import ServiceStatus


class MonitorType(StrEnum):
    HTTP = "http"
    KEYWORD = "keyword"
    TCP = "tcp"
    SSL = "ssl"
    DOMAIN = "domain"
    HEARTBEAT = "heartbeat"


class KeywordMode(StrEnum):
    PRESENT = "present"  # DOWN when the keyword is missing
    ABSENT = "absent"  # DOWN when the keyword is found


class HttpMethod(StrEnum):
    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"
    OPTIONS = "OPTIONS"


MIN_INTERVAL = 30  # STATUSGRAPH_CHECK_MIN_INTERVAL's default
DEFAULT_INTERVAL = 60
DEFAULT_TIMEOUT = 10
MAX_TIMEOUT = 60
MAX_CONFIRMATIONS = 10
RETRY_SECONDS = (5, 3600)
MAX_HEADERS = 20
MAX_HEADER_VALUE = 1000
MAX_BODY = 16 * 1024  # a request body to send; GraphQL bodies are at most 64 KiB
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")  # an HTTP token
MIN_PERIOD = 60
MAX_PERIOD = 365 * 24 * 3600
URL = TypeAdapter(AnyHttpUrl)
HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")

# Which settings each type takes (column or settings key -> GraphQL field name).
_ACTIVE = frozenset(
    {"interval_seconds", "timeout_seconds", "confirmations", "retry_interval_seconds"}
)
_HTTP = _ACTIVE | {
    "url",
    "method",
    "expected_status_codes",
    "headers",
    "body",
    "follow_redirects",
    "verify_tls",
}
TYPE_FIELDS: dict[MonitorType, frozenset[str]] = {
    MonitorType.HTTP: _HTTP,
    MonitorType.KEYWORD: _HTTP | {"keyword", "keyword_mode", "case_sensitive"},
    MonitorType.TCP: _ACTIVE | {"host", "port"},
    MonitorType.SSL: _ACTIVE | {"host", "port", "sni_name", "warning_days"},
    MonitorType.DOMAIN: _ACTIVE | {"domain", "warning_days"},
    MonitorType.HEARTBEAT: frozenset({"period_seconds", "grace_seconds"}),
}
SETTINGS_KEYS = (
    "url",
    "method",
    "expected_status_codes",
    "headers",
    "body",
    "follow_redirects",
    "verify_tls",
    "keyword",
    "keyword_mode",
    "case_sensitive",
    "host",
    "port",
    "sni_name",
    "domain",
    "warning_days",
    "confirmations",
    "retry_interval_seconds",
)
COLUMNS = ("interval_seconds", "timeout_seconds", "period_seconds", "grace_seconds")
CAMEL = {
    "url": "url",
    "method": "method",
    "expected_status_codes": "expectedStatusCodes",
    "headers": "headers",
    "body": "body",
    "follow_redirects": "followRedirects",
    "verify_tls": "verifyTls",
    "keyword": "keyword",
    "keyword_mode": "keywordMode",
    "case_sensitive": "caseSensitive",
    "host": "host",
    "port": "port",
    "sni_name": "sniName",
    "domain": "domain",
    "warning_days": "expiryThresholdDays",
    "confirmations": "confirmations",
    "retry_interval_seconds": "retryIntervalSeconds",
    "interval_seconds": "intervalSeconds",
    "timeout_seconds": "timeoutSeconds",
    "period_seconds": "periodSeconds",
    "grace_seconds": "graceSeconds",
}
# What a linked service shows while the monitor is DOWN; OPERATIONAL: no effect.
STATUS_WHEN_DOWN = (
    ServiceStatus.OPERATIONAL,
    ServiceStatus.DEGRADED_PERFORMANCE,
    ServiceStatus.PARTIAL_OUTAGE,
    ServiceStatus.MAJOR_OUTAGE,
)


def _is_host(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return bool(HOSTNAME.match(value))
    return True


def _check_headers(headers: list[dict[str, str]], problems: Problems) -> None:
    if len(headers) > MAX_HEADERS:
        problems.add("headers", "INVALID", f"At most {MAX_HEADERS} headers")
    for header in headers:
        if not HEADER_NAME.match(header["name"]):
            problems.add("headers", "INVALID", f"{header['name']!r} is not a valid header name")
        value = header["value"]
        if len(value) > MAX_HEADER_VALUE or any(c in value for c in "\r\n\0"):
            problems.add(
                "headers",
                "INVALID",
                f"The value of {header['name']!r} must be at most {MAX_HEADER_VALUE} "
                "characters, without line breaks",
            )


def _check_active(values: dict[str, Any], problems: Problems, min_interval: int) -> None:
    interval, timeout = values.get("interval_seconds"), values.get("timeout_seconds")
    if interval is not None and interval < min_interval:
        problems.add(
            "intervalSeconds", "INVALID", f"intervalSeconds must be at least {min_interval}"
        )
    if timeout is not None and (
        not 1 <= timeout <= MAX_TIMEOUT or (interval is not None and timeout >= interval)
    ):
        problems.add(
            "timeoutSeconds",
            "INVALID",
            f"timeoutSeconds must be between 1 and {MAX_TIMEOUT}, and less than intervalSeconds",
        )
    confirmations = values.get("confirmations")
    if confirmations is not None and not 1 <= confirmations <= MAX_CONFIRMATIONS:
        problems.add(
            "confirmations",
            "INVALID",
            f"confirmations must be between 1 and {MAX_CONFIRMATIONS}",
        )
    retry = values.get("retry_interval_seconds")
    low, high = RETRY_SECONDS
    if retry is not None and (
        not low <= retry <= high or (interval is not None and retry > interval)
    ):
        problems.add(
            "retryIntervalSeconds",
            "INVALID",
            f"retryIntervalSeconds must be between {low} and {high}, and at most intervalSeconds",
        )


def _check_settings(
    kind: MonitorType, values: dict[str, Any], problems: Problems, *, min_interval: int
) -> None:
    """`values` holds every setting of the monitor after the change."""
    allowed = TYPE_FIELDS[kind]
    for name, value in values.items():
        if value is not None and name not in allowed:
            problems.add(
                CAMEL[name], "INVALID", f"{CAMEL[name]} does not apply to {kind.name} monitors"
            )
    required = {
        MonitorType.HTTP: ("url",),
        MonitorType.KEYWORD: ("url", "keyword"),
        MonitorType.TCP: ("host", "port"),
        MonitorType.SSL: ("host",),
        MonitorType.DOMAIN: ("domain",),
        MonitorType.HEARTBEAT: (),
    }[kind]
    for name in required:
        if values.get(name) is None:
            problems.add(
                CAMEL[name], "INVALID", f"{CAMEL[name]} is required for {kind.name} monitors"
            )
    if values.get("url") is not None:
        try:
            URL.validate_python(values["url"])
        except ValidationError:
            problems.add("url", "INVALID", "url must be an http or https URL with a host")
    if values.get("headers") is not None:
        _check_headers(values["headers"], problems)
    body = values.get("body")
    if body is not None and len(body.encode()) > MAX_BODY:
        problems.add("body", "INVALID", f"body must be at most {MAX_BODY} bytes")
    if values.get("sni_name") is not None and not _is_host(values["sni_name"]):
        problems.add("sniName", "INVALID", "sniName must be a hostname")
    if values.get("method") is not None and values["method"] not in set(HttpMethod):
        problems.add("method", "INVALID", f"method must be one of {', '.join(HttpMethod)}")
    codes = values.get("expected_status_codes")
    if codes is not None and (not codes or any(not 100 <= code <= 599 for code in codes)):
        problems.add(
            "expectedStatusCodes",
            "INVALID",
            "expectedStatusCodes must be HTTP status codes (100-599)",
        )
    keyword = values.get("keyword")
    if keyword is not None and not 1 <= len(keyword) <= 200:
        problems.add("keyword", "INVALID", "keyword must be 1 to 200 characters")
    if values.get("host") is not None and not _is_host(values["host"]):
        problems.add("host", "INVALID", "host must be a hostname or an IP address")
    if values.get("port") is not None and not 1 <= values["port"] <= 65535:
        problems.add("port", "INVALID", "port must be between 1 and 65535")
    if values.get("domain") is not None and not DOMAIN.match(values["domain"]):
        problems.add(
            "domain", "INVALID", "domain must be a lowercase domain name such as example.com"
        )
    warning = values.get("warning_days")
    if warning is not None and not 1 <= warning <= 365:
        problems.add(
            "expiryThresholdDays", "INVALID", "expiryThresholdDays must be between 1 and 365"
        )
    if kind is not MonitorType.HEARTBEAT:
        _check_active(values, problems, min_interval)
    for name in ("period_seconds", "grace_seconds"):
        value = values.get(name)
        if kind is MonitorType.HEARTBEAT and (
            value is None or not MIN_PERIOD <= value <= MAX_PERIOD
        ):
            problems.add(
                CAMEL[name],
                "INVALID",
                f"{CAMEL[name]} must be between {MIN_PERIOD} and {MAX_PERIOD} seconds",
            )


def _defaults(kind: MonitorType) -> dict[str, Any]:
    if kind is MonitorType.HEARTBEAT:
        return {}
    defaults: dict[str, Any] = {
        "interval_seconds": DEFAULT_INTERVAL,
        "timeout_seconds": DEFAULT_TIMEOUT,
        "confirmations": 2,
        "retry_interval_seconds": 20,
    }
    if kind in (MonitorType.HTTP, MonitorType.KEYWORD):
        # No expected codes: any 2xx or 3xx (checks/probes/http.py).
        defaults |= {"method": HttpMethod.GET.value, "follow_redirects": True, "verify_tls": True}
    if kind is MonitorType.KEYWORD:
        defaults |= {"keyword_mode": KeywordMode.PRESENT.value, "case_sensitive": True}
    if kind is MonitorType.SSL:
        defaults |= {"port": 443, "warning_days": 14}
    if kind is MonitorType.DOMAIN:
        defaults |= {"warning_days": 30}
    return defaults


def current_values(monitor: Monitor) -> dict[str, Any]:
    values = {key: monitor.settings.get(key) for key in SETTINGS_KEYS}
    values |= {key: getattr(monitor, key) for key in COLUMNS}
    return values


def _apply(monitor: Monitor, values: dict[str, Any]) -> None:
    monitor.settings = {key: values[key] for key in SETTINGS_KEYS if values.get(key) is not None}
    for key in COLUMNS:
        setattr(monitor, key, values.get(key))


async def _check_common(
    session: AsyncSession, principal: Principal, fields: dict[str, Any], problems: Problems
) -> None:
    name = fields.get("name")
    if "name" in fields and (name is None or not name.strip() or len(name) > 200):
        problems.add("name", "INVALID", "Name must be 1 to 200 characters")
    if fields.get("service_id") is not None:
        found = await owned_by_ids(
            session, Service, principal.organization_id, [fields["service_id"]], lock=Lock.REFERENCE
        )
        check_references(problems, "serviceId", [fields["service_id"]], found, "Service")
    channel_ids = fields.get("notify_channel_ids")
    if channel_ids is not None:
        channels = await owned_by_ids(
            session, NotificationChannel, principal.organization_id, channel_ids
        )
        check_references(problems, "notifyChannelIds", channel_ids, channels, "NotificationChannel")
    renotify = fields.get("renotify_minutes")
    if renotify is not None and not 1 <= renotify <= MAX_RENOTIFY_MINUTES:
        problems.add(
            "renotifyMinutes",
            "INVALID",
            f"renotifyMinutes must be 1 to {MAX_RENOTIFY_MINUTES}, or null for never",
        )
    impact = fields.get("status_when_down")
    if impact is not None and impact not in STATUS_WHEN_DOWN:
        problems.add(
            "statusWhenDown",
            "INVALID",
            "statusWhenDown must be one of " + ", ".join(s.name for s in STATUS_WHEN_DOWN),
        )


_record = functools.partial(audit.record_change, scope=Scope.monitors_write)
MAX_RENOTIFY_MINUTES = 7 * 24 * 60


async def create_monitor(
    session: AsyncSession,
    principal: Principal,
    *,
    fields: dict[str, Any],
    request: RequestInfo,
    now: datetime,
    min_interval: int = MIN_INTERVAL,
) -> Monitor:
    kind = MonitorType(fields["type"])
    problems = Problems()
    await _check_common(session, principal, fields, problems)
    values = _defaults(kind) | {
        key: fields[key] for key in (*SETTINGS_KEYS, *COLUMNS) if fields.get(key) is not None
    }
    _check_settings(kind, values, problems, min_interval=min_interval)
    problems.raise_if_any()
    monitor = Monitor(
        id=new_id("mon"),
        organization_id=principal.organization_id,
        service_id=fields.get("service_id"),
        name=fields["name"].strip(),
        type=kind,
        status_when_down=fields.get("status_when_down") or ServiceStatus.MAJOR_OUTAGE.value,
        notify_channel_ids=fields.get("notify_channel_ids"),
        renotify_minutes=fields.get("renotify_minutes"),
        # Checked at once: a new monitor shows UP or DOWN within seconds, not an interval.
        next_check_at=now if kind is not MonitorType.HEARTBEAT else None,
        created_at=now,
        updated_at=now,
    )
    _apply(monitor, values)
    session.add(monitor)
    await _record(
        session,
        principal,
        "monitor.created",
        monitor,
        request=request,
        now=now,
        details={"name": monitor.name, "type": kind},
    )
    await session.flush()
    return monitor


async def update_monitor(
    session: AsyncSession,
    principal: Principal,
    *,
    monitor_id: str,
    changes: dict[str, Any],
    request: RequestInfo,
    now: datetime,
    min_interval: int = MIN_INTERVAL,
) -> Monitor:
    problems = Problems()
    # The service before the monitor: deleteService locks the service, then (ON DELETE
    # SET NULL) its monitors; locking in the other order could deadlock with it.
    await _check_common(session, principal, changes, problems)
    # Locked: settings are read, merged and written back whole (a lost update
    # otherwise), and pause/resume check the current flag; the ping writer locks too.
    monitor = await require_owned(
        session, Monitor, principal.organization_id, monitor_id, "Monitor", lock=Lock.UPDATE
    )
    kind = MonitorType(monitor.type)
    changes = monitor_secrets.unmasked(changes, monitor.settings)
    values = current_values(monitor) | {
        key: changes[key] for key in (*SETTINGS_KEYS, *COLUMNS) if key in changes
    }
    _check_settings(kind, values, problems, min_interval=min_interval)
    problems.raise_if_any()
    _apply(monitor, values)
    if "name" in changes:
        monitor.name = changes["name"].strip()
    if "service_id" in changes:
        monitor.service_id = changes["service_id"]
    if changes.get("status_when_down") is not None:
        monitor.status_when_down = changes["status_when_down"]
    # Null is a value here: every matching channel, never remind.
    for key in ("notify_channel_ids", "renotify_minutes"):
        if key in changes:
            setattr(monitor, key, changes[key])
    monitor.updated_at = now
    if kind is MonitorType.HEARTBEAT:
        heartbeats.refresh(session, monitor, reason="settings changed", now=now)
    elif not monitor.paused and set(changes) & set(TYPE_FIELDS[kind]):
        # New settings are tried at once, their failures counted afresh.
        monitor.next_check_at, monitor.failures = now, 0
    session.add(monitor)
    await _record(
        session,
        principal,
        "monitor.updated",
        monitor,
        request=request,
        now=now,
        details={"changed": sorted(changes)},
    )
    await session.flush()
    return monitor


async def set_paused(
    session: AsyncSession,
    principal: Principal,
    *,
    monitor_id: str,
    paused: bool,
    request: RequestInfo,
    now: datetime,
) -> Monitor:
    # Locked: settings are read, merged and written back whole (a lost update
    # otherwise), and pause/resume check the current flag; the ping writer locks too.
    monitor = await require_owned(
        session, Monitor, principal.organization_id, monitor_id, "Monitor", lock=Lock.UPDATE
    )
    problems = Problems()
    if monitor.paused == paused:
        problems.add(
            "id",
            "ALREADY_PAUSED" if paused else "NOT_PAUSED",
            "Monitor is already paused" if paused else "Monitor is not paused",
        )
    problems.raise_if_any()
    monitor.paused = paused
    monitor.updated_at = now
    if kind_of(monitor) is not MonitorType.HEARTBEAT:
        _pause_checks(session, monitor, paused=paused, now=now)
    elif paused:
        heartbeats.refresh(session, monitor, reason="paused", now=now)
    else:
        # A resumed monitor starts afresh, as after creation: no stale "DOWN".
        monitor.last_ping_at = monitor.last_start_at = monitor.last_ping_kind = None
        heartbeats.refresh(session, monitor, reason="resumed", now=now)
    session.add(monitor)
    await _record(
        session,
        principal,
        "monitor.paused" if paused else "monitor.resumed",
        monitor,
        request=request,
        now=now,
        details={"name": monitor.name},
    )
    await session.flush()
    return monitor


def kind_of(monitor: Monitor) -> MonitorType:
    return MonitorType(monitor.type)


def _pause_checks(session: AsyncSession, monitor: Monitor, *, paused: bool, now: datetime) -> None:
    """A paused monitor is never checked; a resumed one starts afresh, as PENDING, and is
    checked at once. Both are transitions, so uptime leaves paused time out."""
    to = MonitorStatus.PAUSED if paused else MonitorStatus.PENDING
    session.add(
        MonitorStatusChange(
            id=new_id("chg"),
            monitor_id=monitor.id,
            from_status=monitor.recorded_status,
            to_status=to.value,
            reason="paused" if paused else "resumed",
            created_at=now,
        )
    )
    monitor.recorded_status = to.value
    monitor.failures = 0
    monitor.next_check_at = None if paused else now


async def delete_monitor(
    session: AsyncSession,
    principal: Principal,
    *,
    monitor_id: str,
    request: RequestInfo,
    now: datetime,
) -> str:
    return await delete_owned(
        session,
        principal,
        Monitor,
        monitor_id,
        type_name="Monitor",
        action="monitor.deleted",
        scope=Scope.monitors_write,
        describe=lambda row: {"name": row.name},
        request=request,
        now=now,
    )


async def list_monitors(
    session: AsyncSession,
    organization_id: str,
    *,
    kind: MonitorType | None,
    page: PageArgs,
    with_count: bool = False,
) -> Page[Monitor]:
    statement = for_org(Monitor, organization_id)
    if kind is not None:
        statement = statement.where(Monitor.type == kind)
    return await paginate(session, statement, Monitor, page, with_count=with_count)


async def list_pings(
    session: AsyncSession, monitor_id: str, *, page: PageArgs, with_count: bool = False
) -> Page[HeartbeatPing]:
    statement = select(HeartbeatPing).where(HeartbeatPing.monitor_id == monitor_id)
    return await paginate(session, statement, HeartbeatPing, page, with_count=with_count)


async def list_status_changes(
    session: AsyncSession, monitor_id: str, *, page: PageArgs, with_count: bool = False
) -> Page[MonitorStatusChange]:
    statement = select(MonitorStatusChange).where(MonitorStatusChange.monitor_id == monitor_id)
    return await paginate(session, statement, MonitorStatusChange, page, with_count=with_count)
