"""Notification channels and the delivery log over GraphQL. Scopes: notifications:read,
notifications:write."""

from datetime import datetime

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.scopes import Scope
from statusgraph.checks.guard import Guard
from statusgraph.db import models
from statusgraph.errors import NotFoundError
from statusgraph.events.outbox import EventType
from statusgraph.notifications.testing import Notifying, send_test
from statusgraph.resolvers import notification_channels as channels
from statusgraph.resolvers import owned
from statusgraph.resolvers.monitor_secrets import MASK
from statusgraph.resolvers.notification_channels import ChannelKind, DeliveryStatus
from statusgraph.resolvers.user_errors import UserInputError
from statusgraph.schema.context import Context, Info
from statusgraph.schema.monitors import refused_target
from statusgraph.schema.mutations import Rejected, in_transaction, provided
from statusgraph.schema.permissions import requires
from statusgraph.schema.relay import Connection, Node, page_args
from statusgraph.schema.services import DeletePayload
from statusgraph.schema.user_errors import UserError

strawberry.enum(EventType, name="EventType", description="What an event tells of.")
strawberry.enum(ChannelKind, name="NotificationChannelKind")
strawberry.enum(DeliveryStatus, name="DeliveryStatus")


@strawberry.type
class NotificationChannel(Node):
    name: str
    kind: ChannelKind
    url: str | None = strawberry.field(
        description="WEBHOOK, SLACK, DISCORD. A Slack or Discord URL is a credential: its "
        "secret part is masked, as is a password in a webhook URL. Sending the masked URL "
        "back in an update keeps the stored one."
    )
    addresses: list[str] | None = strawberry.field(description="EMAIL only.")
    event_types: list[EventType] = strawberry.field(description="Empty: every type.")
    monitor_ids: list[strawberry.ID] = strawberry.field(
        description="Empty: every monitor. When set, only events about these monitors."
    )
    service_ids: list[strawberry.ID] = strawberry.field(
        description="Empty: every service. When set, only events touching these services."
    )
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None = strawberry.field(
        description="Since when every attempt has failed; after 5 days the channel is disabled."
    )
    previous_secret_valid_until: datetime | None = strawberry.field(
        description="After a rotation, until when the previous secret signs too."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: models.NotificationChannel) -> "NotificationChannel":
        url = row.settings.get("url")
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            kind=ChannelKind(row.kind),
            url=channels.shown_url(row.kind, url) if url is not None else None,
            addresses=row.settings.get("addresses"),
            event_types=[EventType(value) for value in row.event_types],
            monitor_ids=[strawberry.ID(i) for i in row.monitor_ids],
            service_ids=[strawberry.ID(i) for i in row.service_ids],
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            failing_since=row.failing_since,
            previous_secret_valid_until=row.previous_secret_until,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type
class DeliveryAttempt:
    attempted_at: datetime
    duration_ms: int
    succeeded: bool
    status_code: int | None
    error_class: str | None = strawberry.field(
        description="dns, connect, tls, timeout, status, blocked (the SSRF guard), "
        "protocol, smtp or internal."
    )
    error: str | None
    response_excerpt: str | None = strawberry.field(
        description="The first 1 KB of the receiver's answer."
    )

    @classmethod
    def of(cls, row: models.DeliveryAttempt) -> "DeliveryAttempt":
        return cls(
            attempted_at=row.attempted_at,
            duration_ms=row.duration_ms,
            succeeded=row.succeeded,
            status_code=row.status_code,
            error_class=row.error_class,
            error=row.error,
            response_excerpt=row.response_excerpt,
        )


@strawberry.type
class Delivery(Node):
    """One event to one channel. Its id is the `webhook-id` header: the same on every
    retry and redelivery."""

    event_id: strawberry.ID
    event_type: EventType
    channel_id: strawberry.ID | None = strawberry.field(description="A channel's delivery.")
    subscriber_id: strawberry.ID | None = strawberry.field(
        description="A status-page subscriber's delivery."
    )
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    created_at: datetime

    @strawberry.field(description="Every attempt, oldest first.")
    async def attempts(self, info: Info) -> list[DeliveryAttempt]:
        rows = await info.context.loaders.delivery_attempts.load(str(self.id))
        return [DeliveryAttempt.of(row) for row in rows]

    @classmethod
    def of(cls, row: models.Delivery) -> "Delivery":
        return cls(
            id=strawberry.ID(row.id),
            event_id=strawberry.ID(row.event_id),
            event_type=EventType(row.event_type),
            channel_id=strawberry.ID(row.channel_id) if row.channel_id else None,
            subscriber_id=strawberry.ID(row.subscriber_id) if row.subscriber_id else None,
            status=DeliveryStatus(row.status),
            attempt_count=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_attempt_at=row.last_attempt_at,
            created_at=row.created_at,
        )


@strawberry.input
class CreateNotificationChannelInput:
    name: str
    kind: ChannelKind
    url: str | None = strawberry.field(
        default=None, description="WEBHOOK (http or https), SLACK and DISCORD (https)."
    )
    addresses: list[str] | None = strawberry.field(
        default=None, description="EMAIL: 1 to 20 addresses."
    )
    event_types: list[EventType] = strawberry.field(default_factory=list)
    monitor_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    service_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    enabled: bool = True


@strawberry.input
class UpdateNotificationChannelInput:
    name: str | None = strawberry.UNSET
    url: str | None = strawberry.UNSET
    addresses: list[str] | None = strawberry.UNSET
    event_types: list[EventType] | None = strawberry.UNSET
    monitor_ids: list[strawberry.ID] | None = strawberry.UNSET
    service_ids: list[strawberry.ID] | None = strawberry.UNSET
    enabled: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="true turns a disabled channel back on, its failing streak forgotten.",
    )


FIELDS = {
    "name": "name",
    "url": "url",
    "addresses": "addresses",
    "event_types": "event_types",
    "monitor_ids": "monitor_ids",
    "service_ids": "service_ids",
    "enabled": "enabled",
}


@strawberry.type
class NotificationChannelPayload:
    notification_channel: NotificationChannel | None
    signing_secret: str | None = strawberry.field(
        description="A WEBHOOK channel's `whsec_` secret, shown once: on creation and on rotation."
    )
    user_errors: list[UserError]


@strawberry.type
class DeliveryPayload:
    delivery: Delivery | None
    user_errors: list[UserError]


def _notifying(ctx: Context) -> Notifying:
    if ctx.notifying is None:
        raise RuntimeError("this context cannot seal or send")
    return ctx.notifying


async def _refused_url(guard: Guard, url: str | None) -> list[UserError]:
    """The SSRF guard's answer for a URL that is visibly refused (DESIGN §10)."""
    if not url:
        return []
    return await refused_target(guard, {"url": url})


def _channel_payload(
    result: tuple[models.NotificationChannel, str | None] | Rejected,
) -> NotificationChannelPayload:
    if isinstance(result, Rejected):
        return NotificationChannelPayload(
            notification_channel=None, signing_secret=None, user_errors=result.user_errors
        )
    row, secret = result
    return NotificationChannelPayload(
        notification_channel=NotificationChannel.of(row), signing_secret=secret, user_errors=[]
    )


def _delivery_payload(result: models.Delivery | Rejected) -> DeliveryPayload:
    if isinstance(result, Rejected):
        return DeliveryPayload(delivery=None, user_errors=result.user_errors)
    return DeliveryPayload(delivery=Delivery.of(result), user_errors=[])


@strawberry.type
class NotificationQueries:
    @strawberry.field(extensions=requires(Scope.notifications_read), description="Newest first.")
    async def notification_channels(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[NotificationChannel] | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            page = await channels.list_channels(
                session, principal.organization_id, page=page_args(first, after, last, before)
            )
        return Connection.of(page, NotificationChannel.of)

    @strawberry.field(extensions=requires(Scope.notifications_read))
    async def notification_channel(
        self, info: Info, id: strawberry.ID
    ) -> NotificationChannel | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            row = await owned.require_owned(
                session,
                models.NotificationChannel,
                principal.organization_id,
                id,
                "NotificationChannel",
            )
        return NotificationChannel.of(row)

    @strawberry.field(
        extensions=requires(Scope.notifications_read),
        description="The delivery log, newest first; filtered by channel and status.",
    )
    async def deliveries(
        self,
        info: Info,
        channel_id: strawberry.ID | None = None,
        status: DeliveryStatus | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Delivery] | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            if channel_id is not None:
                await owned.require_owned(
                    session,
                    models.NotificationChannel,
                    principal.organization_id,
                    channel_id,
                    "NotificationChannel",
                )
            page = await channels.list_deliveries(
                session,
                principal.organization_id,
                channel_id=channel_id,
                status=status,
                page=page_args(first, after, last, before),
            )
        return Connection.of(page, Delivery.of)

    @strawberry.field(extensions=requires(Scope.notifications_read))
    async def delivery(self, info: Info, id: strawberry.ID) -> Delivery | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            row = await owned.require_owned(
                session, models.Delivery, principal.organization_id, id, "Delivery"
            )
        return Delivery.of(row)


@strawberry.type
class NotificationMutations:
    @strawberry.mutation(
        extensions=requires(Scope.notifications_write),
        description="A WEBHOOK channel's signing secret is in the payload, once.",
    )
    async def create_notification_channel(
        self, info: Info, input: CreateNotificationChannelInput
    ) -> NotificationChannelPayload:
        ctx = info.context
        principal = ctx.require_principal()
        fields = provided(input, FIELDS)
        kind = ChannelKind(input.kind)
        refused = (
            [] if kind is ChannelKind.EMAIL else await _refused_url(ctx.checking.guard, input.url)
        )
        if refused:
            return NotificationChannelPayload(
                notification_channel=None, signing_secret=None, user_errors=refused
            )
        result = await in_transaction(
            ctx,
            lambda s: channels.create_channel(
                s,
                principal,
                kind=kind,
                fields=fields,
                sealer=_notifying(ctx).sealer,
                request=ctx.request_info,
                now=ctx.now,
            ),
        )
        return _channel_payload(result)

    @strawberry.mutation(extensions=requires(Scope.notifications_write))
    async def update_notification_channel(
        self, info: Info, id: strawberry.ID, input: UpdateNotificationChannelInput
    ) -> NotificationChannelPayload:
        ctx = info.context
        principal = ctx.require_principal()
        changes = provided(input, FIELDS)
        url = changes.get("url")
        if isinstance(url, str) and MASK not in url:
            refused = await _refused_url(ctx.checking.guard, url)
            if refused:
                return NotificationChannelPayload(
                    notification_channel=None, signing_secret=None, user_errors=refused
                )

        async def update(session: AsyncSession) -> tuple[models.NotificationChannel, None]:
            row = await channels.update_channel(
                session,
                principal,
                channel_id=id,
                changes=changes,
                request=ctx.request_info,
                now=ctx.now,
            )
            return row, None

        return _channel_payload(await in_transaction(ctx, update))

    @strawberry.mutation(
        extensions=requires(Scope.notifications_write),
        description="A new signing secret, shown once; the previous one keeps signing for "
        "24 hours, so receivers can switch without missing a delivery.",
    )
    async def rotate_notification_channel_secret(
        self, info: Info, id: strawberry.ID
    ) -> NotificationChannelPayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: channels.rotate_secret(
                s,
                principal,
                channel_id=id,
                sealer=_notifying(ctx).sealer,
                request=ctx.request_info,
                now=ctx.now,
            ),
        )
        return _channel_payload(result)

    @strawberry.mutation(extensions=requires(Scope.notifications_write))
    async def delete_notification_channel(self, info: Info, id: strawberry.ID) -> DeletePayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: channels.delete_channel(
                s, principal, channel_id=id, request=ctx.request_info, now=ctx.now
            ),
        )
        if isinstance(result, Rejected):
            return DeletePayload(deleted_id=None, user_errors=result.user_errors)
        return DeletePayload(deleted_id=strawberry.ID(result), user_errors=[])

    @strawberry.mutation(
        extensions=requires(Scope.notifications_write),
        description="Sends a test message to the channel now and answers with the delivery "
        "and its attempt (also in the delivery log). Tried once, never retried.",
    )
    async def test_notification_channel(self, info: Info, id: strawberry.ID) -> DeliveryPayload:
        ctx = info.context
        principal = ctx.require_principal()
        await ctx.end_read()
        try:
            delivery_id = await send_test(
                ctx.db,
                _notifying(ctx),
                principal,
                channel_id=id,
                request=ctx.request_info,
                now=ctx.now,
            )
        except UserInputError as error:
            return DeliveryPayload(delivery=None, user_errors=UserError.of(error.errors))
        async with ctx.db() as session:
            row = await session.get(models.Delivery, delivery_id)
        if row is None:  # deleted with its channel in the meantime
            raise NotFoundError.of("Delivery")
        return DeliveryPayload(delivery=Delivery.of(row), user_errors=[])

    @strawberry.mutation(
        extensions=requires(Scope.notifications_write),
        description="Sends a delivery again at once, with the same webhook-id.",
    )
    async def redeliver(self, info: Info, id: strawberry.ID) -> DeliveryPayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: channels.redeliver(
                s, principal, delivery_id=id, request=ctx.request_info, now=ctx.now
            ),
        )
        return _delivery_payload(result)
