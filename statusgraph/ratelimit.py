"""Rate limits with `limits` (async API): buckets, policies from settings, headers.

Strategy: fixed window by default. It costs O(1) per bucket in memory and one INCR
in Redis, gives every client the same `X-RateLimit-Reset`, and stays cheap at the
heartbeat bucket's 10,000/minute, where a moving window would store (and scan) one
timestamp per hit (STACK.md §6). Its known weakness, up to twice the limit across
a window boundary, is acceptable for these limits; `sliding-window-counter` smooths
it at the price of approximate `Remaining` values.
"""

import logging
import math
import time
from dataclasses import dataclass
from enum import StrEnum

from limits import RateLimitItem, parse
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.storage import storage_from_string

from statusgraph.auth.principal import Principal
from statusgraph.config import Settings

logger = logging.getLogger("statusgraph.ratelimit")

STRATEGIES: dict[str, type[RateLimiter]] = {
    "fixed-window": FixedWindowRateLimiter,
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
    "moving-window": MovingWindowRateLimiter,
}
# Seconds between two "storage unavailable" warnings, so an outage does not flood the log.
WARN_EVERY = 30.0
# A Redis that does not answer must not stall every request for long.
REDIS_TIMEOUT = 0.5


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


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch seconds
    retry_after: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset).encode()),
        ]
        if not self.allowed:
            headers.append((b"retry-after", str(self.retry_after).encode()))
        return headers


class Limiter:
    """Charges requests to buckets. Fails open when the storage is unreachable."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limits_enabled
        self.pool = None
        options: dict[str, object] = {}
        uri = settings.rate_limit_storage
        if uri.startswith(("async+redis://", "async+rediss://")):
            from redis.asyncio import ConnectionPool

            # Our own pool (redis-py), so shutdown can close it; see STACK.md §6 on coredis.
            self.pool = ConnectionPool.from_url(
                uri.removeprefix("async+"),
                socket_connect_timeout=REDIS_TIMEOUT,
                socket_timeout=REDIS_TIMEOUT,
            )
            options = {"implementation": "redispy", "connection_pool": self.pool}
        self.storage = storage_from_string(uri, **options)  # type: ignore[arg-type]
        self.strategy = STRATEGIES[settings.rate_limit_strategy](self.storage)
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
            allowed = await self.strategy.hit(item, bucket, identity)
            stats = await self.strategy.get_window_stats(item, bucket, identity)
        except Exception as error:
            self._warn(error)
            return None
        now = time.time()
        return Decision(
            allowed=allowed,
            limit=item.amount,
            remaining=max(stats.remaining, 0),
            reset=math.ceil(stats.reset_time),
            retry_after=max(math.ceil(stats.reset_time - now), 1),
        )

    def _warn(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            logger.warning(
                "rate-limit storage unavailable, letting requests through unlimited: %s", error
            )

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.disconnect()
