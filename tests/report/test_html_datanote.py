"""The data-age note: root-store / distrust tables more than 180 days past their snapshot are
called out near the top of the scan report (and of the mini-program and forecast pages), in
both languages, with the command that refreshes them, and only when there is something to
say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from _htmldocs import Page, forecast_doc, miniprogram_doc

from certcheck.platforms import data_sources
from certcheck.report import jsondoc
from certcheck.report.forecast_page import render_forecast_html
from certcheck.report.html import render_html
from certcheck.report.miniprogram_page import render_miniprogram_html


def _document(now: datetime) -> dict:
    return jsondoc.results_document([], now=now, profile="wechat", fail_on="error", exit_code=0)


def _note(html: str) -> str:
    start = html.index('<aside class="callout c-warn datanote"')
    return html[start : html.index("</aside>", start)]


def test_stale_tables_are_named_with_the_oldest_age_in_both_languages():
    oldest = min(s.snapshot for s in data_sources() if s.file.startswith("platforms/"))
    now = datetime.combine(oldest, datetime.min.time(), UTC) + timedelta(days=400)
    document = _document(now)
    assert document["data_notes"]  # the real freshness check, not a made-up list
    english = render_html(document, "en")
    note = _note(english)
    assert (
        "data behind these verdicts is 400 days past its snapshot: run certcheck data update"
        in note
    )
    for table in document["data_notes"]:
        assert f"<code>{table['file']}</code>" in note
    # near the top: after the count cards, before the summary table
    assert english.index("datanote") < english.index('id="summary"')
    chinese = render_html(document, "zh")
    assert "距其快照日期已有 400 天：请运行 certcheck data update" in _note(chinese)


def test_no_note_when_the_data_is_fresh():
    oldest = min(s.snapshot for s in data_sources())
    document = _document(datetime.combine(oldest, datetime.min.time(), UTC))
    assert document["data_notes"] == []  # no table is older than the oldest snapshot
    bare = {k: v for k, v in document.items() if k != "data_notes"}
    for doc in (document, bare):
        for lang in ("en", "zh"):
            body = render_html(doc, lang).split("</style>", 1)[1]
            assert "datanote" not in body and "data update" not in body


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_other_pages_show_the_note_when_their_document_carries_one(lang):
    notes = [
        {"file": "platforms/android_roots.tsv", "snapshot": "2023-12-08", "age_days": 1080},
        {"file": "distrusted_cas.toml", "snapshot": "2026-05-01", "age_days": 205},
        {"file": "<script>x</script>", "snapshot": None, "age_days": "soon"},  # ignored
    ]
    for render, document in (
        (render_miniprogram_html, miniprogram_doc()),
        (render_forecast_html, forecast_doc()),
    ):
        # Without notes (or with an empty list) there is no note.
        quiet = {**document, "data_notes": []}
        assert "datanote" not in render(quiet, lang).split("</style>", 1)[1]
        html = render({**document, "data_notes": notes}, lang)
        note = _note(html)
        assert "1080" in note and "android_roots.tsv" in note and "distrusted_cas.toml" in note
        assert "<script>" not in note and not Page(html).find("script")
