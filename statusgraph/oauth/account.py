"""The signed-in person's pages (DESIGN §11): `/login`, `/logout`, `/account`,
`/account/apps` (connected apps, each revocable) and `/invitation` (accepting an
invitation). Server-rendered, usable without JavaScript; every form carries a CSRF token
bound to the browser's session and to that form.

Every password guess (a login, or joining with an existing account's password) is
charged before the password is checked to two buckets: the failed-authentication bucket
of the caller's address (the one the API's bad credentials are charged to; an IPv6
address counted by its /64) and the failed-login bucket of the account (the lower-cased
email, whether or not it has an account). A right password gives its charge back. Once
either bucket is exhausted every attempt is refused with 429, a right password included,
until the window moves on; concurrent guesses cannot get past it, as the charge comes
first (ratelimit.Limiter.reserve_guess).
"""

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from statusgraph.auth.principal import RequestInfo
from statusgraph.clock import Clock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import User
from statusgraph.oauth import rendering
from statusgraph.oauth.authorize import MAX_REQUEST_LENGTH, csrf_refused
from statusgraph.oauth.rendering import FormTooLarge, first
from statusgraph.oauth.session import CSRF_FIELD, BrowserSession, Purpose, Sessions
from statusgraph.ratelimit import Bucket, Limiter, Policy
from statusgraph.resolvers import consent, oauth_apps, sign_in, users
from statusgraph.resolvers.user_errors import UserInputError

logger = logging.getLogger("statusgraph.oauth")

HOME = "/account"
# Any authorization request /oauth/authorize accepts must survive the trip through login.
MAX_NEXT = MAX_REQUEST_LENGTH
# A path of this site: one slash, then no second slash or backslash that a browser
# would read as the start of another host; nothing but printable ASCII.
SAFE_NEXT = re.compile(r"/(?![/\\])[\x21-\x7e]*")
Builder = Callable[[BrowserSession], Response]
TOO_MANY = "Too many failed sign-in attempts from your address. Try again later."
TOO_MANY_FOR_ACCOUNT = "Too many failed sign-in attempts for this account. Try again later."


def too_many(bucket: str) -> str:
    return TOO_MANY_FOR_ACCOUNT if bucket == Bucket.failed_login else TOO_MANY


def safe_next(candidate: str) -> str:
    """Where to go after signing in: a path of this site, else the account page."""
    if (
        len(candidate) > MAX_NEXT
        or not SAFE_NEXT.fullmatch(candidate)
        or "\\" in candidate
        or urlsplit(candidate).netloc
        or urlsplit(candidate).scheme
    ):
        return HOME
    return candidate


def request_info(request: Request) -> RequestInfo:
    info: RequestInfo = request.state.request_info
    return info


@dataclass(frozen=True, slots=True)
class Invited:
    """What the invitation page shows: never the token's hash, never anything but this."""

    token: str
    email: str
    organization_name: str
    role: str
    has_account: bool  # then the person joins by giving that account's password


class AccountPages:
    def __init__(
        self,
        db: SessionFactory,
        sessions: Sessions,
        clock: Clock,
        pepper: bytes,
        limiter: Limiter,
    ) -> None:
        self.db = db
        self.sessions = sessions
        self.clock = clock
        self.pepper = pepper
        self.limiter = limiter

    async def _current(self, request: Request) -> tuple[BrowserSession | None, User | None]:
        now = self.clock()
        browser = self.sessions.read(request, now)
        if browser is None or browser.user_id is None:
            return browser, None
        async with self.db() as session:
            user = await consent.user_by_id(session, browser.user_id)
            hours = await consent.session_hours(session, browser.user_id)
        if user is None or self.sessions.password_mark(user.password_hash) != browser.password_mark:
            return browser, None
        if browser.over(now, hours):
            return browser, None
        return browser, user

    def _with_session(self, browser: BrowserSession | None, build: Builder) -> Response:
        """A page with forms: it needs a session for its CSRF tokens; started if missing."""
        fresh = browser is None
        if browser is None:
            browser = self.sessions.anonymous(self.clock())
        response = build(browser)
        if fresh:
            self.sessions.store(response, browser)
        return response

    # /login

    async def login(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._log_in(request)
        browser, user = await self._current(request)
        next_path = safe_next(request.query_params.get("next", ""))
        if user is not None:
            return rendering.redirect(next_path)
        return self._with_session(
            browser, lambda b: self._login_page(b, next_path=next_path, email="")
        )

    def _login_page(
        self,
        browser: BrowserSession,
        *,
        next_path: str,
        email: str,
        problem: str | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return rendering.render(
            "login.html",
            status,
            headers=headers,
            title="Sign in",
            next=next_path,
            email=email,
            problem=problem,
            csrf_field=CSRF_FIELD,
            csrf_token=self.sessions.csrf_token(browser, Purpose.LOGIN),
        )

    async def _log_in(self, request: Request) -> Response:
        try:
            fields = await rendering.form_fields(request)
        except FormTooLarge:
            return rendering.message("Form too large", "The form sent was too large.", 413)
        browser = self.sessions.read(request, self.clock())
        if not self.sessions.csrf_ok(browser, Purpose.LOGIN, first(fields, CSRF_FIELD)):
            return csrf_refused()
        assert browser is not None
        info = request_info(request)
        next_path = safe_next(first(fields, "next"))
        email = first(fields, "email")[:254]
        charged, refused = await self.limiter.reserve_guess(info.ip, users.normalize_email(email))
        if refused is not None:
            bucket, waiting = refused
            logger.info("sign-in refused: too many failures (%s, ip %s)", bucket, info.ip)
            return self._login_page(
                browser,
                next_path=next_path,
                email=email,
                problem=too_many(bucket),
                status=429,
                headers={"Retry-After": str(waiting)},
            )
        now = self.clock()
        async with self.db.begin() as session:
            user = await sign_in.sign_in(
                session, email, first(fields, "password"), request=info, now=now
            )
            hours = await consent.session_hours(session, user.id) if user is not None else 0
        if user is None:
            return self._login_page(
                browser,
                next_path=next_path,
                email=email,
                problem="Wrong email or password.",
                status=400,
            )
        await self.limiter.release(charged)  # a right password is no failure
        response = rendering.redirect(next_path)
        self.sessions.store(
            response, self.sessions.signed_in(user.id, user.password_hash, now, hours)
        )
        return response

    # /logout

    async def logout(self, request: Request) -> Response:
        try:
            fields = await rendering.form_fields(request)
        except FormTooLarge:
            return rendering.message("Form too large", "The form sent was too large.", 413)
        browser = self.sessions.read(request, self.clock())
        if not self.sessions.csrf_ok(browser, Purpose.LOGOUT, first(fields, CSRF_FIELD)):
            return csrf_refused()
        response = rendering.redirect("/login")
        self.sessions.clear(response)
        return response

    # /account

    async def account(self, request: Request) -> Response:
        browser, user = await self._current(request)
        if user is None or browser is None:
            return rendering.redirect(f"/login?next={quote(HOME, safe='')}")
        async with self.db() as session:
            memberships = await consent.organizations_of(session, user.id)
        return rendering.render(
            "account.html",
            title="Your account",
            user=user,
            memberships=memberships,
            **self._logout_form(browser),
        )

    def _logout_form(self, browser: BrowserSession) -> dict[str, Any]:
        return {
            "csrf_field": CSRF_FIELD,
            "logout_token": self.sessions.csrf_token(browser, Purpose.LOGOUT),
        }

    # /account/apps

    async def apps(self, request: Request) -> Response:
        browser, user = await self._current(request)
        if user is None or browser is None:
            return rendering.redirect(f"/login?next={quote('/account/apps', safe='')}")
        async with self.db() as session:
            grants = await oauth_apps.grants_of_user(session, user.id)
        return rendering.render(
            "apps.html",
            title="Connected apps",
            user=user,
            grants=grants,
            revoked=request.query_params.get("revoked") == "1",
            revoke_token=self.sessions.csrf_token(browser, Purpose.REVOKE),
            **self._logout_form(browser),
        )

    async def revoke(self, request: Request) -> Response:
        try:
            fields = await rendering.form_fields(request)
        except FormTooLarge:
            return rendering.message("Form too large", "The form sent was too large.", 413)
        browser, user = await self._current(request)
        if not self.sessions.csrf_ok(browser, Purpose.REVOKE, first(fields, CSRF_FIELD)):
            return csrf_refused()
        if user is None:
            return rendering.redirect(f"/login?next={quote('/account/apps', safe='')}")
        async with self.db.begin() as session:
            revoked = await consent.revoke_own_grant(
                session,
                user,
                request.path_params["grant_id"],
                request=request_info(request),
                now=self.clock(),
            )
        if revoked is None:
            return rendering.message(
                "Not found", "No such connected app: it may have been revoked already.", 404
            )
        return rendering.redirect("/account/apps?revoked=1")

    # /invitation

    async def _invited(self, token: str, now: datetime) -> Invited | None:
        async with self.db() as session:
            invitation = await users.invitation_for(session, token, self.pepper, now)
            if invitation is None:
                return None
            organization = await consent.organization_by_id(session, invitation.organization_id)
            existing = await users.get_by_email(session, invitation.email)
        if organization is None:
            return None
        return Invited(
            token, invitation.email, organization.name, invitation.role, existing is not None
        )

    async def invitation(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._accept(request)
        now = self.clock()
        invited = await self._invited(request.query_params.get("token", ""), now)
        if invited is None:
            return _invitation_invalid()
        browser = self.sessions.read(request, now)
        return self._with_session(browser, lambda b: self._invitation_page(b, invited))

    def _invitation_page(
        self,
        browser: BrowserSession,
        invited: Invited,
        *,
        name: str = "",
        problem: str | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return rendering.render(
            "invitation.html",
            status,
            headers=headers,
            title=f"Join {invited.organization_name}",
            invited=invited,
            name=name,
            problem=problem,
            csrf_field=CSRF_FIELD,
            csrf_token=self.sessions.csrf_token(browser, Purpose.INVITATION),
        )

    async def _accept(self, request: Request) -> Response:
        try:
            fields = await rendering.form_fields(request)
        except FormTooLarge:
            return rendering.message("Form too large", "The form sent was too large.", 413)
        now = self.clock()
        browser = self.sessions.read(request, now)
        if not self.sessions.csrf_ok(browser, Purpose.INVITATION, first(fields, CSRF_FIELD)):
            return csrf_refused()
        assert browser is not None
        invited = await self._invited(first(fields, "token"), now)
        if invited is None:
            return _invitation_invalid()
        name = first(fields, "name")
        password = first(fields, "password")
        info = request_info(request)
        charged: list[tuple[Policy, str]] = []
        if invited.has_account:
            # The existing account's password: a guess, charged like a login.
            charged, refused = await self.limiter.reserve_guess(info.ip, invited.email)
            if refused is not None:
                bucket, waiting = refused
                return self._invitation_page(
                    browser,
                    invited,
                    problem=too_many(bucket),
                    status=429,
                    headers={"Retry-After": str(waiting)},
                )
        elif password != first(fields, "password_again"):
            return self._invitation_page(
                browser, invited, name=name, problem="The two passwords differ.", status=400
            )
        try:
            async with self.db.begin() as session:
                user = await users.accept_invitation(
                    session, invited.token, name, password, self.pepper, info, now
                )
                hours = await consent.session_hours(session, user.id)
        except UserInputError as error:
            if not any(each.code == "WRONG_PASSWORD" for each in error.errors):
                await self.limiter.release(charged)  # refused for another reason
            return self._invitation_page(
                browser, invited, name=name, problem=str(error), status=400
            )
        await self.limiter.release(charged)
        response = rendering.redirect(HOME)
        self.sessions.store(
            response, self.sessions.signed_in(user.id, user.password_hash, now, hours)
        )
        return response


def _invitation_invalid() -> Response:
    return rendering.message(
        "Invitation not valid",
        "This invitation link is not valid: it may have expired, been used or been revoked. "
        "Ask for a new one.",
        404,
    )
