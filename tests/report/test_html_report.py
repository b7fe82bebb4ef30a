"""The HTML audit report: content, both languages, escaping of hostile fields, size at scale.

Documents come from a real scan of loopback servers (tests/_reportdocs.py); the
report is rendered only from the JSON results document, as ``certcheck report`` does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tomllib
from html.parser import HTMLParser
from importlib import resources

import pytest
from _reportdocs import HOSTILE, demo_document, hostile_document, many_targets, result_for

from certcheck.catalog import load_catalog
from certcheck.report import i18n
from certcheck.report.html import TIMELINE_DAYS, render_html


class Page(HTMLParser):
    """Just enough of the DOM for assertions: elements, attributes, text, script bodies."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)

    def all_text(self) -> str:
        return " ".join(self.text)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())
        ]


@pytest.fixture(scope="module")
def document():
    return demo_document()


@pytest.fixture(scope="module")
def english(document):
    return render_html(document, "en")


@pytest.fixture(scope="module")
def chinese(document):
    return render_html(document, "zh")


def test_summary_has_one_row_per_target_with_verdicts_and_expiry(document, english):
    page = Page(english)
    rows = [a for t, a in page.tags if t == "tr" and "data-target" in a]
    assert len(rows) == len(document["results"]) == 9
    text = page.all_text()
    for result in document["results"]:
        assert f"{result['target']['host']}:{result['target']['port']}" in text.replace(
            "\u200b", ""
        )
    by_target = {a["data-target"]: a for a in rows}
    expired = result_for(document, "expired")
    index = document["results"].index(expired)
    assert by_target[f"t-{index}"]["data-overall"] == "fail"
    # sort keys: overall, iOS, Android, old Android, days left, worst finding
    keys = by_target[f"t-{index}"]["data-k"].split()
    assert keys[:4] == ["3", "3", "3", "3"]
    assert int(keys[4]) == expired["certificate"]["leaf"]["days_left"] < 0
    assert "expired 11 d ago" in text or re.search(r"expired \d+ d ago", text)


def test_header_names_scan_time_tool_version_and_profile(document, english):
    text = Page(english).all_text()
    assert document["tool"]["version"] in text
    assert document["evaluated_at"][:10] in text
    assert "wechat" in text
    assert 'lang="en"' in english


def test_failing_target_shows_findings_with_severity_platforms_evidence_and_fix(document, english):
    expired = result_for(document, "expired")
    index = document["results"].index(expired)
    section = english[english.index(f'id="t-{index}"') :]
    section = section[: section.index("</details>")]
    finding = next(f for f in expired["findings"] if f["rule_id"] == "cert_expired")
    assert "cert_expired" in section
    assert finding["title"] in section
    assert finding["fix"] in section  # small reports carry the fix text inline
    assert "All platforms" in section and "Refused by" in section
    assert finding["evidence"]["not_after"] in section
    assert 'class="sev s-error"' in section


def test_chain_is_drawn_with_fingerprints_validity_and_sans(document, english):
    good = result_for(document, "good")
    leaf = good["certificate"]["leaf"]
    colon = ":".join(leaf["sha256"][i : i + 2] for i in range(0, 64, 2))
    assert colon in english
    assert leaf["san"][0] in english
    assert leaf["key"] in english
    index = document["results"].index(good)
    section = english[english.index(f'id="t-{index}"') :]
    section = section[: section.index("</details>")]
    assert section.count('class="cert r-') >= 2  # leaf and intermediate
    assert "Trust anchor" in section and "certcheck Sample Root CA" in section
    assert re.search(r'class="now" style="left:[0-9.]+%"', section)
    assert f"{leaf['days_left']} days left" in section


def test_protocol_and_cipher_tables_show_what_the_probe_saw(document, english):
    good = result_for(document, "good")
    index = document["results"].index(good)
    section = english[english.index(f'id="t-{index}"') :]
    section = section[: section.index("</details>")]
    assert "<b>TLSv1.2</b>accepted" in section
    assert "<b>SSLv3</b>refused" in section
    for suite in good["facts"]["cipher_suites"].get("TLSv1.3", []):
        assert f"<code>{suite}</code>" in section
    assert good["facts"]["negotiated_protocol"] in section


def test_expiry_timeline_lists_certificates_due_within_90_days(document):
    doc = many_targets(document, 24)
    html = render_html(doc)
    svg = html[html.index('<figure class="timeline">') : html.index("</figure>")]
    due = {
        r["target"]["host"]
        for r in doc["results"]
        if r["certificate"] and r["certificate"]["leaf"]["days_left"] <= TIMELINE_DAYS
    }
    later = {r["target"]["host"] for r in doc["results"] if r["target"]["host"] not in due}
    assert due and later
    for host in due:
        assert host in svg
    for host in later:
        assert f">{host}:" not in svg
    assert 'class="trow t-expired"' in svg  # the expired certificate sits in the expired band


def test_chinese_report_translates_the_ui_and_rule_titles(document, chinese):
    assert 'lang="zh-CN"' in chinese
    text = Page(chinese).all_text()
    assert "TLS 合规检测报告" in text
    assert "证书已过期" in text  # zh title of cert_expired
    assert "The certificate has expired" in text  # the English title stays beside it
    assert "Targets in detail" not in text and "目标详情" in text


def test_every_ui_string_is_translated_with_the_same_placeholders():
    folder = resources.files("certcheck.templates").joinpath("i18n")
    en = tomllib.loads(folder.joinpath("en.toml").read_text(encoding="utf-8"))
    zh = tomllib.loads(folder.joinpath("zh.toml").read_text(encoding="utf-8"))
    for section, strings in en.items():
        assert set(zh.get(section, {})) == set(strings), section
        for key, text in strings.items():
            assert set(re.findall(r"{(\w+)}", text)) == set(
                re.findall(r"{(\w+)}", zh[section][key])
            ), (section, key)
    assert set(i18n.languages()) >= {"en", "zh"}


def test_rule_titles_fall_back_to_english_for_rules_without_a_translation(document):
    catalog = i18n.catalog("zh")
    assert catalog.rule_title("cert_expired") == "证书已过期"
    assert catalog.rule_title("no_such_rule_yet") is None
    doc = demo_document()
    doc["results"][0]["findings"] = [
        {
            "rule_id": "brand_new_rule",
            "severity": "warning",
            "platforms": ["ios"],
            "title": "A rule added after this translation",
            "evidence": {},
            "fix": "",
            "breaks": [],
        }
    ]
    assert "A rule added after this translation" in render_html(doc, "zh")
    translated = tomllib.loads(
        resources.files("certcheck.templates").joinpath("i18n/zh.toml").read_text("utf-8")
    )["rules"]
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", rule_id) for rule_id in translated)
    assert "cert_expired" in load_catalog() and "cert_expired" in translated


def test_unknown_language_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="en, zh"):
        render_html(demo_document(), "fr")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_hostile_certificate_fields_render_as_text(lang):
    document = hostile_document()
    html = render_html(document, lang)
    page = Page(html)
    assert len(page.find("script")) == 1  # only the report's own script
    assert not [a for _t, a in page.tags for k in a if k.lower().startswith("on")]
    assert not page.find("img") and not page.find("b")
    assert "<svg onload" not in html and "</style><b>" not in html
    text = page.all_text()
    assert '<script>alert("x")</script>' in text  # the CN, shown as text
    assert "<svg onload=alert(2)>" in text  # a SAN
    assert HOSTILE in text  # finding title, evidence, simulation, suppression reason
    assert "\x00" not in html
    # the CSP allows exactly the inline script that is there
    (script,) = page.scripts
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    (meta,) = page.find("meta", **{"http-equiv": "Content-Security-Policy"})
    assert f"'sha256-{digest}'" in meta["content"]
    assert "default-src 'none'" in meta["content"]


def test_page_is_self_contained(english):
    page = Page(english)
    assert not page.find("link") and not page.find("img") and not page.find("iframe")
    assert not [a for _t, a in page.tags if "src" in a]
    hrefs = [a.get("href") or "" for _t, a in page.tags if "href" in a]
    assert hrefs and all(h.startswith("#") for h in hrefs)
    assert "url(" not in english and "@import" not in english
    assert "@media (prefers-color-scheme: dark)" in english and "@media print" in english


def test_missing_optional_data_and_unknown_keys_still_render():
    document = demo_document()
    bare = document["results"][0]
    bare["certificate"] = None
    bare["simulation"] = None
    bare["facts"] = {"target": bare["target"], "scanned_at": bare["facts"]["scanned_at"]}
    bare["verdicts"]["wechat_devtools"] = "warn"
    bare["findings"] = [{"rule_id": "odd_rule", "severity": "info", "platforms": [], "title": "T"}]
    extra = document["results"][1]
    extra["simulation"] = [
        {
            "client": "Android 4.4",
            "platform": "android_legacy",
            "ok": False,
            "reason": "no shared cipher",
            "future_field": ["a", "b"],
        },
        {"client": "iOS 17", "platform": "ios", "ok": True, "protocol": "TLSv1.3"},
    ]
    extra["findings"][0]["suppressed"] = True
    extra["findings"][0]["suppressed_reason"] = "accepted risk until Q3"
    extra["newly_added_section"] = {"anything": 1}
    html = render_html(document)
    assert "odd_rule" in html
    assert "future_field" in html and "a; b" in html  # simulation columns are generic
    assert "no shared cipher" in html and "Android 4.4" in html
    assert "accepted risk until Q3" in html and "finding s-" in html and " suppressed" in html
    empty = render_html({**document, "results": [], "summary": {}})
    assert "0 of 0" in empty or "data-template" in empty


def test_a_thousand_targets_stay_small_and_share_repeated_blocks(document):
    doc = many_targets(document, 1000)
    html = render_html(doc)
    size = len(html.encode("utf-8"))
    assert size < 5_000_000, size
    page_rows = html.count('<tr data-target="t-')
    assert page_rows == 1000
    assert 'id="authorities"' in html  # the shared intermediate is drawn once
    assert 'id="fixes"' in html  # fix texts are listed once per rule
    assert '<details class="target v-fail" id="t-2">' in html  # sections start closed
    assert json.dumps(doc)  # the document itself was not altered into something unserialisable
