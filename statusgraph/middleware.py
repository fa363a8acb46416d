"""Pure ASGI middleware: request id, client IP and authentication for every request.

Pure ASGI rather than BaseHTTPMiddleware, which costs about 10x per request
(STACK.md §2). The outcome is left in `scope["state"]`: `request_info` always,
`principal` (None for anonymous callers) once the credential checks out.
"""

import logging
import re
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statusgraph.auth.client_ip import client_ip
from statusgraph.auth.principal import Principal, RequestInfo
from statusgraph.clock import Clock
from statusgraph.config import Settings
from statusgraph.db.engine import SessionFactory
from statusgraph.errors import (
    AuthenticationError,
    BadUserInputError,
    InternalError,
    StatusGraphError,
)
from statusgraph.resolvers import credentials
from statusgraph.responses import graphql_errors, rest_error, www_authenticate

logger = logging.getLogger("statusgraph.http")

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
BOTH_HEADERS = "Send the API key in X-API-Key or in Authorization, not both"
UNEXPECTED = "Unexpected error."


def request_id_from(headers: Headers) -> str:
    offered = headers.get("x-request-id")
    return offered if offered and REQUEST_ID.match(offered) else uuid.uuid4().hex


def presented_credential(headers: Headers) -> str | None:
    """The credential from X-API-Key or `Authorization: Bearer`; never query or cookie."""
    api_key = headers.get("x-api-key")
    authorization = headers.get("authorization")
    if api_key is not None and authorization is not None:
        raise BadUserInputError(BOTH_HEADERS)
    if api_key is not None:
        return api_key.strip()
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError(credentials.INVALID_KEY)
    return token.strip()


class AuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        db: SessionFactory,
        pepper: bytes,
        clock: Clock,
    ) -> None:
        self.app = app
        self.trusted = settings.trusted_proxy_networks
        self.db = db
        self.pepper = pepper
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = request_id_from(headers)
        peer = scope["client"][0] if scope.get("client") else None
        info = RequestInfo(
            ip=client_ip(peer, headers.get("x-forwarded-for"), self.trusted),
            user_agent=headers.get("user-agent"),
            request_id=request_id,
        )
        state = scope.setdefault("state", {})
        state["request_info"] = info
        started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            await send(message)

        try:
            state["principal"] = await self._authenticate(headers, info)
            await self.app(scope, receive, send_with_request_id)
        except StatusGraphError as error:
            if started:
                raise
            await self._error(scope, error)(scope, receive, send_with_request_id)
        except Exception:
            logger.exception("unexpected error (request id %s)", request_id)
            if started:
                raise
            await self._error(scope, InternalError(UNEXPECTED))(
                scope, receive, send_with_request_id
            )

    async def _authenticate(self, headers: Headers, info: RequestInfo) -> Principal | None:
        presented = presented_credential(headers)
        if presented is None:
            return None
        return await credentials.authenticate(
            self.db, presented, pepper=self.pepper, request=info, now=self.clock()
        )

    @staticmethod
    def _error(scope: Scope, error: StatusGraphError) -> Response:
        extra = {}
        if isinstance(error, AuthenticationError):
            extra = www_authenticate("invalid_token", error.message)
        if scope["path"].startswith("/graphql"):
            accept = Headers(scope=scope).get("accept")
            return graphql_errors(
                error.http_status, error.message, error.code, accept=accept, headers=extra
            )
        return rest_error(error.http_status, error.message, headers=extra)
