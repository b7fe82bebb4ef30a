"""sslscan and testssl.sh, the two other tools a user would pick (issue 16).

Neither scans many servers from one process the way certcheck and sslyze do:
sslscan's ``--targets`` file connects to each name it lists (the bench names
do not resolve) and takes one ``--sni-name`` for all of them, and testssl.sh's
mass mode is a shell loop.  So each target gets its own process, and GNU
``xargs -P`` keeps the same number of them running as the other tools scan
servers at once.  Every process is wrapped in ``sh -c`` so that SIGPIPE is
ignored (sslscan dies of it on a server that closes right after accepting,
and a child killed by a signal makes xargs stop) and a failed scan does not
end the pool (xargs stops on exit status 255); the shell logs the failure.

The whole pool is one measured process tree: ``os.wait4`` on ``xargs`` gives
the CPU of every process it waited for (xargs waits for the shells, the shells
for the scanners, testssl.sh for its openssl children), and a sampler adds up
the resident memory of the tree while it runs (:class:`TreeSampler`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from measure import POLL_SECONDS, Measurement, measurement_of
from tools import BenchTarget, Outcome, Seen

#: sslscan checks certcheck does not do either: left out so the work is comparable.
SSLSCAN_SKIPPED = ("--no-heartbleed", "--no-renegotiation", "--no-fallback", "--no-compression")
#: testssl.sh checks matching the others': protocols, cipher suites per protocol,
#: server defaults (certificate, chain of trust, hostname, extensions, resumption).
TESTSSL_CHECKS = ("-p", "-E", "-S")
#: The shell each pooled scan runs in: SIGPIPE ignored; a failure is logged to the pool's
#: standard error with the scan's exit status and arguments, and reported to xargs as 1.
POOL_SHELL = 'trap "" PIPE; "$0" "$@"; s=$?; [ $s = 0 ] || { echo "exit $s:" "$@" >&2; exit 1; }'
#: How often the process tree's memory is sampled.
SAMPLE_SECONDS = 0.05

#: What each tool does per server in the benchmark (RESULTS.md's "what it checks").
CHECKS = {
    "certcheck": (
        "chain + trust per platform, protocols (SSLv2-TLS 1.3), suites per version, "
        "groups, server order, no-SNI certificate, client simulation, rules"
    ),
    "sslyze": "certinfo (chain, trust stores) + suites per version (SSLv3-TLS 1.3)",
    "sslscan": (
        "protocols, suites per version, groups, certificate basics (names, key, "
        "dates; no chain validation)"
    ),
    "testssl": (
        "protocols + NPN/ALPN (-p), suites per version (-E), server defaults (-S: "
        "certificate, chain of trust, hostname, extensions, resumption)"
    ),
}

_SSLSCAN_VERSIONS = {
    ("ssl", "2"): "SSLv2",
    ("ssl", "3"): "SSLv3",
    ("tls", "1.0"): "TLSv1.0",
    ("tls", "1.1"): "TLSv1.1",
    ("tls", "1.2"): "TLSv1.2",
    ("tls", "1.3"): "TLSv1.3",
}
#: testssl.sh's protocol finding ids and the prefixes of its cipher ids (``cipher-tls1_2_xc030``).
_TESTSSL_PROTOCOLS = {
    "SSLv2": "SSLv2",
    "SSLv3": "SSLv3",
    "TLS1": "TLSv1.0",
    "TLS1_1": "TLSv1.1",
    "TLS1_2": "TLSv1.2",
    "TLS1_3": "TLSv1.3",
}
_TESTSSL_CIPHER = re.compile(r"^cipher-(ssl2|ssl3|tls1|tls1_1|tls1_2|tls1_3)_x[0-9a-fA-F]+$")
_TESTSSL_CIPHER_VERSIONS = {
    "ssl2": "SSLv2",
    "ssl3": "SSLv3",
    "tls1": "TLSv1.0",
    "tls1_1": "TLSv1.1",
    "tls1_2": "TLSv1.2",
    "tls1_3": "TLSv1.3",
}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


# --------------------------------------------------------------------------- executables


def sslscan_exe() -> str | None:
    return shutil.which("sslscan")


def testssl_exe() -> str | None:
    return shutil.which("testssl") or shutil.which("testssl.sh")


def versions(sslscan: str | None, testssl: str | None) -> dict[str, str]:
    """The peers' versions and the OpenSSL each uses, for the machine table."""
    info: dict[str, str] = {}
    if sslscan:
        info["sslscan"] = _version_text([sslscan, "--version"])
    if testssl:
        text = _version_text([testssl, "--version"])
        found = re.search(r"testssl\S*\s+(\S+)", text)
        openssl = re.search(r'Using "([^"(]+)', text)
        info["testssl.sh"] = " / ".join(
            part
            for part in (found.group(1) if found else text[:80], openssl and openssl[1].strip())
            if part
        )
    return info


def _version_text(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    text = _ANSI.sub("", done.stdout or done.stderr)
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


# --------------------------------------------------------------------------- commands


def whole_seconds(timeout: float) -> str:
    """sslscan and testssl.sh take whole seconds; never below 1."""
    return str(max(1, round(timeout)))


def sslscan_args(target: BenchTarget, timeout: float, xml: Path) -> list[str]:
    """One sslscan run: connect to 127.0.0.1, send the target's name as SNI, XML out.

    sslscan 2.0 has one socket timeout (``--timeout``, connect and reads) and
    no separate connect timeout.
    """
    return [
        "--no-colour",
        *SSLSCAN_SKIPPED,
        f"--sni-name={target.host}",
        f"--timeout={whole_seconds(timeout)}",
        f"--xml={xml}",
        f"127.0.0.1:{target.port}",
    ]


def testssl_args(
    target: BenchTarget, timeout: float, ca_file: str, json_file: Path, csv_file: Path
) -> list[str]:
    """One testssl.sh run: the name as URI (SNI), ``--ip 127.0.0.1``, no DNS, batch mode."""
    seconds = whole_seconds(timeout)
    return [
        "--quiet",
        "--color",
        "0",
        "--warnings",
        "batch",
        "--nodns",
        "none",
        "--ip",
        "127.0.0.1",
        "--connect-timeout",
        seconds,
        "--openssl-timeout",
        seconds,
        "--add-ca",
        ca_file,
        *TESTSSL_CHECKS,
        "--jsonfile",
        str(json_file),
        "--csvfile",
        str(csv_file),
        f"{target.host}:{target.port}",
    ]


def pool_command(exe: str, arg_lists: list[list[str]], jobs: int, args_file: Path) -> list[str]:
    """``xargs -P jobs``: one ``exe`` per argument list, ``jobs`` at once.

    The argument lists go NUL-separated into ``args_file``; they must all have
    the same length (``xargs -n``).
    """
    lengths = {len(args) for args in arg_lists}
    if len(lengths) != 1:
        raise ValueError(f"argument lists of different lengths: {sorted(lengths)}")
    args_file.write_bytes(b"".join(arg.encode() + b"\0" for args in arg_lists for arg in args))
    return [
        "xargs",
        "-0",
        "-a",
        str(args_file),
        "-n",
        str(lengths.pop()),
        "-P",
        str(jobs),
        "sh",
        "-c",
        POOL_SHELL,
        exe,
    ]


def shown_pool(cmd: list[str], example: list[str]) -> str:
    """The pool command and one of its per-target commands, as a person reads them."""
    head = " ".join(cmd[:-4]) + f" sh -c '{POOL_SHELL}' {cmd[-1]}"
    return f"{head}\n#   each target: {Path(cmd[-1]).name} {' '.join(example)}"


# --------------------------------------------------------------------------- outputs


def parse_sslscan_xml(text: str) -> Seen:
    """One sslscan ``--xml`` document: accepted versions and suites per version.

    A server that answered nothing (silent, closed) comes back with every
    protocol disabled, no cipher and no certificate: not reached.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return Seen(reached=False)
    test = root.find("ssltest")
    if test is None:
        return Seen(reached=False)
    enabled: set[str] = set()
    for protocol in test.findall("protocol"):
        name = _SSLSCAN_VERSIONS.get((protocol.get("type", ""), protocol.get("version", "")))
        if name and protocol.get("enabled") == "1":
            enabled.add(name)
    suites: dict[str, int] = {}
    for cipher in test.findall("cipher"):
        if cipher.get("status") in ("accepted", "preferred"):
            version = cipher.get("sslversion", "?")
            suites[version] = suites.get(version, 0) + 1
    has_cert = test.find("certificates/certificate") is not None
    if not enabled and not suites and not has_cert:
        return Seen(reached=False)
    return Seen(reached=True, versions=frozenset(enabled | set(suites)), suites=suites)


def parse_testssl_json(items: list[dict[str, Any]]) -> Seen:
    """testssl.sh's flat ``--jsonfile`` list: offered versions and suites per version."""
    offered: set[str] = set()
    suites: dict[str, int] = {}
    for item in items:
        ident = str(item.get("id", ""))
        finding = str(item.get("finding", ""))
        if ident in _TESTSSL_PROTOCOLS and finding.startswith("offered"):
            offered.add(_TESTSSL_PROTOCOLS[ident])
        match = _TESTSSL_CIPHER.match(ident)
        if match:
            version = _TESTSSL_CIPHER_VERSIONS[match.group(1)]
            suites[version] = suites.get(version, 0) + 1
    if not offered and not suites:
        return Seen(reached=False)
    return Seen(reached=True, versions=frozenset(offered | set(suites)), suites=suites)


def read_sslscan(files: dict[BenchTarget, Path]) -> Outcome:
    return _read_each(files, lambda path: parse_sslscan_xml(path.read_text(errors="replace")))


def read_testssl(files: dict[BenchTarget, Path]) -> Outcome:
    def one(path: Path) -> Seen:
        try:
            items = json.loads(path.read_text(encoding="utf-8", errors="replace"))
        except json.JSONDecodeError:
            return Seen(reached=False)
        return parse_testssl_json(items if isinstance(items, list) else [])

    return _read_each(files, one)


def failed_scans(stderr: Path) -> str:
    """The pool shell's "exit N: ..." lines, summed up ("" when every scan exited 0)."""
    try:
        text = stderr.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        found = re.match(r"exit (\d+):", line)
        if found:
            counts[found.group(1)] = counts.get(found.group(1), 0) + 1
    if not counts:
        return ""
    detail = ", ".join(f"status {code} x{n}" for code, n in sorted(counts.items()))
    return f"{sum(counts.values())} scans exited non-zero ({detail})"


def _read_each(files: dict[BenchTarget, Path], parse: Any) -> Outcome:
    per_target: dict[tuple[str, int], Seen] = {}
    missing = 0
    for target, path in files.items():
        if not path.exists() or path.stat().st_size == 0:
            missing += 1
            continue
        per_target[(target.host, target.port)] = parse(path)
    reached = sum(1 for s in per_target.values() if s.reached)
    note = f"{missing} targets without an output file" if missing else ""
    return Outcome(len(per_target), reached, per_target, note=note)


# --------------------------------------------------------------------------- measuring


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
        except OSError:
            continue
        found += [int(p) for p in text.split()]
    return found


def _pss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return None


@dataclass
class TreeSample:
    """Memory of a process and its descendants at one moment."""

    rss_bytes: int = 0
    pss_bytes: int = 0
    processes: int = 0
    #: the highest VmHWM (peak RSS since its last exec) of any one process
    largest_bytes: int = 0


def _status_kib(pid: int, *fields: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name = line.split(":", 1)[0]
        if name in fields:
            found[name] = int(line.split()[1])
    return found


def tree_memory(root: int) -> TreeSample:
    """RSS and PSS summed over ``root`` and its descendants; the largest one's peak.

    RSS counts the pages processes share (libraries, a forked shell's copy of
    its parent) once per process; PSS divides each shared page among the
    processes mapping it, so a tree of forks is not counted many times over.
    VmHWM is a process's own peak RSS since it started its program: unlike
    ``ru_maxrss`` it does not start at the size of the parent that forked it
    (Linux carries the pre-exec memory into ``ru_maxrss``, so a 6 MiB sslscan
    started from a 50 MiB Python reports 50 MiB).
    """
    sample = TreeSample()
    todo, seen = [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            status = _status_kib(pid, "VmRSS", "VmHWM")
        except (OSError, IndexError, ValueError):
            continue
        resident = status.get("VmRSS", 0) * 1024
        pss = _pss_bytes(pid)
        sample.rss_bytes += resident
        sample.pss_bytes += resident if pss is None else pss
        sample.processes += 1
        sample.largest_bytes = max(sample.largest_bytes, status.get("VmHWM", 0) * 1024)
        todo += _children(pid)
    return sample


class TreeSampler(threading.Thread):
    """Samples the process tree's summed RSS and PSS until stopped; keeps the peaks."""

    def __init__(self, root: int, interval: float = SAMPLE_SECONDS) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak = TreeSample()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            now = tree_memory(self.root)
            self.peak = TreeSample(
                max(self.peak.rss_bytes, now.rss_bytes),
                max(self.peak.pss_bytes, now.pss_bytes),
                max(self.peak.processes, now.processes),
                max(self.peak.largest_bytes, now.largest_bytes),
            )
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


@dataclass
class TreePeak:
    """The most memory the tool's processes held together (sampled), and how many there were."""

    pss_mib: float
    rss_mib: float
    processes: int
    largest_mib: float


def run_measured_tree(
    cmd: list[str], stdout: Path, stderr: Path, limit_s: float
) -> tuple[Measurement, TreePeak]:
    """:func:`measure.run_measured` plus a sampled peak of the whole process tree's RSS.

    The child gets its own process group, so a run over the time limit is
    killed with everything it started (xargs' scanners included).
    """
    with stdout.open("wb") as out, stderr.open("wb") as err, open(os.devnull, "rb") as inp:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=inp, stdout=out, stderr=err, start_new_session=True)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        timed_out = False
        try:
            while True:  # exited? (not reaped yet, so the group id stays ours)
                flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
                if os.waitid(os.P_PID, proc.pid, flags) is not None:
                    break
                if time.monotonic() - started > limit_s and not timed_out:
                    timed_out = True
                    os.killpg(proc.pid, signal.SIGKILL)  # the group of the child we started
                time.sleep(POLL_SECONDS)
        finally:
            sampler.stop()
        wall = time.monotonic() - started
    try:  # leftovers of the tree (testssl.sh's background jobs); the leader is a zombie
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    measurement = measurement_of(wall, usage, proc.returncode, timed_out)
    top = sampler.peak
    peak = TreePeak(
        pss_mib=round(top.pss_bytes / 2**20, 1),
        rss_mib=round(top.rss_bytes / 2**20, 1),
        processes=top.processes,
        largest_mib=round(top.largest_bytes / 2**20, 1),
    )
    return measurement, peak


# --------------------------------------------------------------------------- extrapolation


def extrapolate(
    measured_targets: int, full_targets: int, wall_s: float, cpu_s: float
) -> dict[str, Any]:
    """Linear in the number of targets at the same concurrency: wall and CPU scale, memory not.

    The pool keeps the same number of scans running, so the time per target
    and the memory at once stay; a sample smaller than the pool width holds
    fewer processes at once than the full run would (then memory is a floor).
    """
    factor = full_targets / measured_targets if measured_targets else 0.0
    return {
        "from_targets": measured_targets,
        "to_targets": full_targets,
        "factor": round(factor, 3),
        "wall_s": round(wall_s * factor, 1),
        "cpu_s": round(cpu_s * factor, 1),
        "wall_per_target_s": round(wall_s / measured_targets, 2) if measured_targets else None,
        "cpu_per_target_s": round(cpu_s / measured_targets, 2) if measured_targets else None,
    }
