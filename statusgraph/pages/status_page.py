"""The public status page in HTML (DESIGN §13): `/status/{slug}`, an incident's page and
the history, and the subscribe form's POST.

What a page shows is exactly what `publicStatusPage` answers: the same visibility rule
(status_pages.readable_page) and the same loading and rules (schema/public.py's
load_shown_page over resolvers/public_page.py and page_reads.py), asked for every field.
Templates are Jinja2 with autoescape on; no script at all; styles come from one
fingerprinted stylesheet plus, for a page's own colours, a two-line <style> allowed by its
hash in the CSP.

A PRIVATE page is opened once with `?token=<viewer token>`: a valid token is put in a
cookie scoped to the page's path (HttpOnly, SameSite=Lax, Secure over https) and the
browser is sent to the clean URL, so the token leaves the address bar, history and
Referer. Every later request is checked again against the token's row, so revoking the
token closes the page at once. An INTERNAL page, a wrong token or a missing page all get
the same 404.
"""

import base64
import hashlib
import html
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from statusgraph import local_time
from statusgraph.clock import Clock
from statusgraph.db import models
from statusgraph.db.engine import SessionFactory
from statusgraph.errors import NotFoundError
from statusgraph.resolvers import organization_settings, public_page, status_pages, subscribers
from statusgraph.resolvers import vocabulary as v
from statusgraph.resolvers.user_errors import UserInputError
from statusgraph.schema.checks import DailyBar
from statusgraph.schema.public import (
    UPTIME_DAYS,
    VIEWER_TOKEN_HEADER,
    PublicIncident,
    PublicService,
    ShownPage,
    load_shown_page,
)

COOKIE = "statusgraph_viewer"
COOKIE_DAYS = 30
HISTORY_PER_PAGE = 10
MAX_FORM_BYTES = 4096
# Every field of publicStatusPage: the HTML page shows all of them.
EVERYTHING = frozenset(
    {
        "services",
        "services.status",
        "services.groupName",
        "services.uptime",
        "services.dailyBars",
        "overallStatus",
        "activeIncidents",
        "activeIncidents.updates",
        "activeIncidents.affectedServices",
        "incidentHistory",
        "incidentHistory.updates",
        "incidentHistory.affectedServices",
        "maintenance",
        "maintenance.services",
        "maintenance.services.status",
    }
)

STATIC = Path(__file__).parent / "static"
STYLESHEET = (STATIC / "status-page.css").read_bytes()
STYLESHEET_PATH = (
    f"/assets/status-page.{hashlib.sha256(STYLESHEET).hexdigest()[:16]}.css"  # fingerprinted
)

templates = Environment(
    loader=PackageLoader("statusgraph.pages", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

STATUS_TEXT = {
    v.ServiceStatus.OPERATIONAL: "Operational",
    v.ServiceStatus.DEGRADED_PERFORMANCE: "Degraded performance",
    v.ServiceStatus.PARTIAL_OUTAGE: "Partial outage",
    v.ServiceStatus.MAJOR_OUTAGE: "Major outage",
    v.ServiceStatus.UNDER_MAINTENANCE: "Under maintenance",
}
BANNER_TEXT = {
    v.ServiceStatus.OPERATIONAL: "All systems operational",
    v.ServiceStatus.DEGRADED_PERFORMANCE: "Degraded performance",
    v.ServiceStatus.PARTIAL_OUTAGE: "Partial outage",
    v.ServiceStatus.MAJOR_OUTAGE: "Major outage",
    v.ServiceStatus.UNDER_MAINTENANCE: "Maintenance in progress",
}


def _label(value: str) -> str:
    return value.replace("_", " ").capitalize()


templates.filters["label"] = _label
templates.filters["status_text"] = lambda status: STATUS_TEXT[v.ServiceStatus(status)]
# `{{ moment | when(zone) }}`: in the organization's time zone, for people;
# `{{ moment | utc }}`: for <time datetime>, for machines.
templates.filters["when"] = local_time.when
templates.filters["utc"] = local_time.utc_iso


def security_headers(style_hashes: list[str], *, private: bool) -> dict[str, str]:
    """No script at all; styles from our own stylesheet and the hashed inline ones; images
    from here or https (a logo is often hosted elsewhere); forms post only here; the page
    is never framed (clickjacking the subscribe button; embed the badges instead)."""
    styles = " ".join(f"'{each}'" for each in style_hashes)
    headers = {
        "Content-Security-Policy": "default-src 'none'; "
        f"style-src 'self' {styles}; img-src 'self' https: data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }
    if private:
        # What a viewer token or a key unlocked is for that browser only.
        headers["Cache-Control"] = "private, no-store"
    return headers


def style_hash(css: str) -> str:
    digest = hashlib.sha256(css.encode()).digest()
    return "sha256-" + base64.b64encode(digest).decode()


@dataclass(frozen=True, slots=True)
class Bar:
    day: date
    status: str  # no_data | up | maintenance | late | down
    title: str


def bars_of(service: PublicService, now: datetime) -> list[Bar]:
    """UPTIME_DAYS bars, oldest first, each with a sentence a tooltip and a screen reader
    read alike. A service without a monitor has no history: its days read "No data"."""
    if service.daily_bars is None:
        first = now.date() - timedelta(days=UPTIME_DAYS - 1)
        days = [first + timedelta(days=n) for n in range(UPTIME_DAYS)]
        return [Bar(day, "no_data", f"{day.isoformat()}: no data") for day in days]
    return [bar_of(bar) for bar in service.daily_bars]


def bar_of(bar: DailyBar) -> Bar:
    status = bar.status.value
    if status == "no_data":
        text = "no data"
    elif bar.downtime_minutes:
        minutes = bar.downtime_minutes
        text = f"{minutes} minute{'s' if minutes != 1 else ''} down"
    else:
        text = "no downtime"
    if bar.maintenance_minutes:
        text += f", {bar.maintenance_minutes} minutes of maintenance"
    return Bar(bar.date, status, f"{bar.date.isoformat()}: {text}")


def service_bars_markup(service: PublicService, now: datetime) -> Markup:
    """bars_markup(bars_of(service, now)), the finished days' part built once while the
    service's finished days are kept (checks/service_bars.py) and only today's each time."""
    finished, bars = service.finished, service.daily_bars
    if finished is None or bars is None:
        return bars_markup(bars_of(service, now))
    past: Markup | None = finished.derived.get("html")
    if past is None:
        past = finished.derived["html"] = bars_markup([bar_of(bar) for bar in bars[:-1]])
    return past + bars_markup([bar_of(bars[-1])])


def bars_markup(bars: list[Bar]) -> Markup:
    """A service's bars as one piece of HTML, built here rather than by the template: 20
    services make 1,800 bars, and Jinja's per-expression escaping of each bar's three
    values was a third of an uncached page's rendering (bench/README.md). The titles are
    our own text (a date and counts) and escaped all the same; the status is one of five
    words."""
    return Markup(  # noqa: S704  (escaped above: html.escape of each title)
        "".join(
            f'<li class="bar bar-{bar.status}" title="{title}">'
            f'<span class="visually-hidden">{title}</span></li>'
            for bar in bars
            for title in (html.escape(bar.title, quote=True),)
        )
    )


def groups_of(services: list[PublicService]) -> list[tuple[str | None, list[PublicService]]]:
    """Services by group, groups in the order their first service comes in the page's."""
    groups: dict[str | None, list[PublicService]] = {}
    for service in services:
        groups.setdefault(service.group_name, []).append(service)
    return list(groups.items())


class StatusPages:
    def __init__(self, db: SessionFactory, clock: Clock, pepper: bytes) -> None:
        self.db = db
        self.clock = clock
        self.pepper = pepper

    async def stylesheet(self, request: Request) -> Response:
        if request.url.path != STYLESHEET_PATH:
            return Response("Not Found", 404, media_type="text/plain")
        return Response(
            STYLESHEET,
            media_type="text/css",
            headers={
                "Cache-Control": "public, max-age=31536000, immutable",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def _read(
        self, request: Request, slug: str, viewer_token: str | None = None
    ) -> tuple[models.StatusPage, ShownPage, datetime, str]:
        """The page, what it shows, the time it was read at and the organization's zone."""
        now = self.clock()
        token = (
            viewer_token or request.headers.get(VIEWER_TOKEN_HEADER) or request.cookies.get(COOKIE)
        )
        async with self.db() as session:
            page = await status_pages.readable_page(
                session,
                slug=slug,
                principal=request.scope.get("state", {}).get("principal"),
                viewer_token=token,
                pepper=self.pepper,
            )
            shown = await load_shown_page(session, page, EVERYTHING, now)
            zone = await organization_settings.time_zone_of(session, page.organization_id)
        return page, shown, now, zone

    def _render(
        self, template: str, page: models.StatusPage | None, status: int = 200, **values: Any
    ) -> HTMLResponse:
        colours = ""
        if page is not None and (page.primary_color or page.secondary_color):
            # Validated as #RRGGBB when saved; escaped anyway by the template.
            colours = (
                f":root{{--brand:{page.primary_color or 'var(--accent)'};"
                f"--brand-2:{page.secondary_color or page.primary_color or 'var(--accent)'}}}"
            )
        body = templates.get_template(template).render(
            page=page, colours=colours, stylesheet=STYLESHEET_PATH, **values
        )
        hashes = [style_hash(colours)] if colours else []
        private = page is not None and page.visibility != v.Visibility.PUBLIC
        return HTMLResponse(body, status, headers=security_headers(hashes, private=private))

    def _not_found(self) -> HTMLResponse:
        # One answer for a missing, internal or locked page and a missing incident.
        return self._render("not_found.html", None, 404)

    async def page(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        offered = request.query_params.get("token")
        try:
            page, shown, now, zone = await self._read(request, slug, offered)
        except NotFoundError:
            return self._not_found()
        if offered is not None:
            return self._remember(request, page, offered)
        return self._render(
            "page.html",
            page,
            shown=shown,
            now=now,
            zone=zone,
            groups=groups_of(shown.services),
            bars={str(s.id): service_bars_markup(s, now) for s in shown.services},
            banner=BANNER_TEXT[shown.overall_status],
            announcement=public_page.announcement(page),
            recent=shown.incident_history[:5],
        )

    def _remember(self, request: Request, page: models.StatusPage, token: str) -> Response:
        """A valid token in the URL: into a cookie for this page only, then to the
        clean URL."""
        path = f"/status/{page.slug}"
        response = RedirectResponse(path, status_code=303)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.set_cookie(
            COOKIE,
            token,
            max_age=COOKIE_DAYS * 86400,
            path=path,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    async def incident(self, request: Request) -> Response:
        try:
            page, shown, now, zone = await self._read(request, request.path_params["slug"])
        except NotFoundError:
            return self._not_found()
        wanted = request.path_params["incident_id"]
        found: PublicIncident | None = next(
            (i for i in [*shown.active_incidents, *shown.incident_history] if i.id == wanted),
            None,
        )
        if found is None:
            return self._not_found()
        return self._render("incident.html", page, incident=found, now=now, zone=zone)

    async def history(self, request: Request) -> Response:
        try:
            page, shown, now, zone = await self._read(request, request.path_params["slug"])
        except NotFoundError:
            return self._not_found()
        if not page.show_incident_history:
            return self._not_found()
        raw = request.query_params.get("page", "1")
        number = int(raw) if raw.isdigit() and 0 < len(raw) < 6 else 1
        last = max((len(shown.incident_history) - 1) // HISTORY_PER_PAGE + 1, 1)
        number = min(max(number, 1), last)
        start = (number - 1) * HISTORY_PER_PAGE
        return self._render(
            "history.html",
            page,
            incidents=shown.incident_history[start : start + HISTORY_PER_PAGE],
            number=number,
            last=last,
            now=now,
            zone=zone,
        )

    async def subscribe(self, request: Request) -> Response:
        """The form's POST: the same operation as the `subscribe` mutation (a mailed
        confirmation; the same answer whether new, pending or confirmed). No CSRF token:
        there is no session to ride on (a forged POST could only do what anyone can do,
        ask for a confirmation mail), and a private page's cookie is SameSite=Lax, which
        a cross-site POST does not carry; a POST whose Origin is another site is refused."""
        slug = request.path_params["slug"]
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            return self._message(None, "Not allowed", "This form posts from its own page.", 403)
        body = await _bounded_body(request)
        if body is None:
            return self._message(None, "Too large", "The form was too large.", 413)
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
        email = (fields.get("email") or [""])[0]
        try:
            async with self.db() as session:
                page = await status_pages.readable_page(
                    session,
                    slug=slug,
                    principal=request.scope.get("state", {}).get("principal"),
                    viewer_token=request.cookies.get(COOKIE),
                    pepper=self.pepper,
                )
        except NotFoundError:
            return self._not_found()
        try:
            # A transaction of its own: a refusal rolls it back, and the page read above
            # stays readable for the answer.
            async with self.db.begin() as session:
                await subscribers.subscribe(
                    session, page, email=email, webhook_url=None, service_ids=[], now=self.clock()
                )
        except UserInputError as refused:
            text = "; ".join(error.message for error in refused.errors)
            return self._message(page, "Not subscribed", text + ".", 400)
        return self._message(
            page,
            "Check your inbox",
            "If the address can receive mail, a link to confirm the subscription is on its way.",
        )

    def _message(
        self, page: models.StatusPage | None, title: str, text: str, status: int = 200
    ) -> HTMLResponse:
        return self._render("message.html", page, status, title=title, text=text)


async def _bounded_body(request: Request) -> bytes | None:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    return body
