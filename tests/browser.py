"""A real browser for the tests: Debian's chromium, headless, driven by Playwright.

Playwright's own browser downloads are never used (`executable_path` points at the
system's chromium; `.ci/run` installs it with apt). One browser per test module: a
module whose tests use it runs them in the module's event loop
(`pytestmark = pytest.mark.asyncio(loop_scope="module")`), and opens a fresh page (a
cheap context) per test. Outside CI a machine without chromium skips those tests; in CI
(CI=true) it fails them.

`Watch` records what a page must never do: log a console error, throw, or ask another
origin for anything (every such request is aborted, so a test never reaches the
internet, whatever URL a page names). `serving(app)` runs an app under real uvicorn on a
free loopback port, in a thread with its own event loop.
"""

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
import uvicorn
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Error,
    Page,
    Route,
    async_playwright,
)
from starlette.applications import Starlette

from tests.servers import free_port

CHROMIUM = Path("/usr/bin/chromium")
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# Schemes a page may use without a request leaving the machine.
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})


def chromium_or_skip() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    missing = f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"the browser tests cannot run in CI: {missing}")
    pytest.skip(missing)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_or_skip()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(executable),
            headless=True,
            # No first-run chores, no component updates, no calls home from the browser.
            args=["--no-first-run", "--disable-component-update", "--disable-sync"],
        )
        try:
            yield launched
        finally:
            await launched.close()


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return parts.scheme in {"http", "https", "ws", "wss"} and (parts.hostname or "") in LOOPBACK


@dataclass
class Watch:
    """What a page did that it must not: console errors, uncaught exceptions, requests
    to other origins (aborted, and listed here)."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    async def attach(self, page: Page) -> "Watch":
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        # An alert() would mean a script ran; record it and dismiss it.
        page.on("dialog", self._dialog)
        await page.route("**/*", self._route)
        return self

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    async def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    async def _route(self, route: Route) -> None:
        url = route.request.url
        if is_local(url):
            await route.continue_()
            return
        self.foreign_requests.append(url)
        with contextlib.suppress(Error):  # the page may have moved on meanwhile
            await route.abort("blockedbyclient")

    def assert_clean(self) -> None:
        assert self.console_errors == []
        assert self.page_errors == []
        assert self.foreign_requests == []
        assert self.dialogs == []


async def open_page(browser: Browser, *, width: int = 1280, height: int = 800) -> Page:
    context = await browser.new_context(viewport={"width": width, "height": height})
    return await context.new_page()


@contextmanager
def serving(app: Starlette, port: int | None = None) -> Iterator[str]:
    """`app` under uvicorn on `port` (a free loopback port by default), in a thread with
    its own event loop; yields the base URL. The app's resources are released in that
    loop at the end."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    failure: list[BaseException] = []

    async def run() -> None:
        try:
            await server.serve()
        finally:
            await app.state.close()

    def target() -> None:
        try:
            asyncio.run(run())
        except BaseException as error:  # reported to the test below
            failure.append(error)

    thread = threading.Thread(target=target, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        server.should_exit = True
        thread.join(10)
        raise AssertionError(f"uvicorn did not start: {failure}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
