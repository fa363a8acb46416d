"""The status page in a real browser (Debian's chromium, tests/browser.py) against the app
under real uvicorn: screenshots at 1280 and 360 px in light and dark, what the rendered
DOM says, no horizontal scroll on a phone, no console error, no request to another
origin, WCAG AA contrast in every theme and mode, and nothing run from hostile fields.

One server and one database for the module (SQLite: what is rendered does not depend
on the dialect; tests/test_status_page_html.py runs on both). Screenshots go to pytest's
temporary directory, or to STATUSGRAPH_SCREENSHOTS_DIR when set (docs/screenshots/).
"""

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser

from statusgraph.app import create_app
from statusgraph.clock import FrozenClock
from statusgraph.config import Settings
from statusgraph.resolvers import vocabulary as v
from tests.browser import Watch, open_page, serving
from tests.helpers import PEPPER, START, create_key, create_org, gql
from tests.status_api import create_incident, create_page, create_service, create_window, mutate

pytestmark = pytest.mark.asyncio(loop_scope="module")

EVIL = "<script>alert(1)</script>" + '"onmouseover=alert(1) x="'
EVIL_URL = "https://evil.example/x.png?a=%22onmouseover=alert(1)%20x=%22<script>alert(1)</script>"
UPDATE = "mutation($id: ID!, $i: PostIncidentUpdateInput!) { postIncidentUpdate(id: $id, input: $i) { userErrors { code } } }"
RESOLVE = "mutation($id: ID!) { resolveIncident(id: $id) { userErrors { code } } }"
THEMES = [theme.name for theme in v.Theme]

CONTRAST = """() => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const channel = (x) => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); };
  const lum = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) return c;
    }
    return parse(getComputedStyle(document.documentElement).backgroundColor) || {r: 255, g: 255, b: 255};
  };
  const failures = []; let lowest = 100; let checked = 0;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.trim();
    const el = walker.currentNode.parentElement;
    if (!text || el.closest('.visually-hidden')) continue;
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height) continue;
    const a = lum(parse(getComputedStyle(el).color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    checked += 1; lowest = Math.min(lowest, ratio);
    if (ratio < 4.5) failures.push(text.slice(0, 40) + ': ' + ratio.toFixed(2));
  }
  return {lowest, checked, failures};
}"""


@dataclass
class Site:
    url: str
    screenshots: Path
    incident_id: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Site]:
    directory = tmp_path_factory.mktemp("status-browser")
    shutil.copyfile(sqlite_template, directory / "statusgraph.db")
    settings = Settings(
        data_dir=directory / "data",
        database_url=f"sqlite+aiosqlite:///{directory / 'statusgraph.db'}",
        secret_key=PEPPER,
        run_jobs=False,
        public_cache_seconds=0,
    )
    clock = FrozenClock(START)
    seeding = create_app(settings, clock=clock)
    transport = httpx.ASGITransport(app=seeding, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        organization = await create_org(seeding.state.db, clock, slug="acme")
        key = (await create_key(seeding.state.db, clock, organization, scopes=["*:*"])).secret
        incident_id = await seed(client, key, clock)
    await seeding.state.close()
    screenshots = Path(os.environ.get("STATUSGRAPH_SCREENSHOTS_DIR") or directory / "shots")
    screenshots.mkdir(parents=True, exist_ok=True)
    with serving(create_app(settings, clock=clock)) as url:
        yield Site(url, screenshots, incident_id)


async def seed(client: httpx.AsyncClient, key: str, clock: FrozenClock) -> str:
    """A page with every service status, every incident state and both maintenance states;
    a page per theme; a page whose every field is hostile."""
    group = await mutate(
        client,
        key,
        'mutation { createServiceGroup(name: "Platform") { serviceGroup { id } userErrors { code } } }',
        {},
        "createServiceGroup",
    )
    platform = group["serviceGroup"]["id"]
    services = {
        "API": await create_service(client, key, "API", groupId=platform),
        "Dashboard": await create_service(
            client, key, "Dashboard", groupId=platform, description="The web app"
        ),
        "Webhooks": await create_service(client, key, "Webhooks", groupId=platform),
        "Billing": await create_service(client, key, "Billing", status="MAJOR_OUTAGE"),
        "Search": await create_service(client, key, "Search"),
        "Email": await create_service(client, key, "Email"),
    }
    ids = list(services.values())
    await create_page(
        client,
        key,
        "demo",
        name="Acme Cloud",
        serviceIds=ids,
        tagline="Live status of Acme Cloud services",
        primaryColor="#6366f1",
        secondaryColor="#22c55e",
        themeMode="SYSTEM",
        announcement="Database migration on Saturday, 02:00 UTC",
        announcementStyle="WARNING",
        announcementVisible=True,
        showIncidentHistory=True,
        showSubscribe=True,
        showUptime=True,
    )
    identified = await create_incident(
        client, key, "Elevated API error rates", [(services["API"], "PARTIAL_OUTAGE")]
    )
    clock.advance(minutes=1)
    await gql(
        client,
        UPDATE,
        {"id": identified, "i": {"status": "IDENTIFIED", "message": "A bad deploy; rolling back."}},
        key=key,
    )
    clock.advance(minutes=1)
    await create_incident(
        client,
        key,
        "Slow dashboard",
        [(services["Dashboard"], "DEGRADED_PERFORMANCE")],
        message="Pages take several seconds to load.",
    )
    clock.advance(minutes=1)
    monitoring = await create_incident(
        client, key, "Delayed webhooks", [(services["Webhooks"], "DEGRADED_PERFORMANCE")]
    )
    clock.advance(minutes=1)
    await gql(
        client,
        UPDATE,
        {"id": monitoring, "i": {"status": "MONITORING", "message": "A fix is out; watching."}},
        key=key,
    )
    resolved = await create_incident(
        client, key, "Login failures", [(services["Email"], "MAJOR_OUTAGE")]
    )
    await gql(client, RESOLVE, {"id": resolved}, key=key)
    now = clock()
    await create_window(
        client,
        key,
        "Search index rebuild",
        (now + timedelta(minutes=5)).isoformat(),
        (now + timedelta(hours=3)).isoformat(),
        [services["Search"]],
    )
    await create_window(
        client,
        key,
        "Email provider switch",
        (now + timedelta(days=2)).isoformat(),
        (now + timedelta(days=2, hours=1)).isoformat(),
        [services["Email"]],
    )
    clock.advance(minutes=10)  # the first window is now in progress
    for theme in THEMES:
        await create_page(
            client,
            key,
            f"theme-{theme.lower()}",
            serviceIds=ids[:3],
            theme=theme,
            themeMode="SYSTEM",
            announcement="Heads up",
            announcementVisible=True,
            showSubscribe=True,
            showIncidentHistory=True,
        )
    evil_service = await create_service(client, key, EVIL, description=EVIL)
    await create_page(
        client,
        key,
        "evil",
        name=EVIL,
        serviceIds=[evil_service],
        tagline=EVIL,
        announcement=EVIL,
        announcementVisible=True,
        logoUrl=EVIL_URL,
        faviconUrl=EVIL_URL,
        showSubscribe=True,
    )
    await create_incident(client, key, EVIL, [(evil_service, "MAJOR_OUTAGE")], message=EVIL)
    return identified


@pytest.mark.parametrize("width", [1280, 360])
@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_the_page_renders_every_state_readably(
    browser: Browser, site: Site, width: int, scheme: Literal["light", "dark"]
) -> None:
    page = await open_page(browser, width=width, height=900)
    await page.emulate_media(color_scheme=scheme)
    watch = await Watch().attach(page)

    response = await page.goto(site.url + "/status/demo")

    assert response is not None
    assert response.status == 200
    assert await page.locator(".banner-text").inner_text() == "Major outage"
    statuses = await page.locator(".service-status").all_inner_texts()
    assert sorted(statuses) == sorted(
        [
            "Partial outage",
            "Degraded performance",
            "Degraded performance",
            "Major outage",
            "Under maintenance",
            "Operational",
        ]
    )
    services = await page.locator(".service").count()
    assert services == 6
    for index in range(services):
        assert await page.locator(".service").nth(index).locator(".bar").count() == 90
    first_bar = page.locator(".bar").first
    assert (await first_bar.get_attribute("title")) == "2025-12-03: no data"
    assert await first_bar.locator(".visually-hidden").inner_text() == "2025-12-03: no data"
    assert await page.locator(".incident-status").all_inner_texts() == [
        "Monitoring",
        "Investigating",
        "Identified",
        "Resolved",
    ]
    assert await page.locator(".maintenance .pill").all_inner_texts() == [
        "In progress",
        "Scheduled",
    ]
    assert "Database migration" in await page.locator(".announcement").inner_text()
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert await page.evaluate("document.querySelectorAll('script').length") == 0
    await page.screenshot(
        path=site.screenshots / f"status-page-{width}-{scheme}.png", full_page=True
    )
    watch.assert_clean()
    await page.context.close()


async def test_an_incident_and_the_history_open_without_errors(
    browser: Browser, site: Site
) -> None:
    page = await open_page(browser, width=360)
    watch = await Watch().attach(page)
    await page.goto(site.url + "/status/demo")
    await page.get_by_role("link", name="Elevated API error rates").click()
    assert page.url == f"{site.url}/status/demo/incidents/{site.incident_id}"
    assert await page.locator(".update-message").all_inner_texts() == [
        "A bad deploy; rolling back.",
        "Looking into it",
    ]
    await page.goto(site.url + "/status/demo/history")
    assert await page.locator("h1").inner_text() == "Incident history"
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    watch.assert_clean()
    await page.context.close()


async def test_the_subscribe_form_works_without_script(browser: Browser, site: Site) -> None:
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    watch = await Watch().attach(page)
    await page.goto(site.url + "/status/demo")
    await page.get_by_label("Email address").fill("reader@example.com")
    await page.get_by_role("button", name="Subscribe").click()
    assert await page.locator("h1").inner_text() == "Check your inbox"
    watch.assert_clean()
    await context.close()


@pytest.mark.parametrize("theme", THEMES)
async def test_text_meets_wcag_aa_contrast_in_light_and_dark(
    browser: Browser, site: Site, theme: str
) -> None:
    page = await open_page(browser)
    watch = await Watch().attach(page)
    await page.goto(f"{site.url}/status/theme-{theme.lower()}")
    schemes: tuple[Literal["light", "dark"], ...] = ("light", "dark")
    for scheme in schemes:
        await page.emulate_media(color_scheme=scheme)
        found = await page.evaluate(CONTRAST)
        assert found["checked"] > 20
        assert found["failures"] == [], (scheme, found)
        assert found["lowest"] >= 4.5
    watch.assert_clean()
    await page.context.close()


async def test_hostile_fields_are_shown_as_text_and_run_nothing(
    browser: Browser, site: Site
) -> None:
    page = await open_page(browser)
    watch = await Watch().attach(page)
    await page.goto(site.url + "/status/evil")
    for selector in (".page-name", ".tagline", ".service-name", ".service-description"):
        assert await page.locator(selector).inner_text() == EVIL
    assert EVIL in await page.locator(".announcement").inner_text()
    await page.locator(".service-name").hover()
    await page.locator(".incident-title a").click()
    assert await page.locator(".update-message").inner_text() == EVIL
    assert watch.dialogs == []
    assert watch.page_errors == []
    assert await page.evaluate("document.querySelectorAll('script, [onmouseover]').length") == 0
    # The logo and the favicon were asked for (and stopped by the test), nothing else.
    assert all(url.startswith("https://evil.example/x.png?") for url in watch.foreign_requests)
    await page.context.close()
