"""``certcheck miniprogram --html``: the page of a mini-program check.

The document comes from a real check of loopback servers (tests/_htmldocs.py):
good, GBK-with-BOM, WebSocket and not-a-WebSocket endpoints, plus entries WeChat
rejects.  Variations of it test timing bars, hostile text and missing keys.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from importlib import resources

import pytest
from _htmldocs import GOOD, HOSTILE, WILD, Page, assert_self_contained, miniprogram_doc

from certcheck.report.miniprogram_page import miniprogram_view, render_miniprogram_html


@pytest.fixture(scope="module")
def document():
    return miniprogram_doc()


@pytest.fixture(scope="module")
def english(document):
    return render_miniprogram_html(document, "en")


@pytest.fixture(scope="module")
def chinese(document):
    return render_miniprogram_html(document, "zh")


def _endpoint(document, prefix: str) -> tuple[int, dict]:
    return next((i, e) for i, e in enumerate(document["endpoints"]) if e["host"].startswith(prefix))


def _section(html: str, element_id: str) -> str:
    """The HTML of the element with this id, up to the next element of the same kind."""
    start = html.index(f'id="{element_id}"')
    tag = html.rfind("<", 0, start)
    name = re.match(r"<(\w+)", html[tag:]).group(1)
    end = html.find(f"<{name} ", start)
    return html[tag : end if end != -1 else len(html)]


def test_header_shows_the_verdict_per_platform_and_the_finding_counts(document, english):
    page = Page(english)
    cards = {a["data-platform"]: a["class"] for a in page.find("div") if a.get("data-platform")}
    assert set(cards) == {"ios", "android", "android_legacy"}
    for platform, state in document["verdicts"].items():
        assert f"pv-{state}" in cards[platform]
    assert document["verdicts"]["ios"] == "fail"  # http://, an IP, localhost: WeChat refuses
    counts = document["summary"]["findings"]
    for severity, css in (("error", "s-error"), ("warning", "s-warning"), ("info", "s-info")):
        card = re.search(rf'card tally {css}[^"]*"><span class="num">(\d+)<', english)
        assert card and int(card.group(1)) == counts[severity]
    total = re.search(r'card tally total"><span class="num">(\d+)<', english)
    assert total and int(total.group(1)) == len(document["endpoints"]) == 4
    text = page.all_text()
    assert "Mini Program server domains" in text and "domains.json" in text


def test_one_section_per_api_list_with_entries_or_findings(document, english):
    ids = Page(english).ids()
    for group in ("requestdomain", "wsrequestdomain", "downloaddomain", "prefetchdomain"):
        assert f"g-{group}" in ids
    assert {"g-networkTimeout", "g-requests", "g-general"} <= ids
    for empty in ("uploaddomain", "udpdomain", "tcpdomain"):  # named once, in a line
        assert f"g-{empty}" not in ids
    assert "Empty lists:" in english and "wx.createUDPSocket" in english

    requests = _section(english, "g-requestdomain")
    rows = re.findall(r'<tr class="(ok|rejected)">', requests)
    assert rows == ["ok", "ok", "rejected", "rejected"]
    assert "http://plain.example.test" in requests and "https://10.0.0.1" in requests
    good_index, good = _endpoint(document, GOOD)
    # the accepted entry links to its endpoint card, and shows the URLs that work and fail
    assert f'href="#ep-{good_index}"' in requests
    assert "u-ok" in requests and "u-bad" in requests
    assert "any other port" in requests
    # errors in full; info findings (ports bound) folded under a summary
    assert "host_is_ip" in requests and "mp_scheme_not_allowed" in requests
    assert re.search(r'<details class="infos"><summary>2 info findings</summary>', requests)

    urls = _section(english, "g-requests")
    assert "https://other.example.test/" in urls and "mp_request_not_configured" in urls
    timeouts = _section(english, "g-networkTimeout")
    assert "<code>request</code>" in timeouts and "4 s" in timeouts and "60 s" in timeouts


def test_the_general_group_is_always_shown():
    doc = miniprogram_doc()
    general = next(g for g in doc["lint"] if g["group"] == "general")
    assert [f["rule_id"] for f in general["findings"]] == ["mp_icp_unverified"]
    html = render_miniprogram_html(doc)
    assert "mp_icp_unverified" in _section(html, "g-general")
    assert "<details" not in _section(html, "g-general")  # the ICP reminder is never folded
    general["findings"] = []
    html = render_miniprogram_html(doc)
    assert 'id="g-general"' in html and "No findings" in _section(html, "g-general")


def test_endpoint_cards_have_exchanges_timing_findings_and_the_tls_scan(document, english):
    page = Page(english)
    for index, endpoint in enumerate(document["endpoints"]):
        card = _section(english, f"ep-{index}")
        assert endpoint["endpoint"] in card.replace("<wbr>", "")
        # the TLS results entry rendered by the scan report's own per-target template
        assert f'<details class="target v-{endpoint["tls"]["overall"]}" id="t-{index}"' in card
        for exchange in endpoint["exchanges"]:
            assert exchange["url"] in card
        assert card.count('class="tbar"') == len(endpoint["exchanges"])
    assert len(page.with_class("endpoint")) == 4

    _, gbk = _endpoint(document, "gbk.")
    card = _section(english, f"ep-{document['endpoints'].index(gbk)}")
    assert "application/json; charset=GBK" in card and "not UTF-8" in card
    assert '<td class="num-cell bad">1</td>' in card  # one byte order mark
    assert "mp_response_not_utf8" in card and "mp_response_bom" in card
    assert "networkTimeout 4 s" in card and "background limit 5 s" in card
    for phase in ("DNS", "Connect", "TLS", "First byte"):
        assert f'">{phase} <b>' in card

    ws_index, _ = _endpoint(document, "ws.")
    card = _section(english, f"ep-{ws_index}")
    assert "101 Switching Protocols" in card and "WebSocket" in card
    assert "networkTimeout 60 s" in card  # connectSocket keeps WeChat's default
    ws200_index, _ = _endpoint(document, "ws200.")
    card = _section(english, f"ep-{ws200_index}")
    assert "status 200 OK, expected 101" in card and "mp_websocket_upgrade_failed" in card
    assert "path guessed" in card


def test_timing_bar_is_drawn_against_the_limit_and_the_background_line(document):
    doc = miniprogram_doc()
    _, good = _endpoint(doc, GOOD)
    (exchange,) = good["exchanges"]
    assert exchange["limit_ms"] == 4000
    exchange["timings_ms"] = {"dns": 100, "connect": 400, "tls": 500, "first_byte": 2500}
    exchange["timings_ms"]["total"] = 3500
    timeout = dict(exchange, url=exchange["url"] + "?slow", error=None)
    timeout["timings_ms"] = {"dns": 100.0, "connect": 400.0, "total": 4000.0}
    timeout["error"] = {"kind": "timeout", "message": "no answer", "phase": "tls", "at_limit": True}
    good["exchanges"].append(timeout)
    view = miniprogram_view(doc)
    near, over = (x["timing"] for x in view["endpoints"][0]["exchanges"])
    # one scale for both lines: here the 5 s background limit is the widest
    assert near["limit"]["pos"] == 80.0 and near["background"]["pos"] == 100.0
    assert near["fill"] == 70.0 and near["tone"] == "warn"  # 3.5 s: near the 4 s limit
    assert [s["share"] for s in near["segments"]] == [2.86, 11.43, 14.29, 71.43]
    assert over["tone"] == "fail" and over["fill"] == 80.0
    assert [s["phase"] for s in over["segments"]] == ["dns", "connect", "wait"]
    html = render_miniprogram_html(doc)
    assert 'class="tb-fill t-warn" style="width:70.0%"' in html
    assert 'class="tb-line limit" style="left:80.0%"' in html
    assert "No answer <b>3.5 s</b>" in html and "timeout: no answer" in html


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_hostile_text_renders_as_text(lang):
    doc = miniprogram_doc()
    doc["source"] = HOSTILE
    group = doc["lint"][0]
    group["entries"][2]["entry"] = HOSTILE
    finding = group["findings"][0]
    finding["title"] = HOSTILE
    finding["evidence"] = {"entry": HOSTILE, HOSTILE: [HOSTILE, "x"]}
    endpoint = doc["endpoints"][0]
    endpoint["endpoint"] = HOSTILE
    exchange = endpoint["exchanges"][0]
    exchange.update(url=HOSTILE, content_type=HOSTILE, reason=HOSTILE, problems=[HOSTILE])
    endpoint["findings"] = [dict(finding, rule_id="mp_response_bom")]
    endpoint["tls"]["target"]["host"] = HOSTILE
    endpoint["tls"]["findings"][0]["evidence"] = {"detail": HOSTILE + "\x00\x1b"}
    html = render_miniprogram_html(doc, lang)
    page = Page(html)
    assert not page.find("script") and not page.find("img")
    assert not [a for _t, a in page.tags for key in a if key.lower().startswith("on")]
    text = page.all_text()
    assert text.count(HOSTILE) >= 8
    assert "\x00" not in html and "\x1b" not in html
    assert_self_contained(html)


def test_chinese_page_translates_the_ui_and_the_mp_rule_titles(document, chinese):
    assert 'lang="zh-CN"' in chinese
    text = Page(chinese).all_text()
    assert "小程序服务器域名检查" in text and "服务器域名配置" in text
    assert "DNS 预解析" in text and "无法离线检查" in text and "耗时" in text
    assert "无法离线检查 ICP 备案：请逐个域名确认" in text  # zh title of mp_icp_unverified
    assert "ICP filing cannot be checked offline" in text  # the English title stays beside it
    assert "响应不是 UTF-8" in text  # mp_response_not_utf8
    assert "Server domain configuration" not in text and "Empty lists" not in text


def test_every_miniprogram_rule_has_a_chinese_title():
    rules = tomllib.loads(
        resources.files("certcheck.rules").joinpath("catalog/miniprogram.toml").read_text("utf-8")
    )
    translated = tomllib.loads(
        resources.files("certcheck.templates").joinpath("i18n/zh.toml").read_text("utf-8")
    )["rules"]
    assert len(rules) >= 20
    missing = sorted(set(rules) - set(translated))
    assert missing == []


def test_page_is_self_contained(english, chinese):
    assert_self_contained(english)
    assert_self_contained(chinese)
    assert "@media (prefers-color-scheme: dark)" in english and "@media print" in english


def test_missing_optional_keys_and_a_lint_only_check_still_render():
    assert "Mini Program server domains" in render_miniprogram_html({})
    doc = miniprogram_doc()
    doc.pop("summary")
    doc.pop("limits")
    doc["lint"][0]["entries"][0] = {"entry": "https://x.example.test"}
    doc["lint"][1].pop("entries")
    endpoint = doc["endpoints"][0]
    endpoint.pop("tls")
    endpoint["exchanges"][0].pop("timings_ms")
    endpoint["exchanges"][0]["future_field"] = {"a": 1}
    doc["endpoints"][1]["exchanges"] = [{}]
    doc["endpoints"][2]["tls"] = {"target": {"host": f"ws.{WILD}"}, "status": "error"}
    html = render_miniprogram_html(doc, "zh")
    page = Page(html)
    assert "https://x.example.test" in page.all_text()
    assert 'id="t-0"' not in html and 'id="t-2"' in html  # no TLS entry: no TLS section
    # without a summary the header counts what the page shows
    assert re.search(r'card tally s-error"><span class="num">[1-9]', html)
    lint_only = miniprogram_doc()
    lint_only["endpoints_checked"] = False
    lint_only["endpoints"] = []
    html = render_miniprogram_html(lint_only)
    assert "--no-endpoints" in html and 'class="endpoint' not in html


def test_unknown_language_is_refused():
    with pytest.raises(ValueError, match="en, zh"):
        render_miniprogram_html(miniprogram_doc(), "fr")


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


def test_cli_writes_the_page_in_either_language(tmp_path, in_process):
    domains = tmp_path / "domains.json"
    # lint only: nothing is looked up or connected
    domains.write_text(
        json.dumps({"requestdomain": ["https://a.example.invalid", "http://b.test"]})
    )
    out = tmp_path / "mp.html"
    code, stdout, _err = in_process("miniprogram", domains, "--no-endpoints", "--html", out)
    assert code == 1
    html = out.read_text(encoding="utf-8")
    assert "mp_scheme_not_allowed" in html and "https://a.example.invalid" in html
    assert "--no-endpoints" in html
    assert "wx.request" in stdout  # the console report is still printed
    code, stdout, _err = in_process(
        "miniprogram", domains, "--no-endpoints", "--html", "-", "--lang", "zh"
    )
    assert code == 1
    assert stdout.startswith("<!DOCTYPE html>") and 'lang="zh-CN"' in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--lang", "fr"), "--lang 'fr': choose one of en, zh"),
        (("--html", "-", "--json", "-"), "only one output can go to standard output"),
        (("--html", "."), "--html '.': is a directory"),
    ],
)
def test_cli_bad_html_options_are_one_clear_line(tmp_path, in_process, args, message):
    domains = tmp_path / "domains.json"
    domains.write_text(json.dumps({"requestdomain": ["https://a.example.invalid"]}))
    code, _out, err = in_process("miniprogram", domains, "--no-endpoints", *args)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
