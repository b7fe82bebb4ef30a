"""Issue #14: ``--lang zh`` translates everything a reader sees, not only the titles.

The catalogs (templates/i18n/*.toml) must have zh text for every rule's fix advice,
every simulation reason the evaluator can emit and every evidence label; a zh render
of the golden results must hold no English sentence outside data (host names,
certificate subjects, suite names) and a short, named allow-list; the English
templates of the simulation reasons must reproduce every stored English reason
exactly (they are also what the report parses the stored reason with).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
from functools import cache
from html.parser import HTMLParser
from typing import Any

import pytest
from _reportdocs import demo_document
from paths import PACKAGE, ROOT, TESTS

from certcheck.catalog import load_catalog
from certcheck.report import reasons
from certcheck.report.evidence import localized_evidence
from certcheck.report.html import render_html
from certcheck.report.i18n import catalog

GOLDEN = TESTS / "golden" / "results.json"
I18N = ROOT / "templates" / "i18n"
#: the instant the golden documents are evaluated at (tests/golden/make_golden.py)
GOLDEN_AT = "2026-12-10T12:00:00Z"


@cache
def _golden() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def _zh_raw() -> dict[str, dict[str, str]]:
    return tomllib.loads((I18N / "zh.toml").read_text(encoding="utf-8"))


def _sim_entries(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        entry
        for result in document.get("results", [])
        for entry in result.get("simulation") or []
        if isinstance(entry, dict)
    ]


def _findings(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for result in document.get("results", []) for f in result.get("findings") or []]


# -- (a) the catalogs cover what the code emits -------------------------------------------------


def test_every_rule_has_zh_fix_advice_and_variant_titles() -> None:
    zh = _zh_raw()
    rules = load_catalog()
    missing = [rid for rid, rule in rules.items() if rule.fix and not zh["fix"].get(rid)]
    assert missing == []
    assert set(zh["fix"]) <= set(rules), "a [fix] entry names no rule"
    titled = {f"{rid}.{name}" for rid, r in rules.items() for name, v in r.variants.items()
              if v.title}
    assert titled and titled <= set(zh["rule_variants"])
    for text in zh["fix"].values():
        assert re.search(r"[\u4e00-\u9fff]", text), text


def _emitted_reason_codes() -> set[str]:
    """Every reason code the simulation source can write (``code="..."`` and ``_one``'s list)."""
    codes: set[str] = set()
    for name in ("simulation.py", "client_trust.py"):
        source = (PACKAGE / "evaluate" / name).read_text(encoding="utf-8")
        codes |= set(re.findall(r'\bcode="(\w+)"', source))
        codes |= set(re.findall(r'\(\s*"(\w+)",\s*(?:sni_problem|_key_problem|_curve_problem|'
                                r'_dh_problem)', source))
    return codes


def test_every_reason_code_the_simulation_emits_has_a_zh_template() -> None:
    codes = _emitted_reason_codes()
    # the extraction itself is checked: these are known to exist
    assert {"no_common_protocol", "incomplete_chain", "untrusted_root", "client_policy",
            "store_constraint", "sni", "key", "curve", "dh"} <= codes
    zh_codes = {key.split(".")[0] for key in _zh_raw()["sim_reason"]}
    assert codes - zh_codes == set()
    golden_codes = {e["reason_code"] for e in _sim_entries(_golden()) if e.get("reason_code")}
    assert golden_codes <= zh_codes


def test_reason_templates_keep_their_placeholders_in_zh() -> None:
    en = tomllib.loads((I18N / "en.toml").read_text(encoding="utf-8"))
    zh = _zh_raw()
    for section in ("sim_reason", "sim_store", "sim_condition"):
        assert list(zh[section]) == list(en[section]), section  # same keys, same order
        for key, text in en[section].items():
            assert set(reasons.fields(text)) == set(reasons.fields(zh[section][key])), key


def _evidence_keys(document: dict[str, Any]) -> set[str]:
    keys: set[str] = set()
    for finding in _findings(document):
        evidence = finding.get("evidence")
        if isinstance(evidence, dict):
            keys |= set(evidence)
    return keys


@pytest.mark.parametrize("which", ["golden", "demo"])
def test_every_evidence_key_has_a_zh_label(which: str) -> None:
    document = _golden() if which == "golden" else demo_document()
    keys = _evidence_keys(document)
    assert len(keys) > 10
    labels = _zh_raw()["evidence"]
    assert sorted(keys - set(labels)) == []
    zh = catalog("zh")
    assert all(zh.evidence_label(k) != k or k in {"webpki"} for k in keys if k.isidentifier())


def _source_strings() -> set[str]:
    """Every string constant of the rule code (implicit concatenations joined)."""
    found: set[str] = set()
    for folder in ("evaluate", "miniprogram"):
        for path in (PACKAGE / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found.add(node.value)
    return found


def test_every_translated_evidence_phrase_is_still_written_by_the_rules() -> None:
    phrases = _zh_raw()["evidence_value"]
    assert len(phrases) >= 10
    strings = _source_strings()

    def written(phrase: str) -> bool:  # one constant, or two appended (``note += ...``)
        return phrase in strings or any(
            phrase.startswith(head) and phrase[len(head):] in strings for head in strings if head
        )

    assert sorted(p for p in phrases if not written(p)) == []


def _literal_parts(template: str) -> list[str]:
    return [part for part in re.split(r"\{\w+\}", template) if len(part.strip()) >= 4]


def _assembled(part: str, source: str) -> bool:
    """``part`` is the code's text: whole, or a few runs of whole words of it joined (the
    code builds some wordings from pieces: ``what``, ``basis``, joined lists)."""
    splits = re.finditer(r"\s+|(?=[()])|(?<=[()])", part)
    cuts = sorted({0, len(part)} | {m.end() for m in splits})
    reach = {0}
    for end in cuts[1:]:
        if any(start in reach and part[start:end].strip() in source
               for start in cuts if start < end):
            reach.add(end)
    return len(part) in reach


@pytest.mark.parametrize("section", ["sim_reason", "evidence_template", "sim_store",
                                     "sim_condition"])
def test_english_templates_are_worded_as_the_code_words_them(section: str) -> None:
    """Every literal piece of an English template is text of the evaluator's source
    (constants and f-string pieces): rewording the code makes this test fail."""
    source = "\0".join(_source_strings())
    en = tomllib.loads((I18N / "en.toml").read_text(encoding="utf-8"))[section]
    missing = [
        (key, part)
        for key, template in en.items()
        for part in _literal_parts(template)
        if not _assembled(part, source)
    ]
    assert missing == []
    assert not _assembled("no common protocol: the client proposes", source)  # it can fail


def test_evidence_wording_is_translated_and_data_is_not() -> None:
    zh = catalog("zh")
    shown = localized_evidence(
        {
            "reason": "Android < 7.1.1 has no ISRG Root X1 (first trusted in Android 7.1.1 "
            "(API 25))",
            "problems": ["2048-bit prime (below 3072, Logjam range)", "the prime p is even"],
            "subject": "the prime p is even",  # data, even when it reads like wording
            "stapled": False,
        },
        zh,
    )
    assert shown["reason"].startswith("Android 7.1.1 之前的版本没有 ISRG Root X1")
    assert shown["problems"] == [
        "2048 位素数（低于 3072 位，处于 Logjam 攻击范围）",
        "素数 p 是偶数",
    ]
    assert shown["subject"] == "the prime p is even"
    assert shown["stapled"] == "否"
    assert localized_evidence({"stapled": False}, catalog("en")) == {"stapled": False}


# -- the English templates are the stored wording ----------------------------------------------


def test_english_templates_reproduce_every_stored_reason() -> None:
    """Parse each golden reason with the templates of its code and fill the English template
    again: the very same text.  Parsing without the code finds the same template."""
    en = catalog("en")
    section = en.fallback["sim_reason"]
    entries = [e for e in _sim_entries(_golden()) if e.get("reason")]
    assert len(entries) > 100
    used = set()
    for entry in entries:
        found = reasons.parse(entry["reason"], section, entry["reason_code"])
        assert found is not None, entry["reason"]
        key, values = found
        used.add(key)
        assert reasons.render_english(en, key, values) == entry["reason"]
        assert reasons.parse(entry["reason"], section) == found  # codeless: evidence reasons
        assert reasons.sim_reason(entry, en) == entry["reason"]  # English output unchanged
    assert len(used) >= 6


def test_zh_reasons_are_chinese_and_keep_the_data() -> None:
    zh = catalog("zh")
    entries = [e for e in _sim_entries(_golden()) if e.get("reason")]
    for entry in entries:
        text = reasons.sim_reason(entry, zh)
        assert text != entry["reason"] and re.search(r"[\u4e00-\u9fff]", text), entry["reason"]
    incomplete = next(e for e in entries if e["reason_code"] == "incomplete_chain")
    shown = reasons.sim_reason(incomplete, zh)
    assert shown.startswith("证书链不完整") and "CN=certcheck Sample Intermediate CA" in shown


@pytest.mark.parametrize(
    ("english", "code", "wanted"),
    [
        (
            "untrusted root on this client: Android < 7.1.1 has no ISRG Root X1 "
            "(first trusted in Android 7.1.1 (API 25))",
            "untrusted_root",
            "Android 7.1.1 之前的版本没有 ISRG Root X1（从 Android 7.1.1 (API 25) 起才信任）",
        ),
        (
            "untrusted root on this client: Chrome trusts Example Root only for certificates "
            "issued (by earliest SCT) on or before 2024-10-31; this certificate's earliest SCT "
            "is 2025-01-02; and Chrome before 140 (Chrome Root Store constraint)",
            "store_constraint",
            "签发时间（按最早的 SCT）不晚于 2024-10-31，而这张证书最早的 SCT 是 2025-01-02；"
            "并且 Chrome 140 之前的版本（Chrome 根证书库约束）",
        ),
        (
            "untrusted root on this client: Example Root is not in the Apple trust store of "
            "iOS 12.2",
            "untrusted_root",
            "Example Root 不在 iOS 12.2 的 Apple 信任库中",
        ),
        ("no common cipher suite in TLSv1.2 (no common ECDHE curve)", "no_common_group",
         "TLSv1.2 下没有双方都支持的加密套件（没有共同的 ECDHE 曲线）"),
        ("DH prime too large: 4096 bits, client accepts <= 2048", "dh",
         "DH 素数过长：4096 位，客户端最多接受 2048 位"),
    ],
)
def test_reasons_not_in_the_golden_document(english: str, code: str, wanted: str) -> None:
    shown = reasons.sim_reason({"reason": english, "reason_code": code}, catalog("zh"))
    assert wanted in shown


def test_an_unknown_wording_stays_english_whole() -> None:
    entry = {"reason": "a wording no template has", "reason_code": "untrusted_root"}
    assert reasons.sim_reason(entry, catalog("zh")) == entry["reason"]


def test_reason_args_are_used_when_an_entry_carries_them() -> None:
    entry = {
        "reason": "key too small: RSA 1024 bits, client needs >= 2048",
        "reason_code": "key",
        "reason_args": {"form": "too_small", "algorithm": "RSA", "bits": 1024, "min": 2048},
    }
    shown = reasons.sim_reason(entry, catalog("zh"))
    assert shown == "密钥过短：RSA 1024 位，客户端要求至少 2048 位"


# -- (b) a zh page holds no English sentence ----------------------------------------------------

#: three or more English words in a row
_SENTENCE = re.compile(r"[A-Za-z][a-z]+(?:[\s,;:()'/-]+[A-Za-z][a-z]+){2,}")
#: keys whose values are data (names, subjects, messages of other programs), not wording
_DATA_KEYS = {
    "subject", "issuer", "anchor", "root", "path", "name", "missing_issuer", "issued_to",
    "certificate", "intermediates", "roots", "served", "webpki_error", "validator", "webpki",
    "leaf", "clients", "chain", "cn",
}  # webpki_error / validator: the X.509 validator library's own message, kept verbatim
#: elements whose text is allowed to be English, and why
ALLOWED_CLASSES = {
    # the rule's English title, deliberately kept under the translated one (searchable,
    # and the wording of RULES.md / the JSON)
    "ften",
}


def _data_strings(value: Any, key: str = "") -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            found |= _data_strings(v, k if k in _DATA_KEYS else key)
    elif isinstance(value, list):
        for v in value:
            found |= _data_strings(v, key)
    elif isinstance(value, str) and key in _DATA_KEYS and value:
        found.add(value)
        for part in re.split(r",(?=[A-Z]+=)", value):  # the attributes of a subject
            found.add(part.split("=", 1)[-1])
    # short values ("CA", "a") would cut words out of the wording around them
    return {v for v in found if len(v) >= 6}


class _Texts(HTMLParser):
    """Visible text nodes, with the classes of their enclosing elements."""

    VOID = {"br", "wbr", "meta", "link", "img", "input", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, set[str]]] = []
        self.nodes: list[tuple[str, set[str], set[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        classes = set((dict(attrs).get("class") or "").split())
        self.stack.append((tag, classes))

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        text = data.strip()
        if text:
            tags = {t for t, _c in self.stack}
            classes = set().union(*(c for _t, c in self.stack)) if self.stack else set()
            self.nodes.append((text, tags, classes))


def english_nodes(page: str, document: dict[str, Any]) -> list[str]:
    """Text nodes of ``page`` with an English sentence once the document's data is taken out."""
    products = {v for v in catalog("zh").sections["platform"].values() if len(v) >= 6}
    data = sorted(_data_strings(document) | products, key=len, reverse=True)
    parser = _Texts()
    parser.feed(page)
    found = []
    for text, tags, classes in parser.nodes:
        if tags & {"script", "style", "code", "title"} or classes & ALLOWED_CLASSES:
            continue
        rest = text
        for value in data:
            if value in rest:
                rest = rest.replace(value, "§")
        # URLs, options, dotted names, constants, identifiers (a_b, k=v), media types and
        # certcheck command lines are not wording
        rest = re.sub(
            r"https?://\S+|--[\w-]+|\b\w+(?:\.\w+)+\b|\b[A-Z0-9_]{3,}\b|certcheck(?: [a-z]+)+"
            r"|[^\s()（）]*[_=][^\s()（）]*|\b[a-z]+/[\w.+-]+",
            "§",
            rest,
        )
        if _SENTENCE.search(rest):
            found.append(text)
    return found


def test_zh_render_of_the_golden_document_has_no_english_sentence() -> None:
    document = _golden()
    page = render_html(document, "zh")
    left = english_nodes(page, document)
    assert left == [], f"{len(left)} English text nodes, e.g. {left[:5]}"
    # the counter itself finds English: the en page is full of it
    assert len(english_nodes(render_html(document, "en"), document)) > 50


def test_zh_render_of_the_demo_scan_has_no_english_sentence() -> None:
    document = demo_document()  # loopback servers of certcheck demo
    left = english_nodes(render_html(document, "zh"), document)
    assert left == [], f"{len(left)} English text nodes, e.g. {left[:5]}"


def test_zh_mini_program_page_has_no_english_sentence() -> None:
    from _htmldocs import miniprogram_doc  # loopback servers, as the mini-program tests

    from certcheck.report.miniprogram_page import render_miniprogram_html

    document = miniprogram_doc()
    left = english_nodes(render_miniprogram_html(document, "zh"), document)
    assert left == [], f"{len(left)} English text nodes, e.g. {left[:5]}"
    assert len(english_nodes(render_miniprogram_html(document, "en"), document)) > 20


def test_en_render_keeps_the_stored_english() -> None:
    document = _golden()
    page = render_html(document, "en")
    reason = next(e["reason"] for e in _sim_entries(document) if e.get("reason"))
    assert reason.split(":")[0] in page
    fix = next(f["fix"] for f in _findings(document) if f.get("fix") and "'" not in f["fix"])
    assert fix.replace("&", "&amp;").replace('"', "&#34;") in page


def test_zh_render_shows_zh_fix_evidence_labels_and_reasons() -> None:
    page = render_html(_golden(), "zh")
    zh = _zh_raw()
    assert zh["fix"]["cert_expired"] in page
    assert "<dt>已接受</dt>" in page  # evidence label of "accepted"
    assert "证书链不完整：服务器没有发送" in page
    assert "incomplete chain: the server" not in page


# -- (c) the console ----------------------------------------------------------------------------


def _console(lang: str) -> str:
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "certcheck", "evaluate", str(TESTS / "golden" / "facts.json"),
         "--ca-file", str(ROOT / "sample_certs" / "ca.pem"), "--at", GOLDEN_AT,
         "--verbose", "--lang", lang],
        capture_output=True, text=True, timeout=300, env=env, cwd=ROOT, check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stdout


def test_console_lang_zh_shows_zh_fix_advice_and_reasons() -> None:
    zh = _console("zh")
    fix = _zh_raw()["fix"]["cert_expired"]
    assert "修复建议：" + fix[:12] in zh
    assert "证书已过期" in zh
    assert "Renew the certificate and install" not in zh
    assert "没有双方都支持的协议" in zh and "no common protocol:" not in zh
    assert "结论" in zh and "共 18 个目标：" in zh and "客户端模拟：" in zh  # the console's own
    assert "Verdict" not in zh and "client simulation:" not in zh and "target(s)" not in zh
    en = _console("en")
    assert "fix: Renew the certificate and install" in en
    assert "no common protocol: client offers" in en
    assert "18 target(s): " in en and "client simulation: " in en


def test_console_data_age_note_in_both_languages() -> None:
    from datetime import date, timedelta

    from certcheck import freshness
    from certcheck.report.console import stale_line

    late = date.today() + timedelta(days=3 * freshness.STALE_AFTER_DAYS)
    english = freshness.stale_note(late)
    assert english is not None
    assert stale_line(late, catalog("en")) == english == stale_line(late)
    chinese = stale_line(late, catalog("zh"))
    assert chinese is not None and chinese.startswith("注意：") and "note:" not in chinese
    assert stale_line(date(2000, 1, 1), catalog("zh")) is None


@cache
def _simulated_entries() -> list[dict[str, Any]]:
    """Simulation entries of many failing configurations (offline: facts only, no network)."""
    import base64
    from datetime import UTC, datetime

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from simkit import NO_ROOTS, modern_facts

    from certcheck import samples
    from certcheck.evaluate.simulation import simulate

    sample_set = samples.generate()

    def chain(name: str) -> list[str]:
        certs = x509.load_pem_x509_certificates(sample_set.get(name).chain_pem)
        return [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in certs]

    now = datetime.now(UTC)
    ecdsa, rsa = chain("good_ecdsa"), chain("good_rsa")
    variants = [
        modern_facts(ecdsa),  # no usable root: every store's label
        modern_facts(chain("missing_intermediate")),
        modern_facts(chain("self_signed")),
        modern_facts(ecdsa, protocols={"TLSv1.3": True, "TLSv1.2": False}),
        modern_facts(ecdsa, protocols={"TLSv1.2": None, "TLSv1.3": None}),
        modern_facts(ecdsa, protocols={}),
        modern_facts(ecdsa, cipher_suites={"TLSv1.2": ["TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"]},
                     protocols={"TLSv1.2": True, "TLSv1.3": False}),
        modern_facts(ecdsa, groups={"TLSv1.2": ["ffdhe2048"], "TLSv1.3": ["ffdhe2048"]}),
        modern_facts(ecdsa, cipher_suites={"TLSv1.2": ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]}),
        modern_facts(chain("rsa1024"), cipher_suites={
            "TLSv1.2": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
            "TLSv1.3": ["TLS_AES_128_GCM_SHA256"]}),
        modern_facts(chain("sha1"), cipher_suites={
            "TLSv1.2": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
            "TLSv1.3": ["TLS_AES_128_GCM_SHA256"]}),
        modern_facts(rsa, protocols={"TLSv1.2": True, "TLSv1.3": False}, cipher_suites={
            "TLSv1.2": ["TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"]},
            dh_params={"TLSv1.2": {"bits": 4096}}),
    ]
    return [
        result.to_dict() for facts in variants for result in simulate(facts, NO_ROOTS, now)
    ]


def test_simulated_reasons_of_many_configurations_translate_and_round_trip() -> None:
    en, zh = catalog("en"), catalog("zh")
    section = en.fallback["sim_reason"]
    entries = [e for e in _simulated_entries() if e.get("reason")]
    codes = {e["reason_code"] for e in entries}
    assert {"untrusted_root", "incomplete_chain", "no_common_protocol", "dh", "key"} <= codes
    untranslated = []
    for entry in entries:
        found = reasons.parse(entry["reason"], section, entry["reason_code"])
        if found is None:
            untranslated.append(entry["reason"])
            continue
        assert reasons.render_english(en, found[0], found[1]) == entry["reason"]
        shown = reasons.sim_reason(entry, zh)
        assert re.search(r"[\u4e00-\u9fff]", shown), entry["reason"]
        assert not re.search(r"\b(?:system store|trust store|Root Store|root store)\b", shown)
    assert sorted(set(untranslated)) == []


def test_a_cut_evidence_list_says_how_many_more_in_zh() -> None:
    from certcheck.report.html import finding_view

    finding = {"rule_id": "hostname_mismatch", "severity": "error",
               "evidence": {"san": [f"n{i}.example.test" for i in range(9)]}}
    zh = finding_view(finding, catalog("zh"), compact=True)
    assert zh.evidence == [("SAN 域名", "n0.example.test; n1.example.test; n2.example.test; "
                            "…（另有 6 项）", [])]
    en = finding_view(finding, catalog("en"), compact=True)
    assert en.evidence[0][1].endswith("… (+6 more)") and en.evidence[0][0] == "san"
