"""bench/peers.py and the side-by-side table: commands, output parsing, process-tree memory.

bench/ is scripts, not a package: its folder goes on sys.path like run.py's
own imports expect.  Nothing here starts sslscan or testssl.sh or opens a
socket; the process tests run ``sh`` and ``sleep`` only.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import peers  # noqa: E402
import results_md  # noqa: E402
import tools  # noqa: E402

TARGET = tools.BenchTarget("legacy.example.test", 37177, "tls10_enabled")

SSLSCAN_XML = """<?xml version="1.0" encoding="UTF-8"?>
<document title="SSLScan Results" version="2.0.7" web="http://github.com/rbsec/sslscan">
 <ssltest host="127.0.0.1" sniname="legacy.example.test" port="37177">
  <protocol type="ssl" version="2" enabled="0" />
  <protocol type="ssl" version="3" enabled="0" />
  <protocol type="tls" version="1.0" enabled="1" />
  <protocol type="tls" version="1.1" enabled="0" />
  <protocol type="tls" version="1.2" enabled="1" />
  <protocol type="tls" version="1.3" enabled="1" />
  <cipher status="preferred" sslversion="TLSv1.3" bits="256" cipher="TLS_AES_256_GCM_SHA384" />
  <cipher status="accepted" sslversion="TLSv1.3" bits="128" cipher="TLS_AES_128_GCM_SHA256" />
  <cipher status="preferred" sslversion="TLSv1.2" bits="256" cipher="ECDHE-RSA-AES256-GCM-SHA384" />
  <cipher status="accepted" sslversion="TLSv1.2" bits="128" cipher="AES128-SHA" />
  <cipher status="accepted" sslversion="TLSv1.2" bits="256" cipher="AES256-SHA" />
  <cipher status="preferred" sslversion="TLSv1.0" bits="256" cipher="ECDHE-RSA-AES256-SHA" />
  <group sslversion="TLSv1.3" bits="128" name="x25519" id="0x001d" />
 <certificates>
  <certificate type="short">
   <subject><![CDATA[legacy.example.test]]></subject>
  </certificate>
 </certificates>
 </ssltest>
</document>
"""

#: What sslscan writes for a listener that accepts and never answers (or closes at once).
SSLSCAN_SILENT_XML = """<?xml version="1.0" encoding="UTF-8"?>
<document title="SSLScan Results" version="2.0.7" web="http://github.com/rbsec/sslscan">
 <ssltest host="127.0.0.1" sniname="silent.example.test" port="42047">
  <protocol type="ssl" version="2" enabled="0" />
  <protocol type="ssl" version="3" enabled="0" />
  <protocol type="tls" version="1.0" enabled="0" />
  <protocol type="tls" version="1.1" enabled="0" />
  <protocol type="tls" version="1.2" enabled="0" />
  <protocol type="tls" version="1.3" enabled="0" />
 <certificates>
 </certificates>
 </ssltest>
</document>
"""


def _finding(ident: str, finding: str) -> dict[str, str]:
    return {"id": ident, "ip": "legacy.example.test/127.0.0.1", "port": "37177", "finding": finding}


TESTSSL_ITEMS = [
    _finding("service", "HTTP"),
    _finding("SSLv2", "not offered"),
    _finding("SSLv3", "not offered"),
    _finding("TLS1", "offered (deprecated)"),
    _finding("TLS1_1", "not offered"),
    _finding("TLS1_2", "offered"),
    _finding("TLS1_3", "offered with final"),
    _finding("cipher-tls1_xc014", "TLS 1   xc014   ECDHE-RSA-AES256-SHA"),
    _finding("cipher-tls1_2_xc030", "TLS 1.2   xc030   ECDHE-RSA-AES256-GCM-SHA384"),
    _finding("cipher-tls1_2_x2f", "TLS 1.2   x2f     AES128-SHA"),
    _finding("cipher-tls1_3_x1302", "TLS 1.3   x1302   TLS_AES_256_GCM_SHA384"),
    _finding("cipher_order", "server"),  # not a cipher id: must not be counted
    _finding("scanTime", "131"),
]

#: testssl.sh on a listener that closes right after accepting.
TESTSSL_CLOSED_ITEMS = [
    _finding("optimal_proto", "127.0.0.1:43011 doesn't seem to be a TLS/SSL enabled server."),
    _finding("scanTime", "Scan interrupted"),
]


# --------------------------------------------------------------------------- parsing


def test_sslscan_xml_gives_versions_and_suites_per_version() -> None:
    seen = peers.parse_sslscan_xml(SSLSCAN_XML)
    assert seen.reached
    assert seen.versions == frozenset({"TLSv1.0", "TLSv1.2", "TLSv1.3"})
    assert seen.suites == {"TLSv1.3": 2, "TLSv1.2": 3, "TLSv1.0": 1}


def test_sslscan_silent_or_broken_output_is_not_reached() -> None:
    assert not peers.parse_sslscan_xml(SSLSCAN_SILENT_XML).reached
    assert not peers.parse_sslscan_xml("<document><ssltest").reached  # killed mid-write
    assert not peers.parse_sslscan_xml("<document/>").reached


def test_testssl_json_gives_versions_and_suites_per_version() -> None:
    seen = peers.parse_testssl_json(TESTSSL_ITEMS)
    assert seen.reached
    assert seen.versions == frozenset({"TLSv1.0", "TLSv1.2", "TLSv1.3"})
    assert seen.suites == {"TLSv1.0": 1, "TLSv1.2": 2, "TLSv1.3": 1}


def test_testssl_server_that_is_not_tls_is_not_reached() -> None:
    assert not peers.parse_testssl_json(TESTSSL_CLOSED_ITEMS).reached


def test_read_files_and_compare_with_certcheck(tmp_path: Path) -> None:
    other = tools.BenchTarget("silent.example.test", 42047, "silent")
    missing = tools.BenchTarget("good.example.test", 40000, "good_rsa")
    files = {TARGET: tmp_path / "a.xml", other: tmp_path / "b.xml", missing: tmp_path / "c.xml"}
    files[TARGET].write_text(SSLSCAN_XML)
    files[other].write_text(SSLSCAN_SILENT_XML)
    outcome = peers.read_sslscan(files)
    assert (outcome.targets, outcome.reached) == (2, 1)
    assert outcome.note == "1 targets without an output file"

    ours = tools.Outcome(
        1,
        1,
        {
            (TARGET.host, TARGET.port): tools.Seen(
                True,
                frozenset({"TLSv1.0", "TLSv1.2", "TLSv1.3"}),
                {"TLSv1.0": 1, "TLSv1.2": 4, "TLSv1.3": 2},
            )
        },
    )
    agreement = tools.compare(ours, outcome, theirs_name="sslscan")
    assert (agreement.both_reached, agreement.same_versions, agreement.same_suite_counts) == (
        1,
        1,
        0,
    )
    assert "sslscan=" in agreement.differences[0] and "sslyze" not in agreement.differences[0]


def test_read_testssl_unreadable_json_is_not_reached(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('[ {"id": "TLS1_2", "finding": "offered"')  # killed mid-write
    outcome = peers.read_testssl({TARGET: path})
    assert (outcome.targets, outcome.reached) == (1, 0)


# --------------------------------------------------------------------------- commands


def test_sslscan_args_connect_to_loopback_with_the_name_as_sni(tmp_path: Path) -> None:
    args = peers.sslscan_args(TARGET, 5.0, tmp_path / "x.xml")
    assert args[-1] == "127.0.0.1:37177"
    assert "--sni-name=legacy.example.test" in args
    assert "--timeout=5" in args and f"--xml={tmp_path / 'x.xml'}" in args
    assert set(peers.SSLSCAN_SKIPPED) <= set(args)


def test_testssl_args_loopback_no_dns_batch_same_timeouts(tmp_path: Path) -> None:
    args = peers.testssl_args(TARGET, 2.4, "/ca.pem", tmp_path / "t.json", tmp_path / "t.csv")
    assert args[-1] == "legacy.example.test:37177"  # the URI is last; its name is the SNI
    pairs = {args[i]: args[i + 1] for i in range(len(args) - 1)}
    assert pairs["--ip"] == "127.0.0.1" and pairs["--nodns"] == "none"
    assert pairs["--connect-timeout"] == "2" and pairs["--openssl-timeout"] == "2"
    assert pairs["--warnings"] == "batch" and pairs["--add-ca"] == "/ca.pem"
    assert pairs["--jsonfile"] == str(tmp_path / "t.json")
    assert {"-p", "-E", "-S"} <= set(args)
    assert peers.whole_seconds(0.2) == "1"


def test_pool_command_writes_nul_separated_fixed_length_lists(tmp_path: Path) -> None:
    lists = [["-a", "x y"], ["-b", "z"]]
    cmd = peers.pool_command("/usr/bin/tool", lists, 3, tmp_path / "args")
    assert cmd[:2] == ["xargs", "-0"]
    assert cmd[cmd.index("-n") + 1] == "2" and cmd[cmd.index("-P") + 1] == "3"
    assert cmd[-4:] == ["sh", "-c", peers.POOL_SHELL, "/usr/bin/tool"]
    assert (tmp_path / "args").read_bytes() == b"-a\0x y\0-b\0z\0"
    with pytest.raises(ValueError):
        peers.pool_command("/usr/bin/tool", [["-a"], ["-b", "c"]], 3, tmp_path / "args")


def test_pool_runs_every_command_even_after_failures(tmp_path: Path) -> None:
    """A scan killed by SIGPIPE or exiting 255 must not stop the rest of the pool."""
    marks = tmp_path / "marks"
    marks.mkdir()
    script = tmp_path / "scan.sh"
    script.write_text(
        '#!/bin/sh\ntouch "$1/$2"\ncase "$2" in\n'
        '  pipe) kill -PIPE $$; touch "$1/survived-$2" ;;\n'
        "  fail) exit 255 ;;\nesac\n"
    )
    script.chmod(0o755)
    names = ["pipe", "fail", "a", "b", "c"]
    cmd = peers.pool_command(str(script), [[str(marks), n] for n in names], 2, tmp_path / "args")
    measurement, tree = peers.run_measured_tree(cmd, tmp_path / "out", tmp_path / "err", limit_s=60)
    assert {"a", "b", "c", "pipe", "fail", "survived-pipe"} <= {p.name for p in marks.iterdir()}
    assert measurement.returncode == 123  # xargs: some command failed, all were run
    assert f"exit 255: {marks} fail" in (tmp_path / "err").read_text()  # logged, named
    assert tree.processes >= 1


def test_failed_scans_sums_the_pool_shells_lines(tmp_path: Path) -> None:
    err = tmp_path / "err"
    err.write_text("exit 245: --quiet a:1\nnoise\nexit 1: b\nexit 245: c:2\n")
    assert peers.failed_scans(err) == "3 scans exited non-zero (status 1 x1, status 245 x2)"
    err.write_text("")
    assert peers.failed_scans(err) == ""
    assert peers.failed_scans(tmp_path / "missing") == ""


# --------------------------------------------------------------------------- measuring


def test_run_measured_tree_counts_the_processes_and_kills_leftovers(tmp_path: Path) -> None:
    cmd = ["sh", "-c", "sleep 0.4 & sleep 0.4 & sleep 60 & echo $!; sleep 0.5"]
    measurement, tree = peers.run_measured_tree(cmd, tmp_path / "o", tmp_path / "e", 30)
    assert measurement.returncode == 0 and not measurement.timed_out
    assert measurement.wall_s < 20
    assert tree.processes >= 3 and tree.pss_mib > 0 and tree.rss_mib >= tree.pss_mib
    leftover = int((tmp_path / "o").read_text().split()[0])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # killed with its group; gone once init reaps it
        try:
            state = Path(f"/proc/{leftover}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            break
        if state == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"sleep 60 (pid {leftover}) still running after the tree was measured")


def test_run_measured_tree_time_limit_kills_the_whole_group(tmp_path: Path) -> None:
    cmd = ["sh", "-c", "sleep 60 & sleep 60"]
    measurement, _ = peers.run_measured_tree(cmd, tmp_path / "o", tmp_path / "e", 0.5)
    assert measurement.timed_out and measurement.wall_s < 10


def test_largest_process_is_not_inflated_by_the_parent_like_ru_maxrss(tmp_path: Path) -> None:
    ballast = bytearray(96 * 2**20)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1  # resident in this process, the child's parent
    measurement, tree = peers.run_measured_tree(
        ["sleep", "0.3"], tmp_path / "o", tmp_path / "e", 30
    )
    del ballast
    assert measurement.peak_rss_mib >= 96  # Linux carries the parent's size into ru_maxrss
    assert 0 < tree.largest_mib < 32  # VmHWM is sleep's own


def test_tree_memory_of_this_process() -> None:
    sample = peers.tree_memory(os.getpid())
    assert sample.processes >= 1
    assert sample.rss_bytes > 1_000_000 and sample.largest_bytes >= sample.rss_bytes // 2


def test_extrapolate_is_linear_in_targets() -> None:
    extra = peers.extrapolate(10, 200, wall_s=130.0, cpu_s=95.5)
    assert extra["factor"] == 20 and extra["wall_s"] == 2600 and extra["cpu_s"] == 1910
    assert extra["wall_per_target_s"] == 13 and extra["cpu_per_target_s"] == 9.55


# --------------------------------------------------------------------------- RESULTS.md


def _run(tool: str, subset: str, targets: int, wall: float, **extra: Any) -> dict[str, Any]:
    return {
        "tool": tool,
        "subset": subset,
        "targets": targets,
        "concurrency": 10,
        "command": tool,
        "measurement": {
            "wall_s": wall,
            "cpu_s": wall / 2,
            "user_s": wall / 3,
            "sys_s": wall / 6,
            "peak_rss_mib": 50.0,
            "returncode": 0,
            "timed_out": False,
        },
        "reached": targets,
        "reported": targets,
        "server_connections": targets * 30,
        "server_cpu_s": 1.0,
        "tree_pss_mib": 12.5,
        "tree_processes": 21,
        "tree_largest_mib": 7.4,
        **extra,
    }


def test_peer_table_has_one_row_per_tool_and_labels_the_extrapolation() -> None:
    document = {
        "runs": [
            _run("certcheck", "all", 40, 10.0),
            _run("sslyze", "all", 40, 56.0),
            _run("sslscan", "all", 40, 41.0, note="1 scans exited non-zero (status 1 x1)"),
            _run("certcheck", "sample", 10, 1.6),
            _run("testssl", "sample", 10, 130.0, extrapolation=peers.extrapolate(10, 40, 130, 65)),
        ],
        "checks": peers.CHECKS,
        "peer_agreement": {
            "sslscan": {
                "both_reached": 36,
                "same_versions": 36,
                "same_suite_counts": 35,
                "differences": ["x"],
            }
        },
    }
    rows = results_md.peer_rows(document)
    body = rows[2:]
    assert [row.split("|")[1].strip() for row in body] == list(results_md.PEERS)
    testssl = body[3]
    assert "40 (extrapolated from 10 targets)" in testssl
    assert "~520.0 (extrapolated from 10 targets: 130.0)" in testssl
    assert "| 30.0 |" in testssl and peers.CHECKS["testssl"] in testssl
    assert "| 7.4 |" in body[0]  # largest process, not ru_maxrss
    notes = "\n".join(results_md._peer_notes(document))
    assert "first 10 reachable listeners" in notes and "agree on 36" in notes
    assert "sslscan, all listeners: 1 scans exited non-zero (status 1 x1)" in notes
    block = results_md.render(
        {
            **document,
            "started": "now",
            "duration_s": 1,
            "command": "python bench/run.py",
            "machine": {},
            "settings": {
                "servers": 40,
                "kinds": {"good_rsa": 40},
                "triple_des_served": False,
                "timeout_s": 5,
                "connections_per_server": 5,
            },
            "agreement": None,
        }
    )
    assert "**Side by side**" in block and testssl in block


def test_peer_table_needs_two_tools() -> None:
    assert results_md.peer_rows({"runs": [_run("certcheck", "all", 40, 10.0)]}) == []


def test_memory_growth_reads_each_process_own_peak_not_the_floored_ru_maxrss() -> None:
    """``ru_maxrss`` of a child never reads below the run.py that forked it: two scale
    runs at 166.5 MiB there may be 68.6 and 92.8 MiB of their own (the 2026-12-03 run)."""
    small = _run("certcheck", "scale", 1000, 27.0, tree_largest_mib=68.6)
    large = _run("certcheck", "scale", 10000, 239.0, tree_largest_mib=92.8)
    for run in (small, large):
        run["measurement"]["peak_rss_mib"] = 166.5
    grow = results_md.growth({"runs": [large, small]})
    assert grow is not None
    assert grow["rss"] == pytest.approx(92.8 / 68.6, abs=0.001)
    assert grow["rss_met"] is False
    # without a sampled peak the verdict still falls back to ru_maxrss
    for run in (small, large):
        del run["tree_largest_mib"]
    assert results_md.growth({"runs": [small, large]})["rss"] == 1.0


def test_scale_runs_resolve_one_wildcard_per_listener_and_the_scan_accepts_them(
    tmp_path: Path,
) -> None:
    """10,000 per-target --resolve flags were measured as the scan's memory: the scale runs
    give one wildcard per listener, and the certcheck under test takes that form."""
    exe = str(Path(sys.executable).parent / "certcheck")
    options = tools.certcheck_options(exe)
    assert "--resolve *.DOMAIN" in options
    listeners = [tools.BenchTarget("good.example.test", 4431, "good"),
                 tools.BenchTarget("bad.example.test", 4432, "bad")]  # fmt: skip
    targets = [
        tools.BenchTarget(f"t{i:05d}.{listeners[i % 2].host}", listeners[i % 2].port, "x")
        for i in range(10)
    ]
    common = dict(timeout=5, concurrency=2, per_host=10)
    wild = tools.certcheck_command(
        exe, options, tmp_path / "t", targets, "ca.pem", wildcards=True, **common
    )
    resolves = [wild[i + 1] for i, part in enumerate(wild) if part == "--resolve"]
    assert resolves == ["*.good.example.test:4431:127.0.0.1", "*.bad.example.test:4432:127.0.0.1"]
    exact = tools.certcheck_command(exe, options, tmp_path / "t", targets, "ca.pem", **common)
    assert exact.count("--resolve") == 10
    old = tools.certcheck_command(  # a certcheck without wildcards gets one per target
        exe, options - {"--resolve *.DOMAIN"}, tmp_path / "t", targets, "ca.pem",
        wildcards=True, **common,
    )  # fmt: skip
    assert old.count("--resolve") == 10


def test_the_run_table_shows_each_tools_own_peak_not_ru_maxrss() -> None:
    scale = _run("certcheck", "scale", 1000, 14.0, tree_largest_mib=53.5)
    scale["measurement"]["peak_rss_mib"] = 166.1  # run.py's size by then
    pooled = _run("sslscan", "all", 200, 64.0, tree_largest_mib=7.4)
    rows = results_md._table({"runs": [scale, pooled]})
    certcheck_row = next(r for r in rows if r.startswith("| certcheck"))
    assert "| 53.5 |" in certcheck_row and "166.1" not in certcheck_row
    assert "| 7.4* |" in next(r for r in rows if r.startswith("| sslscan"))
