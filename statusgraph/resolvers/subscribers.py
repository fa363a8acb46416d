"""Subscribers of status pages (DESIGN §12): subscribe with double opt-in, confirm and
unsubscribe through signed links, and the organization's list and removal.

`subscribe` answers the same whether the address is new, waiting for its confirmation
or already subscribed, so that it tells no one who subscribes to what. A new or
still-unconfirmed subscription is sent (again) the confirmation mail, through the
outbox like any other message, so it is retried and logged; a confirmed one is left as
it is. Nothing but the confirmation is ever sent to an unconfirmed address.
"""

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.principal import Principal, RequestInfo
from statusgraph.auth.scopes import Scope
from statusgraph.db.models import StatusPage, Subscriber
from statusgraph.db.scoping import for_org
from statusgraph.email_addresses import valid_address
from statusgraph.errors import NotFoundError
from statusgraph.events import outbox
from statusgraph.ids import new_id
from statusgraph.resolvers import status_pages
from statusgraph.resolvers.notification_channels import MAX_URL
from statusgraph.resolvers.owned import delete_owned, require_owned
from statusgraph.resolvers.pagination import Page, PageArgs, paginate
from statusgraph.resolvers.user_errors import Problems

SUBSCRIBERS: Table = Subscriber.__table__  # type: ignore[attr-defined]
MAX_SERVICES = 100


class SubscriberKind(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


async def _check(
    session: AsyncSession,
    page: StatusPage,
    *,
    email: str,
    webhook_url: str | None,
    service_ids: Sequence[str],
) -> None:
    problems = Problems()
    if not page.show_subscribe:
        problems.add("slug", "SUBSCRIPTIONS_OFF", "This status page does not take subscriptions")
        problems.raise_if_any()
    if not valid_address(email):
        problems.add("email", "INVALID", "Not an email address")
    if webhook_url is not None:
        parts = urlsplit(webhook_url)
        if (
            len(webhook_url) > MAX_URL
            or parts.scheme not in ("http", "https")
            or not parts.hostname
        ):
            problems.add(
                "webhookUrl",
                "INVALID",
                f"webhookUrl must be an http or https URL of at most {MAX_URL} characters",
            )
    if len(service_ids) > MAX_SERVICES:
        problems.add("serviceIds", "INVALID", f"serviceIds lists at most {MAX_SERVICES}")
    else:
        shown = {
            service.id for service in (await status_pages.services_for(session, [page.id]))[page.id]
        }
        for missing in [s for s in service_ids if s not in shown]:
            problems.add("serviceIds", "NOT_FOUND", f"Service not found: {missing}")
    problems.raise_if_any()


async def subscribe(
    session: AsyncSession,
    page: StatusPage,
    *,
    email: str,
    webhook_url: str | None,
    service_ids: Sequence[str],
    now: datetime,
) -> None:
    """Records the subscription and writes its confirmation's event, or leaves a confirmed
    one alone. Race-safe: of two concurrent requests for one address, one inserts and the
    other finds its row (INSERT … ON CONFLICT DO NOTHING, then a locked read)."""
    email = email.strip()
    await _check(session, page, email=email, webhook_url=webhook_url, service_ids=service_ids)
    kind = SubscriberKind.WEBHOOK if webhook_url is not None else SubscriberKind.EMAIL
    target = webhook_url if webhook_url is not None else email.lower()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    inserted = (
        await session.exec(
            dialect.insert(SUBSCRIBERS)
            .values(
                id=new_id("sub"),
                organization_id=page.organization_id,
                page_id=page.id,
                kind=kind.value,
                target=target,
                email=email,
                service_ids=list(dict.fromkeys(service_ids)),
                confirmed_at=None,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["page_id", "kind", "target"])
            .returning(SUBSCRIBERS.c.id)
        )
    ).first()
    if inserted is not None:
        subscriber_id = inserted[0]
    else:
        existing = (
            await session.exec(
                select(Subscriber)
                .where(
                    Subscriber.page_id == page.id,
                    Subscriber.kind == kind.value,
                    Subscriber.target == target,
                )
                .with_for_update()
            )
        ).one()
        if existing.confirmed_at is not None:
            return  # already subscribed: nothing changes, nothing is sent
        existing.service_ids = list(dict.fromkeys(service_ids))
        existing.email = email
        session.add(existing)
        subscriber_id = existing.id
    outbox.emit(
        session,
        organization_id=page.organization_id,
        type=outbox.EventType.SUBSCRIBER_CONFIRMATION,
        data={"subscriberId": subscriber_id, "pageId": page.id, "pageName": page.name},
        now=now,
    )
    await session.flush()


async def confirm(session: AsyncSession, subscriber_id: str, *, now: datetime) -> Subscriber:
    """Confirms the address (again is fine); NOT_FOUND once unsubscribed."""
    subscriber = (
        await session.exec(
            select(Subscriber).where(Subscriber.id == subscriber_id).with_for_update()
        )
    ).first()
    if subscriber is None:
        raise NotFoundError.of("Subscriber")
    if subscriber.confirmed_at is None:
        subscriber.confirmed_at = now
        session.add(subscriber)
        await session.flush()
    return subscriber


async def unsubscribe(session: AsyncSession, subscriber_id: str) -> bool:
    """Deletes the subscription; False if it was already gone."""
    subscriber = await session.get(Subscriber, subscriber_id, with_for_update=True)
    if subscriber is None:
        return False
    await session.delete(subscriber)
    await session.flush()
    return True


async def page_of(session: AsyncSession, subscriber: Subscriber) -> StatusPage:
    page = await session.get(StatusPage, subscriber.page_id)
    if page is None:
        raise NotFoundError.of("StatusPage")
    return page


async def list_subscribers(
    session: AsyncSession,
    organization_id: str,
    *,
    page_id: str,
    page: PageArgs,
    with_count: bool = False,
) -> Page[Subscriber]:
    """Newest first; a page of another organization is not found."""
    await require_owned(session, StatusPage, organization_id, page_id, "StatusPage")
    statement = for_org(Subscriber, organization_id).where(Subscriber.page_id == page_id)
    return await paginate(session, statement, Subscriber, page, with_count=with_count)


async def remove_subscriber(
    session: AsyncSession,
    principal: Principal,
    *,
    subscriber_id: str,
    request: RequestInfo,
    now: datetime,
) -> str:
    return await delete_owned(
        session,
        principal,
        Subscriber,
        subscriber_id,
        type_name="Subscriber",
        action="subscriber.removed",
        scope=Scope.notifications_write,
        describe=lambda row: {"pageId": row.page_id, "kind": row.kind},
        request=request,
        now=now,
    )
