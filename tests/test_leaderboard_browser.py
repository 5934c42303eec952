"""The rendered site in headless Chromium (Debian's package, driven by Playwright): tables visible,
sortable by a click, and a script in a model name shown as text, never run."""

from __future__ import annotations

import os
import shutil

import pytest
from test_leaderboard import archive_of
from test_leaderboard_support import make_bench, make_run

from leaderboard.render import render_site
from leaderboard.store import Store

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
EVIL = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">"


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which("chromium")):
        return f"{CHROMIUM} is missing and could not be installed (`apt-get install -y chromium`; .ci/run does it)"
    return None


@pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing()))
def test_site_tables_sort_on_click_and_model_names_stay_text(tmp_path):
    from playwright.sync_api import sync_playwright

    bench = make_bench(tmp_path / "bench")
    store = Store(tmp_path / "lb.db")
    for i, name in enumerate(("alpha", EVIL, "gamma")):
        store.submit(archive_of(make_run(tmp_path / f"run{i}", bench, name=f"m{i}", seed=i + 1), bench, name))
    render_site(store.entries(), [], tmp_path / "site", plots=False)
    page_url = (tmp_path / "site" / "index.html").as_uri()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium"),
                                    headless=True, args=FLAGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_url)
            table = page.locator("table.sortable").first
            assert table.is_visible()
            assert page.locator("table.sortable").count() >= 7  # overall and six object counts

            names = lambda: table.locator("tbody tr td:nth-child(2)").all_inner_texts()
            ious = lambda: [float(t.split()[0]) for t in table.locator("tbody tr td:nth-child(5)").all_inner_texts()]
            assert any(EVIL in n for n in names()), names()  # the markup is shown as text
            header = table.locator("th", has_text="M IoU")
            header.click()
            assert ious() == sorted(ious())
            assert header.get_attribute("aria-sort") == "ascending"
            header.click()
            assert ious() == sorted(ious(), reverse=True)
            assert page.evaluate("window.__pwned") is None, "a script from a model name ran"
            assert page.locator("img[src=x]").count() == 0
            assert not errors, errors
        finally:
            browser.close()
