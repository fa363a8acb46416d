"""`GET/POST /oauth/authorize`: the authorization request (RFC 6749 §4.1) with PKCE
(RFC 7636, S256 only) and the issuer in every redirect (RFC 9207), the login it may
need, and the consent page (DESIGN §11).

Until the client and its redirect URI are known good, nothing is redirected anywhere:
an unknown `client_id`, or a `redirect_uri` missing or not exactly one the app
registered, gets an error page (a redirect then would make us an open redirector).
After that every error goes back to the app as `error`, `error_description`, `state`
and `iss` on its redirect URI.

Decisions where the RFCs leave a choice:
- `redirect_uri` is required even when the app registered one only: the token request
  must then repeat it (DESIGN §11), and one rule for every app is simpler to get right.
- an empty `scope` is refused (`invalid_scope`): an app asks for what it needs.
- the user picks which of their organizations the grant is for (any organization they
  are a member of, not only the one that registered the app: an app is published by
  one organization and used by members of any); the scopes offered are those requested
  that the user's role in the chosen organization holds (roles.offerable), and a scope
  the role lacks is listed as unavailable, never offered.
- every authorization asks for consent again, even for a grant the user already gave.
- the consent form carries the request in hidden fields, signed for the browser's
  session (SIGNED, Sessions.carried_signature): a POST whose fields differ from what the
  page was shown with (a scope added, another state, organization or redirect URI) is
  refused with an error page, so the code is for exactly the request the app made.
- the request's path and query may be at most MAX_REQUEST_LENGTH characters, whether or
  not the user is signed in: a longer one could not come back from the login page,
  whose `next` carries it (account.safe_next). A `state` of 1,024 characters that all
  need percent-encoding (3,072) and a registered URI of 2,048 fit; only a state of
  multi-byte characters can exceed it.
"""

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response

from statusgraph.auth.roles import offerable
from statusgraph.auth.scopes import CATALOGUE, canonical
from statusgraph.clock import Clock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import OAuthApp, Organization, User
from statusgraph.oauth import rendering
from statusgraph.oauth.rendering import FormTooLarge, first
from statusgraph.oauth.session import CSRF_FIELD, BrowserSession, Purpose, Sessions
from statusgraph.resolvers import consent

CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
MAX_STATE = 1024
MAX_REQUEST_LENGTH = 8192
TOO_LONG = f"The authorization request is longer than {MAX_REQUEST_LENGTH} characters"
# The parameters of an authorization request that may appear once only (RFC 6749 §3.1).
SINGLE = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "organization",
)
INVALID_REQUEST_TITLE = "Invalid authorization request"
# The request's fields the consent form carries back, signed with the session id.
SIGNED = (*SINGLE[:7], "organization")
SIGNATURE_FIELD = "request_signature"
TAMPERED = (
    "The authorization request was changed after the page was shown: start again from the app."
)


@dataclass(frozen=True, slots=True)
class ErrorPage:
    """Refused without a redirect: the client or its redirect URI is not known good."""

    text: str
    status: int = 400


@dataclass(frozen=True, slots=True)
class ErrorRedirect:
    """Refused, and said so to the app on its (verified) redirect URI."""

    redirect_uri: str
    error: str
    description: str
    state: str | None


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    app: OAuthApp
    publisher: Organization  # the organization that registered the app
    redirect_uri: str
    code_challenge: str
    scopes: list[str]
    state: str | None
    organization_id: str | None  # chosen on the page, when the user has several
    fields: dict[str, str] = field(default_factory=dict)  # to carry through the forms


def redirect_with(uri: str, params: dict[str, str | None]) -> str:
    """The redirect URI with our parameters added to any query it already has."""
    query = urlencode({name: value for name, value in params.items() if value is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


async def read_request(
    session_factory: SessionFactory, params: dict[str, list[str]]
) -> AuthorizationRequest | ErrorPage | ErrorRedirect:
    for name in ("client_id", "redirect_uri"):
        if len(params.get(name, [])) > 1:
            return ErrorPage(f"{name} was given more than once.")
    client_id = first(params, "client_id")
    if not client_id:
        return ErrorPage("The request has no client_id.")
    async with session_factory() as session:
        found = await consent.app_by_client_id(session, client_id)
    if found is None:
        return ErrorPage("Unknown client_id: no app is registered with it.")
    app, publisher = found
    redirect_uri = first(params, "redirect_uri")
    if not redirect_uri:
        return ErrorPage("The request has no redirect_uri: it is required.")
    # Exactly one of the registered strings, character for character: no normalising.
    if redirect_uri not in app.redirect_uris:
        return ErrorPage("The redirect_uri is not one this app registered.")

    state_values = params.get("state", [])
    state = state_values[0] if len(state_values) == 1 and state_values[0] else None

    def refuse(error: str, description: str) -> ErrorRedirect:
        return ErrorRedirect(redirect_uri, error, description, state)

    for name in SINGLE:
        if len(params.get(name, [])) > 1:
            return refuse("invalid_request", f"{name} was given more than once")
    response_type = first(params, "response_type")
    if not response_type:
        return refuse("invalid_request", "response_type is required")
    if response_type != "code":
        return refuse("unsupported_response_type", "Only response_type=code is supported")
    if state is not None and len(state) > MAX_STATE:
        return ErrorRedirect(
            redirect_uri, "invalid_request", f"state must be at most {MAX_STATE} characters", None
        )
    challenge = first(params, "code_challenge")
    if not challenge:
        return refuse("invalid_request", "code_challenge is required (PKCE with S256)")
    method = first(params, "code_challenge_method")
    if not method:
        return refuse("invalid_request", "code_challenge_method is required and must be S256")
    if method != "S256":
        return refuse("invalid_request", "code_challenge_method must be S256")
    if not CHALLENGE.fullmatch(challenge):
        return refuse("invalid_request", "code_challenge must be 43 base64url characters")
    named = list(dict.fromkeys(first(params, "scope").split()))
    if not named:
        return refuse("invalid_scope", "scope is required")
    # Other products' names are aliases of ours (auth/scopes.canonical; wildcards are
    # not offered to apps, whatever their spelling).
    unknown = [scope for scope in named if canonical(scope) not in CATALOGUE]
    if unknown:
        return refuse("invalid_scope", f"Unknown scope: {unknown[0]}")
    requested = list(dict.fromkeys(str(canonical(scope)) for scope in named))
    carried = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": " ".join(requested),
    }
    if state is not None:
        carried["state"] = state
    return AuthorizationRequest(
        app=app,
        publisher=publisher,
        redirect_uri=redirect_uri,
        code_challenge=challenge,
        scopes=requested,
        state=state,
        organization_id=first(params, "organization") or None,
        fields=carried,
    )


class Authorize:
    def __init__(
        self, db: SessionFactory, sessions: Sessions, clock: Clock, pepper: bytes, issuer: str
    ) -> None:
        self.db = db
        self.sessions = sessions
        self.clock = clock
        self.pepper = pepper
        self.issuer = issuer

    def _error_redirect(self, refused: ErrorRedirect) -> Response:
        location = redirect_with(
            refused.redirect_uri,
            {
                "error": refused.error,
                "error_description": refused.description,
                "state": refused.state,
                "iss": self.issuer,
            },
        )
        return rendering.redirect(location)

    async def _user(self, browser: BrowserSession | None) -> User | None:
        if browser is None or browser.user_id is None:
            return None
        async with self.db() as session:
            user = await consent.user_by_id(session, browser.user_id)
            hours = await consent.session_hours(session, browser.user_id)
        if user is None or self.sessions.password_mark(user.password_hash) != browser.password_mark:
            return None
        if browser.over(self.clock(), hours):  # the user's organizations' session length
            return None
        return user

    async def endpoint(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.decide(request)
        return await self.ask(request)

    async def ask(self, request: Request) -> Response:
        params: dict[str, list[str]] = {}
        for name, value in request.query_params.multi_items():
            params.setdefault(name, []).append(value)
        read = await read_request(self.db, params)
        if isinstance(read, ErrorPage):
            return rendering.message(INVALID_REQUEST_TITLE, read.text, read.status)
        if isinstance(read, ErrorRedirect):
            return self._error_redirect(read)
        target = f"{request.url.path}?{request.url.query}"
        if len(target) > MAX_REQUEST_LENGTH:
            # Without the state: it may be what made the request too long.
            return self._error_redirect(
                ErrorRedirect(read.redirect_uri, "invalid_request", TOO_LONG, None)
            )
        browser = self.sessions.read(request, self.clock())
        user = await self._user(browser)
        if user is None or browser is None:
            return rendering.redirect(f"/login?next={quote(target, safe='')}")
        return await self._consent_page(read, user, browser)

    async def _consent_page(
        self,
        read: AuthorizationRequest,
        user: User,
        browser: BrowserSession,
        *,
        status: int = 200,
        problem: str | None = None,
    ) -> Response:
        async with self.db() as session:
            memberships = await consent.organizations_of(session, user.id)
        chosen = _chosen(memberships, read.organization_id)
        if chosen is None and len(memberships) == 1:
            chosen = memberships[0]
        signed = {**read.fields, "organization": chosen[0].id if chosen else ""}
        common: dict[str, Any] = {
            "title": f"Authorize {read.app.name}",
            "signature_field": SIGNATURE_FIELD,
            "signature": self.sessions.carried_signature(
                browser, [signed.get(name, "") for name in SIGNED]
            ),
            "app": read.app,
            "publisher": read.publisher,
            "user": user,
            "fields": read.fields,
            "redirect_uri": read.redirect_uri,
            "csrf_field": CSRF_FIELD,
            "csrf_token": self.sessions.csrf_token(browser, Purpose.CONSENT),
        }
        form_targets = [source] if (source := rendering.form_source(read.redirect_uri)) else []
        if chosen is None and memberships:
            return rendering.render(
                "choose_organization.html",
                status,
                memberships=memberships,
                form_targets=form_targets,
                **common,
            )
        offered = offerable(chosen[1], read.scopes) if chosen else []
        return rendering.render(
            "consent.html",
            status,
            organization=chosen[0] if chosen else None,
            role=chosen[1] if chosen else None,
            several=len(memberships) > 1,
            offered=offered,
            unavailable=[scope for scope in read.scopes if scope not in offered],
            problem=problem,
            form_targets=form_targets,
            **common,
        )

    async def decide(self, request: Request) -> Response:
        now = self.clock()
        try:
            fields = await rendering.form_fields(request)
        except FormTooLarge:
            return rendering.message("Form too large", "The form sent was too large.", 413)
        browser = self.sessions.read(request, now)
        if not self.sessions.csrf_ok(browser, Purpose.CONSENT, first(fields, CSRF_FIELD)):
            return csrf_refused()
        carried = [first(fields, name) for name in SIGNED]
        if not self.sessions.carried_ok(browser, carried, first(fields, SIGNATURE_FIELD)):
            return rendering.message(INVALID_REQUEST_TITLE, TAMPERED, 400)
        read = await read_request(self.db, fields)
        if isinstance(read, ErrorPage):
            return rendering.message(INVALID_REQUEST_TITLE, read.text, read.status)
        if isinstance(read, ErrorRedirect):
            return self._error_redirect(read)
        user = await self._user(browser)
        if user is None or browser is None:
            return rendering.message(
                "Signed out", "Your session has ended: start again from the app.", 403
            )
        if first(fields, "decision") == "deny":
            return self._error_redirect(
                ErrorRedirect(
                    read.redirect_uri, "access_denied", "The user denied access", read.state
                )
            )
        async with self.db() as session:
            memberships = await consent.organizations_of(session, user.id)
        chosen = _chosen(memberships, read.organization_id)
        if chosen is None:
            return rendering.message(
                INVALID_REQUEST_TITLE, "You are not a member of that organization.", 400
            )
        organization, role = chosen
        offered = offerable(role, read.scopes)
        granted = list(dict.fromkeys(fields.get("granted", [])))
        refused = [scope for scope in granted if scope not in offered]
        if refused:
            return rendering.message(INVALID_REQUEST_TITLE, f"Scope not offered: {refused[0]}", 400)
        if not granted:
            return await self._consent_page(
                read, user, browser, status=400, problem="Tick at least one scope, or deny."
            )
        async with self.db.begin() as session:
            code = await consent.issue_code(
                session,
                app=read.app,
                user_id=user.id,
                organization_id=organization.id,
                redirect_uri=read.redirect_uri,
                code_challenge=read.code_challenge,
                scopes=granted,
                pepper=self.pepper,
                now=now,
            )
        location = redirect_with(
            read.redirect_uri, {"code": code, "state": read.state, "iss": self.issuer}
        )
        return rendering.redirect(location)


def _chosen(
    memberships: list[tuple[Organization, str]], wanted: str | None
) -> tuple[Organization, str] | None:
    """The user's membership in the organization the form names (None if not a member)."""
    by_id = {organization.id: (organization, role) for organization, role in memberships}
    return by_id.get(wanted) if wanted is not None else None


def csrf_refused() -> Response:
    return rendering.message(
        "Form expired",
        "This form's security token is missing or wrong: go back, reload the page and try again.",
        403,
    )
