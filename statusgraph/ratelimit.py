"""Rate limits with `limits`: buckets, policies from settings, headers.

Strategies, chosen per bucket:
- every bucket that meters traffic (standard, plan read/write, sandbox, heartbeat,
  beacon, anonymous) uses a **fixed window**: one counter per window, O(1) in memory
  and one INCR in Redis, the same `X-RateLimit-Reset` for everyone, and cheap at the
  heartbeat bucket's 10,000/minute, where a moving window would store and scan one
  timestamp per hit (STACK.md §6). Its weakness, up to twice the limit across a window
  boundary, is acceptable for metering.
- the failed-authentication bucket uses a **moving window**: it guards against
  guessing, so it must not allow a double burst at a boundary, and at 60/minute the
  per-hit timestamps cost nothing.

Memory storage uses `limits`' synchronous classes (no I/O, so they never block the
loop, and they avoid the task the async MemoryStorage spawns on every hit); Redis uses
the async ones through redis-py.
"""

import logging
import math
import time
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple, Protocol

from limits import RateLimitItem, WindowStats, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter as SyncMovingWindowRateLimiter

from statusgraph.auth.principal import Principal
from statusgraph.config import Settings

logger = logging.getLogger("statusgraph.ratelimit")

# Seconds between two "storage unavailable" warnings, so an outage does not flood the log.
WARN_EVERY = 30.0
# A Redis that does not answer must not stall every request for long.
REDIS_TIMEOUT = 0.5


class Backend(Protocol):
    async def fixed_window(self, item: RateLimitItem, key: str) -> tuple[int, float]:
        """Count one hit; (hits in this window, window end as epoch seconds)."""
        ...

    async def moving_window(self, item: RateLimitItem, *ids: str) -> tuple[bool, WindowStats]: ...

    async def close(self) -> None: ...


class SweepingMemoryStorage(MemoryStorage):
    """`limits`' MemoryStorage, sweeping expired keys every few seconds.

    The stock class starts a thread to sweep whenever none is running, so under load it
    starts about a hundred threads a second; that cost ~8 µs per request here (half the
    limiter's whole cost in bench/ratelimit_overhead.py). Sweeping only frees memory:
    reads already ignore expired counters and entries, so sweeping less often changes
    no answer.
    """

    SWEEP_EVERY = 5.0

    def __init__(self) -> None:
        super().__init__()
        self._next_sweep = 0.0

    # Overrides the name-mangled private hook MemoryStorage calls on every hit.
    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_EVERY
            super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]


class MemoryBackend:
    def __init__(self) -> None:
        self.storage = SweepingMemoryStorage()
        self.moving = SyncMovingWindowRateLimiter(self.storage)

    async def fixed_window(self, item: RateLimitItem, key: str) -> tuple[int, float]:
        return self.storage.incr(key, item.get_expiry()), self.storage.get_expiry(key)

    async def moving_window(self, item: RateLimitItem, *ids: str) -> tuple[bool, WindowStats]:
        return self.moving.hit(item, *ids), self.moving.get_window_stats(item, *ids)

    async def close(self) -> None:
        return None


class RedisBackend:
    def __init__(self, uri: str) -> None:
        from redis.asyncio import ConnectionPool

        # Our own redis-py pool (not coredis, see STACK.md §6), so shutdown can close it.
        self.pool = ConnectionPool.from_url(
            uri.removeprefix("async+"),
            socket_connect_timeout=REDIS_TIMEOUT,
            socket_timeout=REDIS_TIMEOUT,
        )
        self.storage = RedisStorage(uri, implementation="redispy", connection_pool=self.pool)  # type: ignore[arg-type]
        self.moving = MovingWindowRateLimiter(self.storage)

    async def fixed_window(self, item: RateLimitItem, key: str) -> tuple[int, float]:
        hits = await self.storage.incr(key, item.get_expiry())
        return hits, await self.storage.get_expiry(key)

    async def moving_window(self, item: RateLimitItem, *ids: str) -> tuple[bool, WindowStats]:
        allowed = await self.moving.hit(item, *ids)
        return allowed, await self.moving.get_window_stats(item, *ids)

    async def close(self) -> None:
        await self.pool.disconnect()


class Bucket(StrEnum):
    standard = "standard"
    sandbox = "sandbox"
    read = "read"
    write = "write"
    heartbeat = "heartbeat"
    beacon_ip = "beacon_ip"
    anonymous = "anonymous"
    failed_auth = "failed_auth"


class Route(StrEnum):
    graphql = "graphql"
    heartbeat = "heartbeat"
    beacon = "beacon"
    standard = "standard"
    exempt = "exempt"


def route_of(path: str) -> Route:
    if path == "/graphql":
        return Route.graphql
    if path.startswith("/api/heartbeat/"):
        return Route.heartbeat
    if path == "/api/beacon":
        return Route.beacon
    if path == "/healthz":
        return Route.exempt  # load balancers poll it; it reveals nothing
    return Route.standard


class Decision(NamedTuple):  # a tuple: built on every request, and cheaper than a dataclass
    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch seconds
    retry_after: int  # seconds; only meaningful when not allowed

    def headers(self) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset).encode()),
        ]
        if not self.allowed:
            headers.append((b"retry-after", str(self.retry_after).encode()))
        return headers


@lru_cache(maxsize=4096)
def _key(item: RateLimitItem, bucket: str, identity: str) -> str:
    # Building the storage key costs ~2 µs; the same few keys come back on every request.
    return item.key_for(bucket, identity)


class Limiter:
    """Charges requests to buckets. Fails open when the storage is unreachable."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limits_enabled
        self.backend: Backend = (
            MemoryBackend()
            if settings.uses_memory_rate_limits
            else RedisBackend(settings.rate_limit_storage)
        )
        self.items: dict[Bucket, RateLimitItem] = {
            Bucket.standard: parse(settings.rate_limit_standard),
            Bucket.sandbox: parse(settings.rate_limit_sandbox),
            Bucket.heartbeat: parse(settings.rate_limit_heartbeat),
            Bucket.beacon_ip: parse(settings.rate_limit_beacon_ip),
            Bucket.anonymous: parse(settings.rate_limit_anonymous),
            Bucket.failed_auth: parse(settings.rate_limit_failed_auth),
        }
        self.plan_items = {
            plan: {Bucket.read: parse(limits.read), Bucket.write: parse(limits.write)}
            for plan, limits in settings.rate_limit_plans.items()
        }
        self._warned_at = -math.inf

    def bucket_for(
        self, route: Route, principal: Principal | None, client_ip: str | None, *, writes: bool
    ) -> tuple[RateLimitItem, str, str] | None:
        """(limit, bucket name, identity) for a request, or None when it is not limited."""
        if route is Route.exempt:
            return None
        if route is Route.beacon:  # keyed by address: beacon keys are public by design
            return self.items[Bucket.beacon_ip], Bucket.beacon_ip, client_ip or "unknown"
        if principal is None:
            return self.items[Bucket.anonymous], Bucket.anonymous, client_ip or "unknown"
        if route is Route.heartbeat:
            return self.items[Bucket.heartbeat], Bucket.heartbeat, principal.id
        if principal.sandbox:
            return self.items[Bucket.sandbox], Bucket.sandbox, principal.id
        split = self.plan_items.get(principal.plan)
        if split is not None:
            bucket = Bucket.write if writes else Bucket.read
            return split[bucket], bucket, principal.id
        return self.items[Bucket.standard], Bucket.standard, principal.id

    def failed_auth_bucket(self, client_ip: str | None) -> tuple[RateLimitItem, str, str]:
        return self.items[Bucket.failed_auth], Bucket.failed_auth, client_ip or "unknown"

    async def hit(self, item: RateLimitItem, bucket: str, identity: str) -> Decision | None:
        """Charge one request; None when limits are off or the storage is down (fail open)."""
        if not self.enabled:
            return None
        try:
            if bucket == Bucket.failed_auth:
                allowed, stats = await self.backend.moving_window(item, bucket, identity)
                remaining, reset_at = stats.remaining, stats.reset_time
            else:
                hits, reset_at = await self.backend.fixed_window(item, _key(item, bucket, identity))
                allowed, remaining = hits <= item.amount, item.amount - hits
        except Exception as error:
            self._warn(error)
            return None
        # Positional, and the clock read only for a refusal: this runs on every request.
        retry_after = 0 if allowed else max(math.ceil(reset_at - time.time()), 1)
        return Decision(allowed, item.amount, max(remaining, 0), math.ceil(reset_at), retry_after)

    def _warn(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            logger.warning(
                "rate-limit storage unavailable, letting requests through unlimited: %s", error
            )

    async def close(self) -> None:
        await self.backend.close()
