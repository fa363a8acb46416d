"""Turning a presented credential into a principal, or into the exact reason it is refused."""

import hmac
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass
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
from statusgraph.events import outbox
from statusgraph.resolvers import audit, oauth_access

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


@dataclass(slots=True)
class KnownKey:
    """What authentication needs of a stored key: a plain copy, safe to keep in a cache
    (no ORM object outliving its session) and cheap to read on every request."""

    id: str
    secret_hash: str
    organization_id: str
    revoked_at: datetime | None
    expires_at: datetime | None
    ip_allowlist: list[str]
    last_used_at: datetime | None
    principal: Principal

    @classmethod
    def of(cls, key: ApiKey, plan: str) -> "KnownKey":
        return cls(
            id=key.id,
            secret_hash=key.secret_hash,
            organization_id=key.organization_id,
            revoked_at=key.revoked_at,
            expires_at=key.expires_at,
            ip_allowlist=list(key.ip_allowlist),
            last_used_at=key.last_used_at,
            principal=_principal(key, plan),
        )


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
        self.entries: dict[str, tuple[KnownKey, float]] = {}
        self.digests: dict[str, str] = {}  # key id -> digest
        # Told of every credential revoked or rotated through this process (the
        # websockets of that credential are checked at once: http/websocket.py).
        self.listeners: list[Callable[[str], None]] = []

    def get(self, digest: str) -> KnownKey | None:
        entry = self.entries.get(digest)
        if entry is None:
            return None
        known, stored_at = entry
        if time.monotonic() - stored_at >= self.ttl:
            self.forget(known.id)
            return None
        return known

    def put(self, digest: str, known: KnownKey) -> None:
        if self.ttl <= 0:
            return
        if len(self.entries) >= self.MAX_ENTRIES:
            self.entries.clear()
            self.digests.clear()
        self.entries[digest] = (known, time.monotonic())
        self.digests[known.id] = digest

    def forget(self, key_id: str) -> None:
        digest = self.digests.pop(key_id, None)
        if digest is not None:
            self.entries.pop(digest, None)

    def changed(self, key_id: str) -> None:
        """A credential was revoked or rotated here: forgotten, and listeners told."""
        self.forget(key_id)
        for listener in self.listeners:
            listener(key_id)


async def _lookup(
    db: SessionFactory, digest: str, cache: CredentialCache | None
) -> KnownKey | None:
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
    known = KnownKey.of(found[0], found[1])
    if cache is not None:
        cache.put(digest, known)
    return known


async def authenticate(
    db: SessionFactory,
    presented: str,
    *,
    pepper: bytes,
    request: RequestInfo,
    now: datetime,
    cache: CredentialCache | None = None,
) -> Principal:
    if oauth_access.is_access_token(presented):
        return await oauth_access.authenticate(db, presented, pepper=pepper, now=now)
    digest = keys.hash_secret(pepper, presented)
    known = cache.get(digest) if cache is not None else None
    if known is None:
        # Shape or checksum wrong: no database lookup at all. (A cached digest is of a
        # key that passed this check when it was looked up.)
        if keys.parse(presented) is None:
            raise AuthenticationError(INVALID_KEY)
        known = await _lookup(db, digest, cache)
    if known is None or not hmac.compare_digest(known.secret_hash, digest):
        raise AuthenticationError(INVALID_KEY)
    if known.revoked_at is not None:
        raise AuthenticationError(REVOKED_KEY)
    if known.expires_at is not None and known.expires_at <= now:
        raise AuthenticationError(EXPIRED_KEY)
    if not _ip_allowed(known.ip_allowlist, request.ip):
        async with db.begin() as session:
            await audit.record(
                session,
                known.principal.actor,
                organization_id=known.organization_id,
                action="api_key.ip_denied",
                target_type="api_key",
                target_id=known.id,
                request=request,
                now=now,
            )
        raise ForbiddenError(IP_NOT_ALLOWED)
    if known.last_used_at is None:
        async with db.begin() as session:
            await _first_touch(session, known, request.ip, now)
        known.last_used_at = now
    elif now - known.last_used_at >= TOUCH_INTERVAL:
        async with db.begin() as session:
            await _touch(session, known.id, request.ip, now)
        # Keep a cached copy in step, or every later request would write again.
        known.last_used_at = now
    return known.principal


async def _touch(session: AsyncSession, key_id: str, ip: str | None, now: datetime) -> None:
    # The WHERE repeats the once-a-minute rule so concurrent requests write once.
    statement = (
        update(ApiKey)
        .where(col(ApiKey.id) == key_id)
        .where(
            or_(
                col(ApiKey.last_used_at).is_(None),
                col(ApiKey.last_used_at) <= now - TOUCH_INTERVAL,
            )
        )
        .values(last_used_at=now, last_used_ip=ip)
    )
    await session.exec(statement)


async def _first_touch(
    session: AsyncSession, known: KnownKey, ip: str | None, now: datetime
) -> None:
    """The key's first lastUsedAt, and its api_key.first_use alert (DESIGN §15): the
    WHERE lets one request of all those racing in any process write it, so the alert is
    raised once ever, in the transaction of the write that happens anyway."""
    statement = (
        update(ApiKey)
        .where(col(ApiKey.id) == known.id)
        .where(col(ApiKey.last_used_at).is_(None))
        .values(last_used_at=now, last_used_ip=ip)
    )
    result = await session.exec(statement)
    if result.rowcount != 1:  # another request got there first (or the cache was stale)
        await _touch(session, known.id, ip, now)
        return
    outbox.emit(
        session,
        organization_id=known.organization_id,
        type=outbox.EventType.API_KEY_FIRST_USE,
        data={"apiKeyId": known.id, "apiKeyName": known.principal.name, "ip": ip},
        now=now,
    )


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
