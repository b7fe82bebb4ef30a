"""``certcheck miniprogram`` end to end: a domain file of good and bad entries, local servers.

Every server listens on 127.0.0.1 and is reached through ``--resolve``; the
certificates come from the sample CA (``--ca-file``).  Servers accept TLS 1.0-1.3
so that their TLS scan passes on every platform and the verdicts below come
from the mini-program rules alone.
"""

from __future__ import annotations

import json
import socket
import sys

import pytest

from certcheck.localserver import LoopbackServer, ServerSpec
from certcheck.miniprogram.localservers import RequestServer, http_answer, websocket_answer

WILD = "wild.example.test"
GOOD = "good.example.test"
GBK_BODY = b"\xef\xbb\xbf" + '{"msg": "你好"}'.encode("gbk")
#: the networkTimeout.request of the domain file: the slow server answers after 5 s
REQUEST_TIMEOUT_MS = 1500


@pytest.fixture(scope="module")
def servers(sample_set):
    def spec(name: str, response: bytes | None = None) -> ServerSpec:
        sample = sample_set.get(name)
        made = ServerSpec(sample.name, sample.chain_pem, sample.key_pem, min_version="TLSv1.0")
        if response is not None:
            made.response = response
        return made

    running = {
        "good": RequestServer(spec("good_rsa"), lambda _h: http_answer()),
        "slow": RequestServer(spec("wildcard"), lambda _h: http_answer(), delay=5.0),
        "gbk": LoopbackServer(
            spec("wildcard", http_answer(GBK_BODY, "application/json; charset=GBK"))
        ),
        "ws": RequestServer(spec("wildcard"), websocket_answer),
        "ws200": LoopbackServer(spec("wildcard")),
    }
    for server in running.values():
        server.start()
    yield running
    for server in running.values():
        server.stop()


def _hosts(servers) -> dict[str, str]:
    return {
        "good": GOOD,
        "slow": f"slow.{WILD}",
        "gbk": f"gbk.{WILD}",
        "ws": f"ws.{WILD}",
        "ws200": f"ws200.{WILD}",
    }


def _origin(servers, name: str, scheme: str = "https") -> str:
    return f"{scheme}://{_hosts(servers)[name]}:{servers[name].port}"


def _resolve(servers) -> list[str]:
    args: list[str] = []
    for name, host in _hosts(servers).items():
        args += ["--resolve", f"{host}:{servers[name].port}:127.0.0.1"]
    return args


@pytest.fixture(scope="module")
def ca_file(sample_dir):
    return sample_dir / "ca.pem"


@pytest.fixture
def in_process(monkeypatch, capsys):
    """Run ``certcheck ARGS`` in this process (fast): (exit code, stdout, stderr)."""
    from certcheck.cli import main

    def run(*args: object) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["certcheck", *map(str, args)])
        with pytest.raises(SystemExit) as stopped:
            main()
        captured = capsys.readouterr()
        return stopped.value.code, captured.out, captured.err

    return run


def _mixed_file(servers, tmp_path):
    document = {
        "errcode": 0,
        "errmsg": "ok",
        "requestdomain": [
            _origin(servers, "good"),
            _origin(servers, "slow"),
            _origin(servers, "gbk"),
            "http://plain.example.test",
            "https://10.0.0.1",
            "https://api.weixin.qq.com",
        ],
        "wsrequestdomain": [
            _origin(servers, "ws", "wss"),
            _origin(servers, "ws200", "wss"),
            "https://wrong.example.test",
        ],
        "uploaddomain": [],
        "downloaddomain": ["https://localhost"],
        "udpdomain": [],
        "tcpdomain": [],
        "prefetchdomain": [GOOD, f"https://gbk.{WILD}"],
        "networkTimeout": {"request": REQUEST_TIMEOUT_MS},
    }
    path = tmp_path / "domains.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _by_group(doc) -> dict[str, list[str]]:
    return {g["group"]: sorted(f["rule_id"] for f in g["findings"]) for g in doc["lint"]}


def test_mixed_domain_file_gives_exactly_the_expected_findings(servers, tmp_path, ca_file, run_cli):
    path = _mixed_file(servers, tmp_path)
    good, ws, ws200 = (
        _origin(servers, "good"),
        _origin(servers, "ws", "wss"),
        _origin(servers, "ws200", "wss"),
    )
    request_urls = [
        f"{good}/api/v1?x=1",  # allowed
        f"https://{GOOD}/api/v1",  # the entry names a port: this URL has none
        f"https://sub.{GOOD}:{servers['good'].port}/x",  # a parent does not cover subdomains
        "https://other.example.test/",  # not configured at all
        f"{ws}/socket",  # upgrades
        f"{ws200}/socket",  # answers 200 instead of 101
    ]
    json_path = tmp_path / "result.json"
    result = run_cli(
        "miniprogram",
        path,
        *request_urls,
        *_resolve(servers),
        "--ca-file",
        ca_file,
        "--json",
        json_path,
    )
    assert result.returncode == 1, result.stderr
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert doc["kind"] == "certcheck-miniprogram"
    assert doc["schema_version"] == "1.1"
    assert doc["exit_code"] == 1

    assert _by_group(doc) == {
        "requestdomain": sorted(
            ["mp_scheme_not_allowed", "host_is_ip", "mp_platform_api_host"] + ["mp_port_bound"] * 3
        ),
        # wss entries need no port (every port is allowed): a port given is only noted
        "wsrequestdomain": sorted(["mp_scheme_not_allowed"] + ["mp_port_not_needed"] * 2),
        "uploaddomain": [],
        "downloaddomain": ["mp_localhost"],
        "udpdomain": [],
        "tcpdomain": [],
        "prefetchdomain": ["mp_prefetch_has_scheme"],
        "networkTimeout": [],
        "requests": sorted(
            ["mp_request_port_mismatch", "mp_subdomain_not_covered", "mp_request_not_configured"]
        ),
        "general": ["mp_icp_unverified"],
    }

    endpoints = {e["endpoint"]: e for e in doc["endpoints"]}
    label = {name: f"{host}:{servers[name].port}" for name, host in _hosts(servers).items()}
    assert list(endpoints) == [label[n] for n in ("good", "slow", "gbk", "ws", "ws200")]
    own = {name: sorted(f["rule_id"] for f in endpoints[label[name]]["findings"]) for name in label}
    assert own == {
        "good": [],
        "slow": ["mp_request_timeout"],
        "gbk": ["mp_response_bom", "mp_response_not_utf8"],
        "ws": [],
        "ws200": ["mp_websocket_upgrade_failed"],
    }
    for endpoint in endpoints.values():
        assert endpoint["tls"]["status"] == "scanned"
        assert endpoint["tls"]["verdicts"] == {
            "ios": "pass",
            "android": "pass",
            "android_legacy": "pass",
        }
    assert {n: endpoints[label[n]]["overall"] for n in label} == {
        "good": "pass",
        "slow": "fail",
        "gbk": "warn",
        "ws": "pass",
        "ws200": "fail",
    }

    # the request URL's path is what the endpoint was asked for
    good_exchange = endpoints[label["good"]]["exchanges"][0]
    assert good_exchange["url"] == f"{good}/api/v1?x=1"
    assert good_exchange["status"] == 200
    assert set(good_exchange["timings_ms"]) == {"dns", "connect", "tls", "first_byte", "total"}
    ws200_exchange = endpoints[label["ws200"]]["exchanges"][0]
    assert (ws200_exchange["kind"], ws200_exchange["status"]) == ("websocket", 200)
    slow_exchange = endpoints[label["slow"]]["exchanges"][0]
    assert slow_exchange["error"]["at_limit"] is True
    assert slow_exchange["limit_ms"] == REQUEST_TIMEOUT_MS

    assert doc["verdicts"] == {"ios": "fail", "android": "fail", "android_legacy": "fail"}
    assert doc["overall"] == "fail"
    assert doc["summary"]["endpoints"] == 5
    assert doc["summary"]["endpoints_failed"] == 2

    # the same run on the console: grouped by API list, then by endpoint, 80 columns
    text = result.stdout
    for heading in (
        "wx.request  (requestdomain, 6)",
        "wx.connectSocket  (wsrequestdomain, 3)",
        "DNS pre-resolution",
        "not checkable offline",
        "Endpoints",
    ):
        assert heading in text
    assert text.index("wx.request") < text.index("wx.connectSocket") < text.index("Endpoints")
    assert "mp_icp_unverified" in text  # never hidden, even without --verbose
    assert "mp_port_bound" not in text  # info: --verbose shows it
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    for name, word in (("good", "PASS"), ("slow", "FAIL"), ("gbk", "WARN"), ("ws200", "FAIL")):
        assert f"{word:5} {_hosts(servers)[name]}:{servers[name].port}" in text


def test_a_clean_configuration_passes(servers, tmp_path, ca_file, run_cli):
    path = tmp_path / "clean.toml"
    path.write_text(
        f'requestdomain = ["{_origin(servers, "good")}"]\n'
        f'wsrequestdomain = ["{_origin(servers, "ws", "wss")}"]\n'
        f'prefetchdomain = ["{GOOD}"]\n',
        encoding="utf-8",
    )
    args = ["miniprogram", path, *_resolve(servers), "--ca-file", ca_file, "--json", "-"]
    result = run_cli(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["verdicts"] == {"ios": "pass", "android": "pass", "android_legacy": "pass"}
    assert doc["overall"] == "pass"
    # the ICP reminder is an info finding: --fail-on info makes it count
    assert run_cli(*args, "--fail-on", "info").returncode == 1


def test_urls_alone_are_the_configuration(servers, ca_file, run_cli):
    good = _origin(servers, "good")
    result = run_cli(
        "miniprogram",
        f"{good}/a",
        f"{good}/b",
        *_resolve(servers),
        "--ca-file",
        ca_file,
        "--json",
        "-",
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["source"] == "command line"
    assert doc["config"]["requestdomain"] == [good]
    (endpoint,) = doc["endpoints"]
    assert [x["url"] for x in endpoint["exchanges"]] == [f"{good}/a", f"{good}/b"]


def test_unreachable_endpoint_exits_3(tmp_path, ca_file, run_cli):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    host = f"down.{WILD}"
    result = run_cli(
        "miniprogram",
        f"https://{host}:{port}",
        "--resolve",
        f"{host}:{port}:127.0.0.1",
        "--ca-file",
        ca_file,
        "--timeout",
        "3",
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "not scanned" in result.stdout


def test_no_endpoints_is_lint_only(tmp_path, run_cli):
    path = tmp_path / "d.json"
    # unresolvable names: with --no-endpoints nothing is looked up or connected
    path.write_text(json.dumps({"requestdomain": ["https://a.example.invalid", "http://b.test"]}))
    result = run_cli("miniprogram", path, "--no-endpoints", "--json", "-")
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert doc["endpoints_checked"] is False
    assert doc["endpoints"] == []
    assert _by_group(doc)["requestdomain"] == ["mp_scheme_not_allowed"]


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ('{"requestdomain": ["https://a.example.com"', (), "not valid JSON"),
        ('{"requestdomain": "https://a.example.com"}', (), "requestdomain must be a list"),
        ('{"requestdomian": []}', (), "unknown field (did you mean 'requestdomain'?)"),
        ('{"networkTimeout": {"request": "x"}}', (), "networkTimeout.request must be"),
        (
            '{"requestdomain": ["https://a.example.com"]}',
            ("--resolve", "nonsense"),
            "expected HOST:PORT:ADDRESS",
        ),
        ('{"requestdomain": ["https://a.example.com"]}', ("other.json",), "at most one"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(tmp_path, in_process, content, args, message):
    path = tmp_path / "domains.json"
    path.write_text(content, encoding="utf-8")
    code, _out, err = in_process("miniprogram", path, *args, "--no-endpoints")
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert err.startswith("certcheck: error:")
    assert len(err.strip().splitlines()) == 1


def test_missing_file_and_no_arguments(in_process):
    code, _out, err = in_process("miniprogram", "api.example.com")
    assert code == 2
    assert "https://api.example.com" in err
    code, _out, err = in_process("miniprogram")
    assert code == 2
    assert "no domain file or URL given" in err


def test_the_subprocess_entry_point_reports_usage_errors_too(tmp_path, run_cli):
    path = tmp_path / "domains.toml"
    path.write_text("requestdomain = [", encoding="utf-8")
    result = run_cli("miniprogram", path)
    assert result.returncode == 2
    assert "not valid TOML" in result.stderr
    assert "Traceback" not in result.stderr
