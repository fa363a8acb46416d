"""The event bus: the outbox's events, fanned out live to the subscribers of every
process (DESIGN §14). The dispatcher (notifications/notifier.py) publishes each event it
dispatches; the GraphQL subscriptions (schema/live.py) subscribe.

`publish(event)` and `subscribe(topics)`: a topic is an organization id, and every
event is published to its organization's. Delivery is best-effort: each subscriber has
a BOUNDED queue, and one that falls behind (its queue full) loses its backlog and gets a
single RESYNC marker instead, so that a slow socket never holds memory or the
publisher. RESYNC means "you missed events: read the current state again".

Two implementations, one interface:
- InProcessBus (default): the events this process dispatches reach this process's
  subscribers. Enough for the embedded single process that runs its own jobs.
- RedisBus (`STATUSGRAPH_EVENTS_URL=redis://…`): every process publishes to one Redis
  pub/sub channel and every process listens to it, so an event dispatched by any worker
  or web process reaches every subscriber everywhere. When the connection to Redis is
  lost, the listener reconnects with backoff, resubscribes, and tells every live
  subscriber to resync (pub/sub keeps nothing for a listener that was away).
"""

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

logger = logging.getLogger("statusgraph.events")

DEFAULT_QUEUE_SIZE = 100
# Reconnection backoff after Redis is lost: from FIRST_BACKOFF, doubling up to MAX_BACKOFF.
FIRST_BACKOFF = 0.1
MAX_BACKOFF = 5.0
# How long the listener waits for a message before looking at its own state again.
LISTEN_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class BusEvent:
    """An outbox event as it travels on the bus: what a subscription needs to decide
    whether it cares (its organization, type, monitor and services) and the event's own
    data (an incident's id, a transition's from and to, ...)."""

    id: str
    organization_id: str
    type: str
    monitor_id: str | None = None
    service_ids: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> bytes:
        return json.dumps(
            {
                "id": self.id,
                "organization_id": self.organization_id,
                "type": self.type,
                "monitor_id": self.monitor_id,
                "service_ids": list(self.service_ids),
                "data": self.data,
            },
            separators=(",", ":"),
            default=str,
        ).encode()

    @classmethod
    def decode(cls, raw: bytes | str) -> "BusEvent":
        value = json.loads(raw)
        return cls(
            id=str(value["id"]),
            organization_id=str(value["organization_id"]),
            type=str(value["type"]),
            monitor_id=value.get("monitor_id"),
            service_ids=tuple(value.get("service_ids") or ()),
            data=dict(value.get("data") or {}),
        )


class Resync:
    """The marker a subscriber gets instead of the events it missed."""

    def __repr__(self) -> str:
        return "RESYNC"


RESYNC: Final = Resync()
Item = BusEvent | Resync


class Subscription:
    """One subscriber's bounded queue of events. Iterate it; leave it with `close()` (or
    use it as an async context manager)."""

    def __init__(self, fanout: "Fanout", topics: frozenset[str], size: int) -> None:
        self.fanout = fanout
        self.topics = topics
        self.size = max(size, 1)
        self.items: deque[Item] = deque()
        self.ready = asyncio.Event()
        self.closed = False
        self.dropped = 0  # events lost to overflows, for the log and the tests

    def offer(self, item: Item) -> None:
        """Queues `item` without waiting: on overflow the backlog goes and one RESYNC
        takes its place (the item that did not fit is part of what was missed)."""
        if self.closed:
            return
        if isinstance(item, Resync):
            if not (self.items and isinstance(self.items[-1], Resync)):
                self._append(item)
        elif len(self.items) >= self.size:
            self.dropped += len(self.items) + 1
            self.items.clear()
            self.items.append(RESYNC)
        else:
            self.items.append(item)
        self.ready.set()

    def _append(self, item: Item) -> None:
        if len(self.items) >= self.size:
            self.dropped += len(self.items)
            self.items.clear()
            item = RESYNC
        self.items.append(item)

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> Item:
        while not self.items:
            if self.closed:
                raise StopAsyncIteration
            self.ready.clear()
            await self.ready.wait()
        return self.items.popleft()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.fanout.remove(self)
            self.ready.set()

    async def __aenter__(self) -> "Subscription":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


Watcher = Callable[[Item], None]


class Fanout:
    """This process's subscribers by topic, and the delivery to them; and its watchers,
    called with every event this process hears of (and RESYNC when it may have missed
    some), before any subscriber: the page caches' invalidation (app.py)."""

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self.by_topic: dict[str, set[Subscription]] = {}
        self.watchers: list[Watcher] = []

    def add(self, topics: Iterable[str], queue_size: int | None) -> Subscription:
        subscription = Subscription(self, frozenset(topics), queue_size or self.queue_size)
        for topic in subscription.topics:
            self.by_topic.setdefault(topic, set()).add(subscription)
        return subscription

    def remove(self, subscription: Subscription) -> None:
        for topic in subscription.topics:
            subscribers = self.by_topic.get(topic)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self.by_topic[topic]

    def deliver(self, event: BusEvent) -> None:
        self._tell_watchers(event)
        for subscription in list(self.by_topic.get(event.organization_id, ())):
            subscription.offer(event)

    def resync_all(self) -> None:
        self._tell_watchers(RESYNC)
        for subscription in {s for each in self.by_topic.values() for s in each}:
            subscription.offer(RESYNC)

    def _tell_watchers(self, item: Item) -> None:
        for watcher in self.watchers:
            try:
                watcher(item)
            except Exception:  # a watcher's bug must not cost subscribers their events
                logger.exception("events: a watcher failed on %r", item)

    @property
    def subscribers(self) -> int:
        return len({s for each in self.by_topic.values() for s in each})


class Bus(Protocol):
    async def publish(self, event: BusEvent) -> None: ...

    def subscribe(self, topics: Iterable[str], *, queue_size: int | None = None) -> Subscription:
        """A subscription to `topics` (organization ids), delivered from now on."""
        ...

    def watch(self, watcher: Watcher) -> None:
        """Calls `watcher` with every event this process hears of, of any organization,
        and with RESYNC when it may have missed some (Redis lost and found again)."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class InProcessBus:
    """Events published in this process reach this process's subscribers."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.fanout = Fanout(queue_size)

    async def publish(self, event: BusEvent) -> None:
        self.fanout.deliver(event)

    def subscribe(self, topics: Iterable[str], *, queue_size: int | None = None) -> Subscription:
        return self.fanout.add(topics, queue_size)

    def watch(self, watcher: Watcher) -> None:
        self.fanout.watchers.append(watcher)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self.fanout.resync_all()


class RedisBus:
    """Redis pub/sub on one channel shared by every process (`channel`). Publishing
    needs no listener (a worker only publishes); `start()` runs the listener that
    delivers to this process's subscribers."""

    def __init__(
        self,
        url: str,
        *,
        channel: str,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        first_backoff: float = FIRST_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
    ) -> None:
        from redis.asyncio import Redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.channel = channel
        self.fanout = Fanout(queue_size)
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        # Publishing must not stall the dispatcher for long when Redis is away.
        self.redis = Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        # The listener's own client: its reads block for as long as nothing is published.
        # No retries of its own: redis-py would reconnect and resubscribe silently, and
        # the gap (events published meanwhile, lost) would go unnoticed; _listen
        # reconnects instead, and tells subscribers to resync.
        self.listener_redis = Redis.from_url(
            url,
            socket_connect_timeout=1.0,
            socket_keepalive=True,
            health_check_interval=10,
            retry=Retry(NoBackoff(), 0),
        )
        self.listener: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()  # subscribed right now (for tests and health)
        self.reconnects = 0
        self._warned = False

    async def publish(self, event: BusEvent) -> None:
        try:
            await self.redis.publish(self.channel, event.encode())
            self._warned = False
        except Exception as error:  # Redis away: this process's subscribers still hear it
            if not self._warned:
                logger.warning("events: publishing to Redis failed (%s); delivered locally", error)
                self._warned = True
            self.fanout.deliver(event)

    def subscribe(self, topics: Iterable[str], *, queue_size: int | None = None) -> Subscription:
        return self.fanout.add(topics, queue_size)

    def watch(self, watcher: Watcher) -> None:
        self.fanout.watchers.append(watcher)

    async def start(self) -> None:
        if self.listener is None:
            self.listener = asyncio.create_task(self._listen(), name="events: redis listener")

    async def close(self) -> None:
        if self.listener is not None:
            self.listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.listener
            self.listener = None
        self.fanout.resync_all()
        await self.redis.aclose()
        await self.listener_redis.aclose()

    async def _listen(self) -> None:
        backoff = self.first_backoff
        connected_before = False
        while True:
            pubsub = self.listener_redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.listening.set()
                if connected_before:
                    # Whatever was published while we were away is lost to us.
                    self.reconnects += 1
                    logger.info("events: listening to Redis again; subscribers resync")
                    self.fanout.resync_all()
                connected_before = True
                backoff = self.first_backoff
                async for message in self._messages(pubsub):
                    self._deliver(message)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self.listening.is_set():
                    logger.warning("events: lost Redis (%s); reconnecting", error)
                self.listening.clear()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            finally:
                self.listening.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    @staticmethod
    async def _messages(pubsub: Any) -> AsyncIterator[dict[str, Any]]:
        while True:
            message = await pubsub.get_message(timeout=LISTEN_SECONDS)
            if message is not None:
                yield message

    def _deliver(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        try:
            event = BusEvent.decode(message["data"])
        except (ValueError, KeyError, TypeError):
            logger.warning("events: ignored a malformed message on %s", self.channel)
            return
        self.fanout.deliver(event)


def bus_for(url: str | None, *, channel: str, queue_size: int) -> InProcessBus | RedisBus:
    if url:
        return RedisBus(url, channel=channel, queue_size=queue_size)
    return InProcessBus(queue_size)
