"""The HTML report in a real browser: headless Chromium (Debian's package) driven by Playwright.

Several loopback TLS servers are scanned (certcheck.demo's samples), the report is
rendered from the results document and opened from disk.  The DOM is checked, the
page must log no console error and make no request but the file itself, and a
screenshot is saved under tests/artifacts/ (ignored by git) for people to look at.

``.ci/run`` installs Debian's ``chromium``; where it cannot be had this module is
skipped with the reason, except under CI (``CI`` set), where a missing browser fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _reportdocs import demo_document, many_targets, result_for
from paths import TESTS

from certcheck.report.html import render_html

ARTIFACTS = TESTS / "artifacts"


class Visit:
    """One page load with its console messages, page errors and network requests recorded."""

    def __init__(self, browser, path: Path, **context_options) -> None:
        self.context = browser.new_context(
            viewport={"width": 1280, "height": 900}, **context_options
        )
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.url = path.resolve().as_uri()
        self.page.goto(self.url, wait_until="load")

    def assert_quiet_and_offline(self) -> None:
        errors = [m for m in self.console if m.startswith(("error", "pageerror"))]
        assert errors == []
        assert self.requests == [self.url]

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def document():
    return demo_document()


@pytest.fixture(scope="module")
def report_file(document, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("browser") / "report.html"
    path.write_text(render_html(document), encoding="utf-8")
    return path


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def test_report_renders_offline_with_summary_and_findings(browser, document, report_file):
    visit = Visit(browser, report_file)
    page = visit.page
    try:
        rows = page.locator("#summary-table tbody tr")
        assert rows.count() == len(document["results"]) == 9
        labels = [
            text.strip() for text in page.locator("#summary-table tbody th").all_inner_texts()
        ]
        assert labels == [
            f"{r['target']['host']}:{r['target']['port']}" for r in document["results"]
        ]
        expired = result_for(document, "expired")
        index = document["results"].index(expired)
        section = page.locator(f"#t-{index}")
        assert section.get_attribute("open") is not None
        finding = section.locator(".finding", has_text="cert_expired")
        assert finding.is_visible()
        assert "The certificate has expired" in finding.inner_text()
        assert section.locator(".cert.r-leaf").is_visible()
        assert page.locator("html").get_attribute("class") == "js"
        visit.assert_quiet_and_offline()
        shot = screenshot(page, "report-en.png")
        assert shot.stat().st_size > 10_000
    finally:
        visit.close()


def test_filter_sort_and_links_work(browser, document, report_file):
    visit = Visit(browser, report_file)
    page = visit.page
    try:
        page.fill("#filter-text", "expired")
        visible = page.locator("#summary-table tbody tr:visible")
        assert visible.count() == 1
        assert "expired.example.test" in visible.first.inner_text()
        assert "1 of 9" in page.inner_text("#filter-count")
        page.fill("#filter-text", "")
        page.select_option("#filter-verdict", "pass")
        passing = sum(1 for r in document["results"] if r["overall"] == "pass")
        assert page.locator("#summary-table tbody tr:visible").count() == passing
        assert page.locator("details.target:visible").count() == passing
        page.select_option("#filter-verdict", "")
        # sort by days to expiry: the expired certificate comes first
        page.click('th[data-key="expires"] button')
        first = page.locator("#summary-table tbody tr").first.inner_text()
        assert "expired.example.test" in first
        assert page.get_attribute('th[data-key="expires"]', "aria-sort") == "ascending"
        page.click('th[data-key="target"] button')
        names = page.locator("#summary-table tbody th").all_inner_texts()
        assert names == sorted(names, key=str.lower)
        visit.assert_quiet_and_offline()
    finally:
        visit.close()


def test_page_reads_without_javascript_and_in_dark_mode(browser, document, report_file, tmp_path):
    visit = Visit(browser, report_file, java_script_enabled=False)
    try:
        page = visit.page
        assert page.locator("#summary-table tbody tr").count() == 9
        assert not page.locator("#filter-text").is_visible()  # controls only with the script
        assert page.locator(".finding").first.is_visible()
        assert visit.requests == [visit.url]
    finally:
        visit.close()
    chinese = tmp_path / "report-zh.html"
    chinese.write_text(render_html(document, "zh"), encoding="utf-8")
    visit = Visit(browser, chinese, color_scheme="dark")
    try:
        page = visit.page
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background != "rgb(245, 246, 248)"  # the dark palette, not the light one
        visit.assert_quiet_and_offline()
        screenshot(page, "report-zh-dark.png")
    finally:
        visit.close()


def test_a_thousand_target_report_opens_and_links_open_closed_sections(browser, document, tmp_path):
    path = tmp_path / "fleet.html"
    path.write_text(render_html(many_targets(document, 1000)), encoding="utf-8")
    visit = Visit(browser, path)
    try:
        page = visit.page
        assert page.locator("#summary-table tbody tr").count() == 1000
        target = page.locator("#t-500")
        assert target.get_attribute("open") is None  # large reports start collapsed
        page.click('#summary-table a[href="#t-500"]')
        page.wait_for_function("document.getElementById('t-500').open", timeout=10_000)
        assert target.locator(".cert").first.is_visible()
        page.fill("#filter-text", "n999-")
        assert page.locator("#summary-table tbody tr:visible").count() == 1
        visit.assert_quiet_and_offline()
    finally:
        visit.close()


def test_miniprogram_and_forecast_pages_render_offline(browser, tmp_path):
    from _htmldocs import forecast_doc, miniprogram_doc

    from certcheck.report.forecast_page import render_forecast_html
    from certcheck.report.miniprogram_page import render_miniprogram_html

    document = miniprogram_doc()
    path = tmp_path / "miniprogram.html"
    path.write_text(render_miniprogram_html(document), encoding="utf-8")
    visit = Visit(browser, path)
    try:
        page = visit.page
        for platform in ("ios", "android", "android_legacy"):
            card = page.locator(f'.card[data-platform="{platform}"]')
            assert card.is_visible() and "Fail" in card.inner_text()
        assert page.locator("#g-requestdomain .mp-entries tbody tr").count() == 4
        assert page.locator("#g-general .finding").first.is_visible()
        assert page.locator("article.endpoint").count() == len(document["endpoints"]) == 4
        bar = page.locator("#ep-0 .tbar").first
        assert bar.is_visible()
        box = bar.locator(".tb-track").bounding_box()
        limit = bar.locator(".tb-line.limit").bounding_box()
        # the 4 s networkTimeout sits at 80 % of a track scaled to the 5 s background limit
        assert box and limit and abs((limit["x"] - box["x"]) / box["width"] - 0.8) < 0.02
        fill = bar.locator(".tb-fill").bounding_box()
        assert fill and fill["width"] >= 4  # a fast request is still drawn
        page.click('#g-requestdomain a[href="#ep-0"]')
        assert page.locator("#ep-0").is_visible()
        visit.assert_quiet_and_offline()
        screenshot(page, "miniprogram-en.png")
    finally:
        visit.close()

    path = tmp_path / "forecast.html"
    path.write_text(render_forecast_html(forecast_doc(), "zh"), encoding="utf-8")
    visit = Visit(browser, path, color_scheme="dark")
    try:
        page = visit.page
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator(".fc-timeline svg").is_visible()
        assert page.locator(".fc-timeline .mk").count() == 7
        assert page.locator("table.events tbody tr").count() == 7
        page.locator(".fc-timeline a").first.click()
        assert page.evaluate("location.hash") == "#ev-0"
        assert page.locator("#ev-0").is_visible()
        visit.assert_quiet_and_offline()
        screenshot(page, "forecast-zh-dark.png")
    finally:
        visit.close()
