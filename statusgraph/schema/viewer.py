"""`viewer`: the calling credential, or null for anonymous callers."""

from datetime import datetime
from enum import Enum

import strawberry

from statusgraph.auth.principal import Principal
from statusgraph.schema.context import Info
from statusgraph.schema.organizations import Organization
from statusgraph.schema.permissions import PUBLIC


@strawberry.enum
class CredentialKind(Enum):
    API_KEY = "api_key"


@strawberry.type(description="The credential making this request.")
class Viewer:
    id: strawberry.ID
    kind: CredentialKind
    name: str
    scopes: list[str]
    expires_at: datetime | None
    sandbox: bool
    organization_id: strawberry.Private[str]

    @strawberry.field
    async def organization(self, info: Info) -> Organization:
        row = await info.context.loaders.organization.load(self.organization_id)
        return Organization.of(row)

    @classmethod
    def of(cls, principal: Principal) -> "Viewer":
        return cls(
            id=strawberry.ID(principal.id),
            kind=CredentialKind(principal.kind),
            name=principal.name,
            scopes=sorted(principal.scopes),
            expires_at=principal.expires_at,
            sandbox=principal.sandbox,
            organization_id=principal.organization_id,
        )


@strawberry.type
class ViewerQueries:
    @strawberry.field(directives=[PUBLIC], description="Null when no credential was sent.")
    def viewer(self, info: Info) -> Viewer | None:
        principal = info.context.principal
        return Viewer.of(principal) if principal else None
