"""Issue #14: ``--lang zh`` words the forecast and mini-program consoles too.

The zh output of ``certcheck forecast`` and ``certcheck miniprogram`` holds no English
sentence once data (host names, URLs, paths, rule ids, options) is taken out; the English
output is exactly what it was before the consoles read the catalog (literal text below).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from paths import ROOT, TESTS
from rich.console import Console

from certcheck.cli import forecast as forecast_cli
from certcheck.evaluate import Policy
from certcheck.localserver import ServerSpec
from certcheck.miniprogram.check import check_miniprogram
from certcheck.miniprogram.config import parse_config
from certcheck.miniprogram.console import print_report
from certcheck.miniprogram.localservers import RequestServer, http_answer, websocket_answer
from certcheck.miniprogram.results import MiniProgramReport

GOLDEN_AT = "2026-12-10T12:00:00Z"
ENV = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}

#: three or more English words in a row (as tests/report/test_zh_everywhere.py counts them)
_SENTENCE = re.compile(r"[A-Za-z][a-z]+(?:[\s,;:()'/-]+[A-Za-z][a-z]+){2,}")
#: not wording: URLs, options, dotted names (hosts, files), constants, identifiers, media
#: types, certcheck command lines, the domain-API field names (requestdomain ...)
_CODE = re.compile(
    r"(?:https?|wss?)://\S+|--[\w-]+|\b[a-z]+domain\b|\b\w+(?:\.\w+)+\b|\b[A-Z0-9_]{3,}\b"
    r"|certcheck(?: [a-z]+)+"
    r"|[^\s()（）]*[_=][^\s()（）]*|\b[a-z]+/[\w.+-]+"
)


def english_lines(text: str, data: tuple[str, ...] = ()) -> list[str]:
    """The lines of ``text`` with an English sentence once ``data`` and code are taken out."""
    found = []
    for line in text.splitlines():
        rest = line
        for value in sorted(data, key=len, reverse=True):
            rest = rest.replace(value, "§")
        if _SENTENCE.search(_CODE.sub("§", rest)):
            found.append(line)
    return found


def test_the_counter_finds_english_and_passes_chinese() -> None:
    assert english_lines("Nothing changes in this window.") != []
    assert english_lines("  ok  https://a.example.test  → a.example.test:443 (this port only)")
    assert english_lines("在此时间范围内没有变化。 cert_expiring_soon good.example.test:443") == []


# -- certcheck forecast -------------------------------------------------------------------------


def _forecast_cli(lang: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "certcheck", "forecast", "--facts",
         str(TESTS / "golden" / "facts.json"), "--ca-file", str(ROOT / "sample_certs" / "ca.pem"),
         "--at", GOLDEN_AT, "--days", "400", "--lang", lang],
        capture_output=True, text=True, timeout=120, env=ENV, cwd=ROOT, check=False,
    )
    assert proc.returncode == 1, proc.stderr  # something breaks within 400 days
    return proc.stdout


#: the English forecast of the golden facts as it was printed before #14 (the first rows)
FORECAST_EN_HEAD = """\
Forecast from 2026-12-10T12:00:00Z for 400 days (18 target(s), profile wechat)
Date        Target                           Change                                                                  Platforms
2026-12-12  future.example.test:443          improves: verdict: android stops refusing the connection                android
2026-12-12  future.example.test:443          improves: verdict: ios stops refusing the connection                    ios
2026-12-12  future.example.test:443          cert_expiring_soon (warning): The certificate expires soon              all
2026-12-12  future.example.test:443          improves: cert_not_yet_valid (error): The certificate is not valid yet  all
2026-12-16  api.wild.example.test:443        cert_expiring_soon (warning): The certificate expires soon              all
"""  # noqa: E501
FORECAST_EN_TAIL = """\
2027-01-15  withroot.example.test:443        cert_expired (error): The certificate has expired                       android, ios
2027-01-15  wronghost.example.test:443       cert_expired (error): The certificate has expired                       all
"""  # noqa: E501


def test_forecast_english_console_is_unchanged() -> None:
    text = _forecast_cli("en")
    assert text.startswith(FORECAST_EN_HEAD)
    assert text.endswith(FORECAST_EN_TAIL)
    assert len(text.splitlines()) == 50


def test_forecast_zh_console_is_chinese() -> None:
    text = _forecast_cli("zh")
    lines = text.splitlines()
    assert lines[0] == "预测：从 2026-12-10T12:00:00Z 起的 400 天（18 个目标，策略 wechat）"
    assert lines[1].split() == ["日期", "目标", "变化", "平台"]
    assert "好转：结论：Android 重新接受连接" in text
    assert "cert_expiring_soon（警告）：证书即将过期" in text
    assert "好转：cert_not_yet_valid（错误）：证书尚未生效" in text
    assert "Android、iOS" in text and "所有平台" in text
    assert len(lines) == 50  # the same rows as in English
    assert english_lines(text) == []
    assert len(english_lines(_forecast_cli("en"))) > 40  # the counter sees the English


def _print_forecast(
    monkeypatch: pytest.MonkeyPatch, document: dict, baseline: list, lang: str
) -> str:
    buffer = io.StringIO()
    monkeypatch.setattr(forecast_cli, "out", Console(file=buffer, width=200, no_color=True))
    forecast_cli._print(document, baseline, lang)
    return buffer.getvalue()


def _unscanned(label: str) -> SimpleNamespace:
    return SimpleNamespace(facts=SimpleNamespace(ok=False, target=SimpleNamespace(label=label)))


def test_forecast_unscanned_and_quiet_window_in_both_languages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    document = {"from": GOLDEN_AT, "days": 30, "profile": "wechat", "events": []}
    baseline = [_unscanned("down.example.test:443")]
    en = _print_forecast(monkeypatch, document, baseline, "en")
    assert en == (
        "Forecast from 2026-12-10T12:00:00Z for 30 days (1 target(s), profile wechat)\n"
        "  down.example.test:443: not scanned, nothing to forecast\n"
        "Nothing changes in this window.\n"
    )
    zh = _print_forecast(monkeypatch, document, baseline, "zh")
    assert zh == (
        "预测：从 2026-12-10T12:00:00Z 起的 30 天（1 个目标，策略 wechat）\n"
        "  down.example.test:443：未能扫描，无法预测\n"
        "在此时间范围内没有变化。\n"
    )


def test_forecast_zh_verdict_event_that_starts_failing(monkeypatch: pytest.MonkeyPatch) -> None:
    event = {"at": GOLDEN_AT, "target": "a.example.test:443", "change": "verdict",
             "rule_id": None, "severity": None, "title": "android_legacy starts refusing the "
             "connection", "platforms": ["android_legacy"]}
    document = {"from": GOLDEN_AT, "days": 30, "profile": "wechat", "events": [event]}
    zh = _print_forecast(monkeypatch, document, [], "zh")
    assert "结论：旧版 Android 开始拒绝连接" in zh and english_lines(zh) == []
    en = _print_forecast(monkeypatch, document, [], "en")
    assert "verdict: android_legacy starts refusing the connection  android_legacy" in en


# -- certcheck miniprogram, lint only (offline) ---------------------------------------------------

DOMAINS = {
    "requestdomain": ["https://good.example.test", "https://api.example.test:8443",
                      "http://plain.example.test", "https://10.0.0.1",
                      "https://api.weixin.qq.com"],
    "wsrequestdomain": ["wss://ws.example.test", "https://wrong.example.test"],
    "downloaddomain": ["https://localhost"],
    "prefetchdomain": ["good.example.test", "https://gbk.example.test"],
    "networkTimeout": {"request": 1500},
}

#: ``certcheck miniprogram domains.json URL URL --no-endpoints`` as printed before #14
MINIPROGRAM_EN = """\
Mini program domains: domains.json
Host app: WeChat (wechat)
Verdict  iOS   Android  Old Android
FAIL     FAIL  FAIL     FAIL

wx.request  (requestdomain, 5)
  ok       https://good.example.test  → good.example.test:443 (URLs without a port)
  ok       https://api.example.test:8443  → api.example.test:8443 (this port only)
  rejected http://plain.example.test
  rejected https://10.0.0.1
  rejected https://api.weixin.qq.com
  error mp_scheme_not_allowed: Wrong scheme for this API: request/uploadFile/downloadFile need https://, connectSocket wss://
        api: requestdomain; entry: http://plain.example.test; scheme: http; expected: https://
  error host_is_ip: The host is an IP address; the host app only accepts domain names
        api: requestdomain; entry: https://10.0.0.1; host: 10.0.0.1
  error mp_platform_api_host: WeChat's own server API host cannot be configured
        api: requestdomain; entry: https://api.weixin.qq.com; host: api.weixin.qq.com
  +1 info finding(s): --verbose shows them

wx.connectSocket  (wsrequestdomain, 2)
  ok       wss://ws.example.test  → ws.example.test:443 (URLs may use any port)
  rejected https://wrong.example.test
  error mp_scheme_not_allowed: Wrong scheme for this API: request/uploadFile/downloadFile need https://, connectSocket wss://
        api: wsrequestdomain; entry: https://wrong.example.test; scheme: https; expected: wss://

wx.downloadFile  (downloaddomain, 1)
  rejected https://localhost
  error mp_localhost: localhost cannot be a server domain
        api: downloaddomain; entry: https://localhost; host: localhost

DNS pre-resolution  (prefetchdomain, 2)
  ok       good.example.test
  rejected https://gbk.example.test
  error mp_prefetch_has_scheme: DNS pre-resolution domains are given without scheme
        entry: https://gbk.example.test; use: gbk.example.test

request URLs  (requests, 2)
  ok    https://good.example.test/api  (requestdomain)
  fails https://other.example.test/
  error mp_request_not_configured: The request URL's host is not configured for its API
        url: https://other.example.test/; add: https://other.example.test; to: requestdomain, uploaddomain, downloaddomain

not checkable offline
  info mp_icp_unverified: ICP filing cannot be checked offline: verify it for every domain
       domains: api.example.test, good.example.test, ws.example.test; verify: an ICP filing (备案) for each domain, in the MIIT filing system

Endpoints not checked (--no-endpoints).

lint only; findings: 7 error, 2 info
"""  # noqa: E501


def _lint_cli(tmp_path: Path, lang: str, *extra: str) -> str:
    (tmp_path / "domains.json").write_text(json.dumps(DOMAINS), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "certcheck", "miniprogram", "domains.json",
         "https://good.example.test/api", "https://other.example.test/", "--no-endpoints",
         "--lang", lang, *extra],
        capture_output=True, text=True, timeout=120, env=ENV, cwd=tmp_path, check=False,
    )
    assert proc.returncode == 1, proc.stderr
    return proc.stdout


def test_miniprogram_english_console_is_unchanged(tmp_path: Path) -> None:
    assert _lint_cli(tmp_path, "en") == MINIPROGRAM_EN


def test_miniprogram_zh_console_is_chinese(tmp_path: Path) -> None:
    text = _lint_cli(tmp_path, "zh")
    for wanted in (
        "小程序服务器域名：domains.json",
        "宿主 App：微信（wechat）",
        "wx.request  （requestdomain，5 项）",
        "→ good.example.test:443（仅限不带端口的 URL）",
        "→ api.example.test:8443（只能使用这个端口）",
        "→ ws.example.test:443（URL 可以使用任意端口）",
        "不接受 http://plain.example.test",
        "DNS 预解析  （prefetchdomain，2 项）",
        "不通过 https://other.example.test/",
        "另有 1 条提示级检查项：加 --verbose 显示",
        "无法离线检查",
        "未检查服务器（--no-endpoints）。",
        "仅检查配置；检查项：7 个错误、2 个提示",
    ):
        assert wanted in text, wanted
    assert text.splitlines()[2].split() == ["结论", "iOS", "Android", "旧版", "Android"]
    assert english_lines(text) == []
    verbose = _lint_cli(tmp_path, "zh", "--verbose")
    assert "修复建议：" in verbose and english_lines(verbose) == []
    assert len(english_lines(MINIPROGRAM_EN)) > 15  # the counter sees the English


# -- certcheck miniprogram with endpoints (loopback servers) -------------------------------------

WILD = "wild.example.test"
GOOD = "good.example.test"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint_report(sample_set) -> MiniProgramReport:  # type: ignore[no-untyped-def]
    def spec(name: str) -> ServerSpec:
        sample = sample_set.get(name)
        return ServerSpec(sample.name, sample.chain_pem, sample.key_pem, min_version="TLSv1.0")

    servers = {
        GOOD: RequestServer(spec("good_rsa"), lambda _h: http_answer()),
        f"ws.{WILD}": RequestServer(spec("wildcard"), websocket_answer),
    }
    for server in servers.values():
        server.start()
    closed = _free_port()  # nothing listens: the endpoint is not scanned
    try:
        origin = {host: f"{host}:{server.port}" for host, server in servers.items()}
        config = parse_config(
            {
                "requestdomain": [f"https://{origin[GOOD]}", f"https://down.{WILD}:{closed}"],
                "wsrequestdomain": [f"wss://{origin[f'ws.{WILD}']}"],
            },
            "domains.json",
        )
        config.request_urls = [f"https://{origin[GOOD]}/api"]
        resolve = {(host, server.port): "127.0.0.1" for host, server in servers.items()}
        resolve[(f"down.{WILD}", closed)] = "127.0.0.1"
        policy = Policy.build("wechat", ca_pem=sample_set.root_pem)
        return check_miniprogram(
            config, policy, dt.datetime.now(dt.UTC), resolve=resolve, timeout=5.0, concurrency=2
        )
    finally:
        for server in servers.values():
            server.stop()


def _render(report: MiniProgramReport, lang: str, verbose: bool = False) -> str:
    buffer = io.StringIO()
    print_report(report, Console(file=buffer, width=300, no_color=True), verbose, lang)
    return buffer.getvalue()


def _error_messages(report: MiniProgramReport) -> tuple[str, ...]:
    """The operating system's own words (connection refused ...): data, not wording."""
    messages = [r.tls.facts.error.message for r in report.endpoints if r.tls.facts.error]
    messages += [x.error.message for r in report.endpoints for x in r.exchanges if x.error]
    return tuple(messages)


def test_miniprogram_zh_endpoints_are_chinese(endpoint_report: MiniProgramReport) -> None:
    text = _render(endpoint_report, "zh", verbose=True)
    assert "服务器检查" in text and "未扫描：" in text
    assert re.search(r"DNS 解析 [\d.]+ · 建立连接 [\d.]+ · TLS 握手 [\d.]+ · 首字节 [\d.]+"
                     r"，合计 [\d.]+ ms", text), text
    assert re.search(r"检查了 3 个服务器；检查项：", text), text
    assert " TLS  iOS 正常 Android 正常 旧版 Android 正常  （TLSv1.3）" in text
    assert english_lines(text, _error_messages(endpoint_report)) == []


def test_miniprogram_en_endpoints_keep_their_wording(endpoint_report: MiniProgramReport) -> None:
    text = _render(endpoint_report, "en")
    assert "\nEndpoints\n" in text and "  not scanned: " in text
    assert re.search(r"dns [\d.]+ · connect [\d.]+ · tls [\d.]+ · first byte [\d.]+ = [\d.]+ ms",
                     text), text
    assert re.search(r"\n3 endpoint\(s\); findings: ", text), text
    assert " TLS  iOS ok Android ok Old Android ok  (TLSv1.3)" in text
    assert re.search(r"\nERROR down\.wild\.example\.test:\d+  requestdomain\n", text), text



def test_demo_says_its_last_word_in_the_report_language() -> None:
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "certcheck", "demo", "--lang", "zh"],
        capture_output=True, text=True, timeout=240, env=env,
    )
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert "故意" in last and "certcheck scan example.com" in last
    assert "fail on purpose" not in done.stdout
