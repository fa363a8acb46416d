"""Per-request GraphQL context: who is calling, sessions, loaders, the clock."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import HTTPConnection
from strawberry.types import Info as StrawberryInfo

from statusgraph.auth.principal import Principal, RequestInfo
from statusgraph.checks.manual import Checking
from statusgraph.clock import Clock, utcnow
from statusgraph.db.engine import SessionFactory
from statusgraph.events.bus import Bus
from statusgraph.notifications.testing import Notifying
from statusgraph.resolvers.credentials import CredentialCache
from statusgraph.resolvers.scope_usage import ScopeUsageRecorder
from statusgraph.resolvers.usage import RateLimits
from statusgraph.schema.limits import QueryLimits
from statusgraph.schema.loaders import Loaders
from statusgraph.schema.permissions import authentication_required


@dataclass
class Context:
    # The HTTP request, or the websocket of a subscription (http/websocket.py).
    request: HTTPConnection
    principal: Principal | None
    request_info: RequestInfo
    db: SessionFactory
    pepper: bytes
    # Read once per operation; every resolver in it sees the same instant.
    now: datetime
    query_limits: QueryLimits
    credential_cache: CredentialCache | None = None
    # Where passed scope checks are counted (resolvers/scope_usage.py); None: not counted.
    scope_usage: ScopeUsageRecorder | None = None
    # The rate limits a plan's credentials are charged to (organization.usage).
    rate_limits: RateLimits | None = None
    # Where monitors may point (the default refuses private networks), the shortest
    # interval, and how to check one now (checks/manual.py).
    checking: Checking = field(default_factory=Checking)
    # How to seal signing secrets and send a test notification (notifications/testing.py).
    # None only in contexts that send nothing (tests of error masking).
    notifying: Notifying | None = None
    # Subscriptions (schema/live.py): the event bus, the clock each event reads `now`
    # from, and the payload of the socket's connection_init (a viewer token, ...).
    bus: Bus | None = None
    clock: Clock = utcnow
    connection_params: dict[str, Any] = field(default_factory=dict)
    # The page version (db/page_versions.py) of each organization whose status page this
    # request read, taken before the page's content: what a cached answer depends on.
    page_versions: dict[str, int] = field(default_factory=dict, init=False)
    loaders: Loaders = field(init=False)
    _read_session: AsyncSession | None = field(default=None, init=False)
    _read_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.read, self.now)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """The request's one read session, used by one resolver or loader at a time.

        Sibling fields resolve concurrently and a session must not be shared between
        tasks, so access is serialized; one session instead of one per loader saves
        each of them a BEGIN and a ROLLBACK (on SQLite, each a thread round trip).
        """
        async with self._read_lock:
            if self._read_session is None:
                self._read_session = self.db()
            yield self._read_session

    async def end_read(self) -> None:
        """Ends the read transaction: before a mutation (on SQLite a read transaction
        keeps its snapshot, and the payload must see the write) and after the request."""
        async with self._read_lock:
            if self._read_session is not None:
                await self._read_session.close()
                self._read_session = None

    async def renew(self) -> None:
        """For the next event of a subscription, whose context lives as long as it does:
        a fresh instant, loaders and read session, so nothing read for an earlier
        event is served again."""
        await self.end_read()
        self.now = self.clock()
        self.page_versions.clear()
        self.loaders = Loaders(self.read, self.now)

    def forget_credential(self, key_id: str) -> None:
        """After a key is revoked or rotated, this process must stop trusting its copy."""
        if self.credential_cache is not None:
            self.credential_cache.changed(key_id)

    def require_principal(self) -> Principal:
        """The caller's credential; UNAUTHENTICATED for an anonymous caller. Fields with
        a scope never reach their body without one (HasScope refuses first), so this is
        where mypy learns it, and a field that forgets its scope still fails closed."""
        if self.principal is None:
            raise authentication_required()
        return self.principal


# What resolvers annotate `info` with, so that mypy checks what they read of the context.
Info: TypeAlias = StrawberryInfo[Context, None]
