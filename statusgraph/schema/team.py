"""The team over GraphQL (DESIGN §11): members, invitations. Scopes: team:read, team:write.

An API key with `team:write` may do what an owner may; an OAuth token acts in its user's
current role, and an ADMIN's cannot remove, demote or create owners (resolvers/team.py).
"""

import logging
from datetime import datetime

import strawberry

from statusgraph.auth.scopes import Scope
from statusgraph.db import models
from statusgraph.notifications.invitations import send_invitation
from statusgraph.resolvers import organizations, team
from statusgraph.resolvers.user_errors import UserInputError
from statusgraph.schema.actors import Actor
from statusgraph.schema.context import Info
from statusgraph.schema.permissions import requires
from statusgraph.schema.relay import Connection, page_args, selects
from statusgraph.schema.user_errors import UserError
from statusgraph.schema.users import MemberRole, User

log = logging.getLogger(__name__)


@strawberry.type(description="A user's membership of the organization, with their role.")
class Member:
    id: strawberry.ID
    user: User
    role: MemberRole
    created_at: datetime

    @classmethod
    def of(cls, row: models.Membership, user: models.User) -> "Member":
        return cls(
            id=strawberry.ID(row.id),
            user=User(id=strawberry.ID(user.id), email=user.email, name=user.name),
            role=MemberRole(row.role),
            created_at=row.created_at,
        )


@strawberry.type(description="An invitation to join the organization. Its link is shown once.")
class Invitation:
    id: strawberry.ID
    email: str
    role: MemberRole
    created_at: datetime
    expires_at: datetime
    created_by: Actor

    @classmethod
    def of(cls, row: models.Invitation) -> "Invitation":
        return cls(
            id=strawberry.ID(row.id),
            email=row.email,
            role=MemberRole(row.role),
            created_at=row.created_at,
            expires_at=row.expires_at,
            created_by=Actor.of(row.created_by_type, row.created_by_id, row.created_by_label),
        )


@strawberry.input
class InviteMemberInput:
    email: str
    role: MemberRole


@strawberry.type
class InviteMemberPayload:
    invitation: Invitation | None
    invitation_url: str | None = strawberry.field(
        description="The one-time link that accepts the invitation. Shown this once, never "
        "again: send it to the person invited if it was not mailed."
    )
    mailed: bool = strawberry.field(
        description="Whether the link was mailed: an SMTP server is configured and took it."
    )
    user_errors: list[UserError]


@strawberry.type
class MemberPayload:
    member: Member | None = strawberry.field(
        description="The member as changed; after removeMember, as it was."
    )
    user_errors: list[UserError]


@strawberry.type
class RevokeInvitationPayload:
    invitation: Invitation | None
    user_errors: list[UserError]


@strawberry.type
class TeamQueries:
    @strawberry.field(extensions=requires(Scope.team_read))
    async def members(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Member]:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            page, people = await team.list_members(
                session,
                principal.organization_id,
                page=page_args(first, after, last, before),
                with_count=selects(info, "totalCount"),
            )
        return Connection.of(page, lambda row: Member.of(row, people[row.user_id]))

    @strawberry.field(
        extensions=requires(Scope.team_read),
        description="Pending invitations: neither accepted, revoked nor expired.",
    )
    async def invitations(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Invitation]:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.read() as session:
            page = await team.list_invitations(
                session,
                principal.organization_id,
                now=ctx.now,
                page=page_args(first, after, last, before),
                with_count=selects(info, "totalCount"),
            )
        return Connection.of(page, Invitation.of)


@strawberry.type
class TeamMutations:
    @strawberry.mutation(
        extensions=requires(Scope.team_write),
        description="Invites an address in a role: a one-time link valid 7 days, mailed when "
        "SMTP is configured. Only an owner (or an API key) may invite an owner.",
    )
    async def invite_member(self, info: Info, input: InviteMemberInput) -> InviteMemberPayload:
        ctx = info.context
        principal = ctx.require_principal()
        transport = ctx.notifying.transport if ctx.notifying is not None else None
        if transport is None:  # only in contexts built without an app (some tests)
            problem = UserError(
                field=None, code="UNAVAILABLE", message="This server cannot invite now"
            )
            return InviteMemberPayload(
                invitation=None, invitation_url=None, mailed=False, user_errors=[problem]
            )
        try:
            async with ctx.db.begin() as session:
                issued = await team.invite_member(
                    session,
                    principal,
                    email=input.email,
                    role=input.role.value,
                    base_url=transport.base_url,
                    pepper=ctx.pepper,
                    request=ctx.request_info,
                    now=ctx.now,
                )
                organization = await organizations.get_organization(
                    session, principal.organization_id
                )
                assert organization is not None  # a credential cannot outlive its organization
        except UserInputError as error:
            return InviteMemberPayload(
                invitation=None,
                invitation_url=None,
                mailed=False,
                user_errors=UserError.of(error.errors),
            )
        mailed = False
        if transport.smtp is not None:
            row = issued.invitation
            attempt = await send_invitation(
                transport,
                to=row.email,
                organization_name=organization.name,
                role=row.role,
                inviter=principal.actor.label,
                url=issued.url,
                expires_at=row.expires_at,
                time_zone=organization.time_zone,
            )
            mailed = attempt.succeeded
            if not mailed:  # the error names the server's answer, never the link
                log.warning(
                    "invitation %s not mailed: %s %s", row.id, attempt.error_class, attempt.error
                )
        return InviteMemberPayload(
            invitation=Invitation.of(issued.invitation),
            invitation_url=issued.url,
            mailed=mailed,
            user_errors=[],
        )

    @strawberry.mutation(
        extensions=requires(Scope.team_write),
        description="Changes a member's role. The last owner cannot be demoted; only an owner "
        "(or an API key) may promote to owner or change an owner.",
    )
    async def update_member_role(
        self, info: Info, id: strawberry.ID, role: MemberRole
    ) -> MemberPayload:
        ctx = info.context
        try:
            async with ctx.db.begin() as session:
                member, user = await team.update_member_role(
                    session,
                    ctx.require_principal(),
                    member_id=id,
                    role=role.value,
                    request=ctx.request_info,
                    now=ctx.now,
                )
        except UserInputError as error:
            return MemberPayload(member=None, user_errors=UserError.of(error.errors))
        return MemberPayload(member=Member.of(member, user), user_errors=[])

    @strawberry.mutation(
        extensions=requires(Scope.team_write),
        description="Removes a member and revokes their OAuth grants in the organization. "
        "The last owner cannot be removed; only an owner (or an API key) may remove an owner.",
    )
    async def remove_member(self, info: Info, id: strawberry.ID) -> MemberPayload:
        ctx = info.context
        try:
            async with ctx.db.begin() as session:
                member, user = await team.remove_member(
                    session,
                    ctx.require_principal(),
                    member_id=id,
                    request=ctx.request_info,
                    now=ctx.now,
                )
        except UserInputError as error:
            return MemberPayload(member=None, user_errors=UserError.of(error.errors))
        return MemberPayload(member=Member.of(member, user), user_errors=[])

    @strawberry.mutation(
        extensions=requires(Scope.team_write),
        description="Revokes a pending invitation: its link stops working.",
    )
    async def revoke_invitation(self, info: Info, id: strawberry.ID) -> RevokeInvitationPayload:
        ctx = info.context
        try:
            async with ctx.db.begin() as session:
                row = await team.revoke_invitation(
                    session,
                    ctx.require_principal(),
                    invitation_id=id,
                    request=ctx.request_info,
                    now=ctx.now,
                )
        except UserInputError as error:
            return RevokeInvitationPayload(invitation=None, user_errors=UserError.of(error.errors))
        return RevokeInvitationPayload(invitation=Invitation.of(row), user_errors=[])
