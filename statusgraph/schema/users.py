"""People: users, and the role a membership gives them in an organization (DESIGN §11)."""

from enum import Enum

import strawberry

from statusgraph.auth.roles import Role


@strawberry.enum(description="What a member may do; an OAuth token never holds more.")
class MemberRole(Enum):
    OWNER = Role.owner.value
    ADMIN = Role.admin.value
    MEMBER = Role.member.value
    VIEWER = Role.viewer.value


@strawberry.type(description="A person who signs in to the HTML pages and authorizes apps.")
class User:
    id: strawberry.ID
    email: str
    name: str
