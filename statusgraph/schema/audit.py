"""The audit log over GraphQL. Scope: audit_log:read."""

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from statusgraph.auth.scopes import Scope
from statusgraph.db import models
from statusgraph.resolvers import audit
from statusgraph.schema.actors import Actor
from statusgraph.schema.context import Info
from statusgraph.schema.permissions import requires
from statusgraph.schema.relay import Connection, Node, page_args, selects


@strawberry.type(description="One recorded action. Never contains a secret.")
class AuditEvent(Node):
    created_at: datetime
    actor: Actor
    action: str = strawberry.field(description='For example "api_key.created".')
    target_type: str | None
    target_id: strawberry.ID | None
    ip: str | None
    user_agent: str | None
    request_id: str | None
    scopes_used: list[str]
    details: JSON

    @classmethod
    def of(cls, row: models.AuditEvent) -> "AuditEvent":
        return cls(
            id=strawberry.ID(row.id),
            created_at=row.created_at,
            actor=Actor.of(row.actor_type, row.actor_id, row.actor_label),
            action=row.action,
            target_type=row.target_type,
            target_id=strawberry.ID(row.target_id) if row.target_id else None,
            ip=row.ip,
            user_agent=row.user_agent,
            request_id=row.request_id,
            scopes_used=list(row.scopes_used),
            details=cast(JSON, row.details),
        )


@strawberry.input
class AuditLogFilter:
    action: str | None = None
    actor_id: strawberry.ID | None = None
    api_key_id: strawberry.ID | None = strawberry.field(
        default=None, description="What this API key did (entries whose actor it is)."
    )
    oauth_app_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="What access tokens of this OAuth app did, for any member and grant.",
    )
    since: datetime | None = strawberry.field(default=None, description="Inclusive.")
    until: datetime | None = strawberry.field(default=None, description="Exclusive.")


@strawberry.type
class AuditQueries:
    @strawberry.field(extensions=requires(Scope.audit_log_read))
    async def audit_log(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: AuditLogFilter | None = None,
    ) -> Connection[AuditEvent] | None:
        ctx = info.context
        principal = ctx.require_principal()
        wanted = filter or AuditLogFilter()
        async with ctx.read() as session:
            page = await audit.list_events(
                session,
                principal.organization_id,
                filters=audit.AuditFilter(
                    action=wanted.action,
                    actor_id=wanted.actor_id,
                    api_key_id=wanted.api_key_id,
                    oauth_app_id=wanted.oauth_app_id,
                    since=wanted.since,
                    until=wanted.until,
                ),
                page=page_args(first, after, last, before),
                with_count=selects(info, "totalCount"),
            )
        return Connection.of(page, AuditEvent.of)
