"""The scope catalogue (DESIGN §4) and the rules that decide what a set of scopes grants.

Rules: `X:write` implies `X:read`; `X:*` grants every action on X; `*:*` grants all.
"""

from collections.abc import Iterable
from enum import StrEnum

FULL_ACCESS = "*:*"


class Scope(StrEnum):
    status_pages_read = "status_pages:read"
    status_pages_write = "status_pages:write"
    services_read = "services:read"
    services_write = "services:write"
    incidents_read = "incidents:read"
    incidents_write = "incidents:write"
    maintenance_read = "maintenance:read"
    maintenance_write = "maintenance:write"
    monitors_read = "monitors:read"
    monitors_write = "monitors:write"
    heartbeat_write = "heartbeat:write"
    metrics_read = "metrics:read"
    metrics_write = "metrics:write"
    notifications_read = "notifications:read"
    notifications_write = "notifications:write"
    config_read = "config:read"
    config_write = "config:write"
    workflows_write = "workflows:write"
    audit_log_read = "audit_log:read"
    api_keys_read = "api_keys:read"
    api_keys_write = "api_keys:write"
    team_read = "team:read"
    team_write = "team:write"
    billing_read = "billing:read"


CATALOGUE: frozenset[str] = frozenset(scope.value for scope in Scope)
RESOURCES: frozenset[str] = frozenset(scope.split(":")[0] for scope in CATALOGUE)
WILDCARDS: frozenset[str] = frozenset({FULL_ACCESS} | {f"{r}:*" for r in RESOURCES})
VALID: frozenset[str] = CATALOGUE | WILDCARDS


def grants(held: frozenset[str], required: str) -> bool:
    """Whether a credential holding `held` may use something that needs `required`."""
    if FULL_ACCESS in held or required in held:
        return True
    resource, _, action = required.partition(":")
    if f"{resource}:*" in held:
        return True
    return action == "read" and f"{resource}:write" in held


def covers(held: frozenset[str], requested: str) -> bool:
    """Whether a credential holding `held` may hand `requested` to a key it mints.

    Wildcards are only handed on by an equal or wider wildcard: holding every
    concrete scope of today does not grant the scopes a later release adds.
    """
    if requested == FULL_ACCESS:
        return FULL_ACCESS in held
    if requested.endswith(":*"):
        return FULL_ACCESS in held or requested in held
    return grants(held, requested)


# The other reference products' spellings (references 001-003), accepted where a scope
# is requested (key creation, the OAuth authorization request) and stored as ours.
# A resource alias maps every action: `checks:read` -> `monitors:read`, `checks:*` ->
# `monitors:*`. docs/api-keys.md has the table.
RESOURCE_ALIASES: dict[str, str] = {
    "status-pages": "status_pages",
    "api-keys": "api_keys",
    "audit-log": "audit_log",
    "checks": "monitors",
    "webhooks": "notifications",
    "alerts": "notifications",
    "teams": "team",
}
# Whole-scope aliases, for spellings whose action differs too.
SCOPE_ALIASES: dict[str, str] = {"teams:admin": "team:write"}


def canonical(scope: str) -> str | None:
    """Our name for `scope` (trimmed), ours or an alias of it; None when it is neither.

    What every place that accepts requested scopes calls first, so an integration
    written against another product's scope names works unchanged.
    """
    name = scope.strip()
    if name in VALID:
        return name
    if name in SCOPE_ALIASES:
        return SCOPE_ALIASES[name]
    resource, separator, action = name.partition(":")
    target = RESOURCE_ALIASES.get(resource)
    if target is None or not separator:
        return None
    translated = f"{target}:{action}"
    return translated if translated in VALID else None


def unknown(scopes: Iterable[str]) -> list[str]:
    return [scope for scope in scopes if scope not in VALID]


def normalize(scopes: Iterable[str]) -> list[str]:
    """Stored form: trimmed, aliases replaced by our names (an unknown name is kept as
    given, for its error message), de-duplicated, sorted (so equal sets compare equal)."""
    return sorted({canonical(scope) or scope.strip() for scope in scopes})
