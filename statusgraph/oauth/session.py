"""The browser session of the HTML pages (DESIGN §11) and their CSRF tokens.

One signed cookie (itsdangerous, with a key derived from the pepper for this purpose
only), HttpOnly, SameSite=Lax, Path=/; behind HTTPS also Secure and named
with the `__Host-` prefix, so no sibling host can plant or shadow it. It carries a
random session id, and once signed in the user's id, the time of login, the session's
length in hours and a fingerprint of the user's password hash: a password change ends
every session.

How long: 12 hours for a session nobody signed in to; once signed in, the shortest
`sessionHours` among the user's organizations (resolvers/consent.session_hours), fixed
in the cookie (its Max-Age and the signed length `read` checks) when it is issued, and
checked again each time the pages load the user (`BrowserSession.over`), so that an
organization shortening its sessions ends the longer ones already issued at once.

Anyone who opens one of these pages gets a session, signed in or not: its id is what the
CSRF tokens of the login and invitation forms are bound to. Signing in starts a new
session (a fresh id: a session id planted before login is worth nothing after it), and
signing out clears the cookie. The cookie is not kept server-side, so a copy of it
stays valid until its hours are over; nothing but these pages reads it (the API's
middleware reads headers only).

A CSRF token is HMAC-SHA256(key, session id + purpose): bound to this browser's session
and to one form, never stored, compared in constant time. A form that carries values
the server chose (the consent form's authorization request) carries their signature
too, HMAC-SHA256 under another derived key of the session id and the values: what comes
back is what was issued, to this browser.
"""

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import Response

DEFAULT_HOURS = 12
MAX_HOURS = 720  # organization_settings.MAX_SESSION_HOURS
COOKIE = "statusgraph_session"
SECURE_COOKIE = "__Host-statusgraph_session"  # the prefix needs Secure, Path=/ and no Domain
CSRF_FIELD = "csrf_token"


class Purpose:
    """What a CSRF token may be used for: one form each."""

    LOGIN = "login"
    LOGOUT = "logout"
    CONSENT = "consent"
    REVOKE = "revoke"
    INVITATION = "invitation"


def derive_key(pepper: bytes, purpose: bytes) -> bytes:
    """A key for one use only, so that no signature made for one thing passes for another."""
    return hmac.new(pepper, b"statusgraph browser " + purpose, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class BrowserSession:
    session_id: str
    started_at: datetime  # when the session (or the login) began; it ends `hours` later
    user_id: str | None = None
    password_mark: str | None = None  # a fingerprint of the user's password hash
    hours: int = DEFAULT_HOURS

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None

    def over(self, now: datetime, hours: int) -> bool:
        """Whether the session has ended by the user's session length as it is now
        (shorter than when the cookie was issued, if an organization changed it)."""
        return now >= self.started_at + timedelta(hours=min(self.hours, hours))


class Sessions:
    def __init__(self, pepper: bytes, *, secure: bool) -> None:
        self._serializer = URLSafeSerializer(derive_key(pepper, b"session"), salt="session")
        self._csrf_key = derive_key(pepper, b"csrf")
        self._mark_key = derive_key(pepper, b"password mark")
        self._carried_key = derive_key(pepper, b"carried fields")
        self.secure = secure
        self.cookie = SECURE_COOKIE if secure else COOKIE

    def password_mark(self, password_hash: str) -> str:
        digest = hmac.new(self._mark_key, password_hash.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:12]).decode()

    def read(self, request: Request, now: datetime) -> BrowserSession | None:
        """The session the cookie carries, or None if it is missing, forged or over."""
        raw = request.cookies.get(self.cookie)
        if not raw or len(raw) > 1024:
            return None
        try:
            data: Any = self._serializer.loads(raw)
        except (BadSignature, UnicodeDecodeError):
            return None
        if not isinstance(data, dict):
            return None
        sid, at, uid, mark = data.get("s"), data.get("t"), data.get("u"), data.get("p")
        hours = data.get("h", DEFAULT_HOURS)  # cookies issued before it was carried: 12
        if not isinstance(sid, str) or not isinstance(at, int):
            return None
        if type(hours) is not int or not 1 <= hours <= MAX_HOURS:
            return None
        started = datetime.fromtimestamp(at, tz=now.tzinfo)
        if not (started - timedelta(minutes=5) <= now < started + timedelta(hours=hours)):
            return None
        if uid is not None and not (isinstance(uid, str) and isinstance(mark, str)):
            return None
        return BrowserSession(sid, started, uid, mark if uid is not None else None, hours)

    def anonymous(self, now: datetime) -> BrowserSession:
        return BrowserSession(secrets.token_urlsafe(18), now)

    def signed_in(
        self, user_id: str, password_hash: str, now: datetime, hours: int = DEFAULT_HOURS
    ) -> BrowserSession:
        """A new session for a user who just proved who they are: a new id, too; it lasts
        `hours` (consent.session_hours)."""
        return BrowserSession(
            secrets.token_urlsafe(18), now, user_id, self.password_mark(password_hash), hours
        )

    def store(self, response: Response, session: BrowserSession) -> None:
        value = self._serializer.dumps(
            {
                "s": session.session_id,
                "t": int(session.started_at.timestamp()),
                "u": session.user_id,
                "p": session.password_mark,
                "h": session.hours,
            }
        )
        response.set_cookie(
            self.cookie,
            value,
            max_age=session.hours * 3600,  # stored when issued: the whole length
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(
            self.cookie, path="/", secure=self.secure, httponly=True, samesite="lax"
        )

    def csrf_token(self, session: BrowserSession, purpose: str) -> str:
        message = f"{session.session_id}\n{purpose}".encode()
        digest = hmac.new(self._csrf_key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def csrf_ok(self, session: BrowserSession | None, purpose: str, offered: str) -> bool:
        if session is None or not offered:
            return False
        expected = self.csrf_token(session, purpose)
        return hmac.compare_digest(expected.encode(), offered.encode("utf-8", "replace"))

    def carried_signature(self, session: BrowserSession, values: Sequence[str]) -> str:
        """The signature of the values a form carries, for this session."""
        message = json.dumps([session.session_id, *values]).encode()
        digest = hmac.new(self._carried_key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def carried_ok(
        self, session: BrowserSession | None, values: Sequence[str], offered: str
    ) -> bool:
        if session is None or not offered:
            return False
        expected = self.carried_signature(session, values)
        return hmac.compare_digest(expected.encode(), offered.encode("utf-8", "replace"))
