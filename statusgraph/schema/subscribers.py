"""Status-page subscribers over GraphQL: `subscribe` for anyone (@public, charged to the
anonymous bucket like every anonymous request), `subscribers` and `removeSubscriber`
for the organization (notifications:read, notifications:write)."""

from datetime import datetime

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.scopes import Scope
from statusgraph.db import models
from statusgraph.resolvers import status_pages, subscribers
from statusgraph.resolvers.subscribers import SubscriberKind
from statusgraph.schema.context import Info
from statusgraph.schema.monitors import refused_target
from statusgraph.schema.mutations import Rejected, in_transaction
from statusgraph.schema.permissions import PUBLIC, requires
from statusgraph.schema.public import VIEWER_TOKEN_HEADER
from statusgraph.schema.relay import Connection, Node, page_args
from statusgraph.schema.services import DeletePayload
from statusgraph.schema.user_errors import UserError

strawberry.enum(SubscriberKind, name="SubscriberKind")


@strawberry.type
class Subscriber(Node):
    kind: SubscriberKind
    email: str
    webhook_url: str | None
    service_ids: list[strawberry.ID] = strawberry.field(description="Empty: every service.")
    confirmed_at: datetime | None = strawberry.field(
        description="Null until the address is confirmed; nothing but the confirmation is "
        "sent before."
    )
    created_at: datetime

    @classmethod
    def of(cls, row: models.Subscriber) -> "Subscriber":
        return cls(
            id=strawberry.ID(row.id),
            kind=SubscriberKind(row.kind),
            email=row.email,
            webhook_url=row.target if row.kind == SubscriberKind.WEBHOOK else None,
            service_ids=[strawberry.ID(i) for i in row.service_ids],
            confirmed_at=row.confirmed_at,
            created_at=row.created_at,
        )


@strawberry.type
class SubscribePayload:
    accepted: bool = strawberry.field(
        description="true: a confirmation mail is on its way, unless the address was "
        "already confirmed (the answer is the same either way)."
    )
    user_errors: list[UserError]


@strawberry.type
class SubscriberQueries:
    @strawberry.field(
        extensions=requires(Scope.notifications_read),
        description="A status page's subscribers, newest first.",
    )
    async def subscribers(
        self,
        info: Info,
        page_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Subscriber] | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            page = await subscribers.list_subscribers(
                session,
                principal.organization_id,
                page_id=page_id,
                page=page_args(first, after, last, before),
            )
        return Connection.of(page, Subscriber.of)


@strawberry.type
class SubscriberMutations:
    @strawberry.mutation(
        directives=[PUBLIC],
        description="Subscribes an email address (or a webhook URL, with an address for the "
        "confirmation) to a status page's incidents and maintenance, for the services "
        "chosen (none: all). A confirmation mail is sent; nothing else is sent before it is "
        "confirmed. The page must be one the caller may read, with showSubscribe on.",
    )
    async def subscribe(
        self,
        info: Info,
        slug: str,
        email: str,
        service_ids: list[strawberry.ID] | None = None,
        webhook_url: str | None = None,
    ) -> SubscribePayload:
        ctx = info.context
        if webhook_url is not None:
            refused = await refused_target(ctx.checking.guard, {"url": webhook_url})
            if refused:
                errors = [
                    UserError(field="webhookUrl", code=e.code, message=e.message) for e in refused
                ]
                return SubscribePayload(accepted=False, user_errors=errors)

        async def work(session: AsyncSession) -> None:
            page = await status_pages.readable_page(
                session,
                slug=slug,
                principal=ctx.principal,
                viewer_token=ctx.request.headers.get(VIEWER_TOKEN_HEADER),
                pepper=ctx.pepper,
            )
            await subscribers.subscribe(
                session,
                page,
                email=email,
                webhook_url=webhook_url,
                service_ids=[str(i) for i in service_ids or []],
                now=ctx.now,
            )

        result = await in_transaction(ctx, work)
        if isinstance(result, Rejected):
            return SubscribePayload(accepted=False, user_errors=result.user_errors)
        return SubscribePayload(accepted=True, user_errors=[])

    @strawberry.mutation(extensions=requires(Scope.notifications_write))
    async def remove_subscriber(self, info: Info, id: strawberry.ID) -> DeletePayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: subscribers.remove_subscriber(
                s, principal, subscriber_id=id, request=ctx.request_info, now=ctx.now
            ),
        )
        if isinstance(result, Rejected):
            return DeletePayload(deleted_id=None, user_errors=result.user_errors)
        return DeletePayload(deleted_id=strawberry.ID(result), user_errors=[])
