"""certcheck and sslyze: how to call them on the bench targets, and what they found.

Both get the same targets (host name for SNI and name checks, connection to
127.0.0.1), the same private test CA, the same per-connection timeout and the
same concurrency (servers at once x connections per server), and both write
JSON that is read back here, so the run can show that they did comparable
work (targets reached, protocol versions and cipher suites found).  sslscan
and testssl.sh, run one process per target, are in ``peers.py``; their
outputs are read into the same :class:`Outcome` and compared with
:func:`compare`.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: sslyze's scan commands compared with certcheck's full scan (issue 7).
SSLYZE_COMMANDS = ("--certinfo", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3", "--sslv3")
#: sslyze's defaults (sslyze/scanner/scanner.py): servers scanned at once, connections each.
SSLYZE_SERVERS_AT_ONCE = 10
SSLYZE_CONNECTIONS_PER_SERVER = 5
#: sslyze's NetworkConfiguration.network_timeout default (seconds); not a CLI option.
SSLYZE_TIMEOUT_S = 5

#: sslyze JSON result keys -> certcheck protocol names.
SSLYZE_VERSIONS = {
    "ssl_3_0_cipher_suites": "SSLv3",
    "tls_1_0_cipher_suites": "TLSv1.0",
    "tls_1_1_cipher_suites": "TLSv1.1",
    "tls_1_2_cipher_suites": "TLSv1.2",
    "tls_1_3_cipher_suites": "TLSv1.3",
}


@dataclass(frozen=True)
class BenchTarget:
    """One scanned endpoint: the name the tools are given and the loopback port."""

    host: str
    port: int
    kind: str


@dataclass
class Seen:
    """What one tool reported for one target, reduced to what both tools report."""

    reached: bool
    versions: frozenset[str] = frozenset()
    suites: dict[str, int] = field(default_factory=dict)


@dataclass
class Outcome:
    """A tool's output file, summarised."""

    targets: int
    reached: int
    per_target: dict[tuple[str, int], Seen]
    note: str = ""


# --------------------------------------------------------------------------- certcheck


def certcheck_options(certcheck: str) -> set[str]:
    """The long options ``certcheck scan`` has today (the CLI grows while this is written)."""
    done = subprocess.run(
        [certcheck, "scan", "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    options = set(re.findall(r"(--[a-z][a-z0-9-]+)", done.stdout))
    if "*.DOMAIN" in done.stdout:  # --resolve takes wildcards (a code before them does not)
        options.add("--resolve *.DOMAIN")
    return options


def certcheck_command(
    certcheck: str,
    options: set[str],
    targets_file: Path,
    targets: list[BenchTarget],
    ca_file: str,
    *,
    timeout: float,
    concurrency: int,
    per_host: int,
    wildcards: bool = False,
) -> list[str]:
    """``certcheck scan``, full scan, machine-readable output only, on standard output.

    ``--jsonl -`` (or ``--json -`` before JSON lines existed) is certcheck's
    counterpart of sslyze's ``--quiet --json_out``: no console table.  ``wildcards``:
    one ``--resolve '*.DOMAIN:PORT:127.0.0.1'`` per listener instead of one per target
    (the scale runs name 10,000 targets below 200 listeners' names; their 10,000
    flags would be measured as the scan's memory).
    """
    cmd = [certcheck, "scan", "--targets-file", str(targets_file)]
    resolves = (
        {f"*.{t.host.split('.', 1)[1]}:{t.port}:127.0.0.1": None for t in targets}
        if wildcards and "--resolve *.DOMAIN" in options
        else {f"{t.host}:{t.port}:127.0.0.1": None for t in targets}
    )
    for entry in resolves:
        cmd += ["--resolve", entry]
    cmd += ["--ca-file", ca_file, "--timeout", f"{timeout:g}", "--concurrency", str(concurrency)]
    if "--max-connections" in options:
        cmd += ["--max-connections", str(SSLYZE_CONNECTIONS_PER_SERVER)]
    if "--per-host" in options:
        cmd += ["--per-host", str(per_host)]
    cmd += ["--jsonl" if "--jsonl" in options else "--json", "-"]
    return cmd


def _certcheck_results(path: Path) -> Iterator[dict[str, Any]]:
    text = path.read_text(encoding="utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("{") and '"results"' in stripped[:4000]:
        try:
            yield from json.loads(text).get("results", [])
            return
        except json.JSONDecodeError:
            pass
    for line in text.splitlines():  # JSON lines: one {"result": {...}} per target
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(item, dict) and isinstance(item.get("result"), dict):
            yield item["result"]


def read_certcheck(path: Path) -> Outcome:
    per_target: dict[tuple[str, int], Seen] = {}
    connections = 0
    if not path.exists():
        return Outcome(0, 0, {}, note="no output file")
    for result in _certcheck_results(path):
        facts = result.get("facts") or {}
        target = facts.get("target") or result.get("target") or {}
        key = (str(target.get("host")), int(target.get("port", 0)))
        connections += int(facts.get("connections") or 0)
        if facts.get("error"):
            per_target[key] = Seen(reached=False)
            continue
        protocols = facts.get("protocols") or {}
        suites = {v: len(s) for v, s in (facts.get("cipher_suites") or {}).items()}
        versions = frozenset(v for v, ok in protocols.items() if ok)
        per_target[key] = Seen(reached=True, versions=versions, suites=suites)
    reached = sum(1 for s in per_target.values() if s.reached)
    note = f"{connections} connections reported by certcheck"
    return Outcome(len(per_target), reached, per_target, note=note)


# --------------------------------------------------------------------------- sslyze


def sslyze_targets_line(target: BenchTarget) -> str:
    """sslyze's ``host:port{ip}``: connect to the IP, send ``host`` as SNI."""
    return f"{target.host}:{target.port}{{127.0.0.1}}"


def sslyze_command(python: str, targets_file: Path, ca_file: str, output: Path) -> list[str]:
    """sslyze CLI with only the compared scan commands (Mozilla config check off)."""
    return [
        python,
        "-m",
        "sslyze",
        "--targets_in",
        str(targets_file),
        "--mozilla_config",
        "disable",
        *SSLYZE_COMMANDS,
        "--certinfo_ca_file",
        ca_file,
        "--quiet",
        "--json_out",
        str(output),
    ]


def read_sslyze(path: Path) -> Outcome:
    if not path.exists():
        return Outcome(0, 0, {}, note="no output file")
    try:
        document = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        return Outcome(0, 0, {}, note=f"unreadable JSON: {exc}")
    per_target: dict[tuple[str, int], Seen] = {}
    for item in document.get("server_scan_results", []):
        location = item.get("server_location") or {}
        key = (str(location.get("hostname")), int(location.get("port", 0)))
        if item.get("scan_status") != "COMPLETED":
            per_target[key] = Seen(reached=False)
            continue
        suites: dict[str, int] = {}
        for name, version in SSLYZE_VERSIONS.items():
            attempt = (item.get("scan_result") or {}).get(name) or {}
            result = attempt.get("result")
            if result is not None:
                suites[version] = len(result.get("accepted_cipher_suites") or [])
        versions = frozenset(v for v, n in suites.items() if n)
        per_target[key] = Seen(reached=True, versions=versions, suites=suites)
    reached = sum(1 for s in per_target.values() if s.reached)
    invalid = len(document.get("invalid_server_strings") or [])
    note = f"{invalid} target strings rejected by sslyze" if invalid else ""
    return Outcome(len(per_target), reached, per_target, note=note)


# --------------------------------------------------------------------------- comparison


@dataclass
class Agreement:
    both_reached: int
    same_versions: int
    same_suite_counts: int
    differences: list[str]


def compare(
    ours: Outcome, theirs: Outcome, limit: int = 8, theirs_name: str = "sslyze"
) -> Agreement:
    """Do the tools agree on accepted versions and on how many suites each accepts?

    Only targets both reached count; ``theirs_name`` labels the other tool in
    the differences listed.
    """
    both = [k for k, s in ours.per_target.items() if s.reached and k in theirs.per_target]
    both = [k for k in both if theirs.per_target[k].reached]
    same_versions = same_suites = 0
    differences: list[str] = []
    for key in sorted(both):
        mine, other = ours.per_target[key], theirs.per_target[key]
        if mine.versions == other.versions:
            same_versions += 1
        elif len(differences) < limit:
            differences.append(
                f"{key[0]}:{key[1]} versions certcheck={sorted(mine.versions)} "
                f"{theirs_name}={sorted(other.versions)}"
            )
        counts_mine = {v: mine.suites.get(v, 0) for v in other.versions | mine.versions}
        counts_other = {v: other.suites.get(v, 0) for v in other.versions | mine.versions}
        if counts_mine == counts_other:
            same_suites += 1
        elif len(differences) < limit:
            differences.append(
                f"{key[0]}:{key[1]} suites certcheck={counts_mine} {theirs_name}={counts_other}"
            )
    return Agreement(len(both), same_versions, same_suites, differences)
