"""Organization settings (DESIGN §15): name, time zone, default status page, key policy,
session length. Every change is audited with what it was and what it became.

The key policy has two parts: a maximum lifetime that new keys must respect
(api_keys.create_key asks `lifetime_problem`) and that old keys are measured against
(`exceeds_policy`), and an optional age after which the key_policy job revokes keys
(`disable_old_keys`).
"""

import functools
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.principal import SYSTEM, Principal, RequestInfo
from statusgraph.auth.scopes import Scope
from statusgraph.db.models import ApiKey, Organization, StatusPage
from statusgraph.db.scoping import for_org
from statusgraph.resolvers import audit
from statusgraph.resolvers.locks import Lock, lock_organization, locking
from statusgraph.resolvers.owned import require_owned
from statusgraph.resolvers.user_errors import Problems

MAX_NAME_LENGTH = 200
MAX_POLICY_DAYS = 3650  # ten years
MAX_SESSION_HOURS = 720  # thirty days
# Unset input fields are left as they are; None is a value (it clears a policy).
UNCHANGED: Any = object()


@functools.cache
def time_zones() -> frozenset[str]:
    """IANA names only: ZoneInfo alone would also open a relative path, and the system's
    zone directory may hold "localtime" (this host's zone, not a name) and "Factory"."""
    return frozenset(zoneinfo.available_timezones() - {"localtime", "Factory", "posixrules"})


@dataclass(frozen=True, slots=True)
class SettingsChange:
    name: Any = UNCHANGED
    time_zone: Any = UNCHANGED
    default_status_page_id: Any = UNCHANGED
    key_max_lifetime_days: Any = UNCHANGED
    key_disable_after_days: Any = UNCHANGED
    session_hours: Any = UNCHANGED


@dataclass(frozen=True, slots=True)
class Settings:
    organization: Organization
    default_page: StatusPage | None


async def default_page(session: AsyncSession, organization_id: str) -> StatusPage | None:
    statement = for_org(StatusPage, organization_id).where(col(StatusPage.is_default))
    return (await session.exec(statement)).first()


async def time_zone_of(session: AsyncSession, organization_id: str) -> str:
    """The zone dates are shown to people in (pages, feeds, mails; statusgraph/local_time)."""
    zone = await session.scalar(
        select(Organization.time_zone).where(Organization.id == organization_id)
    )
    return zone or "UTC"


async def get_settings(session: AsyncSession, organization_id: str) -> Settings:
    organization = await session.get(Organization, organization_id)
    assert organization is not None  # a credential cannot outlive its organization
    return Settings(organization, await default_page(session, organization_id))


def _days(problems: Problems, field: str, value: Any) -> int | None:
    if value is None:
        return None
    if not 1 <= value <= MAX_POLICY_DAYS:
        problems.add(field, "INVALID", f"{field} must be between 1 and {MAX_POLICY_DAYS}")
    return int(value)


def _validate(change: SettingsChange, problems: Problems) -> dict[str, Any]:
    """{column: new value} for the fields the caller sent."""
    values: dict[str, Any] = {}
    if change.name is not UNCHANGED:
        name = (change.name or "").strip()
        if not 1 <= len(name) <= MAX_NAME_LENGTH:
            problems.add("name", "INVALID", f"Name must be 1 to {MAX_NAME_LENGTH} characters")
        values["name"] = name
    if change.time_zone is not UNCHANGED:
        zone = change.time_zone or ""
        if zone not in time_zones():
            shown = zone if len(zone) <= 64 else zone[:64] + "…"
            problems.add("timeZone", "INVALID", f"Unknown time zone: {shown}")
        values["time_zone"] = zone
    if change.key_max_lifetime_days is not UNCHANGED:
        values["key_max_lifetime_days"] = _days(
            problems, "keyPolicy.maxLifetimeDays", change.key_max_lifetime_days
        )
    if change.key_disable_after_days is not UNCHANGED:
        values["key_disable_after_days"] = _days(
            problems, "keyPolicy.disableOlderThanDays", change.key_disable_after_days
        )
    if change.session_hours is not UNCHANGED:
        hours = change.session_hours
        if hours is None or not 1 <= hours <= MAX_SESSION_HOURS:
            problems.add(
                "sessionHours", "INVALID", f"sessionHours must be between 1 and {MAX_SESSION_HOURS}"
            )
        values["session_hours"] = hours
    return values


async def update_settings(
    session: AsyncSession,
    principal: Principal,
    *,
    change: SettingsChange,
    request: RequestInfo,
    now: datetime,
) -> Settings:
    """updateOrganizationSettings. Holds the organization's lock: which page is the
    default is decided against every page of it (status_pages.delete_page moves it too)."""
    await lock_organization(session, principal.organization_id)
    problems = Problems()
    values = _validate(change, problems)
    page: StatusPage | None = None
    if change.default_status_page_id is not UNCHANGED:
        if change.default_status_page_id is None:
            problems.add("defaultStatusPageId", "INVALID", "defaultStatusPageId cannot be null")
        else:
            # Another organization's page: NOT_FOUND, exactly as a page that does not exist.
            page = await require_owned(
                session,
                StatusPage,
                principal.organization_id,
                change.default_status_page_id,
                "StatusPage",
                lock=Lock.UPDATE,
            )
    problems.raise_if_any()

    # Locked already (lock_organization), so this read sees the latest committed row.
    organization = await session.get(
        Organization, principal.organization_id, populate_existing=True
    )
    assert organization is not None
    current = await default_page(session, organization.id)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for column, value in values.items():
        if getattr(organization, column) != value:
            before[_KEYS[column]] = getattr(organization, column)
            after[_KEYS[column]] = value
            setattr(organization, column, value)
    session.add(organization)
    if page is not None and (current is None or current.id != page.id):
        before["defaultStatusPageId"] = current.id if current else None
        after["defaultStatusPageId"] = page.id
        if current is not None:
            # First, and flushed: one default page per organization is a unique index.
            current.is_default = False
            session.add(current)
            await session.flush()
        page.is_default = True
        session.add(page)
        current = page
    if after:
        await audit.record(
            session,
            principal.actor,
            organization_id=organization.id,
            action="organization.settings_updated",
            target_type="organization",
            target_id=organization.id,
            request=request,
            now=now,
            scopes_used=(Scope.config_write,),
            details={"before": before, "after": after},
        )
    await session.flush()
    return Settings(organization, current)


_KEYS = {
    "name": "name",
    "time_zone": "timeZone",
    "key_max_lifetime_days": "keyMaxLifetimeDays",
    "key_disable_after_days": "keyDisableOlderThanDays",
    "session_hours": "sessionHours",
}


# The key policy.

POLICY_REQUIRES_EXPIRY = (
    "This organization's key policy requires an expiry within {days} days: set expiresAt"
)
POLICY_TOO_LONG = "expiresAt must be within {days} days (the organization's key policy)"


def lifetime_problem(
    organization: Organization, expires_at: datetime | None, now: datetime
) -> str | None:
    """Why a new key's expiry breaks the organization's maximum lifetime, or None."""
    days = organization.key_max_lifetime_days
    if days is None:
        return None
    if expires_at is None:
        return POLICY_REQUIRES_EXPIRY.format(days=days)
    if expires_at > now + timedelta(days=days):
        return POLICY_TOO_LONG.format(days=days)
    return None


def exceeds_policy(
    organization: Organization, *, created_at: datetime, expires_at: datetime | None
) -> bool:
    """A key made before the policy (or from the command line's legacy flow) that lives
    longer than it allows: no expiry, or one beyond the maximum from its creation."""
    days = organization.key_max_lifetime_days
    if days is None:
        return False
    return expires_at is None or expires_at - created_at > timedelta(days=days)


async def disable_old_keys(session: AsyncSession, *, now: datetime, limit: int = 500) -> int:
    """Revokes live keys older than their organization's `key_disable_after_days`
    (reference 002's "disabled after 365 days"), each audited with the system as actor.
    At most `limit` a run: the job comes back for the rest."""
    with_policy = select(Organization).where(col(Organization.key_disable_after_days).is_not(None))
    disabled = 0
    for organization in (await session.exec(with_policy)).all():
        days = organization.key_disable_after_days
        assert days is not None
        statement = locking(
            for_org(ApiKey, organization.id)
            .where(col(ApiKey.revoked_at).is_(None))
            .where(col(ApiKey.created_at) <= now - timedelta(days=days))
            .order_by(col(ApiKey.created_at), col(ApiKey.id))
            .limit(limit - disabled),
            Lock.UPDATE,
        )
        for key in (await session.exec(statement)).all():
            key.revoked_at = now
            session.add(key)
            await audit.record(
                session,
                SYSTEM,
                organization_id=organization.id,
                action="api_key.disabled_by_policy",
                target_type="api_key",
                target_id=key.id,
                request=RequestInfo(),
                now=now,
                details={"name": key.name, "olderThanDays": days},
            )
            disabled += 1
        if disabled >= limit:
            break
    await session.flush()
    return disabled
