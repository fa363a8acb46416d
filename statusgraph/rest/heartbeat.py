"""`POST /api/heartbeat/{monitorId}` (ping) and `GET /api/heartbeat/{monitorId}` (status).

A 200 means the ping is committed.
"""

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Send
from starlette.types import Scope as ASGIScope

from statusgraph.auth.scopes import Scope
from statusgraph.db.engine import SessionFactory
from statusgraph.errors import BadUserInputError
from statusgraph.ingest.batcher import PingBatcher
from statusgraph.ingest.writers import GroupWriter
from statusgraph.resolvers import heartbeats
from statusgraph.resolvers.scope_usage import ScopeUsageRecorder
from statusgraph.rest.common import json_body, require, send_json

MAX_BODY = 64 * 1024
STATUSES = {
    "up": heartbeats.PingKind.SUCCESS,
    "down": heartbeats.PingKind.FAIL,
    "start": heartbeats.PingKind.START,
}
FIELDS = frozenset({"status", "message", "duration_ms"})
# The column is a 32-bit integer on PostgreSQL: ~24.8 days of run time, in milliseconds.
MAX_DURATION_MS = 2**31 - 1


def _ping_from(body: dict[str, Any]) -> tuple[heartbeats.PingKind, str | None, int | None]:
    if not FIELDS.issuperset(body):
        raise BadUserInputError(f"Unknown field: {min(set(body) - FIELDS)}")
    status = body.get("status", "up")
    if not isinstance(status, str) or status not in STATUSES:  # [] and {} are unhashable
        raise BadUserInputError("status must be one of: up, down, start")
    message = body.get("message")
    if message is not None and not isinstance(message, str):
        raise BadUserInputError("message must be a string")
    if message is not None and "\x00" in message:  # PostgreSQL text cannot hold it
        raise BadUserInputError("message must not contain NUL characters")
    duration = body.get("duration_ms")
    if duration is not None and (
        isinstance(duration, bool)
        or not isinstance(duration, int)
        or not 0 <= duration <= MAX_DURATION_MS
    ):
        raise BadUserInputError(f"duration_ms must be an integer from 0 to {MAX_DURATION_MS}")
    return STATUSES[status], message, duration


def _state(monitor: Any, derived: heartbeats.Derived) -> dict[str, Any]:
    """The monitor's state as answered to a ping or a status request. Times and the
    status stay Python objects: orjson writes them (ISO 8601, as isoformat() would; the
    enum as its value) in C, and this runs once per ping."""
    return {
        "monitor_id": monitor.id,
        "name": monitor.name,
        "status": derived.status,
        "last_ping_at": monitor.last_ping_at,
        "next_deadline_at": derived.next_deadline,
        "period_seconds": monitor.period_seconds,
        "grace_seconds": monitor.grace_seconds,
    }


class HeartbeatEndpoints:
    def __init__(
        self,
        db: SessionFactory,
        clock: Any,
        writer: GroupWriter,
        *,
        scope_usage: ScopeUsageRecorder | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.scope_usage = scope_usage
        self.batcher = PingBatcher(writer, _state)
        self.ping = PingEndpoint(self.batcher, clock, scope_usage)

    async def status(self, request: Request) -> Response:
        principal = require(
            request.state.principal,
            Scope.heartbeat_write,
            Scope.monitors_read,
            usage=self.scope_usage,
            now=self.clock(),
        )
        async with self.db() as session:
            monitor = await heartbeats.heartbeat_monitor(
                session,
                principal.organization_id,
                request.path_params["monitor_id"],
            )
        state = _state(monitor, heartbeats.derive(monitor, self.clock()))
        return Response(orjson.dumps(state), media_type="application/json")


class PingEndpoint:
    """`POST /api/heartbeat/{monitorId}` as a plain ASGI app (Starlette routes to it
    as it is): the hot path, so no Request or Response objects. Errors are raised for
    the middleware to answer, like every other route's."""

    def __init__(
        self, batcher: PingBatcher, clock: Any, scope_usage: ScopeUsageRecorder | None = None
    ) -> None:
        self.batcher = batcher
        self.clock = clock
        self.scope_usage = scope_usage

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        state = scope["state"]
        now = self.clock()
        principal = require(
            state.get("principal"), Scope.heartbeat_write, usage=self.scope_usage, now=now
        )
        kind, message, duration = _ping_from(await json_body(receive, max_bytes=MAX_BODY))
        answer = await self.batcher.submit(
            organization_id=principal.organization_id,
            monitor_id=scope["path_params"]["monitor_id"],
            kind=kind,
            message=message,
            duration_ms=duration,
            ip=state["request_info"].ip,
            now=now,
        )
        await send_json(send, answer)
