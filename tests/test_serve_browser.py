"""The web page in a real headless browser: Debian's chromium, driven by Playwright's Python client.

Load the page, give the API key, type a query, see the expected top hit, open its explanation from the
keyboard and find the highlighted tokens (one colour per query token); then the same page at phone width.
Screenshots go to the test output folder (JCOLBERT_TEST_OUTPUT, default ./test-output).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from serve_support import DOCS, Uvicorn, build_index

pytest.importorskip("fastapi")

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KEY = "browser-test-key-0123456789"


def _need(ok: bool, what: str) -> None:
    if not ok:
        reason = f"needs {what} (.ci/run installs it)"
        if os.environ.get("JCOLBERT_REQUIRE_SHARED") == "1":
            pytest.fail(reason + "; CI must run the browser test")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    _need(sync_playwright is not None, "Playwright's Python client (pip install playwright)")
    _need(Path(CHROMIUM).is_file() or shutil.which("chromium") is not None, "Debian's chromium (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium"),
                                    headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def output_dir() -> Path:
    out = Path(os.environ.get("JCOLBERT_TEST_OUTPUT", REPO_ROOT / "test-output"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_search_and_explain_in_a_real_browser(browser, output_dir, tmp_path, minilm_available):
    from jcolbert.serve.auth import ApiKeys

    build_index(tmp_path / "docs", DOCS)
    with Uvicorn([tmp_path], keys=ApiKeys.parse([KEY], "test")) as server:
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        foreign: list[str] = []
        page.on("request", lambda req: None if req.url.startswith(server.url) else foreign.append(req.url))
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server.url + "/")
        status = page.locator("#status")
        status.filter(has_text="API key").wait_for()  # no key yet: the index list is refused, and it says so

        page.locator("#key").fill(KEY)
        page.keyboard.press("Tab")  # the change event loads the index list with the key
        page.locator("#index option[value='docs']").wait_for(state="attached")

        page.keyboard.press("/")  # the shortcut to the query box
        page.keyboard.type("which animal sleeps all day and hunts at night?")
        page.keyboard.press("Enter")
        page.locator(".hit").first.wait_for()
        assert page.locator(".hit .id").first.inner_text() == "cats"
        assert page.locator(".hit .rank").first.inner_text() == "1"
        assert "hunt small animals" in page.locator(".hit .text").first.inner_text()

        for _ in range(12):  # reach the first hit's Explain button with Tab alone
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.classList.contains('explain-btn')"):
                break
        assert page.evaluate("document.activeElement.closest('.hit').dataset.id") == "cats"
        page.keyboard.press("Enter")
        first = page.locator(".hit").first
        first.locator("mark.win").first.wait_for()
        assert first.locator(".explain-btn").get_attribute("aria-expanded") == "true"
        marked = [m.lower() for m in first.locator("mark.win").all_inner_texts()]
        assert {"sleep", "night"} <= set(marked), marked
        colours = set(first.locator("mark.win").evaluate_all("ms => ms.map(m => m.style.background)"))
        assert len(colours) >= 3  # one colour per query token
        rows = first.locator("tr.match")
        assert rows.count() >= 5
        assert "MaxSim" in first.locator(".summary").inner_text()
        page.screenshot(path=str(output_dir / "serve_page.png"), full_page=True)

        page.keyboard.press("Escape")
        assert first.locator(".explanation").is_hidden()

        page.set_viewport_size({"width": 375, "height": 740})  # a phone
        first.locator(".explain-btn").click()
        first.locator("mark.win").first.wait_for()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.screenshot(path=str(output_dir / "serve_page_phone.png"), full_page=True)
        assert not foreign, foreign  # no CDN, nothing but this server
        assert not errors, errors
        page.close()
    assert (output_dir / "serve_page.png").stat().st_size > 10_000
