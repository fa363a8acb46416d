"""`viewer`: the calling credential, or null for anonymous callers."""

from datetime import datetime
from enum import Enum

import strawberry

from statusgraph.auth.principal import Principal
from statusgraph.schema.context import Info
from statusgraph.schema.organizations import Organization
from statusgraph.schema.permissions import PUBLIC
from statusgraph.schema.users import MemberRole, User


@strawberry.enum
class CredentialKind(Enum):
    API_KEY = "api_key"
    OAUTH_TOKEN = "oauth_token"  # noqa: S105  (a kind)


@strawberry.type(description="The OAuth app an access token was issued to.")
class ViewerApp:
    id: strawberry.ID
    name: str
    client_id: str


@strawberry.type(description="The credential making this request.")
class Viewer:
    id: strawberry.ID
    kind: CredentialKind
    name: str
    scopes: list[str]
    expires_at: datetime | None
    sandbox: bool
    user: User | None = strawberry.field(
        description="For an OAuth token, the user it acts for; null for an API key."
    )
    role: MemberRole | None = strawberry.field(
        description="For an OAuth token, the user's role now (it bounds the token's scopes)."
    )
    app: ViewerApp | None = strawberry.field(
        description="For an OAuth token, the app it was issued to; null for an API key."
    )
    organization_id: strawberry.Private[str]

    @strawberry.field
    async def organization(self, info: Info) -> Organization:
        row = await info.context.loaders.organization.load(self.organization_id)
        return Organization.of(row)

    @classmethod
    def of(cls, principal: Principal) -> "Viewer":
        delegation = principal.delegation
        return cls(
            id=strawberry.ID(principal.id),
            kind=CredentialKind(principal.kind),
            name=principal.name,
            scopes=sorted(principal.scopes),
            expires_at=principal.expires_at,
            sandbox=principal.sandbox,
            user=User(
                id=strawberry.ID(delegation.user_id),
                email=delegation.user_email,
                name=delegation.user_name,
            )
            if delegation
            else None,
            role=MemberRole(delegation.role) if delegation else None,
            app=ViewerApp(
                id=strawberry.ID(delegation.app_id),
                name=delegation.app_name,
                client_id=delegation.client_id,
            )
            if delegation
            else None,
            organization_id=principal.organization_id,
        )


@strawberry.type
class ViewerQueries:
    @strawberry.field(directives=[PUBLIC], description="Null when no credential was sent.")
    def viewer(self, info: Info) -> Viewer | None:
        principal = info.context.principal
        return Viewer.of(principal) if principal else None
