"""`testNotificationChannel`: sends a test message to one channel now, through the same
integration, transport and delivery log as every other delivery, and answers with the
delivery and its attempt. The test event is written dispatched, so it fans out to no
other channel."""

from dataclasses import dataclass
from datetime import datetime

from statusgraph.auth.principal import Principal, RequestInfo
from statusgraph.auth.scopes import Scope
from statusgraph.auth.sealed import Sealer
from statusgraph.auth.subscriber_tokens import SubscriberTokens
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import Delivery, NotificationChannel
from statusgraph.events import outbox
from statusgraph.ids import new_id
from statusgraph.notifications import deliveries
from statusgraph.notifications.deliveries import Claimed, Sent
from statusgraph.notifications.integrations import kinds
from statusgraph.notifications.transport import Transport
from statusgraph.resolvers import audit
from statusgraph.resolvers.locks import Lock
from statusgraph.resolvers.owned import require_owned
from statusgraph.resolvers.user_errors import Problems


@dataclass(frozen=True, slots=True)
class Notifying:
    """What the API needs to send and seal: the web process's own transport (None: this
    process sends nothing now, as in tests that build no app) and sealer."""

    sealer: Sealer
    tokens: SubscriberTokens
    transport: Transport | None = None


async def send_test(
    db: SessionFactory,
    notifying: Notifying,
    principal: Principal,
    *,
    channel_id: str,
    request: RequestInfo,
    now: datetime,
) -> str:
    """Sends now; returns the delivery's id. A channel of another organization is not
    found; a disabled one is refused (enable it first)."""
    async with db.begin() as session:
        channel = await require_owned(
            session,
            NotificationChannel,
            principal.organization_id,
            channel_id,
            "NotificationChannel",
            lock=Lock.REFERENCE,
        )
        problems = Problems()
        if not channel.enabled:
            problems.add("id", "CHANNEL_DISABLED", "The channel is disabled: enable it first")
        if notifying.transport is None:
            problems.add("id", "UNAVAILABLE", "This server cannot send notifications now")
        problems.raise_if_any()
        event = outbox.emit(
            session,
            organization_id=channel.organization_id,
            type=outbox.EventType.TEST,
            data={"channelId": channel.id, "name": channel.name},
            now=now,
        )
        event.dispatched_at = now
        await session.flush()  # the event first: the delivery references it
        lease_until = now + deliveries.LEASE
        delivery = Delivery(
            id=new_id("msg"),
            organization_id=channel.organization_id,
            event_id=event.id,
            channel_id=channel.id,
            event_type=event.type,
            next_attempt_at=lease_until,
            created_at=now,
        )
        session.add(delivery)
        await session.flush()
        await audit.record_change(
            session,
            principal,
            "notification_channel.tested",
            channel,
            scope=Scope.notifications_write,
            request=request,
            now=now,
        )
        claimed = Claimed(delivery.id, event.id, channel.id, 0, lease_until)
        ready, _ = await deliveries.outgoing(
            session, [claimed], sealer=notifying.sealer, tokens=notifying.tokens, now=now
        )
        if not ready:  # written back: nothing of this test is kept
            problems.add(
                "id",
                "SECRET_UNREADABLE",
                "The channel's signing secret does not open with this server's key "
                "(STATUSGRAPH_SECRET_KEY changed): rotate the secret",
            )
            problems.raise_if_any()
        [outgoing] = ready
    assert notifying.transport is not None
    attempt = await kinds()[outgoing.kind](notifying.transport, outgoing)
    async with db.begin() as session:
        await deliveries.record(session, [Sent(claimed, attempt, now)], now=now)
        if not attempt.succeeded:  # a test is tried once: the answer is the point
            tried = await session.get(Delivery, claimed.id)
            if tried is not None:  # not deleted with its channel meanwhile
                tried.status, tried.next_attempt_at = "failed", None
                session.add(tried)
    return claimed.id
