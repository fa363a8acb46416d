"""Rate limits with `limits`: buckets, policies from settings, headers.

Strategies, chosen per bucket:
- every bucket that meters traffic (standard, plan read/write, sandbox, heartbeat,
  beacon, anonymous) uses a **fixed window**: one counter per window, O(1) in memory
  and one INCR in Redis, the same `X-RateLimit-Reset` for everyone, and cheap at the
  heartbeat bucket's 10,000/minute, where a moving window would store and scan one
  timestamp per hit (STACK.md §6). Its weakness, up to twice the limit across a window
  boundary, is acceptable for metering.
- the failed-authentication bucket (per address; an IPv6 address counted by its /64,
  which one subscriber gets whole) and the failed-login bucket (per account) use a
  **moving window**: they guard against guessing, so they must not allow a double burst
  at a boundary, and at their sizes the per-hit timestamps cost nothing.

Memory storage uses `limits`' synchronous classes (no I/O, so they never block the
loop, and they avoid the task the async MemoryStorage spawns on every hit), counting
fixed windows on their counters without awaiting anything (hit_fixed_window); Redis
uses the async ones through redis-py. The limiter runs on every request, so its cost is
measured (bench/ratelimit_overhead.py): what is left is mostly the three headers.
"""

import ipaddress
import logging
import math
import time
from collections.abc import Callable
from enum import StrEnum
from typing import NamedTuple

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
# Bound on the per-process caches of storage keys and window ends (cleared when full).
MAX_KEYS = 4096


class SweepingMemoryStorage(MemoryStorage):
    """`limits`' MemoryStorage, sweeping expired keys every few seconds.

    The stock class starts a thread to sweep whenever none is running, so under load it
    starts about a hundred threads a second; that cost ~8 µs per request here (half the
    limiter's whole cost in bench/ratelimit_overhead.py). Sweeping only frees memory:
    reads already ignore expired counters and entries, so sweeping less often changes
    no answer. It relies on MemoryStorage's internals (the private hook, `storage` and
    `expirations`): tests/test_upstream_contracts.py fails loudly if they change.
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

    def hit_fixed_window(self, key: str, expiry: int, cost: int = 1) -> tuple[int, float]:
        """`incr` and `get_expiry` in one step, on the same counters.

        Without the per-key RLock the stock methods take: every caller runs on the
        event loop's one thread. The sweeper thread only drops windows that have ended,
        and a window this reads as open and the sweeper drops in between restarts at 1 on
        the next hit. Same answers as incr + get_expiry, a third of the cost (the rate
        limiter runs on every request; bench/ratelimit_overhead.py).
        """
        now = time.time()
        ends_at = self.expirations.get(key, 0.0)
        if ends_at <= now:  # first hit of a new window
            self._MemoryStorage__schedule_expiry()
            self.storage[key] = cost
            self.expirations[key] = ends_at = now + expiry
            return cost, ends_at
        hits = self.storage[key] + cost
        self.storage[key] = hits
        return hits, ends_at


class MemoryBackend:
    def __init__(self) -> None:
        self.storage = SweepingMemoryStorage()
        self.moving = SyncMovingWindowRateLimiter(self.storage)

    async def moving_window(self, item: RateLimitItem, *ids: str) -> tuple[bool, WindowStats]:
        return self.moving.hit(item, *ids), self.moving.get_window_stats(item, *ids)

    async def release(self, item: RateLimitItem, *ids: str) -> None:
        """Gives back the newest hit of a moving window. MemoryStorage keeps a window's
        hits newest first in `events` (tests/test_rate_limits.py, a right password)."""
        key = item.key_for(*ids)
        with self.storage.locks[key]:
            events = self.storage.events.get(key)
            if events:
                del events[0]

    async def close(self) -> None:
        return None


class RedisBackend:
    def __init__(self, uri: str) -> None:
        from redis.asyncio import ConnectionPool, Redis

        # Our own redis-py pool (not coredis, see STACK.md §6), so shutdown can close it.
        self.pool = ConnectionPool.from_url(
            uri.removeprefix("async+"),
            socket_connect_timeout=REDIS_TIMEOUT,
            socket_timeout=REDIS_TIMEOUT,
        )
        self.storage = RedisStorage(uri, implementation="redispy", connection_pool=self.pool)  # type: ignore[arg-type]
        self.client = Redis(connection_pool=self.pool)  # for what `limits` has no call for
        self.moving = MovingWindowRateLimiter(self.storage)
        # When each window seen here ends: a window's end is fixed when its first hit
        # sets the expiry, so asking Redis for it (a second round trip) once per window
        # is enough. Kept as epoch seconds by this process's clock, as limits' own
        # get_expiry reports it.
        self.window_ends: dict[str, float] = {}

    async def fixed_window(self, key: str, expiry: int, cost: int = 1) -> tuple[int, float]:
        """Count `cost` hits; (hits in this window, window end as epoch seconds)."""
        hits = await self.storage.incr(key, expiry, amount=cost)
        now = time.time()
        if hits == cost:  # this hit opened the window, and set its expiry
            ends_at = now + expiry
        else:
            ends_at = self.window_ends.get(key, 0.0)
            if ends_at <= now:  # opened by another process, or not seen yet
                ends_at = await self.storage.get_expiry(key)
        if len(self.window_ends) >= MAX_KEYS:
            self.window_ends.clear()
        self.window_ends[key] = ends_at
        return hits, ends_at

    async def moving_window(self, item: RateLimitItem, *ids: str) -> tuple[bool, WindowStats]:
        allowed = await self.moving.hit(item, *ids)
        return allowed, await self.moving.get_window_stats(item, *ids)

    async def release(self, item: RateLimitItem, *ids: str) -> None:
        """Gives back the newest hit of a moving window: `limits` keeps a window's hits
        in a Redis list, newest first (LPUSH in acquire_moving_window.lua; the same test)."""
        await self.client.lpop(self.storage.bridge.prefixed_key(item.key_for(*ids)))

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
    failed_login = "failed_login"  # per account (lower-cased email), the sign-in pages
    ws = "ws"  # new websockets and subscriptions (http/websocket.py)


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


class Policy(NamedTuple):
    """One bucket's limit, with what every response charged to it repeats."""

    bucket: str  # a plain str: hashing a StrEnum member runs Python code
    item: RateLimitItem
    expiry: int  # the window's length in seconds
    limit_header: tuple[bytes, bytes]
    # Storage keys by identity: building one with `limits` costs ~2 µs, and the same
    # few come back on every request.
    keys: dict[str, str]
    # The hit that spends 80 % of a credential's bucket (the api_key.rate_limit_80
    # alert, resolvers/key_usage.py); 0 for buckets keyed by address.
    alert_at: int


def _policy(bucket: Bucket, limit: str, *, per_credential: bool = False) -> Policy:
    item = parse(limit)
    header = (b"x-ratelimit-limit", str(item.amount).encode())
    alert_at = max(math.ceil(item.amount * NEAR_LIMIT), 1) if per_credential else 0
    return Policy(bucket.value, item, item.get_expiry(), header, {}, alert_at)


# The share of a credential's bucket whose crossing the limiter reports (near_limit).
NEAR_LIMIT = 0.8
# near_limit(bucket, identity, limit, window end as epoch seconds)
NearLimit = Callable[[str, str, int, float], None]


def guessing_network(client_ip: str | None) -> str:
    """Who a guess is charged to: the address, or for IPv6 its /64 (a subscriber gets a
    whole /64 and can rotate through it freely)."""
    if client_ip is None:
        return "unknown"
    if ":" not in client_ip:  # IPv4: the common case, without parsing
        return client_ip
    try:
        address = ipaddress.IPv6Address(client_ip)
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address.exploded, 64), strict=False))
    except ValueError:
        return client_ip


Header = tuple[bytes, bytes]
# (allowed, the X-RateLimit-* headers, and Retry-After when refused): a bare tuple, as it
# is built on every request (a NamedTuple's constructor runs Python code).
Decision = tuple[bool, list[Header]]


class Limiter:
    """Charges requests to buckets. Fails open when the storage is unreachable."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limits_enabled
        self.backend: MemoryBackend | RedisBackend = (
            MemoryBackend()
            if settings.uses_memory_rate_limits
            else RedisBackend(settings.rate_limit_storage)
        )
        # Attributes, not a dict keyed by Bucket: they are read on every request.
        self.standard = _policy(Bucket.standard, settings.rate_limit_standard, per_credential=True)
        self.sandbox = _policy(Bucket.sandbox, settings.rate_limit_sandbox, per_credential=True)
        self.heartbeat = _policy(
            Bucket.heartbeat, settings.rate_limit_heartbeat, per_credential=True
        )
        self.beacon_ip = _policy(Bucket.beacon_ip, settings.rate_limit_beacon_ip)
        self.anonymous = _policy(Bucket.anonymous, settings.rate_limit_anonymous)
        self.failed_auth = _policy(Bucket.failed_auth, settings.rate_limit_failed_auth)
        self.failed_login = _policy(Bucket.failed_login, settings.rate_limit_failed_login)
        self.ws = _policy(Bucket.ws, settings.rate_limit_ws)
        self.plan_policies = {
            plan: (
                _policy(Bucket.read, limits.read, per_credential=True),
                _policy(Bucket.write, limits.write, per_credential=True),
            )
            for plan, limits in settings.rate_limit_plans.items()
        }
        self._warned_at = -math.inf
        # Told when a hit takes a credential's bucket across 80 % of its limit: once
        # per window and bucket (with Redis storage, once across processes, as the
        # count is shared). Set by the app to the usage alerts' hook.
        self.near_limit: NearLimit | None = None

    def policy_for(
        self, route: Route, principal: Principal | None, client_ip: str | None, *, writes: bool
    ) -> tuple[Policy, str] | None:
        """(policy, identity charged) for a request, or None when it is not limited."""
        if route is Route.exempt:
            return None
        if route is Route.beacon:  # keyed by address: beacon keys are public by design
            return self.beacon_ip, client_ip or "unknown"
        if principal is None:
            return self.anonymous, client_ip or "unknown"
        if route is Route.heartbeat:
            return self.heartbeat, principal.id
        if principal.sandbox:
            return self.sandbox, principal.id
        split = self.plan_policies.get(principal.plan)
        if split is not None:
            return split[1] if writes else split[0], principal.id
        return self.standard, principal.id

    def limits_for(self, plan: str) -> list[tuple[str, int, int]]:
        """(bucket, requests, window seconds) charged to a credential of `plan`: what
        organization.usage shows."""
        split = self.plan_policies.get(plan)
        charged = [*split] if split is not None else [self.standard]
        charged += [self.sandbox, self.heartbeat]
        return [(policy.bucket, policy.item.amount, policy.expiry) for policy in charged]

    def failed_auth_policy(self, client_ip: str | None) -> tuple[Policy, str]:
        return self.failed_auth, guessing_network(client_ip)

    async def hit(self, policy: Policy, identity: str, cost: int = 1) -> Decision | None:
        """Charge a request `cost` hits (its mutations, for a GraphQL mutation: DESIGN §6);
        refused whole when the bucket cannot pay them all, and a refusal still counts, as
        in `limits`. None when limits are off or the storage is down (fail open)."""
        if not self.enabled:
            return None
        try:
            if policy is self.failed_auth or policy is self.failed_login:
                allowed, stats = await self.backend.moving_window(
                    policy.item, policy.bucket, identity
                )
                remaining, reset_at = stats.remaining, stats.reset_time
            else:
                key = policy.keys.get(identity) or self._key(policy, identity)
                backend = self.backend
                if isinstance(backend, MemoryBackend):  # answers without awaiting anything
                    hits, reset_at = backend.storage.hit_fixed_window(key, policy.expiry, cost)
                else:
                    hits, reset_at = await backend.fixed_window(key, policy.expiry, cost)
                remaining = policy.item.amount - hits
                allowed = remaining >= 0
                near = self.near_limit
                if policy.alert_at and hits >= policy.alert_at > hits - cost and near:
                    near(policy.bucket, identity, policy.item.amount, reset_at)
        except Exception as error:
            self._warn(error)
            return None
        headers = [
            policy.limit_header,
            (b"x-ratelimit-remaining", b"%d" % max(remaining, 0)),
            (b"x-ratelimit-reset", b"%d" % math.ceil(reset_at)),
        ]
        if not allowed:  # the clock is read only for a refusal: this runs on every request
            retry_after = max(math.ceil(reset_at - time.time()), 1)
            headers.append((b"retry-after", b"%d" % retry_after))
        return allowed, headers

    async def reserve_guess(
        self, client_ip: str | None, account: str
    ) -> tuple[list[tuple[Policy, str]], tuple[str, int] | None]:
        """Charges a password guess, before the password is checked, to the address's
        failed-authentication bucket and to the account's failed-login bucket: (what was
        charged, for release(); when a bucket is exhausted, which one and the seconds
        to wait).

        A moving-window hit checks and adds in one step (a Lua script in Redis, a lock in
        memory), so N concurrent guesses never get past a bucket with fewer than N left,
        and once it is spent a right password is refused too. A refused guess is given
        back to the bucket that had taken it: it was not checked."""
        charged: list[tuple[Policy, str]] = []
        for policy, identity in (
            self.failed_auth_policy(client_ip),
            (self.failed_login, account or "unknown"),
        ):
            decision = await self.hit(policy, identity)
            if decision is None:  # limits off, or the storage down: fail open
                continue
            if not decision[0]:
                await self.release(charged)
                return [], (policy.bucket, int(dict(decision[1])[b"retry-after"]))
            charged.append((policy, identity))
        return charged, None

    async def release(self, charged: list[tuple[Policy, str]]) -> None:
        """Gives back what reserve_guess charged: the password was right, so not a failure."""
        for policy, identity in charged:
            try:
                await self.backend.release(policy.item, policy.bucket, identity)
            except Exception as error:
                self._warn(error)

    def _key(self, policy: Policy, identity: str) -> str:
        if len(policy.keys) >= MAX_KEYS:
            policy.keys.clear()
        key = policy.keys[identity] = policy.item.key_for(policy.bucket, identity)
        return key

    def _warn(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            logger.warning(
                "rate-limit storage unavailable, letting requests through unlimited: %s", error
            )

    async def close(self) -> None:
        await self.backend.close()
