"""API keys: create (secret shown once), revoke, rotate with overlap, list."""

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth import keys, scopes
from statusgraph.auth.principal import Actor, Principal, RequestInfo
from statusgraph.auth.roles import Role
from statusgraph.db.models import ApiKey, Organization, Plan
from statusgraph.db.scoping import for_org
from statusgraph.ids import new_id
from statusgraph.resolvers import audit, organization_settings
from statusgraph.resolvers.locks import Lock
from statusgraph.resolvers.owned import require_owned
from statusgraph.resolvers.pagination import Page, PageArgs, paginate
from statusgraph.resolvers.user_errors import Problems

MAX_NAME_LENGTH = 200
MAX_ALLOWLIST_ENTRIES = 100
STALE_AFTER = timedelta(days=60)
DEFAULT_OVERLAP_SECONDS = 24 * 3600
MAX_OVERLAP_SECONDS = 7 * 24 * 3600
# A sandbox key hands out sandbox keys only: a live one would escape its rate limit.
SANDBOX_CREATE = "A sandbox key can only create sandbox keys"
SANDBOX_ROTATE = "A sandbox key can only rotate sandbox keys"
# A key holding team:write acts for the organization as an owner would (resolvers/team.py),
# so only an owner's OAuth token may mint or rotate one: an ADMIN holds *:* but cannot
# remove, demote or create owners, and must not get a credential that can.
OWNER_CREATE = "Only an owner can create a key with team:write"
OWNER_ROTATE = "Only an owner can rotate a key with team:write"


class KeyStatus(StrEnum):
    active = "active"
    expired = "expired"
    revoked = "revoked"


@dataclass(frozen=True, slots=True)
class KeyDraft:
    name: str
    scopes: Sequence[str]
    expires_at: datetime | None = None
    ip_allowlist: Sequence[str] = ()
    sandbox: bool = False
    # Full access outside the scoped flow; only the command line can mint one.
    legacy: bool = False


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: ApiKey
    secret: str


def status(key: ApiKey, now: datetime) -> KeyStatus:
    if key.revoked_at is not None:
        return KeyStatus.revoked
    if key.expires_at is not None and key.expires_at <= now:
        return KeyStatus.expired
    return KeyStatus.active


def is_stale(key: ApiKey, now: datetime) -> bool:
    """Unused for 60 days, or never used and older than 60 days."""
    last_activity = key.last_used_at or key.created_at
    return now - last_activity > STALE_AFTER


def _validate_allowlist(entries: Sequence[str], plan: str, problems: Problems) -> list[str]:
    if not entries:
        return []
    if plan != Plan.enterprise:
        problems.add("ipAllowlist", "PLAN_LIMIT", "IP allowlists require the enterprise plan")
        return []
    if len(entries) > MAX_ALLOWLIST_ENTRIES:
        problems.add(
            "ipAllowlist",
            "INVALID",
            f"An IP allowlist holds at most {MAX_ALLOWLIST_ENTRIES} entries",
        )
        return []
    networks = []
    for entry in entries:
        try:
            networks.append(str(ipaddress.ip_network(entry.strip(), strict=True)))
        except ValueError:
            problems.add("ipAllowlist", "INVALID", f"Invalid CIDR range: {entry}")
    return sorted(set(networks))


def _validate_scopes(
    requested: Sequence[str], granter: Principal | None, problems: Problems
) -> list[str]:
    wanted = scopes.normalize(requested)
    if not wanted:
        problems.add("scopes", "INVALID", "At least one scope is required")
    for name in scopes.unknown(wanted):
        problems.add("scopes", "UNKNOWN_SCOPE", f"Unknown scope: {name}")
    if granter is not None:
        for name in wanted:
            if name in scopes.VALID and not scopes.covers(granter.scopes, name):
                problems.add(
                    "scopes", "SCOPE_ESCALATION", f"Cannot grant a scope you do not hold: {name}"
                )
    return wanted


def _check_sandbox(
    granter: Principal | None, sandbox: bool, problems: Problems, field: str, message: str
) -> None:
    if granter is not None and granter.sandbox and not sandbox:
        problems.add(field, "SANDBOX_ESCALATION", message)


def acts_as_owner(key_scopes: Sequence[str]) -> bool:
    """Whether a key with these scopes acts as an owner: it may use team:write, directly
    or through team:* or *:*."""
    return scopes.grants(frozenset(key_scopes), scopes.Scope.team_write)


def _check_owner(
    granter: Principal | None,
    key_scopes: Sequence[str],
    problems: Problems,
    field: str,
    message: str,
) -> None:
    """An OAuth token of a user who is not an owner (an ADMIN: other roles never hold
    team:write) cannot hand out an owner's powers. The command line, owners' tokens and
    keys (which only hand out scopes they hold, so team:write only if they act as owners
    already) are not limited here."""
    if granter is None or granter.delegation is None:
        return
    if granter.delegation.role != Role.owner and acts_as_owner(key_scopes):
        problems.add(field, "OWNER_REQUIRED", message)


def _issue(
    organization_id: str, actor: Actor, *, template: ApiKey | KeyDraft, now: datetime, pepper: bytes
) -> IssuedKey:
    generated = keys.generate(sandbox=template.sandbox)
    key = ApiKey(
        id=new_id("key"),
        organization_id=organization_id,
        name=template.name,
        display_prefix=generated.display_prefix,
        secret_hash=keys.hash_secret(pepper, generated.secret),
        scopes=list(template.scopes),
        sandbox=template.sandbox,
        legacy=template.legacy,
        ip_allowlist=list(template.ip_allowlist),
        expires_at=template.expires_at,
        created_at=now,
        created_by_type=actor.type,
        created_by_id=actor.id,
        created_by_label=actor.label,
    )
    return IssuedKey(key=key, secret=generated.secret)


async def create_key(
    session: AsyncSession,
    actor: Actor,
    *,
    organization: Organization,
    draft: KeyDraft,
    granter: Principal | None,
    request: RequestInfo,
    now: datetime,
    pepper: bytes,
) -> IssuedKey:
    """Mint a key. `granter` is the calling credential (None from the command line);
    a key never hands out a scope it does not hold itself."""
    problems = Problems()
    name = draft.name.strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        problems.add("name", "INVALID", f"Name must be 1 to {MAX_NAME_LENGTH} characters")
    wanted = (
        [scopes.FULL_ACCESS] if draft.legacy else _validate_scopes(draft.scopes, granter, problems)
    )
    if draft.expires_at is not None and draft.expires_at <= now:
        problems.add("expiresAt", "INVALID", "expiresAt must be in the future")
    elif policy := organization_settings.lifetime_problem(organization, draft.expires_at, now):
        problems.add("expiresAt", "KEY_POLICY", policy)
    allowlist = _validate_allowlist(draft.ip_allowlist, organization.plan, problems)
    _check_sandbox(granter, draft.sandbox, problems, "sandbox", SANDBOX_CREATE)
    _check_owner(granter, wanted, problems, "scopes", OWNER_CREATE)
    problems.raise_if_any()

    clean = KeyDraft(
        name=name,
        scopes=wanted,
        expires_at=draft.expires_at,
        ip_allowlist=allowlist,
        sandbox=draft.sandbox,
        legacy=draft.legacy,
    )
    issued = _issue(organization.id, actor, template=clean, now=now, pepper=pepper)
    session.add(issued.key)
    await audit.record(
        session,
        actor,
        organization_id=organization.id,
        action="api_key.created",
        target_type="api_key",
        target_id=issued.key.id,
        request=request,
        now=now,
        scopes_used=(scopes.Scope.api_keys_write,) if granter else (),
        details={
            "name": name,
            "scopes": wanted,
            "sandbox": draft.sandbox,
            "expiresAt": draft.expires_at.isoformat() if draft.expires_at else None,
            "ipAllowlist": allowlist,
        },
    )
    await session.flush()
    return issued


async def get_key(session: AsyncSession, organization_id: str, key_id: str) -> ApiKey | None:
    statement = for_org(ApiKey, organization_id).where(ApiKey.id == key_id)
    return (await session.exec(statement)).first()


async def _owned_key(session: AsyncSession, organization_id: str, key_id: str) -> ApiKey:
    # Locked (locks.py): of concurrent revocations or rotations of one key, each waits
    # for the one before and checks its result, so a key is revoked once and rotated
    # once, with one audit entry.
    return await require_owned(session, ApiKey, organization_id, key_id, "ApiKey", lock=Lock.UPDATE)


async def revoke_key(
    session: AsyncSession,
    principal: Principal,
    *,
    key_id: str,
    request: RequestInfo,
    now: datetime,
) -> ApiKey:
    """revokeApiKey: a key of the caller's organization, on the caller's authority."""
    return await revoke(
        session,
        principal.actor,
        organization_id=principal.organization_id,
        key_id=key_id,
        scopes_used=(scopes.Scope.api_keys_write,),
        request=request,
        now=now,
    )


async def revoke(
    session: AsyncSession,
    actor: Actor,
    *,
    organization_id: str,
    key_id: str,
    scopes_used: tuple[str, ...],
    request: RequestInfo,
    now: datetime,
) -> ApiKey:
    """Revokes one of the organization's keys, for a credential (revoke_key) or the
    command line (`statusgraph keys revoke`, no scopes used)."""
    key = await _owned_key(session, organization_id, key_id)
    problems = Problems()
    if key.revoked_at is not None:
        problems.add("id", "ALREADY_REVOKED", "API key is already revoked")
    problems.raise_if_any()
    key.revoked_at = now
    session.add(key)
    await audit.record(
        session,
        actor,
        organization_id=key.organization_id,
        action="api_key.revoked",
        target_type="api_key",
        target_id=key.id,
        request=request,
        now=now,
        scopes_used=scopes_used,
        details={"name": key.name},
    )
    await session.flush()
    return key


async def rotate_key(
    session: AsyncSession,
    principal: Principal,
    *,
    key_id: str,
    overlap_seconds: int,
    request: RequestInfo,
    now: datetime,
    pepper: bytes,
) -> tuple[IssuedKey, ApiKey]:
    """A successor with the same name, scopes, allowlist and expiry; the old key keeps
    working for `overlap_seconds` so deployments can switch without a gap."""
    old = await _owned_key(session, principal.organization_id, key_id)
    problems = Problems()
    if not 0 <= overlap_seconds <= MAX_OVERLAP_SECONDS:
        problems.add(
            "overlapSeconds",
            "INVALID",
            f"overlapSeconds must be between 0 and {MAX_OVERLAP_SECONDS}",
        )
    current = status(old, now)
    if current is KeyStatus.revoked:
        problems.add("id", "REVOKED", "A revoked API key cannot be rotated")
    elif current is KeyStatus.expired:
        problems.add("id", "EXPIRED", "An expired API key cannot be rotated")
    elif old.replaced_by_id is not None:
        problems.add("id", "ALREADY_ROTATED", "API key has already been rotated")
    for name in old.scopes:
        if not scopes.covers(principal.scopes, name):
            problems.add("id", "SCOPE_ESCALATION", f"Cannot grant a scope you do not hold: {name}")
    _check_sandbox(principal, old.sandbox, problems, "id", SANDBOX_ROTATE)
    _check_owner(principal, old.scopes, problems, "id", OWNER_ROTATE)
    problems.raise_if_any()

    issued = _issue(old.organization_id, principal.actor, template=old, now=now, pepper=pepper)
    session.add(issued.key)
    overlap_end = now + timedelta(seconds=overlap_seconds)
    old.expires_at = min(old.expires_at, overlap_end) if old.expires_at else overlap_end
    old.replaced_by_id = issued.key.id
    session.add(old)
    await audit.record(
        session,
        principal.actor,
        organization_id=old.organization_id,
        action="api_key.rotated",
        target_type="api_key",
        target_id=old.id,
        request=request,
        now=now,
        scopes_used=(scopes.Scope.api_keys_write,),
        details={"successorId": issued.key.id, "overlapSeconds": overlap_seconds},
    )
    await session.flush()
    return issued, old


async def list_keys(
    session: AsyncSession,
    organization_id: str,
    *,
    include_revoked: bool,
    page: PageArgs,
    with_count: bool = False,
) -> Page[ApiKey]:
    statement = for_org(ApiKey, organization_id)
    if not include_revoked:
        statement = statement.where(ApiKey.revoked_at.is_(None))  # type: ignore[union-attr]
    return await paginate(session, statement, ApiKey, page, with_count=with_count)
