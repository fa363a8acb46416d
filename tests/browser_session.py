"""Driving the HTML pages of DESIGN §11 the way a browser does, over httpx: the cookie
jar keeps the session, forms are read from the page and posted back."""

import base64
import hashlib
import html
import re
import secrets

import httpx

from tests.helpers import PEPPER

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
PASSWORD = "correct horse battery"


def csrf_of(page: httpx.Response, action: str | None = None) -> str:
    """The CSRF token of the page's first form, or of the form posting to `action`."""
    text = page.text
    if action is not None:
        text = text[text.index(f'<form method="post" action="{action}"') :]
    found = CSRF.search(text)
    assert found is not None, page.text
    return html.unescape(found.group(1))


def hidden_fields(page: httpx.Response) -> dict[str, str]:
    return {html.unescape(name): html.unescape(value) for name, value in HIDDEN.findall(page.text)}


async def log_in(
    client: httpx.AsyncClient,
    email: str = "ada@example.com",
    password: str = PASSWORD,
    *,
    next_path: str = "",
) -> httpx.Response:
    page = await client.get("/login", params={"next": next_path} if next_path else None)
    assert page.status_code == 200, page.text
    return await client.post(
        "/login",
        data={
            "csrf_token": csrf_of(page),
            "next": hidden_fields(page)["next"],
            "email": email,
            "password": password,
        },
    )


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


PEPPER_BYTES = PEPPER.encode()
