"""Usage metering and usage alerts per key (DESIGN §15, reference 001), without a write
per request.

What a request pays (`KeyUsage.seen`, called by the request middleware once the
request is authenticated and charged): one counter hit (usage_counters.Counters) and,
for an API key, one dict lookup of (key, address). Nothing else, and no I/O.

- **Requests per credential and day** are tallied in memory and written by this
  process's Flusher every STATUSGRAPH_USAGE_FLUSH_SECONDS with an upsert that adds
  (`requests = requests + excluded.requests`), so N processes each add their own.
- **`api_key.new_ip`**: an address this process has not looked up for the key in the
  last day is queued and written off the request path (a task started when something
  is queued): one upsert per (key, address) per process per day, which refreshes the
  address's `last_seen_at` and, when the row is new or was last seen more than 30
  days ago, sets the row's `alert_token` to this write's own random token. The write
  that gets its own token back alerts: concurrent processes upserting the same row
  are serialized by the database, and the second sees a fresh `last_seen_at`, so one
  alert per address per 30 days. The first addresses a key is seen from (while it
  has none recorded) alert nothing: `api_key.first_use` told of that use.
- **`api_key.rate_limit_80`**: the limiter calls `near_limit` when a hit takes a
  credential's bucket across 80 % of its limit (ratelimit.Limiter), which happens once
  per window and bucket: with Redis storage the count is shared, so once across all
  processes; with memory storage every process has its own buckets (and its own
  limits), so once per process and window. Queued and written like the addresses.
- **`api_key.first_use`** is not here: credentials.authenticate writes it with the
  key's first `lastUsedAt`, a write that already happens, under `last_used_at IS NULL`.

OAuth grants are counted (their tokens' requests) but raise no alerts: the alerts of
reference 001 are about keys.
"""

import asyncio
import contextlib
import logging
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.principal import Principal
from statusgraph.clock import Clock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import ApiKey, KeyAddress, Organization, RequestCount
from statusgraph.events import outbox
from statusgraph.events.outbox import EventType
from statusgraph.resolvers.usage_counters import Counters, Flusher, Tally

logger = logging.getLogger("statusgraph.usage")

# (organization id, credential id, credential kind, UTC day)
RequestKey = tuple[str, str, str, date]
REQUESTS: Any = RequestCount.__table__  # type: ignore[attr-defined]
ADDRESSES: Any = KeyAddress.__table__  # type: ignore[attr-defined]

# An address unseen for this long is new again.
NEW_ADDRESS_AFTER = timedelta(days=30)
# How long this process trusts that a (key, address) it wrote is recent: it writes the
# pair's last_seen_at again at most this often.
ADDRESS_REFRESH = timedelta(days=1)
# Bound on the per-process memory of (key, address) pairs (cleared when full: the cost
# is one more upsert per pair, never a wrong alert).
MAX_KNOWN = 100_000
# The share of a bucket whose crossing is an api_key.rate_limit_80 alert.
NEAR_LIMIT = 0.8


def near_limit_threshold(amount: int) -> int:
    """The hit that crosses 80 % of a limit of `amount` (800 of 1,000)."""
    return max(math.ceil(amount * NEAR_LIMIT), 1)


@dataclass(frozen=True, slots=True)
class LimitCrossing:
    credential_id: str
    bucket: str
    limit: int
    window_ends_at: datetime
    at: datetime


def _dialect(session: AsyncSession) -> Any:
    return postgresql if session.get_bind().dialect.name == "postgresql" else sqlite


class KeyUsage:
    """One per process that serves requests (app.py)."""

    def __init__(self, db: SessionFactory, clock: Clock, *, flush_seconds: float) -> None:
        self.db = db
        self.clock = clock
        self.requests: Counters[RequestKey] = Counters()
        self.flusher = Flusher(
            self.requests, lambda taken: save_requests(db, taken), interval=flush_seconds
        )
        # (key id, address) -> until when this process need not write it again.
        self.known: dict[tuple[str, str], datetime] = {}
        # (organization id, key id, address) -> first seen since queued.
        self.addresses: dict[tuple[str, str, str], datetime] = {}
        self.crossings: list[LimitCrossing] = []
        self._alerting: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()

    def seen(self, principal: Principal, ip: str | None, now: datetime) -> None:
        """A request of `principal` from `ip`, authenticated and charged: the hot path."""
        self.requests.hit(
            (principal.organization_id, principal.id, principal.kind, now.date()), now
        )
        if ip is None or principal.kind != "api_key":
            return
        pair = (principal.id, ip)
        until = self.known.get(pair)
        if until is not None and now < until:
            return
        if len(self.known) >= MAX_KNOWN:
            self.known.clear()
        self.known[pair] = now + ADDRESS_REFRESH
        self.addresses.setdefault((principal.organization_id, principal.id, ip), now)
        self._wake()

    def near_limit(self, bucket: str, identity: str, limit: int, window_ends_at: float) -> None:
        """The limiter's hook: a hit took `identity`'s bucket across 80 % of `limit`."""
        now = self.clock()
        ends = datetime.fromtimestamp(math.ceil(window_ends_at), tz=now.tzinfo)
        self.crossings.append(LimitCrossing(identity, bucket, limit, ends, now))
        self._wake()

    def _wake(self) -> None:
        if self._alerting is None or self._alerting.done():
            self._alerting = asyncio.get_running_loop().create_task(
                self._alert(), name="usage-alerts"
            )

    async def _alert(self) -> None:
        try:
            await self.write_alerts()
        except Exception:
            logger.exception("could not write usage alerts; kept for the next try")

    async def write_alerts(self) -> None:
        """Writes what was queued: addresses (and their new_ip alerts) and the
        rate-limit crossings, in one transaction; put back if it fails."""
        async with self._writing:
            addresses, self.addresses = self.addresses, {}
            crossings, self.crossings = self.crossings, []
            if not addresses and not crossings:
                return
            try:
                async with self.db.begin() as session:
                    await _write_addresses(session, addresses, now=self.clock())
                    await _write_crossings(session, crossings)
            except Exception:
                for queued, at in addresses.items():
                    self.addresses.setdefault(queued, at)
                self.crossings[:0] = crossings
                # Forgotten, so the next request from them queues them again.
                for _, key_id, ip in addresses:
                    self.known.pop((key_id, ip), None)
                raise

    async def flush(self) -> None:
        """Everything counted and queued, written now (tests; shutdown)."""
        await self.flusher.flush()
        await self.write_alerts()

    def start(self) -> None:
        self.flusher.start()

    async def stop(self) -> None:
        if self._alerting is not None:
            with contextlib.suppress(Exception):
                await self._alerting
        await self.flusher.stop()
        with contextlib.suppress(Exception):
            await self.write_alerts()


async def save_requests(db: SessionFactory, taken: dict[RequestKey, Tally]) -> None:
    """Adds the tallies to request_count, one upsert per (credential, day)."""
    async with db.begin() as session:
        existing = select(col(Organization.id)).where(
            col(Organization.id).in_({key[0] for key in taken})
        )
        organizations = set((await session.exec(existing)).scalars().all())  # type: ignore[call-overload]
        rows = [
            {
                "credential_id": credential_id,
                "day": day,
                "organization_id": organization_id,
                "credential_kind": kind,
                "requests": tally.count,
                "last_request_at": tally.last_at,
            }
            for (organization_id, credential_id, kind, day), tally in sorted(taken.items())
            if organization_id in organizations  # one deleted since is dropped
        ]
        if not rows:
            return
        statement = _dialect(session).insert(REQUESTS)
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=[REQUESTS.c.credential_id, REQUESTS.c.day],
            set_={
                "requests": REQUESTS.c.requests + excluded.requests,
                "last_request_at": case(
                    (
                        REQUESTS.c.last_request_at < excluded.last_request_at,
                        excluded.last_request_at,
                    ),
                    else_=REQUESTS.c.last_request_at,
                ),
            },
        )
        await session.exec(statement, params=rows)


async def _keys(session: AsyncSession, ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """id -> (organization id, name) of the API keys among `ids` that still exist."""
    statement = select(col(ApiKey.id), col(ApiKey.organization_id), col(ApiKey.name)).where(
        col(ApiKey.id).in_(set(ids))
    )
    return {row[0]: (row[1], row[2]) for row in (await session.exec(statement)).all()}  # type: ignore[call-overload]


async def _write_addresses(
    session: AsyncSession, addresses: dict[tuple[str, str, str], datetime], *, now: datetime
) -> None:
    if not addresses:
        return
    keys = await _keys(session, {key_id for _, key_id, _ in addresses})
    known = select(ADDRESSES.c.api_key_id).where(ADDRESSES.c.api_key_id.in_(set(keys))).distinct()
    with_addresses = set((await session.exec(known)).scalars().all())  # type: ignore[call-overload]
    token = secrets.token_hex(16)
    rows = [
        {
            "api_key_id": key_id,
            "ip": ip,
            "organization_id": keys[key_id][0],
            "first_seen_at": at,
            "last_seen_at": at,
            "alert_token": token,
        }
        for (_, key_id, ip), at in sorted(addresses.items())
        if key_id in keys  # a key deleted since is dropped
    ]
    cutoff = now - NEW_ADDRESS_AFTER
    for start in range(0, len(rows), 500):  # within SQLite's bound on parameters
        statement = _dialect(session).insert(ADDRESSES).values(rows[start : start + 500])
        excluded = statement.excluded
        stale = ADDRESSES.c.last_seen_at < cutoff
        statement = statement.on_conflict_do_update(
            index_elements=[ADDRESSES.c.api_key_id, ADDRESSES.c.ip],
            set_={
                "last_seen_at": case(
                    (ADDRESSES.c.last_seen_at < excluded.last_seen_at, excluded.last_seen_at),
                    else_=ADDRESSES.c.last_seen_at,
                ),
                "alert_token": case((stale, excluded.alert_token), else_=ADDRESSES.c.alert_token),
            },
        ).returning(ADDRESSES.c.api_key_id, ADDRESSES.c.ip, ADDRESSES.c.alert_token)
        written = (await session.exec(statement)).all()
        for key_id, ip, alert_token in written:
            if alert_token != token or key_id not in with_addresses:
                continue
            organization_id, name = keys[key_id]
            outbox.emit(
                session,
                organization_id=organization_id,
                type=EventType.API_KEY_NEW_IP,
                data={"apiKeyId": key_id, "apiKeyName": name, "ip": ip},
                now=addresses[(organization_id, key_id, ip)],
            )


async def _write_crossings(session: AsyncSession, crossings: list[LimitCrossing]) -> None:
    if not crossings:
        return
    keys = await _keys(session, {crossing.credential_id for crossing in crossings})
    for crossing in crossings:
        found = keys.get(crossing.credential_id)
        if found is None:  # an OAuth grant's bucket, or a key deleted since
            continue
        organization_id, name = found
        outbox.emit(
            session,
            organization_id=organization_id,
            type=EventType.API_KEY_RATE_LIMIT_80,
            data={
                "apiKeyId": crossing.credential_id,
                "apiKeyName": name,
                "bucket": crossing.bucket,
                "limit": crossing.limit,
                "threshold": near_limit_threshold(crossing.limit),
                "windowEndsAt": crossing.window_ends_at.isoformat(),
            },
            now=crossing.at,
        )


def key_usage_for(
    db: SessionFactory, clock: Clock, *, enabled: bool, flush_seconds: float
) -> KeyUsage | None:
    return KeyUsage(db, clock, flush_seconds=flush_seconds) if enabled else None
