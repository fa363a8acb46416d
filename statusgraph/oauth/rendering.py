"""How the login, consent and account pages are answered: Jinja2 templates (autoescape
on), one stylesheet of our own, no script, and the security headers of DESIGN §11 on
every response, redirects and errors included."""

import hashlib
import ipaddress
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

MAX_FORM_BYTES = 16 * 1024
MAX_FIELDS = 64

STYLESHEET = (Path(__file__).parent / "static" / "oauth.css").read_bytes()
STYLESHEET_PATH = f"/oauth/assets/oauth.{hashlib.sha256(STYLESHEET).hexdigest()[:16]}.css"

templates = Environment(
    loader=PackageLoader("statusgraph.oauth", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["when"] = lambda moment: (
    moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "never"
)


def form_source(uri: str) -> str | None:
    """The CSP source a redirect to `uri` after a form's POST must be allowed by.

    Browsers hold the redirect that answers a form's POST to the page's `form-action`
    (Chromium does): the consent form's 303 to the app's redirect URI needs that URI's
    origin in the list. A CSP host cannot be an IPv6 literal, so `http://[::1]:PORT`
    gets the bare scheme."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        if ipaddress.ip_address(parts.hostname).version == 6:
            return f"{parts.scheme}:"
    except ValueError:
        pass
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def security_headers(form_targets: Iterable[str] = ()) -> dict[str, str]:
    form_action = " ".join(["'self'", *sorted(set(form_targets))])
    return {
        "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def render(
    template: str,
    status: int = 200,
    *,
    form_targets: Iterable[str] = (),
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    body = templates.get_template(template).render(stylesheet=STYLESHEET_PATH, **context)
    sent = security_headers(form_targets)
    sent.update(headers or {})
    return HTMLResponse(body, status_code=status, headers=sent)


def message(title: str, text: str, status: int, **context: Any) -> HTMLResponse:
    return render("message.html", status, title=title, text=text, **context)


def redirect(location: str) -> RedirectResponse:
    """303 See Other: after a POST the browser follows with a GET (DESIGN §11)."""
    return RedirectResponse(location, status_code=303, headers=security_headers())


async def stylesheet(request: Request) -> Response:
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


class FormTooLarge(Exception):
    pass


async def form_fields(request: Request) -> dict[str, list[str]]:
    """An application/x-www-form-urlencoded body, at most MAX_FORM_BYTES, as lists of
    values by name. Fields holding a NUL character are dropped: no database stores one."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge
    try:
        parsed = parse_qs(
            body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=MAX_FIELDS
        )
    except ValueError as error:  # more fields than max_num_fields
        raise FormTooLarge from error
    return {
        name: [value for value in values if "\x00" not in value]
        for name, values in parsed.items()
        if "\x00" not in name
    }


def first(fields: dict[str, list[str]], name: str) -> str:
    values = fields.get(name)
    return values[0] if values else ""
