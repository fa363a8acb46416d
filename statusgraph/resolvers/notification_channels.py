"""Notification channels (WEBHOOK, SLACK, DISCORD, EMAIL), their signing secrets, and
the delivery log: list, read, redeliver. Sending is notifications/, above this layer.

What a channel shows of its URL: a webhook's with the password of its userinfo masked;
a Slack or Discord incoming-webhook URL is itself the credential (anyone holding it may
post), so its secret part is masked. An update that sends the masked URL back keeps the
stored one, as monitors do with their secrets (monitor_secrets.py).
"""

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.principal import Principal, RequestInfo
from statusgraph.auth.scopes import Scope
from statusgraph.auth.sealed import Sealer, new_signing_secret
from statusgraph.db.models import (
    Delivery,
    DeliveryAttempt,
    Monitor,
    NotificationChannel,
    Service,
)
from statusgraph.db.scoping import for_org
from statusgraph.email_addresses import valid_address
from statusgraph.events.outbox import EventType
from statusgraph.ids import new_id
from statusgraph.resolvers import audit
from statusgraph.resolvers.locks import Lock
from statusgraph.resolvers.monitor_secrets import MASK, masked_url
from statusgraph.resolvers.owned import (
    check_references,
    delete_owned,
    owned_by_ids,
    require_owned,
)
from statusgraph.resolvers.pagination import Page, PageArgs, paginate
from statusgraph.resolvers.user_errors import Problems

MAX_NAME = 200
MAX_URL = 2048
MAX_ADDRESSES = 20
MAX_FILTER = 100
# During a rotation the previous secret signs too, for a day: receivers have that long
# to switch (Standard Webhooks allows several signatures in one header).
ROTATION_OVERLAP = timedelta(hours=24)


class ChannelKind(StrEnum):
    WEBHOOK = "webhook"
    SLACK = "slack"
    DISCORD = "discord"
    EMAIL = "email"


# Event types a channel may filter on (a test is sent to one channel, never fanned out).
FILTERABLE = [
    kind for kind in EventType if kind not in (EventType.TEST, EventType.SUBSCRIBER_CONFIRMATION)
]

_record = functools.partial(audit.record_change, scope=Scope.notifications_write)


def shown_url(kind: str, url: str) -> str:
    """What readers see of a channel's URL (the module's docstring)."""
    if kind == ChannelKind.WEBHOOK:
        return masked_url(url)
    parts = urlsplit(url)
    path = parts.path.rstrip("/").split("/")
    # Slack: /services/T…/B…/<token>; Discord: /api/webhooks/<id>/<token>.
    keep = "/".join(path[:-1]) if len(path) > 2 else ""
    return f"{parts.scheme}://{parts.netloc}{keep}/{MASK}"


def _check_url(problems: Problems, kind: ChannelKind, url: Any) -> None:
    if not isinstance(url, str) or not url.strip():
        problems.add("url", "REQUIRED", f"url is required for {kind.name} channels")
        return
    schemes = ("http", "https") if kind is ChannelKind.WEBHOOK else ("https",)
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number or out of range)
    except ValueError:
        problems.add("url", "INVALID", "url has an invalid port")
        return
    if len(url) > MAX_URL or parts.scheme not in schemes or not parts.hostname:
        wanted = "an http or https" if kind is ChannelKind.WEBHOOK else "an https"
        problems.add("url", "INVALID", f"url must be {wanted} URL of at most {MAX_URL} characters")


def _check_addresses(problems: Problems, addresses: Any) -> None:
    if not addresses or len(addresses) > MAX_ADDRESSES:
        problems.add(
            "addresses", "INVALID", f"addresses must list 1 to {MAX_ADDRESSES} email addresses"
        )
        return
    for address in addresses:
        if not valid_address(address):
            problems.add("addresses", "INVALID", f"Not an email address: {address[:254]}")


async def _check_filters(
    session: AsyncSession, principal: Principal, fields: dict[str, Any], problems: Problems
) -> None:
    for field, model, type_name in (
        ("monitor_ids", Monitor, "Monitor"),
        ("service_ids", Service, "Service"),
    ):
        ids = fields.get(field)
        if ids is None:
            continue
        name = "monitorIds" if field == "monitor_ids" else "serviceIds"
        if len(ids) > MAX_FILTER:
            problems.add(name, "INVALID", f"{name} lists at most {MAX_FILTER}")
            continue
        found = await owned_by_ids(session, model, principal.organization_id, ids)
        check_references(problems, name, ids, found, type_name)


def _check_settings(problems: Problems, kind: ChannelKind, fields: dict[str, Any]) -> None:
    if kind is ChannelKind.EMAIL:
        if fields.get("url") is not None:
            problems.add("url", "INVALID", "url is not used by EMAIL channels")
        _check_addresses(problems, fields.get("addresses"))
    else:
        if fields.get("addresses") is not None:
            problems.add("addresses", "INVALID", "addresses are used by EMAIL channels only")
        _check_url(problems, kind, fields.get("url"))


def _check_event_types(problems: Problems, event_types: Any) -> None:
    for kind in event_types or []:
        if kind not in FILTERABLE:
            problems.add(
                "eventTypes", "INVALID", f"{EventType(kind).name} is never sent to channels"
            )


def _check_name(problems: Problems, name: Any) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        problems.add("name", "INVALID", f"Name must be 1 to {MAX_NAME} characters")


def _settings(kind: ChannelKind, fields: dict[str, Any]) -> dict[str, Any]:
    if kind is ChannelKind.EMAIL:
        return {"addresses": list(fields["addresses"])}
    return {"url": fields["url"].strip()}


async def create_channel(
    session: AsyncSession,
    principal: Principal,
    *,
    kind: ChannelKind,
    fields: dict[str, Any],
    sealer: Sealer,
    request: RequestInfo,
    now: datetime,
) -> tuple[NotificationChannel, str | None]:
    """The channel, and its signing secret (WEBHOOK only), which is never shown again."""
    problems = Problems()
    _check_name(problems, fields.get("name"))
    _check_settings(problems, kind, fields)
    _check_event_types(problems, fields.get("event_types"))
    await _check_filters(session, principal, fields, problems)
    problems.raise_if_any()
    secret = new_signing_secret() if kind is ChannelKind.WEBHOOK else None
    channel = NotificationChannel(
        id=new_id("nch"),
        organization_id=principal.organization_id,
        name=fields["name"].strip(),
        kind=kind.value,
        settings=_settings(kind, fields),
        event_types=list(dict.fromkeys(fields.get("event_types") or [])),
        monitor_ids=list(fields.get("monitor_ids") or []),
        service_ids=list(fields.get("service_ids") or []),
        enabled=fields.get("enabled", True) is not False,
        secret=sealer.seal(secret) if secret else None,
        created_at=now,
        updated_at=now,
    )
    session.add(channel)
    await _record(
        session,
        principal,
        "notification_channel.created",
        channel,
        request=request,
        now=now,
        details={"name": channel.name, "kind": channel.kind},
    )
    await session.flush()
    return channel, secret


async def update_channel(
    session: AsyncSession,
    principal: Principal,
    *,
    channel_id: str,
    changes: dict[str, Any],
    request: RequestInfo,
    now: datetime,
) -> NotificationChannel:
    channel = await require_owned(
        session,
        NotificationChannel,
        principal.organization_id,
        channel_id,
        "NotificationChannel",
        lock=Lock.UPDATE,
    )
    kind = ChannelKind(channel.kind)
    stored_url = channel.settings.get("url")
    if stored_url is not None and changes.get("url") == shown_url(kind, stored_url):
        changes = {**changes, "url": stored_url}  # the mask sent back: unchanged
    problems = Problems()
    if "name" in changes:
        _check_name(problems, changes["name"])
    if "enabled" in changes and changes["enabled"] is None:
        problems.add("enabled", "INVALID", "enabled must not be null")
    for field in ("event_types", "monitor_ids", "service_ids"):
        if field in changes and changes[field] is None:
            changes = {**changes, field: []}
    settings_changed = "url" in changes or "addresses" in changes
    merged: dict[str, Any] = dict(channel.settings)
    if settings_changed:
        merged.update({k: changes[k] for k in ("url", "addresses") if k in changes})
        _check_settings(problems, kind, merged)
    _check_event_types(problems, changes.get("event_types"))
    await _check_filters(session, principal, changes, problems)
    problems.raise_if_any()
    if "name" in changes:
        channel.name = changes["name"].strip()
    if settings_changed:
        channel.settings = _settings(kind, merged)
    if "event_types" in changes:
        channel.event_types = list(dict.fromkeys(changes["event_types"]))
    for field in ("monitor_ids", "service_ids"):
        if field in changes:
            setattr(channel, field, list(changes[field]))
    if "enabled" in changes:
        channel.enabled = bool(changes["enabled"])
        if channel.enabled:  # turned back on: a fresh start
            channel.failing_since = None
            channel.disabled_reason = None
    channel.updated_at = now
    session.add(channel)
    await _record(
        session,
        principal,
        "notification_channel.updated",
        channel,
        request=request,
        now=now,
        details={"changed": sorted(changes)},
    )
    await session.flush()
    return channel


async def rotate_secret(
    session: AsyncSession,
    principal: Principal,
    *,
    channel_id: str,
    sealer: Sealer,
    request: RequestInfo,
    now: datetime,
) -> tuple[NotificationChannel, str]:
    """A new signing secret, shown once; the previous one signs too for ROTATION_OVERLAP."""
    channel = await require_owned(
        session,
        NotificationChannel,
        principal.organization_id,
        channel_id,
        "NotificationChannel",
        lock=Lock.UPDATE,
    )
    problems = Problems()
    if channel.kind != ChannelKind.WEBHOOK or channel.secret is None:
        problems.add("id", "NOT_SIGNED", "Only WEBHOOK channels have a signing secret")
    problems.raise_if_any()
    secret = new_signing_secret()
    channel.previous_secret = channel.secret
    channel.previous_secret_until = now + ROTATION_OVERLAP
    channel.secret = sealer.seal(secret)
    channel.updated_at = now
    session.add(channel)
    await _record(
        session,
        principal,
        "notification_channel.secret_rotated",
        channel,
        request=request,
        now=now,
        details={"previousValidUntil": channel.previous_secret_until.isoformat()},
    )
    await session.flush()
    return channel, secret


async def delete_channel(
    session: AsyncSession,
    principal: Principal,
    *,
    channel_id: str,
    request: RequestInfo,
    now: datetime,
) -> str:
    return await delete_owned(
        session,
        principal,
        NotificationChannel,
        channel_id,
        type_name="NotificationChannel",
        action="notification_channel.deleted",
        scope=Scope.notifications_write,
        describe=lambda row: {"name": row.name, "kind": row.kind},
        request=request,
        now=now,
    )


async def list_channels(
    session: AsyncSession, organization_id: str, *, page: PageArgs, with_count: bool = False
) -> Page[NotificationChannel]:
    statement = for_org(NotificationChannel, organization_id)
    return await paginate(session, statement, NotificationChannel, page, with_count=with_count)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


async def list_deliveries(
    session: AsyncSession,
    organization_id: str,
    *,
    channel_id: str | None,
    status: DeliveryStatus | None,
    page: PageArgs,
    with_count: bool = False,
) -> Page[Delivery]:
    """Newest first; a channel of another organization lists nothing."""
    statement = for_org(Delivery, organization_id)
    if channel_id is not None:
        statement = statement.where(Delivery.channel_id == channel_id)
    if status is not None:
        statement = statement.where(Delivery.status == status.value)
    return await paginate(session, statement, Delivery, page, with_count=with_count)


_ATTEMPTS_FOR = (
    select(DeliveryAttempt)
    .where(col(DeliveryAttempt.delivery_id).in_(bindparam("ids", expanding=True)))
    .order_by(col(DeliveryAttempt.attempted_at), col(DeliveryAttempt.id))
)


async def attempts_for(
    session: AsyncSession, delivery_ids: Sequence[str]
) -> dict[str, list[DeliveryAttempt]]:
    """Every attempt of each delivery, oldest first, in one query."""
    found: dict[str, list[DeliveryAttempt]] = {delivery_id: [] for delivery_id in delivery_ids}
    for attempt in (await session.exec(_ATTEMPTS_FOR, params={"ids": list(delivery_ids)})).all():
        found[attempt.delivery_id].append(attempt)
    return found


async def redeliver(
    session: AsyncSession,
    principal: Principal,
    *,
    delivery_id: str,
    request: RequestInfo,
    now: datetime,
) -> Delivery:
    """Due again at once, with the same id (the receiver's `webhook-id`). Failing again,
    it goes on with its retry schedule where it was; one that had spent its schedule
    gets this one attempt."""
    delivery = await require_owned(
        session, Delivery, principal.organization_id, delivery_id, "Delivery", lock=Lock.UPDATE
    )
    channel = (
        await session.get(NotificationChannel, delivery.channel_id)
        if delivery.channel_id is not None
        else None
    )
    problems = Problems()
    if delivery.channel_id is not None and (channel is None or not channel.enabled):
        problems.add(
            "id", "CHANNEL_DISABLED", "The delivery's channel is disabled: enable it first"
        )
    problems.raise_if_any()
    delivery.status = "pending"
    delivery.next_attempt_at = now
    session.add(delivery)
    await audit.record_change(
        session,
        principal,
        "delivery.redelivered",
        delivery,
        scope=Scope.notifications_write,
        request=request,
        now=now,
        details={"channelId": delivery.channel_id, "eventType": delivery.event_type},
    )
    await session.flush()
    return delivery
