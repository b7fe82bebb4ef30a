"""Reading mini-program domain files: JSON, TOML, the API response shape, URL lists, errors."""

from __future__ import annotations

import json

import pytest

from certcheck.miniprogram.config import (
    ConfigError,
    config_from_urls,
    load_config,
    loads,
    parse_config,
)
from certcheck.miniprogram.limits import load_limits

API_RESPONSE = {
    "errcode": 0,
    "errmsg": "ok",
    "requestdomain": ["https://api.example.com", "https://cdn.example.com:8443"],
    "wsrequestdomain": ["wss://ws.example.com"],
    "uploaddomain": ["https://up.example.com"],
    "downloaddomain": [],
    "udpdomain": [],
    "tcpdomain": [],
    "invalid_requestdomain": ["https://bad.example.com"],
    "invalid_wsrequestdomain": [],
    "no_icp_domain": ["cdn.example.com"],
}


def test_api_response_is_read_as_pasted(tmp_path):
    path = tmp_path / "domains.json"
    path.write_text(json.dumps(API_RESPONSE), encoding="utf-8")
    config = load_config(path)
    assert config.source == str(path)
    assert list(config.domains) == list(load_limits().schemes)
    assert config.domains["requestdomain"] == API_RESPONSE["requestdomain"]
    assert config.domains["wsrequestdomain"] == ["wss://ws.example.com"]
    assert config.rejected == {"requestdomain": ["https://bad.example.com"]}
    assert config.no_icp == ["cdn.example.com"]


def test_toml_with_prefetch_and_network_timeout(tmp_path):
    path = tmp_path / "domains.toml"
    path.write_text(
        'requestdomain = ["https://api.example.com"]\n'
        'prefetchdomain = ["api.example.com"]\n'
        "[networkTimeout]\nrequest = 10000\nconnectSocket = 90000\n",
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.prefetch == ["api.example.com"]
    assert config.network_timeout == {"request": 10000, "connectSocket": 90000}
    assert config.timeout_ms("requestdomain") == 10000
    # WeChat documents no maximum today; TCSAS caps at 60 s
    assert config.timeout_ms("wsrequestdomain") == 90000
    assert config.timeout_ms("wsrequestdomain", load_limits("tcsas")) == 60000
    assert config.timeout_ms("uploaddomain") == 60000  # the default


def test_format_is_guessed_without_a_known_suffix(tmp_path):
    as_json = tmp_path / "domains.conf"
    as_json.write_text('{"requestdomain": ["https://a.example.com"]}', encoding="utf-8")
    as_toml = tmp_path / "domains.txt"
    as_toml.write_text('requestdomain = ["https://b.example.com"]', encoding="utf-8")
    assert load_config(as_json).domains["requestdomain"] == ["https://a.example.com"]
    assert load_config(as_toml).domains["requestdomain"] == ["https://b.example.com"]


def test_utf8_bom_in_the_file_is_accepted(tmp_path):
    path = tmp_path / "domains.json"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"requestdomain": ["https://a.example.com"]}')
    assert load_config(path).domains["requestdomain"] == ["https://a.example.com"]


def test_a_json_list_is_a_plain_list_of_urls():
    config = loads('["https://a.example.com/v1", "wss://ws.example.com/s"]', "urls.json")
    assert config.domains["requestdomain"] == ["https://a.example.com"]
    assert config.domains["wsrequestdomain"] == ["wss://ws.example.com"]
    assert config.request_urls == ["https://a.example.com/v1", "wss://ws.example.com/s"]


def test_urls_go_to_the_list_their_scheme_serves():
    config = config_from_urls(
        [
            "https://a.example.com/v1",
            "https://a.example.com/v2",
            "https://a.example.com:8443/x",
            "wss://ws.example.com/socket",
            "http://plain.example.com/",
            "udp://u.example.com:9000",
        ]
    )
    assert config.source == "command line"
    # one entry per origin, the port kept as written
    assert config.domains["requestdomain"] == [
        "https://a.example.com",
        "https://a.example.com:8443",
        "http://plain.example.com",
    ]
    assert config.domains["wsrequestdomain"] == ["wss://ws.example.com"]
    assert config.domains["udpdomain"] == ["udp://u.example.com:9000"]
    assert config.domains["uploaddomain"] == []
    assert len(config.request_urls) == 6


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ('{"requestdomain": ["https://a.example.com",]}', "json", "not valid JSON"),
        ("requestdomain = [", "toml", "not valid TOML"),
        ('{"requestdomain": "https://a.example.com"}', "json", "requestdomain must be a list"),
        ('{"requestdomain": ["https://a.example.com", 5]}', "json", "requestdomain[1] must be"),
        ('{"requestdomian": ["https://a.example.com"]}', "json", "did you mean 'requestdomain'"),
        ('{"requestdomain": [], "foo": 1}', "json", "foo: unknown field"),
        ('{"networkTimeout": {"request": "10s"}}', "json", "networkTimeout.request must be"),
        ('{"networkTimeout": {"requests": 100}}', "json", "networkTimeout.requests: unknown"),
        ('{"networkTimeout": {"request": -5}}', "json", "more than 0 milliseconds"),
        ('{"networkTimeout": {"request": true}}', "json", "got a boolean"),
        ('{"networkTimeout": [1000]}', "json", "networkTimeout must be an object"),
        ('{"prefetchdomain": {"a": 1}}', "json", "prefetchdomain must be a list"),
        ('"https://a.example.com"', "json", "expected an object with the API lists"),
        ('{"errcode": 0, "errmsg": "ok"}', "json", "no server domains found"),
    ],
)
def test_malformed_input_names_the_problem(text, fmt, message):
    with pytest.raises(ConfigError) as caught:
        loads(text, "domains.x", fmt)
    assert message in str(caught.value)
    assert str(caught.value).startswith("domains.x")


def test_unreadable_and_non_utf8_files(tmp_path):
    with pytest.raises(ConfigError, match="No such file"):
        load_config(tmp_path / "missing.json")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b'{"requestdomain": ["\xff\xfe"]}')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)


def test_envelope_fields_are_ignored_but_other_fields_are_not():
    config = parse_config(
        {"errcode": 0, "errmsg": "ok", "action": "get", "requestdomain": ["https://a.example"]},
        "resp",
    )
    assert config.domains["requestdomain"] == ["https://a.example"]
    with pytest.raises(ConfigError, match="invalid_foo: unknown field"):
        parse_config({"requestdomain": ["https://a.example"], "invalid_foo": []}, "resp")


def test_to_dict_round_trips_the_input():
    config = parse_config(
        {"requestdomain": ["https://a.example.com"], "networkTimeout": {"request": 5000}}, "f"
    )
    data = config.to_dict()
    assert data["requestdomain"] == ["https://a.example.com"]
    assert data["networkTimeout"] == {"request": 5000}
    assert data["source"] == "f"
    json.dumps(data)  # JSON-ready
