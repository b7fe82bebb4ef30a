"""``certcheck forecast --html``: a time axis of what starts failing, then a table by date.

The document is a real forecast of three sample certificates, evaluated offline
(tests/_htmldocs.py); variations add verdict changes, hostile text and gaps.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime

import pytest
from _htmldocs import (
    FORECAST_FROM,
    HOSTILE,
    Page,
    assert_self_contained,
    forecast_doc,
    forecast_inputs,
)

from certcheck.report import jsondoc
from certcheck.report.forecast_page import forecast_view, render_forecast_html


@pytest.fixture(scope="module")
def document():
    return forecast_doc()


@pytest.fixture(scope="module")
def english(document):
    return render_forecast_html(document, "en")


@pytest.fixture(scope="module")
def chinese(document):
    return render_forecast_html(document, "zh")


def _svg(html: str) -> str:
    start = html.index('<svg viewBox="0 0 960')
    return html[start : html.index("</svg>", start)]


def test_the_forecast_is_what_the_samples_make(document):
    summary = [(e["at"][:10], e["target"].split(".")[0], e["rule_id"]) for e in document["events"]]
    assert summary == [
        ("2026-11-27", "soon", "cert_expired"),
        ("2026-12-06", "ecdsa", "cert_expiring_soon"),
        ("2026-12-06", "good", "cert_expiring_soon"),
        ("2026-12-29", "ecdsa", "cert_expiring_soon"),
        ("2026-12-29", "good", "cert_expiring_soon"),
        ("2027-01-05", "ecdsa", "cert_expired"),
        ("2027-01-05", "good", "cert_expired"),
    ]


def test_time_axis_runs_from_the_start_over_the_window(document, english):
    view = forecast_view(document)
    timeline = view["timeline"]
    ticks = timeline["ticks"]
    assert ticks[0]["x"] == timeline["x0"] and ticks[0]["top"] == "start"
    assert ticks[0]["date"] == "11-22"
    assert [t["top"] for t in ticks[1:]] == [f"+{d} d" for d in range(14, 91, 14)]
    assert view["until"] == "2027-02-20" and "90 days, until 2027-02-20" in english
    svg = _svg(english)
    assert svg.count('class="tick"') == len(ticks) == 7
    # a marker is where its date falls: cert_expired of "soon" at 5 days of 90
    soon = timeline["rows"][0]
    assert soon["label"] == "soon.example.test:443" and soon["now"] == "fail"
    (marker,) = soon["markers"]
    share = (5 * 86400 + 1) / (90 * 86400)
    expected = timeline["x0"] + (timeline["x1"] - timeline["x0"]) * share
    assert marker["x"] == pytest.approx(expected, abs=0.1)


def test_one_row_per_target_and_a_marker_per_event_coloured_by_severity(document, english):
    svg = _svg(english)
    rows = re.findall(r'<text class="rlabel"[^>]*>([^<]+)</text>', svg)
    assert rows == ["soon.example.test:443", "ecdsa.example.test:443", "good.example.test:443"]
    markers = re.findall(r'<circle class="mk (\w+)"', svg)
    assert len(markers) == len(document["events"]) == 7
    assert markers.count("error") == 5 and markers.count("warning") == 2
    # each marker links to its row of the table
    hrefs = re.findall(r'<a href="#(ev-\d+)">', svg)
    assert len(hrefs) == 7 and set(hrefs) <= Page(english).ids()
    # failing from the first error to the end of the window; warning from the first warning
    assert svg.count('class="span fail"') == 3 and svg.count('class="span warn"') == 2


def test_table_lists_every_change_in_date_order_one_group_per_date(document, english):
    table = english[english.index('<table class="events">') :]
    rows = re.findall(r'<tr id="ev-(\d+)" class="ev-(\w+)">', table)
    assert [int(i) for i, _tone in rows] == list(range(7))
    groups = re.findall(
        r'<tbody class="fc-day">\s*<tr id="ev-(\d+)"[^>]*>\s*<th scope="rowgroup" '
        r'class="when" rowspan="(\d+)">([^<]+)<',
        table,
    )
    dates = [date for _first, _n, date in groups]
    assert dates == sorted(dates) and dates[0] == "2026-11-27 12:00 UTC"
    assert len(set(d[:10] for d in dates)) == len(dates)  # a date is written once
    # each group starts where the previous one ended and they cover every change
    starts = [int(first) for first, _n, _d in groups]
    sizes = [int(n) for _first, n, _d in groups]
    assert starts == [sum(sizes[:i]) for i in range(len(sizes))] and sum(sizes) == 7
    assert "in 5 d" in table and "in 44 d" in table
    first = table[: table.index("</tr>", table.index('id="ev-0"'))]
    assert "The certificate has expired" in first and "cert_expired" in first
    # the platforms that start failing are marked; the others are named plainly
    assert re.findall(r'<span class="chip m-fail">([^<]+)</span>', first) == [
        "iOS",
        "Android",
        "Old Android",
    ]
    assert 'href="#ev-0"' in english[: english.index('id="timeline"')]  # "first failure" card


def test_a_platform_verdict_change_is_a_diamond_and_is_translated():
    doc = forecast_doc()
    doc["events"].append(
        {
            "at": "2026-12-01T00:00:00Z",
            "target": "ecdsa.example.test:443",
            "change": "verdict",
            "rule_id": None,
            "severity": None,
            "platforms": ["android_legacy"],
            "title": "android_legacy starts refusing the connection",
            "detail": {"from": "warn", "to": "fail"},
        }
    )
    english = render_forecast_html(doc)
    assert '<rect class="mk verdict"' in _svg(english)
    assert "Old Android starts refusing the connection" in english
    chinese = render_forecast_html(doc, "zh")
    assert "旧版 Android 开始拒绝连接" in chinese
    view = forecast_view(doc)
    assert view["first_break"]["date"] == "2026-11-27 12:00 UTC"  # still the earlier expiry
    ecdsa = next(r for r in view["timeline"]["rows"] if r["label"].startswith("ecdsa"))
    assert [m["tone"] for m in ecdsa["markers"]][0] == "verdict"


def test_chinese_page_translates_the_ui_and_the_rule_titles(chinese):
    assert 'lang="zh-CN"' in chinese
    text = Page(chinese).all_text()
    assert "预测：接下来会出什么问题" in text and "按日期排列的变化" in text
    assert "证书已过期" in text and "The certificate has expired" in text
    assert "5 天后" in text and "90 天，至 2027-02-20" in text
    assert "What changes" not in text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_hostile_text_renders_as_text(lang):
    doc = forecast_doc()
    doc["profile"] = HOSTILE
    for event in doc["events"][:3]:
        event["target"] = HOSTILE
        event["title"] = HOSTILE
        event["rule_id"] = "x_rule"
        event["platforms"] = [HOSTILE]
        event["detail"] = {HOSTILE: HOSTILE, "subject": ["CN=" + HOSTILE, "\x00\x1b"]}
    doc["baseline"][0]["target"] = HOSTILE
    html = render_forecast_html(doc, lang)
    page = Page(html)
    assert not page.find("script") and not page.find("img")
    assert not [a for _t, a in page.tags for key in a if key.lower().startswith("on")]
    assert page.all_text().count(HOSTILE) >= 10
    assert "\x00" not in html and "\x1b" not in html
    assert_self_contained(html)


def test_page_is_self_contained(english, chinese):
    assert_self_contained(english)
    assert_self_contained(chinese)


def test_nothing_changes_and_targets_not_scanned():
    doc = forecast_doc()
    doc["events"] = []
    doc["baseline"].append({"target": "down.example.test:443", "overall": "error"})
    html = render_forecast_html(doc)
    assert "Nothing changes in this window." in html and "<svg viewBox" not in html
    assert 'id="changes"' not in html
    unchanged = html[html.index('id="unchanged"') :]
    assert "good.example.test:443" in unchanged and "Not scanned, nothing to forecast" in unchanged
    assert "down.example.test:443" in unchanged


def test_missing_optional_keys_still_render():
    assert "Forecast: what breaks next" in render_forecast_html({})
    doc = forecast_doc()
    doc.pop("baseline")
    doc.pop("from")
    doc["days"] = "ninety"
    doc["events"][0] = {"target": "t.example.test:443"}
    doc["events"][1].pop("at")
    doc["events"][2]["severity"] = "catastrophic"
    doc["events"][3]["detail"] = None
    html = render_forecast_html(doc, "zh")
    assert "t.example.test:443" in html
    assert_self_contained(html)


@pytest.fixture
def in_process(monkeypatch, capsys):
    """Run ``certcheck ARGS`` in this process: (exit code, stdout, stderr)."""
    from certcheck.cli import main

    def run(*args: object) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["certcheck", *map(str, args)])
        with pytest.raises(SystemExit) as stopped:
            main()
        captured = capsys.readouterr()
        return stopped.value.code, captured.out, captured.err

    return run


@pytest.fixture
def facts_file(tmp_path):
    sample_set, facts = forecast_inputs()
    path = tmp_path / "facts.json"
    path.write_text(jsondoc.dumps(jsondoc.facts_document(facts)), encoding="utf-8")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(sample_set.root_pem)
    return path, ca


def test_cli_writes_the_page_from_saved_facts(tmp_path, in_process, facts_file):
    facts, ca = facts_file
    out = tmp_path / "forecast.html"
    args = ["forecast", "--facts", facts, "--ca-file", ca, "--at", FORECAST_FROM.isoformat()]
    code, stdout, _err = in_process(*args, "--html", out, "--lang", "zh")
    assert code == 1  # something breaks within the window
    html = out.read_text(encoding="utf-8")
    assert 'lang="zh-CN"' in html and html.count('<tr id="ev-') == 7
    assert "soon.example.test:443" in stdout  # the console table is still printed
    code, stdout, _err = in_process(*args, "--days", "3", "--html", "-")
    assert code == 0
    assert stdout.startswith("<!DOCTYPE html>") and "Nothing changes in this window." in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--lang", "fr"), "--lang 'fr': choose one of en, zh"),
        (("--html", "-", "--json", "-"), "only one output can go to standard output"),
        (("--html", "."), "--html '.': is a directory"),
    ],
)
def test_cli_bad_html_options_are_one_clear_line(in_process, facts_file, args, message):
    facts, _ca = facts_file
    code, _out, err = in_process("forecast", "--facts", facts, *args)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def _improving_page(lang: str = "en") -> tuple[dict, str]:
    """A certificate that is not valid yet: it fails today and becomes valid in the window."""
    import base64 as b64

    from cryptography import x509 as x509_
    from cryptography.hazmat.primitives.serialization import Encoding

    from certcheck.evaluate import Policy
    from certcheck.forecast import forecast, forecast_document
    from certcheck.model import ServerFacts, Target
    from certcheck.samples import generate

    start = datetime(2026, 11, 22, 12, tzinfo=UTC)
    samples = generate(start)
    sample = samples.get("not_yet_valid")
    chain = [b64.b64encode(c.public_bytes(Encoding.DER)).decode()
             for c in x509_.load_pem_x509_certificates(sample.chain_pem)]
    facts = [ServerFacts(Target(sample.host), "x", chain=chain, source="file")]
    policy = Policy.build(ca_pem=samples.root_pem)
    baseline, events = forecast(facts, policy, start, 90)
    document = forecast_document(baseline, events, start, 90, policy.profile.name)
    return document, render_forecast_html(document, lang)


def test_an_improvement_is_drawn_as_one_and_ends_the_red_stretch():
    document, html = _improving_page()
    view = forecast_view(document)
    better = [e for e in view["events"] if e["tone"] == "better"]
    titles = {e["title"] for e in better}
    assert "Resolved: The certificate is not valid yet" in titles
    assert "iOS accepts the connection again" in titles
    # at that instant the certificate also starts expiring soon: the marker takes the worse
    # tone and names both; alone, an improvement is a green triangle
    assert '<polygon class="mk better"' not in _svg(html) and "Resolved: " in _svg(html)
    alone = dict(document, events=[e for e in document["events"] if e["change"] != "new_finding"
                                   or e["rule_id"] != "cert_expiring_soon"])
    assert '<polygon class="mk better"' in _svg(render_forecast_html(alone, "en"))
    (row,) = view["timeline"]["rows"]
    tones = [s["tone"] for s in row["spans"]]
    # red from today (not yet valid), amber once it is valid and expiring soon, then red
    assert tones[:2] == ["fail", "warn"]
    valid_x = next(m["x"] for m in row["markers"] if m["tone"] in ("better", "warning"))
    assert row["spans"][0]["x2"] == valid_x == row["spans"][1]["x"]
    assert "<tr" in html and 'class="ev-better"' in html


def test_the_legend_shows_only_marks_the_chart_uses():
    document, html = _improving_page()
    legend = html[html.index('<p class="fc-legend">') :]
    legend = legend[: legend.index("</p>")]
    assert "l-better" in legend and "gets better" in legend
    assert "l-info" not in legend  # no info event in this forecast
    zh = _improving_page("zh")[1]
    assert "情况好转" in zh and "已解决" in zh


def test_the_schema_names_the_change_kinds_the_forecast_writes():
    import subprocess

    document, _html = _improving_page()
    kinds = {e["change"] for e in document["events"]}
    assert kinds == {"new_finding", "resolved", "verdict_recovers"}
    done = subprocess.run(
        [sys.executable, "-m", "certcheck", "schema"], capture_output=True, text=True,
        timeout=60,
    )
    for kind in kinds | {"verdict"}:
        assert f'"{kind}"' in done.stdout
