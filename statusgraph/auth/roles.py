"""Membership roles and the scopes each one holds (DESIGN §11).

A user acting through an OAuth token never holds more than their role allows: the
token's effective scopes are the granted scopes ∩ the role's, computed on every
request, so a demotion or a removal shrinks or stops the user's tokens at once.
"""

from collections.abc import Iterable
from enum import StrEnum

from statusgraph.auth.scopes import CATALOGUE, FULL_ACCESS, grants


class Role(StrEnum):
    owner = "owner"
    admin = "admin"
    member = "member"
    viewer = "viewer"


# MEMBER writes what running a status page takes; reads the rest but the audit log and keys.
_MEMBER_WRITES = (
    "status_pages",
    "services",
    "incidents",
    "maintenance",
    "monitors",
    "heartbeat",
    "metrics",
)
_NEVER_READ = frozenset({"audit_log:read", "api_keys:read"})
_READS = frozenset(scope for scope in CATALOGUE if scope.endswith(":read")) - _NEVER_READ

ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.owner: frozenset({FULL_ACCESS}),
    Role.admin: frozenset({FULL_ACCESS}),
    Role.member: _READS
    | frozenset(s for s in CATALOGUE if s.split(":")[0] in _MEMBER_WRITES and s.endswith(":write")),
    Role.viewer: _READS,
}

ROLES: tuple[str, ...] = tuple(role.value for role in Role)


def effective_scopes(granted: Iterable[str], role: str) -> frozenset[str]:
    """The catalogue scopes both the grant and the role give, as concrete names.

    Concrete rather than the wildcards either side may hold: `incidents:*` granted to a
    VIEWER is `incidents:read`, and an OWNER's `*:*` ∩ `incidents:write` is
    `incidents:write`.
    """
    held = frozenset(granted)
    allowed = ROLE_SCOPES[Role(role)]
    both = {s for s in CATALOGUE if grants(held, s) and grants(allowed, s)}
    # `incidents:write` implies `incidents:read`: listing both would say nothing more.
    implied = {s.replace(":write", ":read") for s in both if s.endswith(":write")}
    return frozenset(both - implied)


def offerable(role: str, requested: Iterable[str]) -> list[str]:
    """The requested catalogue scopes a user of `role` may consent to, in catalogue order
    of the request; a scope the role lacks is never offered."""
    allowed = ROLE_SCOPES[Role(role)]
    return [s for s in requested if s in CATALOGUE and grants(allowed, s)]
