"""GraphiQL served by the app itself (http/graphiql.py), in a real browser with every
request to another origin aborted (tests/browser.py's Watch): it loads, runs a query and
shows the answer, with no console error and no foreign request, under its CSP. And over
HTTP: the page's headers, the fingerprinted files, settings.graphiql off.

One server and one database for the module (SQLite: the explorer does not depend on the
dialect). The screenshot goes to pytest's temporary directory, or to
STATUSGRAPH_SCREENSHOTS_DIR when set (docs/screenshots/graphiql.png).
"""

import hashlib
import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page

from statusgraph.app import create_app
from statusgraph.clock import FrozenClock
from statusgraph.config import Settings
from statusgraph.http.graphiql import CSP, STATIC
from tests.browser import Watch, open_page, serving
from tests.helpers import PEPPER, START, create_key, create_org
from tests.status_api import create_page

pytestmark = pytest.mark.asyncio(loop_scope="module")

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@dataclass
class Site:
    url: str
    key: str
    key_id: str
    screenshots: Path
    settings: Settings


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Site]:
    directory = tmp_path_factory.mktemp("graphiql")
    shutil.copyfile(sqlite_template, directory / "statusgraph.db")
    settings = Settings(
        data_dir=directory / "data",
        database_url=f"sqlite+aiosqlite:///{directory / 'statusgraph.db'}",
        secret_key=PEPPER,
        run_jobs=False,
    )
    clock = FrozenClock(START)
    seeding = create_app(settings, clock=clock)
    transport = httpx.ASGITransport(app=seeding, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        organization = await create_org(seeding.state.db, clock, slug="acme")
        issued = await create_key(seeding.state.db, clock, organization, scopes=["*:*"])
        await create_page(client, issued.secret, "acme", name="Acme Cloud")
    await seeding.state.close()
    screenshots = Path(os.environ.get("STATUSGRAPH_SCREENSHOTS_DIR") or directory / "shots")
    screenshots.mkdir(parents=True, exist_ok=True)
    with serving(create_app(settings, clock=clock)) as url:
        yield Site(url, issued.secret, str(issued.key.id), screenshots, settings)


async def set_editor(page: Page, editor: str, text: str) -> None:
    """Puts `text` into one of GraphiQL's CodeMirror editors, as typing would."""
    await page.locator(f"{editor} .CodeMirror").first.wait_for()
    await page.evaluate(
        "([selector, text]) => document.querySelector(selector).CodeMirror.setValue(text)",
        [f"{editor} .CodeMirror", text],
    )


async def result(page: Page) -> dict[str, object]:
    response = page.locator(".graphiql-response .CodeMirror")
    await page.wait_for_function(
        "() => document.querySelector('.graphiql-response .CodeMirror')"
        ".CodeMirror.getValue().trim().startsWith('{')"
    )
    text = await response.evaluate("element => element.CodeMirror.getValue()")
    answer: dict[str, object] = json.loads(text)
    return answer


async def open_graphiql(browser: Browser, site: Site) -> tuple[Page, Watch]:
    page = await open_page(browser, width=1280, height=720)
    watch = await Watch().attach(page)
    response = await page.goto(f"{site.url}/graphql")
    assert response is not None
    assert response.status == 200
    await page.locator(".graphiql-execute-button").wait_for()
    return page, watch


async def test_it_runs_a_public_query_offline(browser: Browser, site: Site) -> None:
    page, watch = await open_graphiql(browser, site)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    # No credential yet: the explorer says what to do rather than introspect (401).
    await set_editor(page, ".graphiql-query-editor", '{ publicStatusPage(slug: "acme") { name } }')
    await page.locator(".graphiql-execute-button").click()
    assert (await result(page))["data"] == {"publicStatusPage": {"name": "Acme Cloud"}}
    assert requests == [f"{site.url}/graphql"]  # the query, and nothing else
    watch.assert_clean()
    await page.context.close()


async def test_with_a_key_it_introspects_and_runs_a_query(browser: Browser, site: Site) -> None:
    page, watch = await open_graphiql(browser, site)
    await page.get_by_text("Headers", exact=True).click()
    headers = ".graphiql-editor-tool .graphiql-editor:not(.hidden)"
    await set_editor(page, headers, json.dumps({"Authorization": f"Bearer {site.key}"}))
    await page.get_by_label("Re-fetch GraphQL schema").click()
    # The schema arrived: the documentation explorer lists the root types.
    await page.get_by_label("Show Documentation Explorer").click()
    await page.get_by_text("Query", exact=True).first.wait_for()
    await set_editor(page, ".graphiql-query-editor", "{ viewer { id } }")
    await page.locator(".graphiql-query-editor .CodeMirror").click()
    await page.keyboard.press("Control+Enter")
    assert (await result(page))["data"] == {"viewer": {"id": site.key_id}}
    await page.screenshot(path=site.screenshots / "graphiql.png")
    watch.assert_clean()
    await page.context.close()


async def test_the_page_has_no_inline_script_and_a_strict_csp(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.url) as http:
        page = await http.get("/graphql", headers=HTML)
        assert page.status_code == 200
        assert page.headers["content-security-policy"] == CSP
        assert "script-src 'self';" in CSP
        assert "unsafe" not in CSP
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["referrer-policy"] == "no-referrer"
        # Every script and stylesheet is one of ours, by a fingerprinted path.
        sources = [
            each for each in re.findall(r'(?:src|href)="([^"]+)"', page.text) if each != "data:,"
        ]
        assert len(sources) == 6
        for each in sources:
            assert re.fullmatch(r"/assets/graphiql/[\w.-]+\.[0-9a-f]{16}\.(js|css)", each)
        assert re.search(r"<script>|<style|\son\w+=|https?://", page.text) is None
        for source in sources:
            asset = await http.get(source)
            assert asset.status_code == 200
            assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert asset.headers["x-content-type-options"] == "nosniff"
            assert asset.headers["content-type"].startswith(
                "text/javascript" if source.endswith(".js") else "text/css"
            )


async def test_the_files_are_gzipped_when_asked_and_unknown_ones_are_404(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.url) as http:
        page = await http.get("/graphql", headers=HTML)
        script = next(s for s in re.findall(r'src="([^"]+)"', page.text) if "graphiql.min" in s)
        plain = await http.get(script, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.content == (STATIC / "graphiql.min.js").read_bytes()
        zipped = await http.get(script, headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.headers["vary"] == "Accept-Encoding"
        assert int(zipped.headers["content-length"]) < len(plain.content) / 2
        assert zipped.content == plain.content  # httpx decoded it
        refused = await http.get(script, headers={"Accept-Encoding": "gzip;q=0"})
        assert "content-encoding" not in refused.headers
        stale = script.replace(script.rsplit(".", 2)[1], "0" * 16)
        for missing in (
            stale,
            "/assets/graphiql/graphiql.min.js",
            "/assets/graphiql/..%2fVERSIONS",
        ):
            answer = await http.get(missing)
            assert answer.status_code == 404
            assert answer.text == "Not Found"


async def test_turned_off_there_is_neither_page_nor_files(site: Site) -> None:
    enabled = create_app(site.settings)
    disabled = create_app(site.settings.model_copy(update={"graphiql": False}))
    try:
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=enabled), base_url="http://t"
            ) as on,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=disabled), base_url="http://t"
            ) as off,
        ):
            page = await on.get("/graphql", headers=HTML)
            script = re.findall(r'src="([^"]+)"', page.text)[0]
            assert (await on.get(script)).status_code == 200
            assert (await off.get(script)).status_code == 404
            closed = await off.get("/graphql", headers=HTML)
            assert closed.status_code == 404
            assert closed.json()["errors"][0]["message"] == "GraphiQL is disabled"
    finally:
        await enabled.state.close()
        await disabled.state.close()


async def test_the_vendored_files_are_the_ones_versions_names() -> None:
    """VERSIONS (written by scripts/vendor-graphiql.sh) holds each file's sha256."""
    listed: dict[str, str] = {}
    for line in (STATIC / "VERSIONS").read_text().splitlines():
        if re.fullmatch(r"[0-9a-f]{64}  \S+", line):
            digest, name = line.split()
            listed[name] = digest
    assert set(listed) == {
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
    }
    for name, digest in listed.items():
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest
