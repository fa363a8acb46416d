"""CORS on /graphql (DESIGN §5), for the origins in STATUSGRAPH_CORS_ORIGINS.

Outside RequestGuardMiddleware, so that a preflight is answered before any credential
check or rate limit (a browser sends none with it), and so that the guard's own answers
(401, 429: the ones a browser client most needs to read) carry the headers too. `*` is
allowed because credentials travel in headers, never cookies: no Allow-Credentials.
Starlette's CORSMiddleware would apply to every path and answers a refused preflight
with a 400 that still carries CORS headers; this is the part we need.
The beacon has its own, per-key CORS (rest/beacon.py).
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statusgraph.http.middleware import read_headers, request_id_from
from statusgraph.http.responses import graphql_errors

PATH = "/graphql"
ALLOW_METHODS = b"GET, POST"
ALLOW_HEADERS = b"Content-Type, X-API-Key, Authorization, X-Request-ID"
EXPOSE_HEADERS = (
    b"X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After"
)
MAX_AGE = b"600"  # seconds a browser may reuse a preflight's answer
ORIGIN_NOT_ALLOWED = "Origin not allowed"


class GraphQLCORSMiddleware:
    def __init__(self, app: ASGIApp, *, origins: list[str]) -> None:
        self.app = app
        self.any_origin = "*" in origins
        self.origins = frozenset(origin.encode("latin-1") for origin in origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        origin = requested_method = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                requested_method = value
        if origin is None:  # not a cross-origin browser request
            await self.app(scope, receive, send)
            return
        allowed = self._allow_origin(origin)
        if scope["method"] == "OPTIONS" and requested_method is not None:
            await self._preflight(scope, receive, send, allowed)
            return
        # Vary even when refused: a shared cache must not hand the answer without CORS
        # headers to an allowed origin (a GET query may be cached).
        cors = [] if self.any_origin else [(b"vary", b"Origin")]
        if allowed is not None:
            cors.append((b"access-control-allow-origin", allowed))
            cors.append((b"access-control-expose-headers", EXPOSE_HEADERS))

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *cors]
            await send(message)

        await self.app(scope, receive, with_cors)

    def _allow_origin(self, origin: bytes) -> bytes | None:
        """The Access-Control-Allow-Origin to answer `origin` with, or None."""
        if self.any_origin:
            return b"*"
        return origin if origin in self.origins else None

    async def _preflight(
        self, scope: Scope, receive: Receive, send: Send, allowed: bytes | None
    ) -> None:
        request_id = request_id_from(read_headers(scope)).encode()
        if allowed is None:
            # No CORS headers: the browser refuses the actual request.
            refusal = graphql_errors(
                403,
                ORIGIN_NOT_ALLOWED,
                "FORBIDDEN",
                headers={"X-Request-ID": request_id.decode()},
            )
            await refusal(scope, receive, send)
            return
        headers = [
            (b"access-control-allow-origin", allowed),
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", ALLOW_HEADERS),
            (b"access-control-max-age", MAX_AGE),
            (b"x-request-id", request_id),
        ]
        if allowed != b"*":
            headers.append((b"vary", b"Origin"))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
