"""OAuth apps and the organization's grants over GraphQL (DESIGN §11).

Scopes: config:read / config:write for apps, team:read / team:write for grants.
"""

from datetime import datetime

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.scopes import Scope
from statusgraph.db import models
from statusgraph.errors import NotFoundError
from statusgraph.resolvers import oauth_apps
from statusgraph.schema import scope_usage as usage_fields
from statusgraph.schema.actors import Actor
from statusgraph.schema.context import Info
from statusgraph.schema.mutations import Rejected, in_transaction
from statusgraph.schema.permissions import requires
from statusgraph.schema.relay import Connection, Node, page_args, selects
from statusgraph.schema.services import DeletePayload
from statusgraph.schema.user_errors import UserError
from statusgraph.schema.users import User


@strawberry.type(
    description="A registered client of the OAuth 2.0 provider. A confidential app's "
    "client secret is shown once, when the app is created or its secret rotated."
)
class OAuthApp(Node):
    name: str
    description: str
    client_id: str = strawberry.field(description="Public: sent by the app as client_id.")
    confidential: bool = strawberry.field(
        description="Holds a client secret (a server-side app); a public app (native, "
        "single-page) has none and relies on PKCE alone."
    )
    redirect_uris: list[str] = strawberry.field(
        description="Where the authorization endpoint may send the user back: matched exactly."
    )
    secret_hint: str | None = strawberry.field(
        description="The first characters of the client secret, for recognising it "
        "(confidential apps only)."
    )
    created_at: datetime
    updated_at: datetime
    created_by: Actor

    @classmethod
    def of(cls, row: models.OAuthApp) -> "OAuthApp":
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            description=row.description,
            client_id=row.client_id,
            confidential=row.confidential,
            redirect_uris=list(row.redirect_uris),
            secret_hint=row.secret_display,
            created_at=row.created_at,
            updated_at=row.updated_at,
            created_by=Actor.of(row.created_by_type, row.created_by_id, row.created_by_label),
        )


@strawberry.type(
    description="The app a grant was given to. It may have been registered by another "
    "organization (members may authorize any app): only its name, client id and the "
    "registering organization's name are shown; oauthApp(id) finds it only when it is "
    "this organization's."
)
class GrantedApp:
    id: strawberry.ID
    name: str
    client_id: str
    registered_by: str = strawberry.field(
        description="The name of the organization that registered the app."
    )

    @classmethod
    def of(cls, app: oauth_apps.GrantedApp) -> "GrantedApp":
        return cls(
            id=strawberry.ID(app.id),
            name=app.name,
            client_id=app.client_id,
            registered_by=app.registered_by,
        )


@strawberry.type(
    description="What a member consented to for an app: its tokens act for the member "
    "with these scopes, within the member's current role."
)
class OAuthGrant:
    id: strawberry.ID
    app: GrantedApp
    user: User
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None = strawberry.field(description="Updated at most once a minute.")

    @strawberry.field(description=usage_fields.SCOPE_USAGE)
    async def scope_usage(self, info: Info) -> list[usage_fields.ScopeUsage]:
        return await usage_fields.usage(info, str(self.id))

    @strawberry.field(description=usage_fields.UNUSED_SCOPES)
    async def unused_scopes(self, info: Info, days: int = 30) -> list[str]:
        return await usage_fields.unused(info, str(self.id), self.scopes, days)


@strawberry.input
class CreateOAuthAppInput:
    name: str = strawberry.field(description="1 to 200 characters, shown on the consent page.")
    description: str = strawberry.field(default="", description="At most 2,000 characters.")
    redirect_uris: list[str] = strawberry.field(
        description="1 to 10: https://…, or http://127.0.0.1:PORT/… or http://[::1]:PORT/… "
        "for a native app; no wildcard, user information or fragment."
    )
    confidential: bool = strawberry.field(
        description="True for an app that can keep a client secret (it gets one)."
    )


@strawberry.input
class UpdateOAuthAppInput:
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    redirect_uris: list[str] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Replaces the list; a URI left out stops working at once.",
    )


@strawberry.type
class CreateOAuthAppPayload:
    oauth_app: OAuthApp | None
    client_secret: str | None = strawberry.field(
        description="A confidential app's client secret. Shown this once, never again."
    )
    user_errors: list[UserError]


@strawberry.type
class OAuthAppPayload:
    oauth_app: OAuthApp | None
    user_errors: list[UserError]


@strawberry.type
class RotateOAuthAppSecretPayload:
    oauth_app: OAuthApp | None
    client_secret: str | None = strawberry.field(
        description="The new client secret, shown once; the old one no longer works."
    )
    user_errors: list[UserError]


@strawberry.type
class RevokeOAuthGrantPayload:
    oauth_grant: OAuthGrant | None
    user_errors: list[UserError]


@strawberry.type
class OAuthAppQueries:
    @strawberry.field(extensions=requires(Scope.config_read))
    async def oauth_apps(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[OAuthApp] | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            page = await oauth_apps.list_apps(
                session,
                principal.organization_id,
                page=page_args(first, after, last, before),
                with_count=selects(info, "totalCount"),
            )
        return Connection.of(page, OAuthApp.of)

    @strawberry.field(extensions=requires(Scope.config_read))
    async def oauth_app(self, info: Info, id: strawberry.ID) -> OAuthApp | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            row = await oauth_apps.get_app(session, principal.organization_id, id)
        if row is None:
            raise NotFoundError.of("OAuthApp")
        return OAuthApp.of(row)

    @strawberry.field(
        extensions=requires(Scope.team_read),
        description="The organization's live grants: the apps members authorized.",
    )
    async def oauth_grants(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[OAuthGrant] | None:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            page = await oauth_apps.list_grants(
                session,
                principal.organization_id,
                page=page_args(first, after, last, before),
                with_count=selects(info, "totalCount"),
            )
            apps, users = await oauth_apps.grant_parties(session, page.rows)
        return Connection.of(page, lambda row: _grant(row, apps[row.app_id], users[row.user_id]))


def _grant(row: models.OAuthGrant, app: oauth_apps.GrantedApp, user: models.User) -> OAuthGrant:
    return OAuthGrant(
        id=strawberry.ID(row.id),
        app=GrantedApp.of(app),
        user=User(id=strawberry.ID(user.id), email=user.email, name=user.name),
        scopes=list(row.scopes),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


@strawberry.type
class OAuthAppMutations:
    @strawberry.mutation(
        name="createOAuthApp",
        extensions=requires(Scope.config_write),
        description="Registers an app: a client id, and a client secret shown once for a "
        "confidential app.",
    )
    async def create_oauth_app(
        self, info: Info, input: CreateOAuthAppInput
    ) -> CreateOAuthAppPayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: oauth_apps.create_oauth_app(
                s,
                principal,
                name=input.name,
                description=input.description,
                redirect_uris=input.redirect_uris,
                confidential=input.confidential,
                request=ctx.request_info,
                now=ctx.now,
                pepper=ctx.pepper,
            ),
        )
        if isinstance(result, Rejected):
            return CreateOAuthAppPayload(
                oauth_app=None, client_secret=None, user_errors=result.user_errors
            )
        return CreateOAuthAppPayload(
            oauth_app=OAuthApp.of(result.app),
            client_secret=result.client_secret,
            user_errors=[],
        )

    @strawberry.mutation(name="updateOAuthApp", extensions=requires(Scope.config_write))
    async def update_oauth_app(
        self, info: Info, id: strawberry.ID, input: UpdateOAuthAppInput
    ) -> OAuthAppPayload:
        ctx = info.context
        principal = ctx.require_principal()
        # Left out (UNSET): unchanged (None). An explicit null: empty, which validation
        # refuses for a name or a list of redirect URIs, and clears a description.
        name = None if input.name is strawberry.UNSET else input.name or ""
        description = None if input.description is strawberry.UNSET else input.description or ""
        redirect_uris = (
            None if input.redirect_uris is strawberry.UNSET else input.redirect_uris or []
        )
        result = await in_transaction(
            ctx,
            lambda s: oauth_apps.update_oauth_app(
                s,
                principal,
                app_id=id,
                name=name,
                description=description,
                redirect_uris=redirect_uris,
                request=ctx.request_info,
                now=ctx.now,
            ),
        )
        if isinstance(result, Rejected):
            return OAuthAppPayload(oauth_app=None, user_errors=result.user_errors)
        return OAuthAppPayload(oauth_app=OAuthApp.of(result), user_errors=[])

    @strawberry.mutation(
        name="rotateOAuthAppSecret",
        extensions=requires(Scope.config_write),
        description="A new client secret, shown once; the old one stops working at once.",
    )
    async def rotate_oauth_app_secret(
        self, info: Info, id: strawberry.ID
    ) -> RotateOAuthAppSecretPayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: oauth_apps.rotate_oauth_app_secret(
                s, principal, app_id=id, request=ctx.request_info, now=ctx.now, pepper=ctx.pepper
            ),
        )
        if isinstance(result, Rejected):
            return RotateOAuthAppSecretPayload(
                oauth_app=None, client_secret=None, user_errors=result.user_errors
            )
        return RotateOAuthAppSecretPayload(
            oauth_app=OAuthApp.of(result.app), client_secret=result.client_secret, user_errors=[]
        )

    @strawberry.mutation(
        name="deleteOAuthApp",
        extensions=requires(Scope.config_write),
        description="Revokes every grant of the app (its tokens stop at once), then deletes it.",
    )
    async def delete_oauth_app(self, info: Info, id: strawberry.ID) -> DeletePayload:
        ctx = info.context
        principal = ctx.require_principal()
        result = await in_transaction(
            ctx,
            lambda s: oauth_apps.delete_oauth_app(
                s, principal, app_id=id, request=ctx.request_info, now=ctx.now
            ),
        )
        if isinstance(result, Rejected):
            return DeletePayload(deleted_id=None, user_errors=result.user_errors)
        return DeletePayload(deleted_id=strawberry.ID(result), user_errors=[])

    @strawberry.mutation(
        name="revokeOAuthGrant",
        extensions=requires(Scope.team_write),
        description="Stops a member's grant to an app and every token issued from it.",
    )
    async def revoke_oauth_grant(self, info: Info, id: strawberry.ID) -> RevokeOAuthGrantPayload:
        ctx = info.context
        principal = ctx.require_principal()

        async def revoke(session: AsyncSession) -> OAuthGrant:
            grant = await oauth_apps.revoke_organization_grant(
                session,
                principal,
                grant_id=id,
                request=ctx.request_info,
                now=ctx.now,
            )
            apps, users = await oauth_apps.grant_parties(session, [grant])
            return _grant(grant, apps[grant.app_id], users[grant.user_id])

        result = await in_transaction(ctx, revoke)
        if isinstance(result, Rejected):
            return RevokeOAuthGrantPayload(oauth_grant=None, user_errors=result.user_errors)
        return RevokeOAuthGrantPayload(oauth_grant=result, user_errors=[])
