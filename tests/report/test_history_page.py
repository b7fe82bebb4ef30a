"""The history page (certcheck history --html) in en and zh, from a real monitor history
(SQLite), checked for English left in the zh page and in Chromium at desktop and 400 px."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS / "report"))

from monitorkit import MiniCA, config_text, serve  # noqa: E402
from test_glanceable import LANGS, WIDTHS, _open  # noqa: E402
from test_zh_everywhere import english_nodes  # noqa: E402

from certcheck.monitor.config import load_config  # noqa: E402
from certcheck.monitor.history_document import history_document, worded  # noqa: E402
from certcheck.monitor.run import run_monitor  # noqa: E402
from certcheck.monitor.store import Store  # noqa: E402
from certcheck.report.history_page import render_history  # noqa: E402


@pytest.fixture(scope="module")
def document(tmp_path_factory) -> dict:
    """Two monitor runs over two targets, the second a day later: results and changes."""
    folder = tmp_path_factory.mktemp("history")
    ca = MiniCA()
    (folder / "ca.pem").write_bytes(ca.pem)
    good = serve(ca, "good.example.test")
    wrong = serve(ca, "wrong.example.test", cert_host="other.example.test", days=5)
    try:
        path = folder / "certcheck.toml"
        path.write_text(
            config_text(
                [("good.example.test", good.port), ("wrong.example.test", wrong.port)],
                'path = "history.db"',
                ca_file=folder / "ca.pem",
            )
        )
        config = load_config(path)
        now = datetime.now(UTC)
        for moment in (now, now + timedelta(days=1)):
            store = Store.open(config.history_url, config.redactor)
            try:
                run_monitor(config, store, now=moment, sleep=lambda _s: None)
            finally:
                store.close()
        store = Store.open(config.history_url, config.redactor)
        try:
            return history_document(store, since=None, target=None)
        finally:
            store.close()
    finally:
        good.stop()
        wrong.stop()


def test_the_zh_page_has_no_english_sentence(document) -> None:
    zh = render_history(worded(document, "zh"), "zh")
    assert 'lang="zh-CN"' in zh and "变化记录" in zh and "运行记录" in zh
    assert english_nodes(zh, document) == []
    english = render_history(document, "en")
    assert "Change log" in english and len(english_nodes(english, document)) >= 3


def test_the_json_keeps_the_stored_english_headlines(document) -> None:
    assert worded(document, "en") is document
    zh = worded(document, "zh")
    assert [c["summary"] for c in zh["changes"]] != [c["summary"] for c in document["changes"]]
    assert all(c["summary"].isascii() for c in document["changes"])


def test_an_unknown_language_is_refused(document) -> None:
    with pytest.raises(ValueError, match="no report language"):
        render_history(document, "fr")


@pytest.mark.parametrize("lang", LANGS)
def test_the_history_page_fits_desktop_and_phone(browser, document, tmp_path, lang) -> None:
    path = tmp_path / f"history-{lang}.html"
    path.write_text(render_history(worded(document, lang), lang), encoding="utf-8")
    for width in WIDTHS:
        context, page, errors = _open(browser, path, width)
        try:
            scroll = page.evaluate("document.scrollingElement.scrollWidth")
            assert scroll <= width, f"history {lang} at {width} px: {scroll}"
            assert errors == []
            rows = page.locator("section.panel").count()
            assert rows >= 4  # changes, one section per target, runs
        finally:
            context.close()


def test_the_cli_writes_the_zh_page_and_refuses_an_unknown_language(document, tmp_path) -> None:
    import subprocess

    database = document["database"]
    assert Path(database).is_file()  # the SQLite file of the fixture's runs
    out = tmp_path / "h.html"
    run = [sys.executable, "-m", "certcheck", "history", "--db", database, "--html", str(out)]
    done = subprocess.run([*run, "--lang", "zh"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    page = out.read_text("utf-8")
    assert 'lang="zh-CN"' in page and english_nodes(page, document) == []
    bad = subprocess.run([*run, "--lang", "fr"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--lang 'fr'" in bad.stderr and "Traceback" not in bad.stderr
