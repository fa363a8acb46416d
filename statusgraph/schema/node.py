"""`node(id:)`: any object of the caller's organization, by its prefixed ID."""

import strawberry
from strawberry.types import Info

from statusgraph.auth.scopes import Scope
from statusgraph.errors import ForbiddenError, NotFoundError
from statusgraph.ids import id_prefix
from statusgraph.resolvers import api_keys, audit
from statusgraph.schema.api_keys import ApiKey
from statusgraph.schema.audit import AuditEvent
from statusgraph.schema.organizations import Organization
from statusgraph.schema.permissions import PUBLIC
from statusgraph.schema.relay import Node

# The scope each kind of node needs; organizations need only a credential of their own.
NODE_SCOPES: dict[str, str | None] = {
    "key": Scope.api_keys_read,
    "aud": Scope.audit_log_read,
    "org": None,
}


@strawberry.type
class NodeQueries:
    @strawberry.field(
        directives=[PUBLIC],
        description="Any object of the caller's organization. Anonymous callers find nothing; "
        "each type needs the scope its own query needs.",
    )
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        ctx = info.context
        prefix = id_prefix(id)
        if ctx.principal is None or prefix not in NODE_SCOPES:
            raise NotFoundError.of("Node")
        scope = NODE_SCOPES[prefix]
        if scope is not None and not ctx.principal.can(scope):
            raise ForbiddenError(f"Insufficient scope: {scope} required", requiredScope=scope)
        org_id = ctx.principal.organization_id
        found: Node | None = None
        if prefix == "org":
            row = await ctx.loaders.organization.load(id) if id == org_id else None
            found = Organization.of(row) if row else None
        else:
            async with ctx.db() as session:
                if prefix == "key":
                    key = await api_keys.get_key(session, org_id, id)
                    found = ApiKey.of(key, ctx.now) if key else None
                else:
                    event = await audit.get_event(session, org_id, id)
                    found = AuditEvent.of(event) if event else None
        if found is None:
            raise NotFoundError.of("Node")
        return found
