"""`POST /api/beacon`: events from browsers, with a public `bpk_` key in the body.

Browsers preflight a cross-origin JSON POST; `navigator.sendBeacon` sends text/plain
without one, so both content types are read as JSON.
"""

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from statusgraph.db.engine import SessionFactory
from statusgraph.errors import ForbiddenError
from statusgraph.resolvers import beacons
from statusgraph.rest.common import json_body

MAX_BODY = 64 * 1024
PREFLIGHT_MAX_AGE = "86400"


class BeaconEndpoints:
    def __init__(self, db: SessionFactory, clock: Any) -> None:
        self.db = db
        self.clock = clock

    async def post(self, request: Request) -> JSONResponse:
        now = self.clock()
        key, events = beacons.parse_events(
            await json_body(request.receive, max_bytes=MAX_BODY), now=now
        )
        origin = request.headers.get("origin")
        async with self.db.begin() as session:
            accepted = await beacons.record_events(
                session,
                key=key,
                origin=origin,
                events=events,
                request=request.state.request_info,
                now=now,
            )
        headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else {}
        return JSONResponse({"accepted": accepted}, status_code=202, headers=headers)

    async def preflight(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        async with self.db() as session:
            allowed = origin is not None and await beacons.origin_allowed_anywhere(session, origin)
        if not allowed:
            raise ForbiddenError(beacons.ORIGIN_NOT_ALLOWED)
        return Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Origin": origin or "",
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": "Content-Type",
                "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
                "Vary": "Origin",
            },
        )
