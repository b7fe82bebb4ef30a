"""Issue #14: ``lang = "zh"`` in the monitor configuration words the alerts in Chinese.

Change alerts and reminders (title, item headlines, fix advice, labels, footer) on every
channel; English stays the stored wording, byte for byte.  Pure: no network (the
requests are built, not sent).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from certcheck.model import ServerFacts, Target, TargetResult
from certcheck.monitor.alerts import (
    Message,
    change_message,
    localized,
    reminder_message,
    standing_items,
)
from certcheck.monitor.changes import DetectSettings, Snapshot, detect_changes
from certcheck.monitor.channels import email_message, http_request
from certcheck.monitor.config import ConfigError, MonitorConfig, parse_config

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
SETTINGS = DetectSettings(expiry_alert_days=(30, 7, 1), min_severity="warning", crit_days=7)
RESULT = TargetResult(
    facts=ServerFacts(target=Target("a.test"), scanned_at="x"),
    overall="fail",
    verdicts={"android": "fail"},
)
#: three or more English words in a row (as tests/report/test_zh_everywhere.py counts them)
_SENTENCE = re.compile(r"[A-Za-z][a-z]+(?:[\s,;:()'/-]+[A-Za-z][a-z]+){2,}")
_CODE = re.compile(r"https?://\S+|\b\w+(?:\.\w+)+\b|[^\s()（）]*[_=][^\s()（）]*|CN=[^;）)]+")


def english(text: str) -> list[str]:
    return [line for line in text.splitlines() if _SENTENCE.search(_CODE.sub("§", line))]


def finding(rule_id: str, severity: str = "error", title: str = "x") -> dict[str, Any]:
    return {"rule_id": rule_id, "severity": severity, "platforms": ["all"],
            "breaks": ["android"], "title": title, "fix": f"fix for {rule_id}", "evidence": {}}


def snap(*, at: datetime = NOW, days: float = 60.0, sha: str = "aa" * 32,
         findings: tuple[dict[str, Any], ...] = (), verdict: str = "pass",
         tls10: bool = True, ok: bool = True) -> Snapshot:
    not_after = (at + timedelta(days=days)).isoformat().replace("+00:00", "Z")
    return Snapshot(
        target="a.test:443", evaluated_at=at, ok=ok,
        error=None if ok else {"kind": "refused", "message": "connection refused"},
        overall="pass" if ok else "error",
        verdicts={"ios": "pass", "android": verdict, "android_legacy": "pass"} if ok else {},
        findings={f["rule_id"]: f for f in findings},
        leaf={"sha256": sha, "issuer": "CN=Issuer A", "not_after": not_after,
              "not_before": "2026-01-01T00:00:00Z"} if ok else None,
        protocols={"TLSv1.0": tls10, "TLSv1.2": True}, cipher_suites={},
    )


def _change_alert() -> Message:
    """A change alert with most kinds of change at once."""
    before = snap(findings=(finding("legacy_tls_enabled", "info"),
                            finding("hostname_mismatch", "warning",
                                    "The certificate does not cover the host name")))
    after = snap(
        at=NOW + timedelta(days=1), days=5, sha="bb" * 32, verdict="fail", tls10=False,
        findings=(finding("chain_incomplete", "error", "The chain is incomplete"),
                  finding("hostname_mismatch", "error",
                          "The certificate does not cover the host name")),
    )
    found = detect_changes(before, before, after, SETTINGS)
    assert {c.kind for c in found} >= {"cert_replaced", "expiry_threshold", "new_finding",
                                       "finding_escalated", "protocols_changed",
                                       "verdict_changed"}
    message = change_message("a.test:443", found, RESULT, now=NOW, run_id=7, owner="web team",
                             tags=("prod",), report_url="https://status.example.test/h.html")
    assert message is not None
    return message


def _reminder() -> Message:
    items = standing_items(snap(days=5, findings=(finding("cert_expiring_soon", "error"),
                                                  finding("chain_incomplete", "error"))),
                           "error", 7)
    return reminder_message("a.test:443", items, RESULT, now=NOW, run_id=8, owner=None,
                            tags=(), report_url=None)


def _config(lang_lines: str, notify: str = "") -> MonitorConfig:
    return parse_config(
        f'[monitor]\n{lang_lines}[[targets]]\nhost = "a.test"\n{notify}',
        "certcheck.toml", Path("/nonexistent"),
    )


NOTIFY = (
    '[[notify]]\ntype = "wecom"\nurl = "https://wecom.example.test/hook"\n'
    '[[notify]]\ntype = "slack"\nurl = "https://slack.example.test/hook"\n'
    '[[notify]]\ntype = "feishu"\nurl = "https://feishu.example.test/hook"\n'
    '[[notify]]\ntype = "email"\nhost = "mail.example.test"\nfrom = "a@example.test"\n'
    'to = ["b@example.test"]\n'
    '[[notify]]\nname = "english"\ntype = "webhook"\nurl = "https://hook.example.test/x"\n'
    'lang = "en"\n'
)


# -- the configuration --------------------------------------------------------------------------


def test_lang_defaults_to_english_and_reaches_every_channel() -> None:
    assert _config("").monitor.lang == "en"
    config = _config('lang = "zh"\n', NOTIFY)
    assert config.monitor.lang == "zh"
    langs = {name: channel.lang for name, channel in config.channels.items()}
    assert langs == {"wecom": "zh", "slack": "zh", "feishu": "zh", "email": "zh",
                     "english": "en"}  # a channel's own lang wins
    assert {c.lang for c in _config("", NOTIFY).channels.values()} == {"en"}


@pytest.mark.parametrize("lines", ['lang = "fr"\n', "lang = 1\n"])
def test_an_unknown_language_is_a_config_error_naming_the_key(lines: str) -> None:
    with pytest.raises(ConfigError, match=r"certcheck.toml:2: monitor\.lang"):
        _config(lines)


# -- the words ------------------------------------------------------------------------------------


def test_zh_change_alert_is_chinese_and_keeps_the_data() -> None:
    zh = localized(_change_alert(), "zh")
    text = zh.plain_text()
    assert zh.title.startswith("certcheck a.test:443：")
    assert "（另有" in zh.title
    for wanted in (
        "[错误] chain_incomplete：证书链不完整",
        "[错误] hostname_mismatch 已升级为错误（原为警告）：证书不包含该主机名",
        "[错误] 证书将在 5 天后（2026-11-28）过期（已进入 7 天预警期）（所有平台）",
        "证书已更换：签发者未变（CN=Issuer A）；有效期 2026-01-01 至 2026-11-28",
        "协议变化：不再接受 TLSv1.0",
        "结论变化：Android 通过 → 失败",
        "（Android）",
        "修复建议：重新签发证书",  # the zh fix advice of hostname_mismatch
        "负责人：web team",
        "标签：prod",
        "报告：https://status.example.test/h.html",
    ):
        assert wanted in text, (wanted, text)
    assert english(text) == [], text
    assert len(english(_change_alert().plain_text())) > 5  # the counter sees English


def test_zh_reminder_is_chinese() -> None:
    zh = localized(_reminder(), "zh")
    assert zh.title == (
        "certcheck 提醒：a.test:443：chain_incomplete：证书链不完整（服务器未发送中间证书）"
        "（另有 1 项）"
    )
    text = zh.plain_text()
    assert "[错误] chain_incomplete：证书链不完整" in text
    expiry = "[警告] 证书将在 5 天后（2026-11-27）过期（所有平台）\n    修复建议：立即续期证书"
    assert expiry in text
    assert english(text) == [], text
    down = standing_items(snap(ok=False), "error", 7)
    line = localized(reminder_message("a.test:443", down, RESULT, now=NOW, run_id=9,
                                      owner=None, tags=(), report_url=None), "zh").title
    assert line == "certcheck 提醒：a.test:443：仍然无法扫描（refused）：connection refused"


def test_english_alert_text_is_unchanged() -> None:
    message = _reminder()
    assert localized(message, "en") is message
    assert message.plain_text() == (
        "certcheck reminder: a.test:443: chain_incomplete: x (+1 more)\n\n"
        "[error] chain_incomplete: x (Android)\n"
        "    fix: fix for chain_incomplete\n"
        "[warning] certificate expires in 5 day(s), on 2026-11-27 (all platforms)\n"
        "    fix: fix for cert_expiring_soon\n"
    )


def test_every_channel_sends_the_zh_words() -> None:
    config = _config('lang = "zh"\n', NOTIFY)
    message = _change_alert()
    wecom = http_request(config.channels["wecom"], message, NOW).body["markdown"]["content"]
    assert wecom.startswith("### certcheck a.test:443：")
    assert "- **错误** chain_incomplete：证书链不完整" in wecom and "> 修复建议：" in wecom
    assert "[HTML 报告](https://status.example.test/h.html)" in wecom and "报告：" not in wecom
    slack = http_request(config.channels["slack"], message, NOW).body["text"]
    assert "_修复建议：_" in slack and "|HTML 报告>" in slack
    feishu = http_request(config.channels["feishu"], message, NOW).body["content"]["text"]
    assert "负责人：web team" in feishu and english(feishu) == []
    mail = email_message(config.channels["email"], message)  # type: ignore[arg-type]
    assert str(mail["Subject"]).startswith("certcheck a.test:443：")
    assert "修复建议：" in mail.get_content()
    body = http_request(config.channels["english"], message, NOW).body
    assert body["text"] == message.plain_text() and "fix: " in body["text"]
    assert body["changes"] == message.items
    zh_hook = _config('lang = "zh"\n', NOTIFY.replace('lang = "en"\n', "")).channels["english"]
    body = http_request(zh_hook, message, NOW).body
    assert "修复建议：" in body["text"] and body["title"].startswith("certcheck a.test:443：")
    assert body["changes"] == message.items  # the data of the alert is never translated


def test_a_stored_alert_without_lang_reads_as_english() -> None:
    data = _change_alert().to_dict()
    data.pop("lang")
    assert Message.from_dict(data).plain_text() == _change_alert().plain_text()


def test_the_notify_test_message_in_both_languages() -> None:
    from certcheck.monitor.alerts import notify_test_message

    message = notify_test_message("ops-wecom", NOW, None)
    assert message.plain_text() == (
        "certcheck test message\n\n"
        "[ok] If you can read this, the notification channel 'ops-wecom' works.\n"
    )
    zh = localized(message, "zh")
    assert zh.plain_text() == (
        "certcheck 测试消息\n\n[好转] 如果你能看到这条消息，说明通知渠道 'ops-wecom' 工作正常。\n"
    )


def test_a_digest_is_worded_in_chinese_too_and_english_stays_as_stored() -> None:
    from certcheck.monitor.pacing import digest_message

    digest = digest_message([_change_alert(), _reminder()], NOW)
    assert localized(digest, "en") is digest
    assert digest.title == "certcheck: alerts on 2 targets (2 error)"
    zh = localized(digest, "zh")
    assert zh.title == "certcheck：2 个目标的告警（错误 2 个）"
    summaries = [item["summary"] for item in zh.items]
    assert all(s.startswith("a.test:443：") for s in summaries)
    assert english(" ".join(summaries)) == []
    assert "［负责人：web team］" in " ".join(summaries)
    # the English entry is what it was before entries kept their parts
    assert digest.items[0]["summary"].startswith("a.test:443: ")
