"""Host apps: WeChat's corrected port rules and Tencent Cloud Super App as a Service (TCSAS).

Each rule that differs between the host apps fires on one and stays silent on a near
miss; the wss-with-port and configured-port cases also run end to end through the CLI
against loopback servers (reached through ``--resolve``, certificates from the sample CA).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from certcheck.localserver import ServerSpec
from certcheck.miniprogram.check import plan_endpoints
from certcheck.miniprogram.config import (
    ConfigError,
    MiniProgramConfig,
    config_from_urls,
    loads,
    parse_config,
)
from certcheck.miniprogram.document import miniprogram_document
from certcheck.miniprogram.limits import host_apps, load_limits
from certcheck.miniprogram.lint import lint
from certcheck.miniprogram.localservers import RequestServer, http_answer, websocket_answer
from certcheck.miniprogram.results import MiniProgramReport

WILD = "wild.example.test"
GOOD = "good.example.test"


def _config(host_app: str, urls: list[str] | None = None, **fields: object) -> MiniProgramConfig:
    config = parse_config({**fields, "host_app": host_app}, "test")
    config.request_urls = list(urls or [])
    return config


def _ids(config: MiniProgramConfig, group: str | None = None) -> list[str]:
    report = lint(config)
    findings = report.group(group).findings if group else report.findings
    return sorted(f.rule_id for f in findings)


# -- the data ---------------------------------------------------------------------------------


def test_both_host_apps_are_data_with_sources():
    assert host_apps() == ("wechat", "tcsas")
    wechat, tcsas = load_limits("wechat"), load_limits("tcsas")
    assert load_limits() == wechat
    assert any("developers.weixin.qq.com" in s for s in wechat.sources)
    assert any("tencentcloud.com/document/product/1219/61745" in s for s in tcsas.sources)
    assert wechat.ports == {"https": "bound", "wss": "any"}
    assert tcsas.ports == {"https": "any", "wss": "any"}
    assert (wechat.entry_ports, tcsas.entry_ports) == (True, False)
    assert (wechat.icp_required, tcsas.icp_required) == (True, False)
    assert (wechat.per_api, tcsas.per_api) == (20, None)
    assert (wechat.prefetch, tcsas.prefetch) == (5, None)
    assert tcsas.forbidden_hosts == frozenset()
    assert (wechat.timeout_max_ms, tcsas.timeout_max_ms) == (None, 60000)
    for limits in (wechat, tcsas):
        assert limits.timeout_default_ms == 60000
        assert (limits.max_requests, limits.max_sockets, limits.background_ms) == (10, 5, 5000)
        assert limits.profile == "wechat"  # the same certificate requirements
    assert wechat.referer.startswith("https://servicewechat.com/{appid}/")
    assert tcsas.referer == "https://appservice.wx.com/{appid}/{version}/page-frame.html"


# -- WeChat: ports ----------------------------------------------------------------------------

WECHAT = {
    "requestdomain": ["https://api.example.com", "https://pinned.example.com:8443"],
    "wsrequestdomain": ["wss://ws.example.com"],
}


@pytest.mark.parametrize(
    ("url", "rule", "allowed_by"),
    [
        # wss: no port needs to be configured, every port of the domain is allowed
        ("wss://ws.example.com:9000/chat", None, ["wsrequestdomain"]),
        ("wss://ws.example.com:443/chat", None, ["wsrequestdomain"]),
        ("wss://ws.example.com/chat", None, ["wsrequestdomain"]),
        # https: no port configured means none in the URL, not even :443
        ("https://api.example.com:443/v1", "mp_request_port_mismatch", []),
        ("https://api.example.com:8443/v1", "mp_request_port_mismatch", []),
        ("https://api.example.com/v1", None, ["requestdomain"]),
        # https: a configured port binds to exactly that port
        ("https://pinned.example.com:8443/v1", None, ["requestdomain"]),
        ("https://pinned.example.com/v1", "mp_request_port_mismatch", []),
        ("https://pinned.example.com:9443/v1", "mp_request_port_mismatch", []),
        # another host on a wss port is still not configured
        ("wss://other.example.com:9000/chat", "mp_request_not_configured", []),
    ],
)
def test_wechat_request_ports(url, rule, allowed_by):
    report = lint(_config("wechat", [url], **WECHAT))
    group = report.group("requests")
    assert [f.rule_id for f in group.findings] == ([rule] if rule else [])
    assert group.requests[0].allowed_by == allowed_by


def test_wechat_wss_entry_with_port_is_accepted_and_noted():
    config = _config("wechat", wsrequestdomain=["wss://ws.example.com:9000"])
    (finding,) = lint(config).group("wsrequestdomain").findings
    assert finding.rule_id == "mp_port_not_needed"
    assert finding.severity == "info"
    assert finding.evidence["use"] == "wss://ws.example.com"
    assert [e.raw for e in lint(config).accepted("wsrequestdomain")] == ["wss://ws.example.com:9000"]
    # near misses: no port, or an https entry with a port (bound, not "not needed")
    portless = _config("wechat", wsrequestdomain=["wss://ws.example.com"])
    assert _ids(portless, "wsrequestdomain") == []
    https = _config("wechat", requestdomain=["https://api.example.com:8443"])
    assert _ids(https, "requestdomain") == ["mp_port_bound"]


def test_wechat_wss_entry_lists_any_port_as_working():
    report = lint(_config("wechat", wsrequestdomain=["wss://ws.example.com"]))
    (entry,) = report.group("wsrequestdomain").entries
    assert entry.ports == "any"
    assert entry.works == ["wss://ws.example.com/…", "wss://ws.example.com:<any port>/…"]
    assert entry.fails == []
    (https,) = lint(_config("wechat", requestdomain=["https://a.example.com"])).group(
        "requestdomain"
    ).entries
    assert https.ports == "bound" and https.fails


def test_wechat_wss_endpoints_follow_the_request_urls_ports():
    urls = ["wss://ws.example.com:9000/chat", "wss://ws.example.com:9001/feed"]
    config = _config("wechat", urls, wsrequestdomain=["wss://ws.example.com"])
    endpoints = plan_endpoints(config, lint(config))
    assert [e.label for e in endpoints] == ["ws.example.com:9000", "ws.example.com:9001"]
    assert [[x.path for x in e.exchanges] for e in endpoints] == [["/chat"], ["/feed"]]
    (entry,) = lint(config).group("wsrequestdomain").entries
    assert entry.to_dict()["endpoints"] == ["ws.example.com:9000", "ws.example.com:9001"]
    # no request URL: the default port, '/' guessed
    alone = _config("wechat", wsrequestdomain=["wss://ws.example.com"])
    assert [e.label for e in plan_endpoints(alone, lint(alone))] == ["ws.example.com:443"]


def test_wechat_urls_alone_drop_the_port_of_wss_only():
    config = config_from_urls(["wss://ws.example.com:9000/chat", "https://api.example.com:8443/x"])
    assert config.domains["wsrequestdomain"] == ["wss://ws.example.com"]
    assert config.domains["requestdomain"] == ["https://api.example.com:8443"]
    assert [f.rule_id for f in lint(config).group("requests").findings] == []


# -- WeChat: timeouts -------------------------------------------------------------------------


def test_wechat_per_call_timeout_wins_and_no_maximum_is_invented():
    config = _config(
        "wechat",
        requestdomain=["https://a.example.com"],
        networkTimeout={"request": 20000},
        timeout=5000,
    )
    assert config.timeout_ms("requestdomain") == 5000
    assert config.timeout_ms("wsrequestdomain") == 5000
    assert _config("wechat", requestdomain=["https://a.example.com"]).timeout_ms(
        "requestdomain"
    ) == 60000
    long = _config("wechat", requestdomain=["https://a.example.com"], timeout=90000)
    assert long.timeout_ms("requestdomain") == 90000
    assert _ids(long, "networkTimeout") == []


# -- TCSAS ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "entry"),
    [
        ("requestdomain", "https://miniApp.example.com:8080"),
        ("uploaddomain", "https://miniApp.example.com:443"),
        ("wsrequestdomain", "wss://ws.example.com:9000"),
    ],
)
def test_tcsas_entries_cannot_name_a_port(api, entry):
    config = _config("tcsas", **{api: [entry]})
    findings = lint(config).group(api).findings
    assert [f.rule_id for f in findings] == ["mp_port_not_configurable"]
    assert findings[0].severity == "error" and findings[0].breaks == ["all"]
    assert findings[0].evidence["use"] == entry.rsplit(":", 1)[0].lower()
    assert lint(config).accepted(api) == []
    # the near miss: the same entry without its port, and WeChat accepting the https form
    bare = _config("tcsas", **{api: [entry.rsplit(":", 1)[0]]})
    assert _ids(bare, api) == []
    assert "mp_port_not_configurable" not in _ids(_config("wechat", **{api: [entry]}), api)


TCSAS = {
    "requestdomain": ["https://miniapp.example.com"],
    "wsrequestdomain": ["wss://ws.example.com"],
}


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("https://miniapp.example.com:8080/api", None),  # any port in the URL
        ("https://miniapp.example.com:443/api", None),
        ("https://miniapp.example.com/api", None),
        ("wss://ws.example.com:9000/chat", None),
        ("https://sub.miniapp.example.com/api", "mp_subdomain_not_covered"),  # no parents
        ("https://other.example.com/api", "mp_request_not_configured"),
        ("http://miniapp.example.com/api", "mp_scheme_not_allowed"),
        ("https://203.0.113.9/api", "host_is_ip"),
        ("https://192.168.1.20:8080/lan", None),  # LAN IPs (non-local) at run time
    ],
)
def test_tcsas_request_urls(url, rule):
    group = lint(_config("tcsas", [url], **TCSAS)).group("requests")
    assert [f.rule_id for f in group.findings] == ([rule] if rule else [])


def test_tcsas_configured_entries_share_the_host_rules():
    config = _config(
        "tcsas",
        requestdomain=["https://10.0.0.1", "https://localhost", "http://a.example.com"],
    )
    assert _ids(config, "requestdomain") == [
        "host_is_ip",
        "mp_localhost",
        "mp_scheme_not_allowed",
    ]


def test_tcsas_has_no_wechat_only_rules():
    many = [f"https://h{i}.example.com" for i in range(25)]
    tcsas = _config("tcsas", requestdomain=[*many, "https://api.weixin.qq.com"])
    assert _ids(tcsas) == []  # no 20-domain limit, no API-host ban, no ICP reminder
    assert lint(tcsas).group("general").findings == []
    wechat = _config("wechat", requestdomain=[*many, "https://api.weixin.qq.com"])
    assert _ids(wechat) == [
        "mp_icp_unverified",
        "mp_platform_api_host",
        "mp_too_many_domains",
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("prefetchdomain", ["api.example.com"], "no DNS pre-resolution rule"),
        ("no_icp_domain", ["api.example.com"], "no ICP filing rule"),
    ],
)
def test_tcsas_rejects_wechat_only_fields(field, value, message):
    data = {"requestdomain": ["https://api.example.com"], field: value}
    with pytest.raises(ConfigError, match=message):
        parse_config({**data, "host_app": "tcsas"}, "d.json")
    parse_config(data, "d.json")  # fine for WeChat


def test_tcsas_timeout_maximum_and_per_call_precedence():
    config = _config(
        "tcsas", requestdomain=["https://a.example.com"], networkTimeout={"request": 20000}
    )
    assert config.timeout_ms("requestdomain") == 20000
    assert _ids(config, "networkTimeout") == []
    config.call_timeout = 3000
    assert config.timeout_ms("requestdomain") == 3000
    over = _config(
        "tcsas",
        requestdomain=["https://a.example.com"],
        networkTimeout={"request": 60001},
        timeout=90000,
    )
    assert over.timeout_ms("requestdomain") == 60000  # capped
    findings = lint(over).group("networkTimeout").findings
    assert sorted(f.evidence["key"] for f in findings) == ["networkTimeout.request", "timeout"]
    assert {f.rule_id for f in findings} == {"mp_timeout_above_max"}
    exactly = _config("tcsas", requestdomain=["https://a.example.com"], timeout=60000)
    assert _ids(exactly, "networkTimeout") == []


def test_tcsas_endpoint_limits_come_from_the_host_app():
    config = _config("tcsas", ["https://a.example.com:8080/x"], **{
        "requestdomain": ["https://a.example.com"],
        "timeout": 90000,
    })
    (endpoint,) = plan_endpoints(config, lint(config))
    assert endpoint.label == "a.example.com:8080"
    assert [x.limit_ms for x in endpoint.exchanges] == [60000]
    wechat = _config("wechat", ["https://a.example.com/x"], requestdomain=["https://a.example.com"])
    wechat.call_timeout = 90000
    (endpoint,) = plan_endpoints(wechat, lint(wechat))
    assert [x.limit_ms for x in endpoint.exchanges] == [90000]


def test_tcsas_urls_alone_give_entries_without_ports():
    config = config_from_urls(["https://a.example.com:8080/x"], host_app="tcsas")
    assert config.host_app == "tcsas"
    assert config.domains["requestdomain"] == ["https://a.example.com"]
    assert lint(config).findings == []


# -- choosing the host app --------------------------------------------------------------------


def test_host_app_from_the_file_and_the_option():
    text = '{"host_app": "tcsas", "requestdomain": ["https://a.example.com"]}'
    assert loads(text, "d.json").host_app == "tcsas"
    assert loads(text, "d.json", host_app="tcsas").host_app == "tcsas"
    plain = '{"requestdomain": ["https://a.example.com"]}'
    assert loads(plain, "d.json").host_app == "wechat"
    assert loads(plain, "d.json", host_app="tcsas").host_app == "tcsas"
    with pytest.raises(ConfigError, match="host_app is 'tcsas' but --host-app says 'wechat'"):
        loads(text, "d.json", host_app="wechat")
    with pytest.raises(ConfigError, match=r"unknown host app 'tcsass' \(did you mean 'tcsas'\?\)"):
        loads('host_app = "tcsass"\nrequestdomain = ["https://a.example.com"]\n', "d.toml")
    with pytest.raises(ConfigError, match="host_app must be a string"):
        loads('{"host_app": 1, "requestdomain": []}', "d.json")


def test_document_names_the_host_app():
    config = _config("tcsas", requestdomain=["https://a.example.com"])
    report = MiniProgramReport(config, lint(config), [], False, {}, "pass")
    doc = miniprogram_document(
        report, now=datetime(2026, 1, 2, tzinfo=UTC), fail_on="error", exit_code=0
    )
    assert doc["schema_version"] == "1.1"
    assert doc["host_app"]["id"] == "tcsas"
    assert doc["host_app"]["name"] == "Tencent Cloud Super App as a Service"
    assert doc["host_app"]["entry_ports"] is False
    assert doc["limits"]["timeout_max_ms"] == 60000
    assert doc["limits"]["domains_per_api"] is None
    assert doc["config"]["host_app"] == "tcsas"
    json.dumps(doc)


def test_html_meta_line_shows_the_host_app_when_the_view_has_it():
    from certcheck.report.chrome import render_page
    from certcheck.report.miniprogram_page import miniprogram_view

    config = _config("tcsas", requestdomain=["https://a.example.com"])
    report = MiniProgramReport(config, lint(config), [], False, {}, "pass")
    doc = miniprogram_document(
        report, now=datetime(2026, 1, 2, tzinfo=UTC), fail_on="error", exit_code=0
    )
    view = miniprogram_view(doc, "zh")
    view["host_app"] = doc["host_app"]["name"]
    html = render_page("miniprogram.html.j2", view, ("report.css",))
    assert "<dt>宿主应用</dt><dd>Tencent Cloud Super App as a Service</dd>" in html


# -- end to end through the CLI ---------------------------------------------------------------


@pytest.fixture(scope="module")
def servers(sample_set):
    def spec(name: str) -> ServerSpec:
        sample = sample_set.get(name)
        return ServerSpec(sample.name, sample.chain_pem, sample.key_pem, min_version="TLSv1.0")

    running = {
        "ws": RequestServer(spec("wildcard"), websocket_answer),
        "good": RequestServer(spec("good_rsa"), lambda _h: http_answer()),
    }
    for server in running.values():
        server.start()
    yield running
    for server in running.values():
        server.stop()


def test_cli_wechat_wss_url_with_a_port_against_a_portless_entry(
    servers, tmp_path, sample_dir, run_cli
):
    host, port = f"ws.{WILD}", servers["ws"].port
    path = tmp_path / "domains.toml"
    path.write_text(f'wsrequestdomain = ["wss://{host}"]\n', encoding="utf-8")
    result = run_cli(
        "miniprogram",
        path,
        f"wss://{host}:{port}/chat",
        "--resolve",
        f"{host}:{port}:127.0.0.1",
        "--ca-file",
        sample_dir / "ca.pem",
        "--json",
        tmp_path / "r.json",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert doc["host_app"]["id"] == "wechat"
    assert doc["verdicts"] == {"ios": "pass", "android": "pass", "android_legacy": "pass"}
    (requests,) = [g for g in doc["lint"] if g["group"] == "requests"]
    assert requests["findings"] == []
    assert requests["requests"][0]["allowed_by"] == ["wsrequestdomain"]
    (endpoint,) = doc["endpoints"]
    assert endpoint["endpoint"] == f"{host}:{port}"
    (exchange,) = endpoint["exchanges"]
    assert (exchange["kind"], exchange["status"], exchange["problems"]) == ("websocket", 101, [])
    assert exchange["url"] == f"wss://{host}:{port}/chat"
    text = " ".join(result.stdout.split())  # the console wraps at 80 columns
    assert "Host app: WeChat (wechat)" in text
    assert f"→ {host}:{port} (URLs may use any port)" in text


def test_cli_tcsas_ports(servers, tmp_path, sample_dir, run_cli):
    port = servers["good"].port
    common = ["--resolve", f"{GOOD}:{port}:127.0.0.1", "--ca-file", sample_dir / "ca.pem"]
    # a configured port is an error for TCSAS (and fine for WeChat)
    pinned = tmp_path / "pinned.json"
    pinned.write_text(json.dumps({"requestdomain": [f"https://{GOOD}:{port}"]}))
    result = run_cli("miniprogram", pinned, "--host-app", "tcsas", "--no-endpoints", "--json", "-")
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    (group,) = [g for g in doc["lint"] if g["group"] == "requestdomain"]
    assert [f["rule_id"] for f in group["findings"]] == ["mp_port_not_configurable"]
    assert run_cli("miniprogram", pinned, *common).returncode == 0
    # the portless entry: the request URL may carry the server's port, and that is checked
    bare = tmp_path / "bare.toml"
    bare.write_text(f'host_app = "tcsas"\nrequestdomain = ["https://{GOOD}"]\n', encoding="utf-8")
    result = run_cli("miniprogram", bare, f"https://{GOOD}:{port}/api", *common, "--json", "-")
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["host_app"]["id"] == "tcsas"
    assert [g["findings"] for g in doc["lint"] if g["findings"]] == []  # no ICP reminder
    (endpoint,) = doc["endpoints"]
    assert endpoint["endpoint"] == f"{GOOD}:{port}"
    assert endpoint["exchanges"][0]["status"] == 200
    # the same file told it is WeChat's: a usage error, one line
    clash = run_cli("miniprogram", bare, "--host-app", "wechat", "--no-endpoints")
    assert clash.returncode == 2
    assert clash.stderr.startswith("certcheck: error:") and "--host-app" in clash.stderr
    assert len(clash.stderr.strip().splitlines()) == 1


def test_rules_command_explains_the_host_app_rules_with_their_pages(monkeypatch, capsys):
    import sys

    from certcheck.cli import main

    def explain(rule_id: str) -> str:
        monkeypatch.setattr(sys, "argv", ["certcheck", "rules", rule_id])
        with pytest.raises(SystemExit) as stopped:
            main()
        assert stopped.value.code in (0, None)
        return " ".join(capsys.readouterr().out.split())

    not_needed = explain("mp_port_not_needed")
    assert "every port of the domain is allowed" in not_needed
    assert "developers.weixin.qq.com/miniprogram/dev/framework/ability/network.html" in not_needed
    configurable = explain("mp_port_not_configurable")
    assert "Tencent Cloud Super App as a Service" in configurable
    assert "tencentcloud.com/document/product/1219/61745" in configurable
    assert "tencentcloud.com/document/product/1219/61745" in explain("mp_timeout_above_max")
