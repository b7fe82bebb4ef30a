"""The report's view model for issue #14: client simulation grouped by outcome, and the
headline shared with the console (certcheck.report.headline).

Documents are built by hand (no scan): the view model reads plain JSON.
"""

from __future__ import annotations

import re
from typing import Any

from certcheck.model import ScanError, ServerFacts, Target, TargetResult
from certcheck.report.console import phones_line
from certcheck.report.headline import Outcome, phones, worst_overall
from certcheck.report.html import GROUP_NAMES_SHOWN, build_view, render_html

NO_FALLBACK = "no common protocol: client offers SSLv3, TLSv1.0; server accepts TLSv1.2, TLSv1.3"


def _client(name: str, ok: bool | None, **fields: Any) -> dict[str, Any]:
    return {"client": name.lower().replace(" ", "_"), "name": name, "ok": ok, **fields}


def _result(
    host: str,
    simulation: list[dict[str, Any]] | None = None,
    verdicts: dict[str, str] | None = None,
    overall: str = "warn",
    findings: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    target = {"host": host, "port": 443}
    return {
        "target": target,
        "status": "ok",
        "overall": overall,
        "verdicts": verdicts or {"ios": "pass", "android": "pass", "android_legacy": "fail"},
        "findings": findings or [],
        "simulation": simulation,
        "facts": {"target": target},
    }


def _document(*results: dict[str, Any]) -> dict[str, Any]:
    return {"evaluated_at": "2026-12-01T00:00:00Z", "results": list(results)}


def _sim(entries: list[dict[str, Any]], lang: str = "en") -> dict[str, Any]:
    view = build_view(_document(_result("a.example.test", entries)), lang)
    sim = view["targets"][0].simulation
    assert sim is not None
    return sim


def _passing(n: int, **fields: Any) -> list[dict[str, Any]]:
    defaults = {"protocol": "TLSv1.3", "cipher": "TLS_AES_128_GCM_SHA256", "group": "x25519"}
    return [_client(f"Phone {i}", True, **{**defaults, **fields}) for i in range(n)]


def test_thirty_five_clients_with_one_reason_are_one_row():
    failing = [
        _client(
            f"Android 4.{i}", False, platform="android", reason=NO_FALLBACK, os_version=f"4.{i}"
        )
        for i in range(35)
    ]
    sim = _sim(failing + _passing(2))
    assert len(sim["shown"]) == 1
    group = sim["shown"][0]
    assert group["count"] == 35 and group["tone"] == "fail"
    assert group["names"] == [f"Android 4.{i}" for i in range(GROUP_NAMES_SHOWN)]
    assert len(group["more_names"]) == 35 - GROUP_NAMES_SHOWN
    assert [g["count"] for g in sim["hidden"]] == [2]
    assert sim["total"] == 37 and sim["hidden_clients"] == 2
    # the rendered table: a header row and one body row by default, the rest behind <details>
    html = render_html(_document(_result("a.example.test", failing + _passing(2))))
    shown = html.split('<p class="sim-summary">', 1)[1].split('<details class="sim-all">', 1)[0]
    assert len(re.findall(r"<tr", shown)) == 2
    assert NO_FALLBACK in shown and shown.count(NO_FALLBACK) == 1
    assert "Show all 37 clients (+2 that connect)" in html


def test_identical_outcomes_group_and_different_ones_do_not():
    entries = [
        *_passing(3),
        *_passing(2, protocol="TLSv1.2", cipher="TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
        *_passing(1, group="secp256r1"),
    ]
    sim = _sim(entries)
    assert sim["shown"] == []
    assert [g["count"] for g in sim["hidden"]] == [3, 2, 1]  # biggest group first
    cells = [[text for text, _tone, _more in g["cells"]] for g in sim["hidden"]]
    assert cells[1][:4] == [
        "connects",
        "TLSv1.2",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "x25519",
    ]
    assert cells[2][3] == "secp256r1"


def test_failing_groups_first_then_unknown_then_passing():
    entries = [
        *_passing(5),
        _client("Old iOS", None, reason="unknown store"),
        _client("Java 8", False, reason="no shared cipher"),
        _client("Java 7", False, reason="no shared cipher"),
        _client("Android 2.3", False, reason="no ECDHE_ECDSA"),
    ]
    sim = _sim(entries)
    assert [(g["tone"], g["count"]) for g in sim["shown"]] == [
        ("fail", 2),
        ("fail", 1),
        ("unknown", 1),
    ]
    assert sim["shown"][0]["names"] == ["Java 8", "Java 7"]
    assert [g["tone"] for g in sim["hidden"]] == ["pass"]
    assert sim["summary"] == "5 of 9 client profiles connect"


def test_one_reason_code_is_one_row_though_the_wording_names_each_store():
    stores = [
        "Apple trust store of iOS 9.3",
        "Android 7.0 (API 24) system store",
        "Chrome Root Store",
    ]
    entries = [
        _client(
            f"Client {i}",
            False,
            protocol="TLSv1.3" if i else "TLSv1.2",
            reason=f"untrusted root on this client: CN=x is not in the {store}",
            reason_code="untrusted_root",
        )
        for i, store in enumerate(stores)
    ]
    sim = _sim(entries)
    assert len(sim["shown"]) == 1
    cells = dict(zip(sim["columns"][1:], sim["shown"][0]["cells"], strict=True))
    text, _tone, others = cells["Why"]
    assert text.endswith(stores[0]) and [o.split("the ")[-1] for o in others] == stores[1:]
    assert cells["Protocol"][0] == "TLSv1.2, TLSv1.3"  # the distinct values of the group


def test_extra_keys_kept_only_when_the_whole_group_shares_them():
    entries = _passing(2, trust="ok", store="android:33") + _passing(1, trust="ok", store="ios:17")
    entries[2]["protocol"] = "TLSv1.3"  # same outcome as the others: one group of three
    sim = _sim(entries)
    (group,) = sim["hidden"]
    assert group["count"] == 3
    more = group["cells"][-1][0]
    assert "ok" in more and "android:33" not in more and "ios:17" not in more
    # one client alone keeps every extra key, as before grouping
    single = _sim([_client("Only", False, reason="r", future_field=["a", "b"])])
    assert "future_field: a; b" in single["shown"][0]["cells"][-1][0]


def test_chinese_columns_and_show_all():
    sim = _sim([_client("A", False, reason="r")] + _passing(4), "zh")
    assert sim["columns"][0] == "客户端"
    html = render_html(
        _document(_result("a.example.test", [_client("A", False, reason="r")] + _passing(4))), "zh"
    )
    assert "显示全部 5 个客户端（另有 4 个可以连接）" in html
    everyone = render_html(_document(_result("a.example.test", _passing(3))))
    assert "Show all 3 clients (all connect)" in everyone and "+3 that connect" not in everyone


# -- the headline, shared with the console ------------------------------------------------------

LEGACY_FINDING = {
    "rule_id": "legacy_tls_missing",
    "severity": "warning",
    "title": "Old Android clients (4.x) have no protocol to fall back to",
    "platforms": ["android_legacy"],
    "breaks": ["android_legacy"],
}


def _old_android_fleet(n: int = 4) -> dict[str, Any]:
    old = [_client(f"Android 4.{i}", False, reason=NO_FALLBACK) for i in range(4)]
    return _document(
        *[
            _result(f"s{i}.example.test", old + _passing(3), findings=[LEGACY_FINDING])
            for i in range(n)
        ]
    )


def test_headline_says_current_phones_connect_and_old_android_fails():
    headline = build_view(_old_android_fleet())["headline"]
    assert headline["worst"] == "warn"
    assert headline["lines"] == [
        "4 of 4 targets connect on current iOS and Android; old Android 4.x fails on 4 of them"
    ]
    assert headline["details"] == [
        "Why old Android fails: Old Android clients (4.x) have no protocol to fall back to",
        "Old clients that fail: Android 4.0, Android 4.1, Android 4.2, Android 4.3",
    ]
    chinese = build_view(_old_android_fleet(), "zh")["headline"]
    assert chinese["lines"] == [
        "4 个目标中有 4 个可在当前 iOS 和 Android 上连接；其中 4 个在旧版 Android 4.x 上失败"
    ]
    assert chinese["details"][0].startswith("旧版 Android 失败的原因：")
    assert "Old Android clients" not in chinese["details"][0]  # the rule's Chinese title


def test_headline_counts_match_the_console():
    document = _old_android_fleet(3)
    document["results"].append(
        _result(
            "bad.example.test",
            verdicts={"ios": "fail", "android": "pass", "android_legacy": "fail"},
            overall="fail",
        )
    )
    headline = build_view(document)["headline"]
    assert headline["worst"] == "fail"
    assert headline["lines"][0].startswith("3 of 4 targets connect on current iOS and Android")
    facts = ServerFacts(Target("a.example.test"), "2026-12-01T00:00:00Z")
    console = [
        TargetResult(facts=facts, verdicts=r["verdicts"], overall=r["overall"])
        for r in document["results"]
    ]
    assert phones_line(console) == (
        "current phones (iOS, Android): 3 of 4 target(s) accepted; "
        "old Android (4.x) fails on 3 of them"
    )


def test_headline_when_everything_passes_or_nothing_was_scanned():
    everything = _document(
        _result(
            "a.example.test",
            verdicts=dict.fromkeys(("ios", "android", "android_legacy"), "pass"),
            overall="pass",
        )
    )
    headline = build_view(everything)["headline"]
    assert headline["worst"] == "pass" and headline["lines"] == [
        "Every target (1) passes on every platform"
    ]
    down = _result("b.example.test", overall="error")
    down["status"] = "error"
    down["facts"]["error"] = {"kind": "refused", "message": "connection refused"}
    headline = build_view(_document(down))["headline"]
    assert headline["worst"] == "error" and headline["lines"] == ["No target could be scanned"]
    assert build_view(_document())["headline"]["worst"] == "error"


def test_pure_headline_functions():
    assert worst_overall(["pass", "warn", "error"]) == "error"
    assert worst_overall(["pass", "fail", "error"]) == "fail"
    assert worst_overall(["pass", "odd"]) == "error"
    assert worst_overall([]) == "error"
    current = {"ios": "pass", "android": "warn", "android_legacy": "fail"}
    counts = phones(
        [
            Outcome(True, "warn", current, ("tls13_only", "legacy_tls_missing"), ("A", "B", "C")),
            Outcome(True, "warn", current, ("legacy_tls_missing",), ("C", "B")),
            Outcome(True, "fail", {"ios": "fail"}, ("other",), ("Z",)),
            Outcome(False, "error", {}),
        ]
    )
    assert counts is not None
    assert (counts.scanned, counts.current, counts.old_only) == (3, 2, 2)
    assert counts.old_rule == "legacy_tls_missing"  # on both targets; tls13_only on one
    assert counts.old_clients == ("B", "C")  # failing on every such target, in order
    assert not counts.all_pass
    assert phones([Outcome(False, "error", {})]) is None
    down = ServerFacts(
        Target("b.example.test"),
        "2026-12-01T00:00:00Z",
        error=ScanError("refused", "connection refused"),
    )
    assert phones_line([TargetResult(facts=down, overall="error")]) is None
