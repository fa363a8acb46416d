"""`POST /api/metrics/ingest`: up to 1,000 points `{name, value, timestamp?, tags?}`."""

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from statusgraph.auth.scopes import Scope
from statusgraph.db.engine import SessionFactory
from statusgraph.resolvers import metrics
from statusgraph.resolvers.scope_usage import ScopeUsageRecorder
from statusgraph.rest.common import json_body, require

MAX_BODY = 1024 * 1024


class MetricsEndpoints:
    def __init__(
        self, db: SessionFactory, clock: Any, *, scope_usage: ScopeUsageRecorder | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self.scope_usage = scope_usage

    async def ingest(self, request: Request) -> JSONResponse:
        now = self.clock()
        principal = require(
            request.state.principal, Scope.metrics_write, usage=self.scope_usage, now=now
        )
        points = metrics.parse_points(await json_body(request.receive, max_bytes=MAX_BODY), now=now)
        async with self.db.begin() as session:
            accepted = await metrics.ingest(session, principal.organization_id, points, now=now)
        return JSONResponse({"accepted": accepted}, status_code=202)
