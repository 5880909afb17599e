"""A real headless Chromium for the HTML report's tests (Debian's `chromium`, driven by Playwright).

Tests that need it skip, saying why, when Chromium or Playwright is not installed. Playwright's own
browser download is never used: the system Chromium is launched by path.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LAUNCH_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-default-apps"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    """A headless Chromium with a fresh profile, shared by the tests of a session."""
    path = chromium_path()
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium): the HTML report's browser tests need it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=path, headless=True, args=LAUNCH_FLAGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Visit:
    """A page opened from a file, with everything it logged and asked for."""

    page: object
    console: list[str] = field(default_factory=list)  # "type: text"
    errors: list[str] = field(default_factory=list)  # uncaught exceptions
    requests: list[str] = field(default_factory=list)  # every URL requested, the page's own included
    dialogs: list[str] = field(default_factory=list)  # alert(), confirm(): an injected script would show here

    def shot(self, selector: str | None = None) -> "object":
        """A screenshot (of one element, or the viewport) as a PIL image."""
        from PIL import Image

        target = self.page.locator(selector) if selector else self.page
        return Image.open(io.BytesIO(target.screenshot())).convert("RGB")


def visit(browser, page_path: Path, hash_part: str = "", wait_for_data: bool = True) -> Visit:
    """Open a page; wait until it is drawn from its index and (``wait_for_data``) every data chunk is loaded."""
    page = browser.new_page()
    seen = Visit(page)
    page.on("console", lambda m: seen.console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: seen.errors.append(str(e)))
    page.on("request", lambda r: seen.requests.append(r.url))

    def on_dialog(dialog):
        seen.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(page_path.resolve().as_uri() + hash_part)
    page.wait_for_selector("html[data-ready=true]", timeout=15000)
    if wait_for_data:
        page.wait_for_selector("html[data-loaded=true]", timeout=60000)
    page.evaluate("document.fonts.ready.then(() => true)")
    return seen
