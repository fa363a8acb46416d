"""Turning a presented credential into a principal, or into the exact reason it is refused."""

import hmac
import ipaddress
import time
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth import keys
from statusgraph.auth.principal import Principal, RequestInfo
from statusgraph.auth.scopes import FULL_ACCESS
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import ApiKey, Organization
from statusgraph.errors import AuthenticationError, ForbiddenError
from statusgraph.resolvers import audit

# lastUsedAt/lastUsedIp are written at most this often per key, so a busy key does not
# turn every read into a write.
TOUCH_INTERVAL = timedelta(minutes=1)

INVALID_KEY = "Invalid API key"
EXPIRED_KEY = "API key expired"
REVOKED_KEY = "API key revoked"
IP_NOT_ALLOWED = "IP address not allowed"


def _ip_allowed(allowlist: list[str], ip: str | None) -> bool:
    if not allowlist:
        return True
    if ip is None:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(entry) for entry in allowlist)


class CredentialCache:
    """Keys looked up recently, so a busy key costs no database round trip per request.

    An entry lives `ttl_seconds` (30 by default): a key revoked or rotated through
    another process stops working within that time, as the reference products promise
    ("sessions terminate within 30 seconds"). Revoking or rotating through this process
    forgets the entry at once. Unknown keys are never cached.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self.entries: dict[str, tuple[ApiKey, str, float]] = {}
        self.digests: dict[str, str] = {}  # key id -> digest

    def get(self, digest: str) -> tuple[ApiKey, str] | None:
        entry = self.entries.get(digest)
        if entry is None:
            return None
        key, plan, stored_at = entry
        if time.monotonic() - stored_at >= self.ttl:
            self.forget(key.id)
            return None
        return key, plan

    def put(self, digest: str, key: ApiKey, plan: str) -> None:
        if self.ttl <= 0:
            return
        if len(self.entries) >= self.MAX_ENTRIES:
            self.entries.clear()
            self.digests.clear()
        self.entries[digest] = (key, plan, time.monotonic())
        self.digests[key.id] = digest

    def forget(self, key_id: str) -> None:
        digest = self.digests.pop(key_id, None)
        if digest is not None:
            self.entries.pop(digest, None)


async def _lookup(
    db: SessionFactory, digest: str, cache: CredentialCache | None
) -> tuple[ApiKey, str] | None:
    if cache is not None and (hit := cache.get(digest)) is not None:
        return hit
    async with db() as session:
        # The plan comes along: rate limits depend on it, and it costs no extra round trip.
        statement = (
            select(ApiKey, Organization.plan)
            .join(Organization, col(Organization.id) == col(ApiKey.organization_id))
            .where(ApiKey.secret_hash == digest)
        )
        found = (await session.exec(statement)).first()
    if found is None:
        return None
    if cache is not None:
        cache.put(digest, found[0], found[1])
    return found[0], found[1]


async def authenticate(
    db: SessionFactory,
    presented: str,
    *,
    pepper: bytes,
    request: RequestInfo,
    now: datetime,
    cache: CredentialCache | None = None,
) -> Principal:
    parsed = keys.parse(presented)
    if parsed is None:  # shape or checksum wrong: no database lookup at all
        raise AuthenticationError(INVALID_KEY)
    digest = keys.hash_secret(pepper, parsed.secret)
    found = await _lookup(db, digest, cache)
    if found is None or not hmac.compare_digest(found[0].secret_hash, digest):
        raise AuthenticationError(INVALID_KEY)
    key, plan = found
    if key.revoked_at is not None:
        raise AuthenticationError(REVOKED_KEY)
    if key.expires_at is not None and key.expires_at <= now:
        raise AuthenticationError(EXPIRED_KEY)
    if not _ip_allowed(key.ip_allowlist, request.ip):
        async with db.begin() as session:
            await audit.record(
                session,
                _principal(key, plan).actor,
                organization_id=key.organization_id,
                action="api_key.ip_denied",
                target_type="api_key",
                target_id=key.id,
                request=request,
                now=now,
            )
        raise ForbiddenError(IP_NOT_ALLOWED)
    if key.last_used_at is None or now - key.last_used_at >= TOUCH_INTERVAL:
        async with db.begin() as session:
            await _touch(session, key, request.ip, now)
        # Keep a cached copy in step, or every later request would write again.
        key.last_used_at, key.last_used_ip = now, request.ip
    return _principal(key, plan)


async def _touch(session: AsyncSession, key: ApiKey, ip: str | None, now: datetime) -> None:
    # The WHERE repeats the once-a-minute rule so concurrent requests write once.
    statement = (
        update(ApiKey)
        .where(col(ApiKey.id) == key.id)
        .where(
            or_(
                col(ApiKey.last_used_at).is_(None),
                col(ApiKey.last_used_at) <= now - TOUCH_INTERVAL,
            )
        )
        .values(last_used_at=now, last_used_ip=ip)
    )
    await session.exec(statement)


def _principal(key: ApiKey, plan: str) -> Principal:
    return Principal(
        kind="api_key",
        id=key.id,
        name=key.name,
        organization_id=key.organization_id,
        plan=plan,
        scopes=frozenset({FULL_ACCESS} if key.legacy else key.scopes),
        expires_at=key.expires_at,
        sandbox=key.sandbox,
    )
