"""The OAuth flow end to end in a real browser (Debian's chromium, tests/browser.py),
against the app under real uvicorn, with a client we did not write (authlib): sign in,
consent with one scope unticked, follow the redirect, exchange the code with PKCE, and
call GraphQL with the token, which holds only what was granted."""

import shutil
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from playwright.async_api import Browser
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from statusgraph.app import create_app
from statusgraph.clock import FrozenClock
from statusgraph.config import Settings
from tests.browser import Watch, open_page, serving
from tests.helpers import PEPPER, create_oauth_app, create_org, create_user
from tests.servers import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

EMAIL = "grace@example.com"
PASSWORD = "a long enough passphrase"
VIEWER = "{ viewer { kind scopes role user { email } app { name } } }"
MONITORS = "{ monitors(first: 1) { totalCount } }"
CREATE_INCIDENT = """mutation { createIncident(input: {title: "Checkout errors", status: INVESTIGATING,
  impact: MINOR, message: "Looking into it"}) { incident { title } userErrors { code } } }"""


def callback_app() -> Starlette:
    """Where the app's redirect URI points: a page that says it was reached."""

    async def reached(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("Back in the app")

    async def close() -> None:
        return None

    app = Starlette(routes=[Route("/callback", reached)])
    app.state.close = close
    return app


async def test_a_user_authorizes_an_app_in_a_browser_and_it_gets_only_the_scopes_granted(
    browser: Browser, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("oauth-browser")
    shutil.copyfile(sqlite_template, directory / "statusgraph.db")
    port, callback_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    redirect_uri = f"http://127.0.0.1:{callback_port}/callback"
    settings = Settings(
        data_dir=directory / "data",
        database_url=f"sqlite+aiosqlite:///{directory / 'statusgraph.db'}",
        secret_key=PEPPER,
        run_jobs=False,
        public_url=base,  # the issuer, and the `iss` of every redirect
    )
    # The server runs on the real clock (its cookies meet a real browser's), and so do these rows.
    clock = FrozenClock(datetime.now(UTC))
    seeding = create_app(settings, clock=clock)
    acme = await create_org(seeding.state.db, clock, slug="acme")
    await create_user(seeding.state.db, clock, acme, role="member", email=EMAIL, password=PASSWORD)
    issued = await create_oauth_app(
        seeding.state.db, clock, acme, redirect_uris=[redirect_uri], name="Incident bot"
    )
    await seeding.state.close()

    with serving(callback_app(), port=callback_port), serving(create_app(settings), port=port):
        client = AsyncOAuth2Client(
            client_id=issued.app.client_id,
            client_secret=issued.client_secret,
            redirect_uri=redirect_uri,
            scope="incidents:write monitors:read",
            code_challenge_method="S256",
        )
        verifier = generate_token(64)
        authorize_url, state = client.create_authorization_url(
            f"{base}/oauth/authorize", code_verifier=verifier
        )
        page = await open_page(browser)
        watch = await Watch().attach(page)

        # Not signed in: the authorization request waits behind the sign-in page.
        await page.goto(authorize_url)
        assert urlsplit(page.url).path == "/login"
        await page.fill("#email", EMAIL)
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base}/oauth/authorize?**")

        # Consent: both scopes offered (a MEMBER holds both), one unticked.
        offered = page.locator("input[name=granted]")
        assert sorted(await offered.evaluate_all("boxes => boxes.map(b => b.value)")) == [
            "incidents:write",
            "monitors:read",
        ]
        await page.uncheck("input[name=granted][value='monitors:read']")
        await page.click("button[name=decision][value=allow]")
        await page.wait_for_url(f"{redirect_uri}?**")
        assert await page.text_content("body") == "Back in the app"
        returned = parse_qs(urlsplit(page.url).query)
        assert returned["state"] == [state]
        assert returned["iss"] == [base]
        assert returned["code"][0].startswith("sga_")
        watch.assert_clean()

        token = await client.fetch_token(
            f"{base}/oauth/token", authorization_response=page.url, code_verifier=verifier
        )
        assert token["token_type"].lower() == "bearer"
        assert token["scope"] == "incidents:write"
        assert token["access_token"].startswith("sgo_")
        assert token["refresh_token"].startswith("sgr_")

        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        async with httpx.AsyncClient(base_url=base, headers=bearer) as api:
            viewer = (await api.post("/graphql", json={"query": VIEWER})).json()["data"]["viewer"]
            assert viewer == {
                "kind": "OAUTH_TOKEN",
                "scopes": ["incidents:write"],
                "role": "MEMBER",
                "user": {"email": EMAIL},
                "app": {"name": "Incident bot"},
            }
            created = (await api.post("/graphql", json={"query": CREATE_INCIDENT})).json()
            assert created["data"]["createIncident"] == {
                "incident": {"title": "Checkout errors"},
                "userErrors": [],
            }
            refused = (await api.post("/graphql", json={"query": MONITORS})).json()
            assert refused["errors"][0]["message"] == "Insufficient scope: monitors:read required"
            assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        await client.aclose()
