"""The mini-program lint rules: each one firing on a bad entry and silent on a good one."""

from __future__ import annotations

import json

import pytest

from certcheck.catalog import load_catalog
from certcheck.miniprogram.config import MiniProgramConfig, parse_config
from certcheck.miniprogram.entries import parse_entry
from certcheck.miniprogram.lint import lint


def _config(request_urls: list[str] | None = None, **fields: object) -> MiniProgramConfig:
    config = parse_config(fields, "test")
    config.request_urls = list(request_urls or [])
    return config


def _ids(config: MiniProgramConfig, group: str) -> list[str]:
    return sorted(f.rule_id for f in lint(config).group(group).findings)


def _errors(config: MiniProgramConfig, group: str) -> list[str]:
    return sorted(f.rule_id for f in lint(config).group(group).findings if f.severity == "error")


def test_every_lint_rule_is_in_the_catalog():
    catalog = load_catalog()
    for rule_id in (
        "mp_scheme_not_allowed",
        "host_is_ip",
        "mp_localhost",
        "mp_platform_api_host",
        "mp_entry_malformed",
        "mp_subdomain_not_covered",
        "mp_too_many_domains",
        "mp_port_bound",
        "mp_platform_rejected",
        "mp_prefetch_has_scheme",
        "mp_too_many_prefetch",
        "mp_timeout_above_max",
        "mp_request_not_configured",
        "mp_request_port_mismatch",
        "mp_icp_unverified",
        "mp_icp_missing",
    ):
        assert rule_id in catalog
        assert catalog[rule_id].sources


# -- schemes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "entry", "fires"),
    [
        ("requestdomain", "https://a.example.com", False),
        ("requestdomain", "http://a.example.com", True),
        ("requestdomain", "wss://a.example.com", True),
        ("requestdomain", "a.example.com", True),  # no scheme at all
        ("uploaddomain", "https://a.example.com", False),
        ("downloaddomain", "ftp://a.example.com", True),
        ("wsrequestdomain", "wss://a.example.com", False),
        ("wsrequestdomain", "https://a.example.com", True),
        ("wsrequestdomain", "ws://a.example.com", True),
        ("udpdomain", "udp://a.example.com", False),
        ("udpdomain", "a.example.com", False),  # bare host names are fine for udp/tcp
        ("tcpdomain", "tcp://a.example.com:9000", False),
        ("tcpdomain", "https://a.example.com", True),
    ],
)
def test_scheme_per_api(api, entry, fires):
    ids = _ids(_config(**{api: [entry]}), api)
    assert ("mp_scheme_not_allowed" in ids) is fires


def test_scheme_finding_names_entry_and_expected_scheme():
    (finding,) = [
        f
        for f in lint(_config(requestdomain=["http://a.example.com"])).findings
        if f.rule_id == "mp_scheme_not_allowed"
    ]
    assert finding.evidence == {
        "api": "requestdomain",
        "entry": "http://a.example.com",
        "scheme": "http",
        "expected": "https://",
    }
    assert finding.severity == "error"
    assert finding.breaks == ["all"]


# -- hosts --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "rule"),
    [
        ("https://10.0.0.1", "host_is_ip"),
        ("https://203.0.113.7:8443", "host_is_ip"),
        ("https://[2001:db8::1]", "host_is_ip"),
        ("https://localhost", "mp_localhost"),
        ("https://LOCALHOST:8080", "mp_localhost"),
        ("https://dev.localhost", "mp_localhost"),
        ("https://api.weixin.qq.com", "mp_platform_api_host"),
        ("https://sh.api.weixin.qq.com", "mp_platform_api_host"),
        ("https://api2.weixin.qq.com", "mp_platform_api_host"),
    ],
)
def test_forbidden_hosts_fire(entry, rule):
    report = lint(_config(requestdomain=[entry]))
    assert _errors(_config(requestdomain=[entry]), "requestdomain") == [rule]
    assert report.accepted("requestdomain") == []


@pytest.mark.parametrize(
    "entry",
    ["https://localhost.example.com", "https://weixin.example.com", "https://api.qq.example.com"],
)
def test_ordinary_domains_are_accepted(entry):
    config = _config(requestdomain=[entry])
    assert _errors(config, "requestdomain") == []
    assert [e.raw for e in lint(config).accepted("requestdomain")] == [entry]


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("https://a.example.com/api", "path"),
        ("https://a.example.com?x=1", "path or query"),
        ("https://user@a.example.com", "user names"),
        ("https://a.example.com:99999", "port"),
        ("https://a.example.com:http", "port"),
        ("https://a example.com", "white space"),
        ("https://-bad-.example.com", "label"),
        ("https://", "no host"),
    ],
)
def test_malformed_entries(entry, reason):
    findings = lint(_config(requestdomain=[entry])).group("requestdomain").findings
    assert [f.rule_id for f in findings] == ["mp_entry_malformed"]
    assert reason in findings[0].evidence["reason"]


def test_trailing_slash_and_case_are_tolerated():
    config = _config(requestdomain=["https://API.Example.com/"])
    assert _errors(config, "requestdomain") == []
    assert lint(config).accepted("requestdomain")[0].host == "api.example.com"


def test_wildcard_entry_does_not_cover_subdomains():
    ids = _ids(_config(requestdomain=["https://*.example.com"]), "requestdomain")
    assert ids == ["mp_subdomain_not_covered"]


# -- ports --------------------------------------------------------------------------------------


def test_entry_without_port_lists_the_urls_that_work_and_fail():
    report = lint(_config(requestdomain=["https://a.example.com"]))
    (entry,) = report.group("requestdomain").entries
    assert entry.works == ["https://a.example.com/…"]
    assert entry.fails[0] == "https://a.example.com:443/…"
    assert "mp_port_bound" not in _ids(
        _config(requestdomain=["https://a.example.com"]), "requestdomain"
    )


def test_entry_with_port_binds_requests_to_it():
    report = lint(_config(requestdomain=["https://a.example.com:8443"]))
    (finding,) = report.group("requestdomain").findings
    assert finding.rule_id == "mp_port_bound"
    assert finding.severity == "info"
    assert finding.evidence["works"] == ["https://a.example.com:8443/…"]
    assert finding.evidence["fails"] == ["https://a.example.com/…", "https://a.example.com:443/…"]


def test_entry_with_port_443_still_binds():
    report = lint(_config(uploaddomain=["https://up.example.com:443"]))
    (finding,) = report.group("uploaddomain").findings
    assert finding.evidence["works"] == ["https://up.example.com:443/…"]
    assert finding.evidence["fails"] == ["https://up.example.com/…"]


# -- list sizes ---------------------------------------------------------------------------------


def test_at_most_20_domains_per_api():
    twenty = [f"https://h{i}.example.com" for i in range(20)]
    assert "mp_too_many_domains" not in _ids(_config(uploaddomain=twenty), "uploaddomain")
    over = _config(uploaddomain=[*twenty, "https://h20.example.com"])
    findings = [f for f in lint(over).findings if f.rule_id == "mp_too_many_domains"]
    assert [f.evidence for f in findings] == [{"api": "uploaddomain", "count": 21, "max": 20}]


def test_prefetch_rules():
    five = [f"h{i}.example.com" for i in range(5)]
    assert (
        _ids(
            _config(requestdomain=["https://a.example.com"], prefetchdomain=five), "prefetchdomain"
        )
        == []
    )
    six = _config(prefetchdomain=[*five, "h5.example.com"])
    assert _ids(six, "prefetchdomain") == ["mp_too_many_prefetch"]
    schemed = _config(prefetchdomain=["https://a.example.com", "10.1.2.3", "localhost"])
    assert _ids(schemed, "prefetchdomain") == [
        "host_is_ip",
        "mp_localhost",
        "mp_prefetch_has_scheme",
    ]
    (finding,) = [f for f in lint(schemed).findings if f.rule_id == "mp_prefetch_has_scheme"]
    assert finding.evidence["use"] == "a.example.com"


def test_network_timeout_above_maximum():
    # WeChat's current page states only the 60 s default, no maximum: TCSAS has the rule
    ok = _config(
        requestdomain=["https://a.example.com"], networkTimeout={"request": 60000}, host_app="tcsas"
    )
    assert _ids(ok, "networkTimeout") == []
    over = _config(
        requestdomain=["https://a.example.com"],
        networkTimeout={"request": 90000, "uploadFile": 1000},
        host_app="tcsas",
    )
    (finding,) = lint(over).group("networkTimeout").findings
    assert finding.rule_id == "mp_timeout_above_max"
    assert finding.severity == "warning"
    assert finding.evidence == {
        "key": "networkTimeout.request",
        "value_ms": 90000,
        "max_ms": 60000,
        "host_app": "tcsas",
    }


# -- request URLs against the configuration -----------------------------------------------------

CONFIGURED = {
    "requestdomain": ["https://example.com", "https://api.example.com:8443"],
    "downloaddomain": ["https://files.example.com"],
    "wsrequestdomain": ["wss://ws.example.com"],
}


@pytest.mark.parametrize(
    ("url", "rule", "allowed_by"),
    [
        ("https://example.com/v1/items?id=3", None, ["requestdomain"]),
        ("https://api.example.com:8443/v1", None, ["requestdomain"]),
        ("https://files.example.com/a.pdf", None, ["downloaddomain"]),
        ("wss://ws.example.com/socket", None, ["wsrequestdomain"]),
        ("https://192.168.1.20:8080/lan", None, ["lan_ip"]),  # LAN IPs: allowed at run time
        ("https://example.com:443/v1", "mp_request_port_mismatch", []),
        ("https://api.example.com/v1", "mp_request_port_mismatch", []),
        ("https://api.example.com:9443/v1", "mp_request_port_mismatch", []),
        ("https://www.example.com/", "mp_subdomain_not_covered", []),
        ("https://other.example.org/", "mp_request_not_configured", []),
        ("wss://example.com/socket", "mp_request_not_configured", []),
        ("http://example.com/", "mp_scheme_not_allowed", []),
        ("https://203.0.113.9/", "host_is_ip", []),
        ("https://127.0.0.1/", "host_is_ip", []),
        ("https://exa mple.com/", "mp_entry_malformed", []),
    ],
)
def test_request_urls(url, rule, allowed_by):
    report = lint(_config([url], **CONFIGURED))
    group = report.group("requests")
    assert [f.rule_id for f in group.findings] == ([rule] if rule else [])
    assert group.requests[0].allowed_by == allowed_by


def test_port_mismatch_says_which_url_works():
    report = lint(_config(["https://example.com:443/v1?q=1"], **CONFIGURED))
    (finding,) = report.group("requests").findings
    assert finding.evidence["use"] == ["https://example.com/v1?q=1"]
    assert finding.evidence["configured"] == ["https://example.com"]


def test_subdomain_finding_names_parent_and_what_to_add():
    report = lint(_config(["https://www.example.com/x"], **CONFIGURED))
    (finding,) = report.group("requests").findings
    assert finding.evidence["parent_entry"] == ["https://example.com"]
    assert finding.evidence["add"] == "https://www.example.com"


def test_rejected_entries_do_not_allow_requests():
    report = lint(
        _config(["http://plain.example.com/"], requestdomain=["http://plain.example.com"])
    )
    assert [f.rule_id for f in report.group("requests").findings] == ["mp_scheme_not_allowed"]


# -- what cannot be checked offline, and the platform's own verdicts ---------------------------


def test_icp_is_stated_never_silently_passed():
    report = lint(
        _config(
            requestdomain=["https://a.example.com", "https://10.0.0.1"],
            wsrequestdomain=["wss://ws.example.com"],
        )
    )
    (finding,) = report.group("general").findings
    assert finding.rule_id == "mp_icp_unverified"
    assert finding.severity == "info"
    assert finding.evidence["domains"] == ["a.example.com", "ws.example.com"]
    assert "ICP" in finding.evidence["verify"]


def test_platform_reported_problems_are_errors():
    config = parse_config(
        {
            "requestdomain": ["https://a.example.com"],
            "invalid_requestdomain": ["https://x.example.com"],
            "no_icp_domain": ["a.example.com"],
        },
        "resp",
    )
    report = lint(config)
    assert _ids(config, "requestdomain") == ["mp_platform_rejected"]
    assert [f.rule_id for f in report.group("general").findings] == [
        "mp_icp_missing",
        "mp_icp_unverified",
    ]


def test_a_clean_configuration_has_only_the_icp_reminder():
    config = _config(
        ["https://api.example.com/v1", "wss://ws.example.com/socket"],
        requestdomain=["https://api.example.com"],
        wsrequestdomain=["wss://ws.example.com"],
        prefetchdomain=["api.example.com"],
        networkTimeout={"request": 10000},
    )
    assert [f.rule_id for f in lint(config).findings] == ["mp_icp_unverified"]


def test_groups_come_in_api_order_and_serialise():
    report = lint(_config(["https://a.example.com/"], requestdomain=["https://a.example.com"]))
    names = [g.name for g in report.groups]
    assert names == [
        "requestdomain",
        "wsrequestdomain",
        "uploaddomain",
        "downloaddomain",
        "udpdomain",
        "tcpdomain",
        "prefetchdomain",
        "networkTimeout",
        "requests",
        "general",
    ]
    data = [g.to_dict() for g in report.groups]
    json.dumps(data)
    assert data[0]["entries"][0] == {
        "entry": "https://a.example.com",
        "host": "a.example.com",
        "port": None,
        "accepted": True,
        "ports": "bound",
        "endpoint": "a.example.com:443",
        "endpoints": ["a.example.com:443"],
        "requests_work": ["https://a.example.com/…"],
        "requests_fail": ["https://a.example.com:443/…", "https://a.example.com:<any port>/…"],
    }
    assert data[8]["requests"] == [
        {"url": "https://a.example.com/", "allowed": True, "allowed_by": ["requestdomain"]}
    ]


def test_parse_entry_keeps_a_missing_port_missing():
    assert parse_entry("https://a.example.com").port is None
    assert parse_entry("https://a.example.com").effective_port == 443
    assert parse_entry("https://a.example.com:443").port == 443
    assert parse_entry("https://[2001:db8::1]:8443").host == "2001:db8::1"
    assert parse_entry("https://bücher.example").host == "xn--bcher-kva.example"
