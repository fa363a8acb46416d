"""`POST /oauth/token`, `POST /oauth/revoke`, `POST /oauth/introspect` and
`GET /.well-known/oauth-authorization-server` (RFC 6749, 7009, 7662, 8414; DESIGN §11).

The protocol's edge: parameters from an `application/x-www-form-urlencoded` body (never
the query string), client authentication (HTTP Basic as RFC 6749 §2.3.1 says, or
`client_id` and `client_secret` in the body, or `client_id` alone for a public app), and
errors as RFC 6749 §5.2 shapes them. What the requests do is in
resolvers/oauth_exchange.py and resolvers/oauth_introspection.py.

Decisions where the RFCs leave a choice:
- a failed client authentication is charged to the failed-authentication bucket of the
  caller's address, like a wrong API key; when that bucket is spent the answer is 429
  (`invalid_client`, with Retry-After) instead of 401. The requests themselves are
  charged, by the middleware, to the anonymous bucket of the address: these endpoints
  carry no API credential.
- introspection is for confidential apps only: a public app's client id is no secret,
  so it cannot show that the caller is the app.
- no CORS on these endpoints: an app that runs in a browser keeps its tokens on its own
  backend. The metadata document is public (`Access-Control-Allow-Origin: *`).
"""

import base64
import binascii
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from statusgraph.auth.principal import RequestInfo
from statusgraph.auth.scopes import CATALOGUE
from statusgraph.clock import Clock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import OAuthApp
from statusgraph.ratelimit import Limiter
from statusgraph.resolvers import oauth_clients, oauth_exchange, oauth_introspection
from statusgraph.resolvers.oauth_exchange import Refusal

FORM = "application/x-www-form-urlencoded"
MAX_BODY = 16_384
MAX_FIELDS = 32
# RFC 6749 §5.1 for the token response; the others answer about tokens too.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="statusgraph"'}

NOT_A_FORM = f"Send the parameters in an {FORM} body"
BODY_TOO_LARGE = f"The request body exceeds {MAX_BODY} bytes"
CLIENT_FAILED = "Client authentication failed"
NO_CLIENT = "Client authentication failed: no client_id and no Authorization header"
NOT_BASIC = "Client authentication failed: only the Basic scheme is accepted in Authorization"
MALFORMED_BASIC = "Client authentication failed: malformed Basic credentials"
TWO_METHODS = "Use one client authentication method: Basic or client_secret, not both"
TWO_CLIENT_IDS = "client_id differs from the client authenticated by Authorization"
TOO_MANY = "Too many failed client authentications from this address; retry later"
NEEDS_CONFIDENTIAL = "Introspection is for confidential clients, which authenticate with a secret"
UNSUPPORTED_GRANT = "grant_type must be authorization_code or refresh_token"


def _error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
    )


def _refused(refusal: Refusal) -> JSONResponse:
    return _error(400, refusal.error, refusal.description)


def _basic(value: str) -> tuple[str, str] | None:
    """(client_id, client_secret) of RFC 6749 §2.3.1: each form-urlencoded, then the pair
    base64-encoded; None when it is not that."""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        return None
    return unquote_plus(client_id), unquote_plus(secret)


class TokenEndpoints:
    def __init__(
        self,
        db: SessionFactory,
        clock: Clock,
        pepper: bytes,
        limiter: Limiter,
        *,
        issuer: str,
        refresh_lifetime: timedelta,
        documentation_url: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.pepper = pepper
        self.limiter = limiter
        self.issuer = issuer
        self.refresh_lifetime = refresh_lifetime
        self.documentation_url = documentation_url

    async def _fields(self, request: Request) -> dict[str, str] | Response:
        """The body's parameters, each at most once; an empty one counts as omitted
        (RFC 6749 §3.1, §3.2)."""
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != FORM:
            return _error(400, "invalid_request", NOT_A_FORM)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return _error(400, "invalid_request", BODY_TOO_LARGE)
        try:
            parsed = parse_qs(
                body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=MAX_FIELDS
            )
        except ValueError:  # more fields than MAX_FIELDS
            return _error(400, "invalid_request", "Too many parameters")
        fields: dict[str, str] = {}
        for name, values in parsed.items():
            if len(values) > 1:
                return _error(400, "invalid_request", f"{name} was given more than once")
            if values[0]:
                fields[name] = values[0]
        return fields

    async def _client(self, request: Request, fields: dict[str, str]) -> OAuthApp | Response:
        authorization = request.headers.get("authorization")
        basic = authorization is not None
        if authorization is not None:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "basic":
                return _error(401, "invalid_client", NOT_BASIC, BASIC_CHALLENGE)
            credentials = _basic(value)
            if credentials is None:
                return await self._failed(request, MALFORMED_BASIC, basic=True)
            if "client_secret" in fields:
                return _error(400, "invalid_request", TWO_METHODS)
            client_id, secret = credentials
            if fields.get("client_id", client_id) != client_id:
                return _error(400, "invalid_request", TWO_CLIENT_IDS)
            presented: str | None = secret
        else:
            client_id = fields.get("client_id", "")
            if not client_id:
                return _error(401, "invalid_client", NO_CLIENT)
            presented = fields.get("client_secret")
        async with self.db() as session:
            app = await oauth_clients.authenticate_client(
                session, client_id, presented or None, self.pepper
            )
        if app is None:
            return await self._failed(request, CLIENT_FAILED, basic=basic)
        return app

    async def _failed(self, request: Request, description: str, *, basic: bool) -> Response:
        """401 invalid_client, charged to the address's failed-authentication bucket."""
        decision = await self.limiter.hit(*self.limiter.failed_auth_policy(_info(request).ip))
        if decision is not None and not decision[0]:
            retry = next(
                (value.decode() for name, value in decision[1] if name == b"retry-after"), "60"
            )
            return _error(429, "invalid_client", TOO_MANY, {"Retry-After": retry})
        return _error(401, "invalid_client", description, BASIC_CHALLENGE if basic else None)

    async def _authenticated(self, request: Request) -> tuple[OAuthApp, dict[str, str]] | Response:
        fields = await self._fields(request)
        if isinstance(fields, Response):
            return fields
        app = await self._client(request, fields)
        if isinstance(app, Response):
            return app
        return app, fields

    # POST /oauth/token

    async def token(self, request: Request) -> Response:
        authenticated = await self._authenticated(request)
        if isinstance(authenticated, Response):
            return authenticated
        app, fields = authenticated
        grant_type = fields.get("grant_type")
        if grant_type is None:
            return _error(400, "invalid_request", "grant_type is required")
        if grant_type == "authorization_code":
            for name in ("code", "redirect_uri", "code_verifier"):
                if name not in fields:
                    return _error(400, "invalid_request", f"{name} is required")
            async with self.db.begin() as session:
                outcome = await oauth_exchange.exchange_code(
                    session,
                    app,
                    code=fields["code"],
                    redirect_uri=fields["redirect_uri"],
                    code_verifier=fields["code_verifier"],
                    pepper=self.pepper,
                    request=_info(request),
                    now=self.clock(),
                    refresh_lifetime=self.refresh_lifetime,
                )
        elif grant_type == "refresh_token":
            if "refresh_token" not in fields:
                return _error(400, "invalid_request", "refresh_token is required")
            scope = fields.get("scope")
            async with self.db.begin() as session:
                outcome = await oauth_exchange.refresh(
                    session,
                    app,
                    refresh_token=fields["refresh_token"],
                    scope=scope.split() if scope is not None else None,
                    pepper=self.pepper,
                    request=_info(request),
                    now=self.clock(),
                    refresh_lifetime=self.refresh_lifetime,
                )
        else:
            return _error(400, "unsupported_grant_type", UNSUPPORTED_GRANT)
        if isinstance(outcome, Refusal):
            return _refused(outcome)
        body = {
            "access_token": outcome.pair.access_token,
            "token_type": "Bearer",
            "expires_in": outcome.pair.expires_in,
            "refresh_token": outcome.pair.refresh_token,
            "scope": " ".join(outcome.scopes),
        }
        return JSONResponse(body, headers=NO_STORE)

    # POST /oauth/revoke

    async def revoke(self, request: Request) -> Response:
        authenticated = await self._authenticated(request)
        if isinstance(authenticated, Response):
            return authenticated
        app, fields = authenticated
        if "token" not in fields:
            return _error(400, "invalid_request", "token is required")
        async with self.db.begin() as session:
            await oauth_introspection.revoke_token(
                session,
                app,
                token=fields["token"],
                pepper=self.pepper,
                request=_info(request),
                now=self.clock(),
            )
        # The same answer whether anything was revoked (RFC 7009 §2.2).
        return Response(status_code=200, headers=NO_STORE)

    # POST /oauth/introspect

    async def introspect(self, request: Request) -> Response:
        authenticated = await self._authenticated(request)
        if isinstance(authenticated, Response):
            return authenticated
        app, fields = authenticated
        if not app.confidential:
            return _error(401, "invalid_client", NEEDS_CONFIDENTIAL)
        if "token" not in fields:
            return _error(400, "invalid_request", "token is required")
        async with self.db() as session:
            answer = await oauth_introspection.introspect(
                session,
                app,
                token=fields["token"],
                pepper=self.pepper,
                issuer=self.issuer,
                now=self.clock(),
            )
        return JSONResponse(answer, headers=NO_STORE)

    # GET /.well-known/oauth-authorization-server

    def metadata_document(self) -> dict[str, Any]:
        base = self.issuer
        document: dict[str, Any] = {
            "issuer": base,
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "introspection_endpoint": f"{base}/oauth/introspect",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "introspection_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "scopes_supported": sorted(CATALOGUE),
            "authorization_response_iss_parameter_supported": True,
        }
        if self.documentation_url:
            document["service_documentation"] = self.documentation_url
        return document

    async def metadata(self, request: Request) -> Response:
        return JSONResponse(
            self.metadata_document(),
            headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "max-age=3600"},
        )


def _info(request: Request) -> RequestInfo:
    info: RequestInfo = request.state.request_info
    return info
