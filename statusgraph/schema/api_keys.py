"""API keys over GraphQL. Scopes: api_keys:read, api_keys:write."""

from datetime import datetime
from enum import Enum

import strawberry

from statusgraph.auth.scopes import Scope
from statusgraph.db import models
from statusgraph.errors import NotFoundError
from statusgraph.resolvers import api_keys, organization_settings, organizations
from statusgraph.resolvers.user_errors import UserInputError
from statusgraph.schema import scope_usage as usage_fields
from statusgraph.schema.actors import Actor
from statusgraph.schema.context import Info
from statusgraph.schema.permissions import requires
from statusgraph.schema.relay import Connection, Node, page_args, selects
from statusgraph.schema.user_errors import UserError


@strawberry.enum
class ApiKeyEnvironment(Enum):
    LIVE = "live"
    TEST = "test"


@strawberry.enum
class ApiKeyStatus(Enum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@strawberry.type(description="An API key. Its secret is shown once, at creation or rotation.")
class ApiKey(Node):
    name: str
    prefix: str = strawberry.field(
        description="The first characters of the key, for recognising it."
    )
    scopes: list[str]
    environment: ApiKeyEnvironment
    legacy: bool = strawberry.field(description="Full access, created outside the scoped flow.")
    status: ApiKeyStatus
    expires_at: datetime | None
    ip_allowlist: list[str]
    created_at: datetime
    created_by: Actor
    last_used_at: datetime | None = strawberry.field(description="Updated at most once a minute.")
    last_used_ip: str | None
    revoked_at: datetime | None
    stale: bool = strawberry.field(
        description="Unused for 60 days, or never used and older than 60 days."
    )
    replaced_by_id: strawberry.ID | None = strawberry.field(
        description="The successor, once this key has been rotated."
    )
    organization_id: strawberry.Private[str]

    @strawberry.field(description=usage_fields.SCOPE_USAGE)
    async def scope_usage(self, info: Info) -> list[usage_fields.ScopeUsage]:
        return await usage_fields.usage(info, str(self.id))

    @strawberry.field(description=usage_fields.UNUSED_SCOPES)
    async def unused_scopes(self, info: Info, days: int = 30) -> list[str]:
        held = ["*:*"] if self.legacy else self.scopes
        return await usage_fields.unused(info, str(self.id), held, days)

    @strawberry.field(
        description="Lives longer than the organization's key policy allows today (no "
        "expiry, or one beyond the maximum lifetime from its creation): made before the "
        "policy, or by a rotation of such a key."
    )
    async def exceeds_policy(self, info: Info) -> bool:
        organization = await info.context.loaders.organization.load(self.organization_id)
        return organization_settings.exceeds_policy(
            organization, created_at=self.created_at, expires_at=self.expires_at
        )

    @classmethod
    def of(cls, row: models.ApiKey, now: datetime) -> "ApiKey":
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            prefix=row.display_prefix,
            scopes=list(row.scopes),
            environment=ApiKeyEnvironment.TEST if row.sandbox else ApiKeyEnvironment.LIVE,
            legacy=row.legacy,
            status=ApiKeyStatus(api_keys.status(row, now).value),
            expires_at=row.expires_at,
            ip_allowlist=list(row.ip_allowlist),
            created_at=row.created_at,
            created_by=Actor.of(row.created_by_type, row.created_by_id, row.created_by_label),
            last_used_at=row.last_used_at,
            last_used_ip=row.last_used_ip,
            revoked_at=row.revoked_at,
            stale=api_keys.is_stale(row, now),
            replaced_by_id=strawberry.ID(row.replaced_by_id) if row.replaced_by_id else None,
            organization_id=row.organization_id,
        )


@strawberry.input
class CreateApiKeyInput:
    name: str
    scopes: list[str] = strawberry.field(
        description='Scopes such as "incidents:write" or "monitors:*".'
    )
    expires_at: datetime | None = None
    ip_allowlist: list[str] = strawberry.field(
        default_factory=list, description="CIDR ranges (enterprise plan only, at most 100)."
    )
    sandbox: bool = strawberry.field(default=False, description="Issue an sg_test_ key.")


@strawberry.type
class CreateApiKeyPayload:
    api_key: ApiKey | None
    secret: str | None = strawberry.field(description="The full key. Shown this once, never again.")
    user_errors: list[UserError]


@strawberry.type
class RevokeApiKeyPayload:
    api_key: ApiKey | None
    user_errors: list[UserError]


@strawberry.type
class RotateApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The successor key.")
    secret: str | None = strawberry.field(description="The successor's full key, shown once.")
    previous_api_key: ApiKey | None = strawberry.field(
        description="The rotated key, now expiring at the end of the overlap."
    )
    user_errors: list[UserError]


@strawberry.type
class ApiKeyQueries:
    @strawberry.field(extensions=requires(Scope.api_keys_read))
    async def api_keys(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        include_revoked: bool = False,
    ) -> Connection[ApiKey] | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            page = await api_keys.list_keys(
                session,
                principal.organization_id,
                include_revoked=include_revoked,
                page=page_args(first, after, last, before),
                with_count=selects(info, "totalCount"),
            )
        return Connection.of(page, lambda row: ApiKey.of(row, ctx.now))

    @strawberry.field(extensions=requires(Scope.api_keys_read))
    async def api_key(self, info: Info, id: strawberry.ID) -> ApiKey | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            row = await api_keys.get_key(session, principal.organization_id, id)
        if row is None:
            raise NotFoundError.of("ApiKey")
        return ApiKey.of(row, ctx.now)


@strawberry.type
class ApiKeyMutations:
    @strawberry.mutation(extensions=requires(Scope.api_keys_write))
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
        ctx = info.context
        principal = ctx.require_principal()
        draft = api_keys.KeyDraft(
            name=input.name,
            scopes=input.scopes,
            expires_at=input.expires_at,
            ip_allowlist=input.ip_allowlist,
            sandbox=input.sandbox,
        )
        try:
            async with ctx.db.begin() as session:
                organization = await organizations.get_organization(
                    session, principal.organization_id
                )
                assert organization is not None  # a key cannot outlive its organization
                issued = await api_keys.create_key(
                    session,
                    principal.actor,
                    organization=organization,
                    draft=draft,
                    granter=principal,
                    request=ctx.request_info,
                    now=ctx.now,
                    pepper=ctx.pepper,
                )
        except UserInputError as error:
            return CreateApiKeyPayload(
                api_key=None, secret=None, user_errors=UserError.of(error.errors)
            )
        return CreateApiKeyPayload(
            api_key=ApiKey.of(issued.key, ctx.now), secret=issued.secret, user_errors=[]
        )

    @strawberry.mutation(extensions=requires(Scope.api_keys_write))
    async def revoke_api_key(self, info: Info, id: strawberry.ID) -> RevokeApiKeyPayload:
        ctx = info.context
        try:
            async with ctx.db.begin() as session:
                row = await api_keys.revoke_key(
                    session,
                    ctx.require_principal(),
                    key_id=id,
                    request=ctx.request_info,
                    now=ctx.now,
                )
        except UserInputError as error:
            return RevokeApiKeyPayload(api_key=None, user_errors=UserError.of(error.errors))
        ctx.forget_credential(id)
        return RevokeApiKeyPayload(api_key=ApiKey.of(row, ctx.now), user_errors=[])

    @strawberry.mutation(extensions=requires(Scope.api_keys_write))
    async def rotate_api_key(
        self,
        info: Info,
        id: strawberry.ID,
        overlap_seconds: int = api_keys.DEFAULT_OVERLAP_SECONDS,
    ) -> RotateApiKeyPayload:
        ctx = info.context
        try:
            async with ctx.db.begin() as session:
                issued, old = await api_keys.rotate_key(
                    session,
                    ctx.require_principal(),
                    key_id=id,
                    overlap_seconds=overlap_seconds,
                    request=ctx.request_info,
                    now=ctx.now,
                    pepper=ctx.pepper,
                )
        except UserInputError as error:
            return RotateApiKeyPayload(
                api_key=None,
                secret=None,
                previous_api_key=None,
                user_errors=UserError.of(error.errors),
            )
        ctx.forget_credential(id)
        return RotateApiKeyPayload(
            api_key=ApiKey.of(issued.key, ctx.now),
            secret=issued.secret,
            previous_api_key=ApiKey.of(old, ctx.now),
            user_errors=[],
        )
