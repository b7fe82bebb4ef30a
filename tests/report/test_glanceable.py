"""Issue #14, in a real browser: the report reads at a glance on a desktop and on a 400 px
phone, in English and Chinese, and on paper.

Headless Chromium (Debian's package) driven by Playwright, as tests/report/test_browser.py
does; the DOM and computed styles are checked (screenshots go to tests/artifacts/ for
people).  The demo's loopback servers are scanned once for the documents.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from _reportdocs import demo_document, many_targets, result_for
from paths import TESTS

from certcheck.report.html import render_html
from certcheck.report.i18n import catalog

ARTIFACTS = TESTS / "artifacts"
WIDTHS = (1280, 400)
LANGS = ("en", "zh")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return demo_document()


@pytest.fixture(scope="module")
def pages(document, tmp_path_factory) -> dict[tuple[str, str], Path]:
    """The demo report and a 20-target one, in each language, written once."""
    folder = tmp_path_factory.mktemp("glance")
    files = {}
    for name, doc in (("demo", document), ("fleet", many_targets(document, 20))):
        for lang in LANGS:
            path = folder / f"{name}-{lang}.html"
            path.write_text(render_html(doc, lang), encoding="utf-8")
            files[(name, lang)] = path
    return files


def _open(browser, path: Path, width: int, **options):
    context = browser.new_context(viewport={"width": width, "height": 900}, **options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.resolve().as_uri(), wait_until="load")
    return context, page, errors


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def _next_frames(page) -> None:
    """Let the page's script run what it put off to the next frame.  (Not wait_for_function:
    its polling evaluates a string, which the page's Content-Security-Policy refuses.)"""
    page.evaluate(
        "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
    )


def _index(document: dict[str, Any], host_prefix: str) -> int:
    return document["results"].index(result_for(document, host_prefix))


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["demo", "fleet"])
def test_the_page_is_never_wider_than_the_screen(browser, pages, name, width, lang):
    context, page, errors = _open(browser, pages[(name, lang)], width)
    try:
        scroll, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
        assert scroll <= inner, f"{name} {lang} at {width} px: {scroll} > {inner}"
        # every wide table scrolls inside its own box, and says so
        wraps = page.evaluate(
            """() => Array.from(document.querySelectorAll('.table-wrap'))
                .filter(w => w.checkVisibility() && w.scrollWidth > w.clientWidth + 1)
                .map(w => [w.className, getComputedStyle(w, '::before').content,
                           getComputedStyle(w).overflowX])"""
        )
        cue = catalog(lang).ui("scroll_cue")
        for classes, before, overflow in wraps:
            assert "scrolls" in classes.split() and overflow == "auto"
            assert before == f'"{cue}"'
        assert errors == []
        if name == "demo":
            _shot(page, f"glance-{lang}-{width}.png")
    finally:
        context.close()


@pytest.mark.parametrize("lang", LANGS)
def test_a_table_wider_than_its_box_scrolls_there_and_says_so(browser, pages, lang):
    context, page, _errors = _open(browser, pages[("demo", lang)], 1280)
    try:
        wrap = page.locator("#summary .table-wrap")
        assert "scrolls" not in (wrap.get_attribute("class") or "").split()
        # a box narrower than the table (as on a tablet): it scrolls inside and says so
        wrap.evaluate("w => { w.style.width = '420px'; dispatchEvent(new Event('resize')); }")
        _next_frames(page)
        assert "scrolls" in (wrap.get_attribute("class") or "").split()
        assert wrap.evaluate("w => w.scrollWidth > w.clientWidth")
        assert wrap.evaluate("w => getComputedStyle(w).overflowX") == "auto"
        cue = wrap.evaluate("w => getComputedStyle(w, '::before').content")
        assert cue == f'"{catalog(lang).ui("scroll_cue")}"'
        assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
        wrap.evaluate("w => { w.style.width = ''; dispatchEvent(new Event('resize')); }")
        _next_frames(page)
        assert "scrolls" not in (wrap.get_attribute("class") or "").split()
        assert wrap.evaluate("w => getComputedStyle(w, '::before').content") == "none"
    finally:
        context.close()


@pytest.mark.parametrize("lang", LANGS)
def test_the_other_pages_fit_a_phone_too(browser, tmp_path, lang):
    from _htmldocs import forecast_doc, miniprogram_doc

    from certcheck.report.forecast_page import render_forecast_html
    from certcheck.report.miniprogram_page import render_miniprogram_html

    for name, html in (
        ("miniprogram", render_miniprogram_html(miniprogram_doc(), lang)),
        ("forecast", render_forecast_html(forecast_doc(), lang)),
    ):
        path = tmp_path / f"{name}.html"
        path.write_text(html, encoding="utf-8")
        for width in WIDTHS:
            context, page, errors = _open(browser, path, width)
            try:
                scroll = page.evaluate("document.scrollingElement.scrollWidth")
                assert scroll <= width, f"{name} {lang} at {width} px: {scroll}"
                assert errors == []
            finally:
                context.close()


@pytest.mark.parametrize("lang", LANGS)
def test_platform_verdicts_stay_visible_on_a_phone(browser, pages, document, lang):
    t = catalog(lang)
    platforms = [t.get("platform", p) for p in ("ios", "android", "android_legacy")]
    for width in WIDTHS:
        context, page, _errors = _open(browser, pages[("demo", lang)], width)
        try:
            rows = page.locator("#summary-table tbody tr")
            assert rows.count() == len(document["results"])
            for number, result in enumerate(document["results"]):
                row = rows.nth(number)
                marks = row.locator(".stack .smark")
                columns = row.locator("td.pcol")
                if width == 400:
                    # a card per target: name, expiry and worst finding beside the verdicts
                    for cell in ("th", "td.exp", "td.worst"):
                        box = row.locator(cell).bounding_box()
                        assert box is not None and box["x"] + box["width"] <= width
                    assert not columns.first.is_visible()
                    assert marks.count() == 3
                    for position, platform in enumerate(("ios", "android", "android_legacy")):
                        mark = marks.nth(position)
                        box = mark.bounding_box()
                        assert mark.is_visible() and box is not None
                        assert box["x"] >= 0 and box["x"] + box["width"] <= width
                        state = result["verdicts"][platform]
                        assert platforms[position] in mark.inner_text()
                        assert f"m-{state}" in (mark.get_attribute("class") or "")
                else:
                    assert columns.count() == 3 and columns.first.is_visible()
                    assert not marks.first.is_visible()
        finally:
            context.close()


def test_filter_and_sort_work_on_a_phone(browser, pages):
    context, page, _errors = _open(browser, pages[("demo", "en")], 400)
    try:
        page.fill("#filter-text", "expired")
        assert page.locator("#summary-table tbody tr:visible").count() == 1
        page.fill("#filter-text", "")
        assert page.locator("#summary-table tbody tr:visible").count() == 9
        page.click('th[data-key="expires"] button')  # the headings are a row of buttons
        first = page.locator("#summary-table tbody tr").first
        assert "expired.example.test" in first.inner_text()
        assert not page.locator('th[data-key="ios"]').is_visible()
    finally:
        context.close()


@pytest.mark.parametrize("lang", LANGS)
def test_headline_and_logo_tell_the_worst_result_first(browser, pages, lang):
    t = catalog(lang)
    context, page, _errors = _open(browser, pages[("demo", lang)], 400)
    try:
        logo = page.locator("header svg.logo")
        assert "w-fail" in (logo.get_attribute("class") or "")
        assert logo.get_attribute("aria-label") == t.ui(
            "headline_worst", verdict=t.get("verdict", "fail")
        )
        assert logo.locator(".lmark").count() == 1  # a cross, not the old constant check
        headline = page.locator("#headline")
        text = headline.inner_text()
        expected = t.ui("headline_phones", current=4, scanned=9) + t.ui("headline_sep")
        expected += t.ui("headline_old", n=2)
        assert expected in text
        # the worst result in words, not only colour (the pill is upper case on screen)
        assert t.get("verdict", "fail").lower() in text.lower()
        assert "Android 4.0.4" in text  # which old clients fail
        box, cards = headline.bounding_box(), page.locator(".cards").bounding_box()
        assert box and cards and box["y"] + box["height"] <= cards["y"]  # above the counts
        assert box["y"] < 900  # on the first screen of a phone
    finally:
        context.close()


def test_logo_follows_the_worst_result(browser, document, tmp_path):
    passing = copy.deepcopy(document)
    passing["results"] = [r for r in document["results"] if r["overall"] == "pass"]
    passing["summary"] = {}
    warning = copy.deepcopy(passing)
    warning["results"].append(result_for(document, "ecdsa"))
    for doc, state in ((passing, "pass"), (warning, "warn")):
        path = tmp_path / f"{state}.html"
        path.write_text(render_html(doc), encoding="utf-8")
        context, page, _errors = _open(browser, path, 1280)
        try:
            assert f"w-{state}" in (page.locator("svg.logo").get_attribute("class") or "")
            assert page.locator("#headline .pill").get_attribute("class") == f"pill v-{state}"
        finally:
            context.close()


def test_miniprogram_page_draws_no_verdict_it_does_not_have():
    from _htmldocs import miniprogram_doc

    from certcheck.report.miniprogram_page import render_miniprogram_html

    html = render_miniprogram_html(miniprogram_doc())
    assert '<svg class="logo"' in html and 'class="lmark"' not in html
    assert 'class="tick"' not in html


@pytest.mark.parametrize("lang", LANGS)
def test_client_simulation_is_a_few_rows_with_show_all(browser, pages, document, lang):
    index = _index(document, "selfsigned")
    clients = len(result_for(document, "selfsigned")["simulation"])
    for width in WIDTHS:
        context, page, _errors = _open(browser, pages[("demo", lang)], width)
        try:
            section = page.locator(f"#t-{index}")
            shown = section.locator(".sim").first.locator("tbody tr")
            assert 1 <= shown.count() <= 3  # 37 clients, two reasons
            counts = [int(c) for c in shown.locator(".count").all_inner_texts()]
            assert sum(counts) == clients
            height = section.bounding_box()["height"]
            assert height < (3000 if width == 1280 else 6000), height  # was 7,000 and 8,400
            # a target whose clients mostly connect: failing rows shown, the rest behind a click
            ecdsa = page.locator(f"#t-{_index(document, 'ecdsa')}")
            everything = ecdsa.locator("details.sim-all")
            assert everything.get_attribute("open") is None
            label = catalog(lang).ui("sim_show_all", n=clients, rest=clients - 5)
            assert everything.locator(":scope > summary").inner_text().strip() == label
            assert not everything.locator("table").is_visible()
            assert ecdsa.locator(".sim-fail").first.is_visible()
            everything.locator(":scope > summary").click()
            assert everything.locator("table").is_visible()
        finally:
            context.close()


def test_show_all_works_without_the_script(browser, pages, document):
    context, page, _errors = _open(browser, pages[("demo", "en")], 400, java_script_enabled=False)
    try:
        ecdsa = page.locator(f"#t-{_index(document, 'ecdsa')}")
        everything = ecdsa.locator("details.sim-all")
        assert not everything.locator("table").is_visible()
        everything.locator(":scope > summary").click()
        assert everything.locator("table").is_visible()
        assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
    finally:
        context.close()


def test_print_shows_what_the_screen_hides(browser, document, tmp_path):
    # a large report: closed sections, rule ids that link to the fixes (with a tooltip)
    path = tmp_path / "print.html"
    path.write_text(render_html(many_targets(document, 21)), encoding="utf-8")
    # the demo, with a protocol whose probe error is a tooltip on screen
    doc = copy.deepcopy(document)
    first = doc["results"][0]
    first["facts"]["protocols"] = {"TLSv1.0": None, "TLSv1.2": True}
    first["facts"]["protocol_errors"] = {"TLSv1.0": "handshake timed out after 5 s"}
    small = tmp_path / "demo.html"
    small.write_text(render_html(doc), encoding="utf-8")
    for report in (path, small):
        context, page, _errors = _open(browser, report, 1280)
        try:
            hover = page.evaluate(
                """() => Array.from(document.querySelectorAll('main [title]'))
                    .filter(e => !e.closest('svg')).length"""
            )
            page.emulate_media(media="print")
            # every closed <details> shows its content on paper
            hidden = page.evaluate(
                """() => Array.from(document.querySelectorAll('details:not([open])'))
                    .filter(d => d.lastElementChild && d.lastElementChild.tagName !== 'SUMMARY'
                                 && !d.lastElementChild.checkVisibility()).length"""
            )
            assert hidden == 0
            assert page.locator("details.sim-all table").first.is_visible()
            # text that is only a tooltip on screen is printed
            missing = page.evaluate(
                """() => Array.from(document.querySelectorAll('main [title]'))
                    .filter(e => !e.closest('svg'))
                    .filter(e => !e.innerText.includes(e.title)
                              && !getComputedStyle(e, '::after').content.includes(e.title))
                    .map(e => e.outerHTML.slice(0, 120))"""
            )
            assert missing == []
            assert page.locator(".summary td.pcol").first.is_visible()
            assert hover > 0
            if report == small:
                why = page.locator("#t-0 .protos .why")
                assert why.is_visible() and "handshake timed out" in why.inner_text()
                page.emulate_media(media="screen")
                assert not why.is_visible()
        finally:
            context.close()
