"""GraphQL subscriptions on `/graphql` over the graphql-transport-ws protocol (DESIGN §14).

Our own small handler rather than Strawberry's, for the same reasons as the HTTP view:
the credential, its refusals, rate limits and masking must be exactly those of HTTP.

- **Handshake.** The subprotocol must be `graphql-transport-ws`. A browser's Origin must
  be the server's own or one of STATUSGRAPH_CORS_ORIGINS (`*`: any); a refused one gets
  HTTP 403 before any websocket exists. Clients that send no Origin (scripts) pass.
- **connection_init** within STATUSGRAPH_WS_CONNECTION_INIT_SECONDS (else 4408). Its
  payload may hold `X-API-Key` or `Authorization: Bearer …` (not both), checked by the
  same code as an HTTP request's headers (resolvers/credentials.authenticate): a refused
  credential closes the socket with 4403 and the exact HTTP message as the reason
  (`Invalid API key`, `API key revoked`, `API key expired`, `Token revoked`,
  `IP address not allowed`), and is charged to the failed-authentication bucket of the
  address. No credential: anonymous, for `@public` subscriptions only.
- **Limits.** Open sockets per credential and per address, in this process
  (STATUSGRAPH_WS_MAX_CONNECTIONS_PER_*): beyond them, 4429 `Too many connections`.
  Each connection_init and each subscribe is charged one hit to the websocket bucket
  (STATUSGRAPH_RATE_LIMIT_WS, in the shared rate-limit storage, per credential or per
  address when anonymous): a connection refused closes with 4429 `Rate limit exceeded`,
  a subscription refused gets an `error` message with code RATE_LIMITED. At most
  STATUSGRAPH_WS_MAX_SUBSCRIPTIONS_PER_CONNECTION subscriptions at once per socket.
- **Scopes** are checked per subscription by the schema, as over HTTP: an `error`
  message `Insufficient scope: monitors:read required` (FORBIDDEN). Only subscriptions
  run here: queries and mutations go over HTTP, where they are charged and cached.
- **Revocation.** The credential is checked again every STATUSGRAPH_CREDENTIAL_CACHE_SECONDS
  (at least every second, at most every 30 s), at its expiry, and at once when it is
  revoked or rotated through this process; a credential that no longer passes closes
  its sockets with 4403 and the reason.
- **Errors** are masked by the schema exactly as over HTTP (`Unexpected error.`,
  INTERNAL_SERVER_ERROR); a failure of the handler itself closes with 1011.
"""

import asyncio
import contextlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from graphql import GraphQLError, OperationType
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

from statusgraph import logs
from statusgraph.auth.client_ip import client_ip
from statusgraph.auth.principal import Principal, RequestInfo
from statusgraph.auth.url_credentials import refuse_credential_in_url
from statusgraph.checks.manual import Checking
from statusgraph.clock import Clock
from statusgraph.config import Settings
from statusgraph.db.engine import SessionFactory
from statusgraph.errors import AuthenticationError, ForbiddenError, StatusGraphError
from statusgraph.events.bus import Bus
from statusgraph.http.graphql_view import format_error
from statusgraph.http.middleware import (
    RATE_LIMITED,
    presented_credential,
    read_headers,
    request_id_from,
)
from statusgraph.notifications.testing import Notifying
from statusgraph.ratelimit import Limiter
from statusgraph.resolvers import credentials
from statusgraph.schema import StatusGraphSchema
from statusgraph.schema.context import Context
from statusgraph.schema.limits import QueryLimits, parse_document, select_operation

logger = logging.getLogger("statusgraph.http")

PROTOCOL = "graphql-transport-ws"
TOO_MANY_CONNECTIONS = "Too many connections"
INIT_TIMEOUT = "Connection initialisation timeout"
ONLY_SUBSCRIPTIONS = (
    "Only subscriptions are accepted over a websocket; send queries and mutations over HTTP"
)
# How often a credential is checked again, whatever credential_cache_seconds says.
MIN_RECHECK = 1.0
MAX_RECHECK = 30.0


class Closed(Exception):
    """Close the socket with this code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class SocketCounts:
    """Open sockets per credential and per address, in this process."""

    by_credential: Counter[str] = field(default_factory=Counter)
    by_ip: Counter[str] = field(default_factory=Counter)


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """No Origin (not a browser), the server's own, or one of the CORS origins."""
    if origin is None:
        return True
    if "*" in allowed or origin in allowed:
        return True
    return host is not None and urlsplit(origin).netloc.lower() == host.lower()


def credential_headers(payload: dict[str, Any]) -> dict[str, str]:
    """connection_init's payload as the lower-cased headers presented_credential reads;
    a non-string value is no credential at all (refused as an invalid one)."""
    found: dict[str, str] = {}
    for name, value in payload.items():
        lowered = str(name).lower()
        if lowered in ("x-api-key", "authorization"):
            found[lowered] = value if isinstance(value, str) else ""
    return found


class GraphQLWebSocket:
    def __init__(
        self,
        schema: StatusGraphSchema,
        *,
        settings: Settings,
        db: SessionFactory,
        pepper: bytes,
        clock: Clock,
        limiter: Limiter,
        bus: Bus,
        query_limits: QueryLimits,
        credential_cache: credentials.CredentialCache | None = None,
        checking: Checking | None = None,
        notifying: Notifying | None = None,
    ) -> None:
        self.schema = schema
        self.settings = settings
        self.db = db
        self.pepper = pepper
        self.clock = clock
        self.limiter = limiter
        self.bus = bus
        self.query_limits = query_limits
        self.credential_cache = credential_cache
        self.checking = checking or Checking()
        self.notifying = notifying
        self.counts = SocketCounts()
        self.recheck = min(max(settings.credential_cache_seconds, MIN_RECHECK), MAX_RECHECK)
        # Connections by credential id, told when it is revoked here.
        self.open: dict[str, set[Connection]] = {}
        if credential_cache is not None:
            credential_cache.listeners.append(self._credential_changed)

    def _credential_changed(self, credential_id: str) -> None:
        for connection in list(self.open.get(credential_id, ())):
            connection.check_now.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        headers = read_headers(scope)
        request_id = request_id_from(headers)
        peer = scope["client"][0] if scope.get("client") else None
        info = RequestInfo(
            ip=client_ip(
                peer, headers.get("x-forwarded-for"), self.settings.trusted_proxy_networks
            ),
            user_agent=headers.get("user-agent"),
            request_id=request_id,
        )
        logged_as = logs.current_request_id.set(request_id)
        try:
            if not origin_allowed(
                websocket.headers.get("origin"),
                websocket.headers.get("host"),
                self.settings.cors_origins,
            ) or PROTOCOL not in scope.get("subprotocols", []):
                await websocket.close(1008)  # before accepting: an HTTP 403
                return
            await websocket.accept(subprotocol=PROTOCOL)
            connection = Connection(self, websocket, info)
            await connection.run()
        finally:
            logs.current_request_id.reset(logged_as)


class Connection:
    def __init__(self, owner: GraphQLWebSocket, websocket: WebSocket, info: RequestInfo) -> None:
        self.owner = owner
        self.websocket = websocket
        self.info = info
        self.ip = info.ip or "unknown"
        self.principal: Principal | None = None
        self.presented: str | None = None
        self.params: dict[str, Any] = {}
        self.acknowledged = False
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.sending = asyncio.Lock()
        self.check_now = asyncio.Event()
        self.counted_ip = False
        self.watcher: asyncio.Task[None] | None = None

    async def run(self) -> None:
        owner = self.owner
        try:
            try:
                if self.websocket.url.query:
                    try:
                        refuse_credential_in_url(
                            self.websocket.url.path, self.websocket.url.query.encode()
                        )
                    except StatusGraphError as error:
                        raise Closed(4400, error.message) from error
                if owner.counts.by_ip[self.ip] >= owner.settings.ws_max_connections_per_ip:
                    raise Closed(4429, TOO_MANY_CONNECTIONS)
                owner.counts.by_ip[self.ip] += 1
                self.counted_ip = True
                try:
                    first = await asyncio.wait_for(
                        self._receive(), owner.settings.ws_connection_init_seconds
                    )
                except TimeoutError:
                    raise Closed(4408, INIT_TIMEOUT) from None
                if first.get("type") != "connection_init":
                    raise Closed(4401, "Unauthorized")
                await self._init(first)
                while True:
                    await self._handle(await self._receive())
            except Closed as closed:
                await self._close(closed.code, closed.reason)
            except WebSocketDisconnect:
                pass
        except Exception:
            logger.exception(
                "unexpected error on a websocket (request id %s)", self.info.request_id
            )
            with contextlib.suppress(Exception):
                await self._close(1011, "Unexpected error.")
        finally:
            await self._release()

    async def _receive(self) -> dict[str, Any]:
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is None:
            raise Closed(4400, "Messages must be JSON text")
        try:
            value = json.loads(text)
        except ValueError:
            raise Closed(4400, "Message is not JSON") from None
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            raise Closed(4400, "Message must be a JSON object with a type")
        return value

    async def _init(self, message: dict[str, Any]) -> None:
        owner = self.owner
        payload = message.get("payload")
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            raise Closed(4400, "connection_init's payload must be an object")
        self.params = payload
        try:
            presented = presented_credential(credential_headers(payload))
            principal = None
            if presented is not None:
                principal = await self._authenticate(presented)
        except (AuthenticationError, ForbiddenError) as refused:
            decision = await owner.limiter.hit(*owner.limiter.failed_auth_policy(self.info.ip))
            if decision is not None and not decision[0]:
                raise Closed(4429, RATE_LIMITED) from refused
            raise Closed(4403, refused.message) from refused
        except StatusGraphError as refused:  # both headers at once
            raise Closed(4400, refused.message) from refused
        identity = principal.id if principal is not None else f"ip:{self.ip}"
        if principal is not None:
            if (
                owner.counts.by_credential[principal.id]
                >= owner.settings.ws_max_connections_per_credential
            ):
                raise Closed(4429, TOO_MANY_CONNECTIONS)
            owner.counts.by_credential[principal.id] += 1
            self.principal = principal
            self.presented = presented
            owner.open.setdefault(principal.id, set()).add(self)
        if not await self._charge(identity):
            raise Closed(4429, RATE_LIMITED)
        self.acknowledged = True
        await self._send({"type": "connection_ack"})
        if principal is not None:
            self.watcher = asyncio.create_task(self._watch(), name="ws: credential watch")

    async def _authenticate(self, presented: str) -> Principal:
        # No cache: a credential revoked through another process is refused at once.
        return await credentials.authenticate(
            self.owner.db,
            presented,
            pepper=self.owner.pepper,
            request=self.info,
            now=self.owner.clock(),
            cache=None,
        )

    async def _charge(self, identity: str) -> bool:
        decision = await self.owner.limiter.hit(self.owner.limiter.ws, identity)
        return decision is None or decision[0]

    async def _watch(self) -> None:
        """Closes the socket when its credential stops passing (revoked, expired)."""
        assert self.principal is not None
        assert self.presented is not None
        while True:
            wait = self.owner.recheck
            expires_at = self.principal.expires_at
            if expires_at is not None:
                wait = min(wait, max((expires_at - self.owner.clock()).total_seconds(), 0) + 0.01)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.check_now.wait(), wait)
            self.check_now.clear()
            try:
                await self._authenticate(self.presented)
            except (AuthenticationError, ForbiddenError) as refused:
                await self._close(4403, refused.message)
                return
            except Exception:  # the database away: checked again next time
                logger.warning("could not check a websocket's credential; trying again")

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "ping":
            await self._send({"type": "pong"})
        elif kind == "pong":
            return
        elif kind == "connection_init":
            raise Closed(4429, "Too many initialisation requests")
        elif kind == "subscribe":
            await self._subscribe(message)
        elif kind == "complete":
            task = self.operations.pop(str(message.get("id")), None)
            if task is not None:
                task.cancel()
        else:
            raise Closed(4400, f"Unknown message type {kind[:50]}")

    async def _subscribe(self, message: dict[str, Any]) -> None:
        operation_id = message.get("id")
        payload = message.get("payload")
        if not isinstance(operation_id, str) or not operation_id or len(operation_id) > 128:
            raise Closed(4400, "subscribe needs an id")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            raise Closed(4400, "subscribe needs a payload with a query")
        if operation_id in self.operations:
            raise Closed(4409, f"Subscriber for {operation_id} already exists")
        variables = payload.get("variables")
        operation_name = payload.get("operationName")
        if variables is not None and not isinstance(variables, dict):
            await self._error(operation_id, "variables must be a JSON object", "BAD_REQUEST")
            return
        if operation_name is not None and not isinstance(operation_name, str):
            await self._error(operation_id, "operationName must be a string", "BAD_REQUEST")
            return
        limit = self.owner.settings.ws_max_subscriptions_per_connection
        if len(self.operations) >= limit:
            await self._error(
                operation_id,
                f"Too many subscriptions: at most {limit} per connection",
                "RATE_LIMITED",
            )
            return
        identity = self.principal.id if self.principal is not None else f"ip:{self.ip}"
        if not await self._charge(identity):
            await self._error(operation_id, RATE_LIMITED, "RATE_LIMITED")
            return
        if not self._subscription(payload["query"], operation_name):
            await self._error(operation_id, ONLY_SUBSCRIPTIONS, "BAD_REQUEST")
            return
        task = asyncio.create_task(
            self._operation(operation_id, payload["query"], variables, operation_name),
            name=f"ws: {operation_id[:40]}",
        )
        self.operations[operation_id] = task

    async def _operation(
        self,
        operation_id: str,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> None:
        owner = self.owner
        context = Context(
            request=self.websocket,
            principal=self.principal,
            request_info=self.info,
            db=owner.db,
            pepper=owner.pepper,
            now=owner.clock(),
            query_limits=owner.query_limits,
            credential_cache=owner.credential_cache,
            checking=owner.checking,
            notifying=owner.notifying,
            bus=owner.bus,
            clock=owner.clock,
            connection_params=self.params,
        )
        completed_by_us = True
        try:
            results = await owner.schema.subscribe(
                query,
                variable_values=variables,
                context_value=context,
                operation_name=operation_name,
            )
            async with contextlib.aclosing(results):
                async for result in results:
                    if isinstance(result, PreExecutionError):
                        await self._send(
                            {
                                "type": "error",
                                "id": operation_id,
                                "payload": [format_error(e) for e in result.errors or []],
                            }
                        )
                        completed_by_us = False  # an error ends the operation
                        return
                    await self._send(
                        {"type": "next", "id": operation_id, "payload": self._result(result)}
                    )
        except asyncio.CancelledError:
            completed_by_us = False  # the client completed it, or the socket went
            raise
        except (WebSocketDisconnect, RuntimeError):
            completed_by_us = False
        finally:
            await context.end_read()
            if self.operations.get(operation_id) is asyncio.current_task():
                del self.operations[operation_id]
            if completed_by_us:
                with contextlib.suppress(Exception):
                    await self._send({"type": "complete", "id": operation_id})

    def _subscription(self, query: str, operation_name: str | None) -> bool:
        """Whether the operation to run is a subscription; a document that does not
        parse, or names no operation it has, is left to the schema to refuse."""
        try:
            document = parse_document(query, self.owner.query_limits.max_tokens)
        except GraphQLError:
            return True
        operation = select_operation(document, operation_name)
        return operation is None or operation.operation == OperationType.SUBSCRIPTION

    def _result(self, result: ExecutionResult) -> dict[str, Any]:
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [format_error(error) for error in result.errors]
        if result.extensions:
            body["extensions"] = result.extensions
        return body

    async def _error(self, operation_id: str, message: str, code: str) -> None:
        await self._send(
            {
                "type": "error",
                "id": operation_id,
                "payload": [{"message": message, "extensions": {"code": code}}],
            }
        )

    async def _send(self, message: dict[str, Any]) -> None:
        async with self.sending:
            if self.websocket.application_state != WebSocketState.CONNECTED:
                raise WebSocketDisconnect(1006)
            await self.websocket.send_text(json.dumps(message, default=_json_default))

    async def _close(self, code: int, reason: str) -> None:
        async with self.sending:
            if self.websocket.application_state == WebSocketState.CONNECTED:
                with contextlib.suppress(Exception):
                    await self.websocket.close(code, reason[:120])
        for task in list(self.operations.values()):
            task.cancel()

    async def _release(self) -> None:
        owner = self.owner
        tasks = list(self.operations.values())
        if self.watcher is not None:
            tasks.append(self.watcher)
        for task in tasks:
            if task is not asyncio.current_task():
                task.cancel()
        for task in tasks:
            if task is not asyncio.current_task():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self.operations.clear()
        if self.counted_ip:
            owner.counts.by_ip[self.ip] -= 1
            if owner.counts.by_ip[self.ip] <= 0:
                del owner.counts.by_ip[self.ip]
        if self.principal is not None:
            credential_id = self.principal.id
            owner.counts.by_credential[credential_id] -= 1
            if owner.counts.by_credential[credential_id] <= 0:
                del owner.counts.by_credential[credential_id]
            sockets = owner.open.get(credential_id)
            if sockets is not None:
                sockets.discard(self)
                if not sockets:
                    del owner.open[credential_id]


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
