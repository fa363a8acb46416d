"""Pure ASGI middleware: request id, client IP, authentication, rate limits, body limit,
and the answer to every error.

Pure ASGI rather than BaseHTTPMiddleware, which costs about 10x per request
(STACK.md §2). The outcome is left in `scope["state"]`: `request_info` always,
`principal` (None for anonymous callers) once the credential checks out. It is the
app's only middleware (http.routing.GuardedStarlette): it answers our errors, the router's 404
and 405, and masks anything unexpected as a 500.
"""

import logging
import random
import re
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statusgraph import logs
from statusgraph.auth.client_ip import client_ip
from statusgraph.auth.principal import RequestInfo
from statusgraph.auth.url_credentials import refuse_credential_in_url
from statusgraph.clock import Clock
from statusgraph.config import Settings
from statusgraph.db.engine import SessionFactory
from statusgraph.errors import (
    AUTHENTICATION_REQUIRED,
    AuthenticationError,
    BadUserInputError,
    InternalError,
    PayloadTooLargeError,
    StatusGraphError,
)
from statusgraph.http import json_input, persisted_queries
from statusgraph.http.persisted_queries import PersistedQueries
from statusgraph.http.responses import graphql_errors, rest_error, www_authenticate
from statusgraph.ratelimit import Decision, Limiter, Route, route_of
from statusgraph.resolvers import credentials, oauth_access
from statusgraph.resolvers.key_usage import KeyUsage
from statusgraph.resolvers.status_pages import VIEWER_TOKEN_PREFIX
from statusgraph.rest.common import read_body
from statusgraph.schema.limits import mutation_fields
from statusgraph.schema.public import VIEWER_TOKEN_STATE

logger = logging.getLogger("statusgraph.http")

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
BOTH_HEADERS = "Send the API key in X-API-Key or in Authorization, not both"
UNEXPECTED = "Unexpected error."
RATE_LIMITED = "Rate limit exceeded"
# Where the middleware leaves, for the endpoint, a POST /graphql body it decoded and what
# it made of the body's persisted query: the endpoint runs exactly the document that was
# charged, even if another request registers its hash in between.
GRAPHQL_JSON = "graphql_json"
PERSISTED_RESOLUTION = "persisted_resolution"
# The OAuth endpoints where an app authenticates itself (HTTP Basic with its client id
# and secret, RFC 6749 §2.3.1): their Authorization header is the endpoint's to read,
# not an API credential (oauth/token.py).
CLIENT_AUTHENTICATED_PATHS = frozenset({"/oauth/token", "/oauth/revoke", "/oauth/introspect"})
# The HTML pages of DESIGN §11 never use API credentials (they have the browser session):
# an Authorization header there is a browser's, e.g. the Basic credentials of a proxy in
# front of the site, and must not be refused with a 401 nor charged as a failed
# authentication. These paths, and those above, skip the credential parsing.
NO_API_CREDENTIAL_PATHS = CLIENT_AUTHENTICATED_PATHS | frozenset(
    {"/login", "/logout", "/account", "/invitation", "/oauth/authorize"}
)
NO_API_CREDENTIAL_PREFIXES = ("/account/", "/oauth/assets/")


class RateLimitedError(StatusGraphError):
    code = "RATE_LIMITED"
    http_status = 429


# The request headers the middleware reads, collected in one pass over the raw list:
# a Headers.get() per header scanned it once each (~3 µs on every request).
READ = frozenset(
    {
        b"x-request-id",
        b"x-forwarded-for",
        b"user-agent",
        b"x-api-key",
        b"authorization",
        b"content-length",
    }
)


def read_headers(scope: Scope) -> dict[str, str]:
    """The headers in READ, first occurrence of each (as Headers.get), by str name."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name in READ:
            found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


def request_id_from(headers: dict[str, str]) -> str:
    offered = headers.get("x-request-id")
    if offered and REQUEST_ID.match(offered):
        return offered
    # A request id must be unique, not secret: random's generator (seeded per process from
    # os.urandom) avoids uuid4's system call, which cost ~7 µs per request under load.
    return f"{random.getrandbits(128):032x}"


def presented_credential(headers: dict[str, str]) -> str | None:
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


@dataclass(slots=True)
class GraphQLBody:
    body: bytes
    too_large: bool
    mutations: int  # root mutation fields, each charged to the write bucket
    # The body as decoded here, handed to the endpoint so it is not decoded twice.
    data: dict[str, Any] | None = None
    resolution: persisted_queries.Resolution | None = None


class RequestGuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        db: SessionFactory,
        pepper: bytes,
        clock: Clock,
        limiter: Limiter,
        credential_cache: credentials.CredentialCache | None = None,
        persisted: PersistedQueries | None = None,
        usage: KeyUsage | None = None,
    ) -> None:
        self.app = app
        # Requests per credential and the usage alerts (resolvers/key_usage.py).
        self.usage = usage
        self.persisted = persisted
        self.credential_cache = credential_cache
        self.trusted = settings.trusted_proxy_networks
        self.db = db
        self.pepper = pepper
        self.clock = clock
        self.limiter = limiter
        self.max_body = settings.graphql_max_body_bytes
        self.max_tokens = settings.graphql_max_tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = read_headers(scope)
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
        decision: Decision | None = None
        # Every line logged while this request is answered carries its id (logs.py).
        logged_as = logs.current_request_id.set(request_id)

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                sent = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                if decision is not None:
                    sent += decision[1]  # its X-RateLimit-* headers
                message["headers"] = sent
            await send(message)

        try:
            if scope["query_string"]:
                # Before the credential is looked up or anything is charged: a secret in
                # a URL is refused the same way whatever it is.
                refuse_credential_in_url(scope["path"], scope["query_string"])
            try:
                # Inline rather than a method of its own: one coroutine less per request.
                path = scope["path"]
                presented = (
                    None
                    if path in NO_API_CREDENTIAL_PATHS
                    or path.startswith(NO_API_CREDENTIAL_PREFIXES)
                    else presented_credential(headers)
                )
                if (
                    presented is not None
                    and presented.startswith(VIEWER_TOKEN_PREFIX)
                    and scope["path"].startswith("/status/")
                ):
                    # A status page's viewer token as a Bearer token: not a credential
                    # of the organization; the page checks it (pages/reading.py).
                    state[VIEWER_TOKEN_STATE] = presented
                    presented = None
                now = None if presented is None else self.clock()
                principal = (
                    None
                    if presented is None or now is None
                    else await credentials.authenticate(
                        self.db,
                        presented,
                        pepper=self.pepper,
                        request=info,
                        now=now,
                        cache=self.credential_cache,
                    )
                )
            except StatusGraphError as refused:
                # Failed attempts are charged to the address, never to a key.
                decision = await self.limiter.hit(*self.limiter.failed_auth_policy(info.ip))
                if _refused(decision):
                    raise RateLimitedError(RATE_LIMITED) from refused
                raise
            state["principal"] = principal

            route = route_of(scope["path"])
            graphql_body = None
            if route is Route.graphql and scope["method"] == "POST":
                graphql_body = await self._read_graphql_body(headers, receive)
                receive = _replay(graphql_body.body, receive)
                state[GRAPHQL_JSON] = graphql_body.data
                state[PERSISTED_RESOLUTION] = graphql_body.resolution
            mutations = graphql_body.mutations if graphql_body else 0
            writes = mutations > 0 if graphql_body else scope["method"] not in ("GET", "HEAD")
            charged = self.limiter.policy_for(route, principal, info.ip, writes=writes)
            if charged is not None:
                decision = await self.limiter.hit(*charged, max(mutations, 1))
                if _refused(decision):
                    raise RateLimitedError(RATE_LIMITED)
            if principal is not None and now is not None and self.usage is not None:
                self.usage.seen(principal, info.ip, now)  # in memory: no I/O here
            if graphql_body is not None and graphql_body.too_large:
                raise PayloadTooLargeError(f"Request body exceeds {self.max_body} bytes")
            await self.app(scope, receive, send_with_headers)
        except StatusGraphError as error:
            if started:
                raise
            await self._error(scope, error, decision)(scope, receive, send_with_headers)
        except HTTPException as error:  # the router's 404 and 405, answered as Starlette does
            if started:
                raise
            refusal = PlainTextResponse(error.detail, error.status_code, headers=error.headers)
            await refusal(scope, receive, send_with_headers)
        except Exception:
            logger.exception("unexpected error (request id %s)", request_id)
            if started:
                raise
            failure = InternalError(UNEXPECTED)
            await self._error(scope, failure, decision)(scope, receive, send_with_headers)
        finally:
            logs.current_request_id.reset(logged_as)

    async def _read_graphql_body(self, headers: dict[str, str], receive: Receive) -> GraphQLBody:
        """Reads at most max_body + 1 bytes, then tells queries from mutations for the
        read/write rate-limit split."""
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return GraphQLBody(body=b"", too_large=True, mutations=0)
        body = await read_body(receive, max_bytes=self.max_body)
        if body is None:
            return GraphQLBody(body=b"", too_large=True, mutations=0)
        try:
            data = json_input.loads(body)
        except json_input.JSONInputError:
            # Refused by the endpoint, with the reason.
            return GraphQLBody(body=body, too_large=False, mutations=0)
        if not isinstance(data, dict):
            return GraphQLBody(body=body, too_large=False, mutations=0)
        # A persisted query sent by its hash alone is looked up here, once: a mutation is
        # charged as one even then. An unknown hash runs nothing (the endpoint says so).
        resolution = persisted_queries.resolution(
            self.persisted, data.get("query"), data.get("extensions")
        )
        mutations = 0
        if not isinstance(resolution, persisted_queries.PersistedQueryError):
            query, _ = resolution
            name = data.get("operationName")
            if query is not None:
                operation = name if isinstance(name, str) else None
                mutations = mutation_fields(query, operation, self.max_tokens)
        return GraphQLBody(
            body=body, too_large=False, mutations=mutations, data=data, resolution=resolution
        )

    @staticmethod
    def _error(scope: Scope, error: StatusGraphError, decision: Decision | None) -> Response:
        extra: dict[str, str] = {}
        if isinstance(error, AuthenticationError):
            # A missing credential gets the bare challenge; a bad one says why (RFC 6750).
            missing = error.message == AUTHENTICATION_REQUIRED
            extra = (
                www_authenticate() if missing else www_authenticate("invalid_token", error.message)
            )
            if error.message == oauth_access.TOKEN_REVOKED:
                extra["X-Error"] = oauth_access.REVOKED_HEADER
        if scope["path"].startswith("/graphql"):
            accept = Headers(scope=scope).get("accept")
            return graphql_errors(
                error.http_status, error.message, error.code, accept=accept, headers=extra
            )
        return rest_error(error.http_status, error.message, headers=extra)


def _refused(decision: Decision | None) -> bool:
    return decision is not None and not decision[0]


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hands the already-read body to the app, then defers to the real channel."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
