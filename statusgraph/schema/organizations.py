"""The caller's organization and its settings (DESIGN §15). Scopes: config:read,
config:write."""

from datetime import datetime
from enum import Enum

import strawberry

from statusgraph.auth.scopes import Scope
from statusgraph.db import models
from statusgraph.resolvers import organization_settings as settings_ops
from statusgraph.schema.context import Info
from statusgraph.schema.mutations import Rejected, in_transaction
from statusgraph.schema.permissions import requires
from statusgraph.schema.relay import Node
from statusgraph.schema.status_pages import StatusPage
from statusgraph.schema.usage import Usage, usage_of
from statusgraph.schema.user_errors import UserError


@strawberry.enum
class Plan(Enum):
    STARTER = "starter"
    PRO = "pro"
    TEAM = "team"
    ENTERPRISE = "enterprise"


@strawberry.type(description="What keys of the organization may be (docs/organization.md).")
class KeyPolicy:
    max_lifetime_days: int | None = strawberry.field(
        description="New keys must expire within this many days of their creation; null: "
        "no maximum. Older keys beyond it show `exceedsPolicy`."
    )
    disable_older_than_days: int | None = strawberry.field(
        description="Keys older than this many days are revoked by a background job "
        "(audited as api_key.disabled_by_policy); null: never."
    )


@strawberry.type
class OrganizationSettings:
    name: str
    time_zone: str = strawberry.field(
        description='An IANA time zone name ("Europe/Paris"), used for dates shown to people.'
    )
    default_status_page: StatusPage | None = strawberry.field(
        description="The page served at the organization's default address."
    )
    key_policy: KeyPolicy
    session_hours: int = strawberry.field(
        description="How long a browser session (the sign-in and consent pages) lasts."
    )

    @classmethod
    def of(cls, found: settings_ops.Settings) -> "OrganizationSettings":
        row = found.organization
        return cls(
            name=row.name,
            time_zone=row.time_zone,
            default_status_page=StatusPage.of(found.default_page) if found.default_page else None,
            key_policy=KeyPolicy(
                max_lifetime_days=row.key_max_lifetime_days,
                disable_older_than_days=row.key_disable_after_days,
            ),
            session_hours=row.session_hours,
        )


@strawberry.type
class Organization(Node):
    name: str
    slug: str
    plan: Plan
    created_at: datetime

    @strawberry.field(extensions=requires(Scope.config_read))
    async def settings(self, info: Info) -> OrganizationSettings | None:
        async with info.context.read() as session:
            found = await settings_ops.get_settings(session, str(self.id))
        return OrganizationSettings.of(found)

    @strawberry.field(
        extensions=requires(Scope.billing_read),
        description="The plan, its limits and current use (docs/usage.md). Also under "
        "viewer.organization, for a credential holding billing:read alone.",
    )
    def usage(self, info: Info) -> Usage | None:
        return usage_of(str(self.id), self.plan.value, info.context.now)

    @classmethod
    def of(cls, row: models.Organization) -> "Organization":
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            slug=row.slug,
            plan=Plan(row.plan),
            created_at=row.created_at,
        )


@strawberry.input
class KeyPolicyInput:
    max_lifetime_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="1 to 3650, or null for no maximum."
    )
    disable_older_than_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="1 to 3650, or null to never disable keys."
    )


@strawberry.input(description="Only the fields sent are changed.")
class UpdateOrganizationSettingsInput:
    name: str | None = strawberry.field(
        default=strawberry.UNSET, description="1 to 200 characters."
    )
    time_zone: str | None = strawberry.field(
        default=strawberry.UNSET, description="An IANA time zone name."
    )
    default_status_page_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="One of the organization's status pages."
    )
    key_policy: KeyPolicyInput | None = strawberry.UNSET
    session_hours: int | None = strawberry.field(default=strawberry.UNSET, description="1 to 720.")


@strawberry.type
class UpdateOrganizationSettingsPayload:
    settings: OrganizationSettings | None
    user_errors: list[UserError]


def _given(value: object) -> object:
    return settings_ops.UNCHANGED if value is strawberry.UNSET else value


@strawberry.type
class OrganizationQueries:
    @strawberry.field(
        extensions=requires(Scope.config_read), description="The caller's organization."
    )
    async def organization(self, info: Info) -> Organization | None:
        ctx = info.context
        row = await ctx.loaders.organization.load(ctx.require_principal().organization_id)
        return Organization.of(row)


@strawberry.type
class OrganizationMutations:
    @strawberry.mutation(
        extensions=requires(Scope.config_write),
        description="Changes the fields sent; every change is audited with its old and new value.",
    )
    async def update_organization_settings(
        self, info: Info, input: UpdateOrganizationSettingsInput
    ) -> UpdateOrganizationSettingsPayload:
        ctx = info.context
        principal = ctx.require_principal()
        policy = input.key_policy if input.key_policy not in (None, strawberry.UNSET) else None
        change = settings_ops.SettingsChange(
            name=_given(input.name),
            time_zone=_given(input.time_zone),
            default_status_page_id=_given(input.default_status_page_id),
            key_max_lifetime_days=_given(policy.max_lifetime_days)
            if policy
            else settings_ops.UNCHANGED,
            key_disable_after_days=(
                _given(policy.disable_older_than_days) if policy else settings_ops.UNCHANGED
            ),
            session_hours=_given(input.session_hours),
        )
        result = await in_transaction(
            ctx,
            lambda s: settings_ops.update_settings(
                s, principal, change=change, request=ctx.request_info, now=ctx.now
            ),
        )
        if isinstance(result, Rejected):
            return UpdateOrganizationSettingsPayload(settings=None, user_errors=result.user_errors)
        return UpdateOrganizationSettingsPayload(
            settings=OrganizationSettings.of(result), user_errors=[]
        )
