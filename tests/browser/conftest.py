"""A real browser for the management interface: Debian's headless Chromium
(/usr/bin/chromium), driven by Playwright for Python.

The server under test runs in the test reactor, so the browser must never
block it: every browser step runs on one thread of its own (Playwright's
sync API stays on the thread that made it), and tests ``await`` it::

    async def test_x(server, browser):
        page = await browser.signed_in(server, *server.admin)
        title = await browser.do(lambda: page.text_content("h1"))

One Chromium runs for the whole session; each test gets a fresh context
(cookies and storage of its own). When a test fails, a screenshot of each
of its pages is kept in ``test-artifacts/screenshots/``.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor, threads
from twisted.python.threadpool import ThreadPool

CHROMIUM = os.environ.get("STWS_TEST_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking switches Chromium tries to reach
# Google's hosts at start; nothing but loopback is reachable here.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
STEP_TIMEOUT_MS = 15_000


def submit(page, selector: str = "main button[type=submit]") -> None:
    """Click what submits a form and wait for the page it leads to."""
    with page.expect_navigation():
        page.click(selector)


class BrowserThread:
    """One Chromium, used from one thread of its own."""

    def __init__(self):
        self.pool = ThreadPool(minthreads=1, maxthreads=1, name="browser")
        self.pool.start()
        self._playwright = None
        self.chromium = None

    def call(self, function, *args):
        """``function(*args)`` on the browser's thread, as a Deferred."""
        return threads.deferToThreadPool(reactor, self.pool, function, *args)

    def launch(self):
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self.chromium = self._playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

    def close(self):
        def stop():
            if self.chromium is not None:
                self.chromium.close()
            if self._playwright is not None:
                self._playwright.stop()
        if self._playwright is not None:
            pytest_twisted.blockon(self.call(stop))
        self.pool.stop()


class Browser:
    """A test's browser contexts and pages."""

    def __init__(self, thread: BrowserThread):
        self.thread = thread
        self.contexts = []
        self.pages = []

    def do(self, function, *args):
        """Run browser steps (a function using Playwright objects) off the reactor."""
        return self.thread.call(function, *args)

    async def new_page(self, width: int = 1280, height: int = 900, javascript: bool = True):
        """A page in a new context: its own cookies, as another browser would
        have; ``javascript=False``: a browser that runs no script at all."""

        def make():
            context = self.thread.chromium.new_context(viewport={"width": width, "height": height},
                                                       java_script_enabled=javascript)
            context.set_default_timeout(STEP_TIMEOUT_MS)
            page = context.new_page()
            page.errors = []  # JavaScript errors and CSP refusals seen on the page
            page.on("pageerror", lambda error: page.errors.append(str(error)))
            page.on("console", lambda message: page.errors.append(message.text)
                    if message.type == "error" and "favicon" not in message.text else None)
            self.contexts.append(context)
            self.pages.append(page)
            return page

        return await self.do(make)

    async def signed_in(self, server, username: str, password: str, page=None):
        """A page signed in as ``username`` (a new one unless ``page`` is given)."""
        page = page or await self.new_page()

        def sign_in():
            page.goto(server.base_url + "/admin/signin")
            page.fill("#username", username)
            page.fill("#password", password)
            submit(page)
            return page.url

        url = await self.do(sign_in)
        assert "/signin" not in url, "signing in as %s failed" % username
        return page

    def screenshots(self, name: str):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for number, page in enumerate(self.pages):
            try:
                page.screenshot(path=str(ARTIFACTS / ("%s-%d.png" % (name, number))), full_page=True)
            except Exception:  # noqa: BLE001 - a closed page has nothing to show
                pass

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture(scope="session")
def browser_thread():
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        pytest.fail("Chromium is missing (%s): scripts/setup installs Debian's chromium" % CHROMIUM)
    thread = BrowserThread()
    pytest_twisted.blockon(thread.call(thread.launch))
    yield thread
    thread.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stws_failed = report.failed


@pytest.fixture
def browser(request, browser_thread):
    browser = Browser(browser_thread)
    yield browser
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)

    def finish():
        if getattr(request.node, "stws_failed", False):
            browser.screenshots(name)
        browser.close()

    pytest_twisted.blockon(browser_thread.call(finish))
