"""certcheck vs sslyze, sslscan and testssl.sh on loopback TLS servers; certcheck at scale.

    python bench/run.py [--servers 200] [--scale 1000,10000] [--skip-sslyze] [--profile]
                        [--skip-sslscan] [--skip-testssl] [--testssl-subset 10]

Run it with the Python of certcheck's environment (``.venv/bin/python
bench/run.py``).  It starts ``bench/servers.py`` (``--servers`` TLS listeners
on 127.0.0.1 in one process, a mix of good and misconfigured servers), scans
all of them with certcheck and with sslyze (from its own venv,
``bench/.venv-sslyze``, made on first use), one tool after the other, then
scans ``--scale`` targets with certcheck alone (host names ``tNNNNN.<host>``
spread over the same listeners), measures wall time, CPU time and peak RSS of
each tool's process, and writes ``bench/out/results.json`` and the numbers
section of ``bench/RESULTS.md``.  The comparison is made twice: over all
listeners and over the reachable ones only (no silent/closed servers;
``--no-split`` skips that).  ``--profile`` adds a py-spy CPU profile of the
200-server scan and a tracemalloc memory profile of the smallest scale run.
sslscan (issue 16) scans the same listeners as certcheck and sslyze, one
process per target, as many at once as the others scan servers
(``bench/peers.py``); testssl.sh, too slow for all of them, scans the first
``--testssl-subset`` reachable listeners (certcheck scans that sample too) and
its figures are extrapolated to all listeners.  It is a benchmark, not a test: CI does not
run it.  Nothing leaves the loopback interface.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import hotspots
import peers
import results_md
import tools
from measure import Measurement, machine_info, run_measured

BENCH = Path(__file__).resolve().parent
SSLYZE_REQUIREMENT = "sslyze==6.3.1"  # pinned so that RESULTS.md can be reproduced

#: Targets named per listener in the scale runs: t00042.good.example.test etc.
SCALE_NAME = "t{index:05d}.{host}"


class BenchError(Exception):
    """Something the benchmark cannot work around: one line, exit code 2."""


@dataclass
class Run:
    """One measured tool run."""

    tool: str
    #: "all" listeners, "reachable" (no silent/closed ones) or "scale"
    subset: str
    targets: int
    concurrency: int
    command: str
    measurement: Measurement
    reached: int
    reported: int
    server_connections: int
    server_cpu_s: float
    note: str = ""
    #: all the tool's processes together, sampled (bench/peers.py): PSS and RSS sums
    tree_pss_mib: float = 0.0
    tree_rss_mib: float = 0.0
    tree_processes: int = 0
    #: the largest single process's own peak RSS (VmHWM, sampled; see peers.tree_memory)
    tree_largest_mib: float = 0.0
    #: testssl.sh's sample scaled to all listeners (peers.extrapolate)
    extrapolation: dict[str, Any] | None = None


# --------------------------------------------------------------------------- set-up


def certcheck_exe(given: str | None) -> str:
    """certcheck beside this interpreter (the project venv), else on PATH."""
    if given:
        return given
    beside = Path(sys.executable).parent / "certcheck"
    found = str(beside) if beside.exists() else shutil.which("certcheck")
    if not found:
        raise BenchError("certcheck is not installed here: run with the project's venv Python")
    return found


def byte_compile_certcheck() -> None:
    """Write certcheck's bytecode, as ``pip install`` does for sslyze and any wheel.

    The project is installed editable, so its modules are compiled from source at every
    start when no ``__pycache__`` is there (always, under PYTHONDONTWRITEBYTECODE): about
    half a second per run that no installed copy pays.
    """
    python = sys.executable  # the venv certcheck is installed in (see bench/README.md)
    find = [python, "-c", "import certcheck, os; print(os.path.dirname(certcheck.__file__))"]
    done = subprocess.run(find, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise BenchError(f"cannot find certcheck's package: {done.stderr.strip()[-200:]}")
    package = done.stdout.strip()
    compile_cmd = [python, "-m", "compileall", "-q", package]
    done = subprocess.run(compile_cmd, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise BenchError(f"compileall {package} failed: {done.stdout.strip()[-200:]}")


def ensure_sslyze(venv: Path) -> str:
    """The sslyze venv's Python; the venv is made and sslyze installed on first use."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import sslyze.__version__ as v; print(v.__version__)"]
    wanted = SSLYZE_REQUIREMENT.split("==", 1)[1]
    if python.exists():
        done = subprocess.run(check, capture_output=True, text=True, timeout=120)
        if done.returncode == 0 and done.stdout.strip() == wanted:
            return str(python)
    print(f"bench: installing {SSLYZE_REQUIREMENT} into {venv} (first run only)", flush=True)
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", SSLYZE_REQUIREMENT],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
            raise BenchError(f"{' '.join(step[:4])} failed: {' '.join(tail)}")
    return str(python)


class Servers:
    """bench/servers.py as a child process; it stops when our end of its stdin closes."""

    def __init__(self, count: int, out: Path, lifetime_s: float) -> None:
        self.manifest_path = out / "servers.json"
        self.manifest_path.unlink(missing_ok=True)
        self.log = (out / "servers.log").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(BENCH / "servers.py"),
                "--servers",
                str(count),
                "--manifest",
                str(self.manifest_path),
                "--lifetime",
                str(int(lifetime_s)),
            ],
            stdin=subprocess.PIPE,
            stdout=self.log,
            stderr=self.log,
        )
        self.stats_path = out / "server-stats.json"
        try:
            self.manifest = self._wait_for_manifest(timeout_s=180)
        except BenchError:
            self.stop()
            raise

    def _wait_for_manifest(self, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.manifest_path.exists():
                return json.loads(self.manifest_path.read_text(encoding="utf-8"))
            if self.proc.poll() is not None:
                raise BenchError(f"servers.py exited ({self.proc.returncode}); see servers.log")
            time.sleep(0.1)
        raise BenchError("servers.py did not start within 180 s; see servers.log")

    def stats(self) -> tuple[int, float]:
        """Connections accepted and CPU seconds used by all server processes so far.

        (-1, nan) when the server does not answer within 10 s.
        """
        self.stats_path.unlink(missing_ok=True)
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"stats {self.stats_path}\n".encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                stats = json.loads(self.stats_path.read_text(encoding="utf-8"))
                return int(stats["accepted"]), float(stats["cpu_s"])
            except (OSError, ValueError, KeyError, TypeError):
                time.sleep(0.05)
        return -1, float("nan")

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()  # servers.py stops at end of file
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.log.close()


# --------------------------------------------------------------------------- targets


def listener_targets(manifest: dict[str, Any]) -> list[tools.BenchTarget]:
    return [tools.BenchTarget(s["host"], int(s["port"]), s["kind"]) for s in manifest["servers"]]


def scale_targets(listeners: list[tools.BenchTarget], count: int) -> list[tools.BenchTarget]:
    """``count`` distinct host names spread round-robin over the listeners."""
    return [
        tools.BenchTarget(
            SCALE_NAME.format(index=i, host=listeners[i % len(listeners)].host),
            listeners[i % len(listeners)].port,
            listeners[i % len(listeners)].kind,
        )
        for i in range(count)
    ]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def shown(cmd: list[str]) -> str:
    """The command as a person can read it: N --resolve flags folded into one note."""
    parts: list[str] = []
    skip = False
    resolves = 0
    for part in cmd:
        if skip:
            skip = False
            continue
        if part == "--resolve":
            resolves += 1
            skip = True
            continue
        parts.append(part)
    if resolves:
        wild = "'*.HOST:PORT:127.0.0.1' (x{n}, one per listener)"
        exact = "HOST:PORT:127.0.0.1 (x{n}, one per target)"
        form = wild if any(part.startswith("*.") for part in cmd) else exact
        parts.insert(4, "--resolve " + form.format(n=resolves))
    text = " ".join(parts)
    return text.replace(str(BENCH.parent) + "/", "")


# --------------------------------------------------------------------------- runs


def measured(
    tool: str,
    subset: str,
    cmd: list[str],
    targets: list[tools.BenchTarget],
    concurrency: int,
    servers: Servers,
    out: Path,
    limit_s: float,
    command: str | None = None,
) -> Run:
    label = f"{tool}-{subset}-{len(targets)}"
    print(f"bench: {label}: running ({len(targets)} targets)...", flush=True)
    before_conn, before_cpu = servers.stats()
    measurement, tree = peers.run_measured_tree(
        cmd, out / f"{label}.stdout", out / f"{label}.stderr", limit_s
    )
    after_conn, after_cpu = servers.stats()
    run = Run(
        tool=tool,
        subset=subset,
        targets=len(targets),
        concurrency=concurrency,
        command=shown(cmd) if command is None else command.replace(str(BENCH.parent) + "/", ""),
        measurement=measurement,
        reached=0,
        reported=0,
        server_connections=after_conn - before_conn,
        server_cpu_s=round(after_cpu - before_cpu, 2),
        tree_pss_mib=tree.pss_mib,
        tree_rss_mib=tree.rss_mib,
        tree_processes=tree.processes,
        tree_largest_mib=tree.largest_mib,
    )
    m = measurement
    print(
        f"bench: {label}: wall {m.wall_s} s, CPU {m.cpu_s} s, peak RSS {m.peak_rss_mib} MiB "
        f"(largest process {tree.largest_mib} MiB; all {tree.processes} processes: "
        f"PSS {tree.pss_mib} MiB), "
        f"exit {m.returncode}{' (TIMED OUT)' if m.timed_out else ''}",
        flush=True,
    )
    return run


def run_certcheck(
    args: argparse.Namespace,
    subset: str,
    certcheck: str,
    options: set[str],
    targets: list[tools.BenchTarget],
    concurrency: int,
    servers: Servers,
    out: Path,
) -> tuple[Run, tools.Outcome]:
    stem = out / f"certcheck-{subset}-{len(targets)}"
    cmd = _certcheck_cmd_for(
        args, certcheck, options, targets, servers, stem, concurrency, wildcards=subset == "scale"
    )
    run = measured("certcheck", subset, cmd, targets, concurrency, servers, out, args.max_run_s)
    outcome = tools.read_certcheck(stem.with_suffix(".stdout"))
    run.reached, run.reported, run.note = outcome.reached, outcome.targets, outcome.note
    return run, outcome


def run_sslyze(
    args: argparse.Namespace,
    subset: str,
    python: str,
    targets: list[tools.BenchTarget],
    servers: Servers,
    out: Path,
) -> tuple[Run, tools.Outcome]:
    stem = out / f"sslyze-{subset}-{len(targets)}"
    targets_file = write_lines(
        stem.with_suffix(".targets"), [tools.sslyze_targets_line(t) for t in targets]
    )
    output = stem.with_suffix(".json")
    output.unlink(missing_ok=True)
    cmd = tools.sslyze_command(python, targets_file, servers.manifest["ca_file"], output)
    run = measured(
        "sslyze", subset, cmd, targets, tools.SSLYZE_SERVERS_AT_ONCE, servers, out, args.max_run_s
    )
    outcome = tools.read_sslyze(output)
    run.reached, run.reported, run.note = outcome.reached, outcome.targets, outcome.note
    return run, outcome


def run_sslscan(
    args: argparse.Namespace,
    subset: str,
    exe: str,
    targets: list[tools.BenchTarget],
    servers: Servers,
    out: Path,
) -> tuple[Run, tools.Outcome]:
    """One sslscan per target (XML out), ``--concurrency`` of them at once."""
    folder = out / f"sslscan-{subset}-{len(targets)}"
    folder.mkdir(parents=True, exist_ok=True)
    files = {t: folder / f"{i:05d}-{t.port}.xml" for i, t in enumerate(targets)}
    for path in files.values():
        path.unlink(missing_ok=True)
    arg_lists = [peers.sslscan_args(t, args.timeout, files[t]) for t in targets]
    cmd = peers.pool_command(exe, arg_lists, args.concurrency, folder / "args.nul")
    run = measured(
        "sslscan",
        subset,
        cmd,
        targets,
        args.concurrency,
        servers,
        out,
        args.max_run_s,
        command=peers.shown_pool(cmd, arg_lists[0]),
    )
    outcome = peers.read_sslscan(files)
    _pool_outcome(run, outcome, out / f"sslscan-{subset}-{len(targets)}.stderr")
    return run, outcome


def _pool_outcome(run: Run, outcome: tools.Outcome, stderr: Path) -> None:
    """What a pooled tool (one process per target) reached, and its failed scans."""
    run.reached, run.reported = outcome.reached, outcome.targets
    failed = peers.failed_scans(stderr)
    run.note = "; ".join(part for part in (outcome.note, failed) if part)


def run_testssl(
    args: argparse.Namespace,
    exe: str,
    targets: list[tools.BenchTarget],
    all_targets: int,
    servers: Servers,
    out: Path,
) -> tuple[Run, tools.Outcome]:
    """testssl.sh on the sample, one process per target, ``--concurrency`` at once.

    Its wall and CPU are also scaled linearly to ``all_targets``.
    """
    folder = out / f"testssl-sample-{len(targets)}"
    folder.mkdir(parents=True, exist_ok=True)
    files = {t: folder / f"{i:05d}-{t.port}.json" for i, t in enumerate(targets)}
    for path in files.values():  # testssl.sh refuses to write over an existing file
        path.unlink(missing_ok=True)
        path.with_suffix(".csv").unlink(missing_ok=True)
    ca_file = servers.manifest["ca_file"]
    arg_lists = [
        peers.testssl_args(t, args.timeout, ca_file, files[t], files[t].with_suffix(".csv"))
        for t in targets
    ]
    cmd = peers.pool_command(exe, arg_lists, args.concurrency, folder / "args.nul")
    run = measured(
        "testssl",
        "sample",
        cmd,
        targets,
        min(args.concurrency, len(targets)),
        servers,
        out,
        args.max_run_s,
        command=peers.shown_pool(cmd, arg_lists[0]),
    )
    outcome = peers.read_testssl(files)
    _pool_outcome(run, outcome, out / f"testssl-sample-{len(targets)}.stderr")
    m = run.measurement
    run.extrapolation = peers.extrapolate(len(targets), all_targets, m.wall_s, m.cpu_s)
    return run, outcome


def _certcheck_cmd_for(
    args: argparse.Namespace,
    certcheck: str,
    options: set[str],
    targets: list[tools.BenchTarget],
    servers: Servers,
    stem: Path,
    concurrency: int,
    wildcards: bool = False,
) -> list[str]:
    """certcheck's command; its JSON goes to standard output, saved as ``stem.stdout``.

    ``--per-host`` counts connections per IP address (every port of it is one server),
    and every listener here is on 127.0.0.1 while standing for a separate server: so it
    is raised to what the scan could open at once (5 per target it scans at once), and
    the per-target limit (``--max-connections 5``, sslyze's 5 per server) is what
    applies.  In the scale runs each listener also stands for many separate servers.
    """
    targets_file = write_lines(
        stem.with_suffix(".targets"), [f"{t.host}:{t.port}" for t in targets]
    )
    return tools.certcheck_command(
        certcheck,
        options,
        targets_file,
        targets,
        servers.manifest["ca_file"],
        timeout=args.timeout,
        concurrency=concurrency,
        per_host=tools.SSLYZE_CONNECTIONS_PER_SERVER * concurrency,
        wildcards=wildcards,
    )


def cpu_profile(
    args: argparse.Namespace,
    certcheck: str,
    options: set[str],
    targets: list[tools.BenchTarget],
    servers: Servers,
    out: Path,
) -> dict[str, Any]:
    """certcheck's comparison scan again, under py-spy; where the CPU samples fall."""
    exe = hotspots.py_spy()
    if exe is None:
        return {"error": "py-spy is not installed (pip install py-spy into the certcheck venv)"}
    stem = out / f"cpu-profile-{len(targets)}"
    cmd = _certcheck_cmd_for(args, certcheck, options, targets, servers, stem, args.concurrency)
    raw = stem.with_suffix(".pyspy.txt")
    print(f"bench: CPU profile of certcheck on {len(targets)} targets (py-spy)...", flush=True)
    measurement = run_measured(
        hotspots.py_spy_command(exe, raw, cmd),
        stem.with_suffix(".stdout"),
        stem.with_suffix(".stderr"),
        args.max_run_s,
    )
    if not raw.exists():
        return {"error": f"py-spy wrote no samples (exit {measurement.returncode}), see {stem}"}
    summary = hotspots.summarise(raw)
    return {"targets": len(targets), "raw": str(raw.relative_to(out)), **asdict(summary)}


def memory_profile(
    args: argparse.Namespace,
    certcheck: str,
    options: set[str],
    targets: list[tools.BenchTarget],
    servers: Servers,
    out: Path,
) -> dict[str, Any]:
    """certcheck in-process under tracemalloc (bench/memprofile.py): what holds memory."""
    stem = out / f"memory-profile-{len(targets)}"
    cmd = _certcheck_cmd_for(
        args, certcheck, options, targets, servers, stem, args.scale_concurrency, wildcards=True
    )
    report = stem.with_suffix(".tracemalloc.json")
    report.unlink(missing_ok=True)
    print(f"bench: memory profile of certcheck on {len(targets)} targets...", flush=True)
    run_measured(
        [sys.executable, str(BENCH / "memprofile.py"), str(report), *cmd[1:]],
        stem.with_suffix(".stdout"),
        stem.with_suffix(".stderr"),
        args.max_run_s,
    )
    if not report.exists():
        return {"error": f"memprofile.py wrote nothing; see {stem}.stderr"}
    return json.loads(report.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- main


def parse_scale(text: str) -> list[int]:
    if text.strip().lower() in ("", "0", "none", "off"):
        return []
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise BenchError(f"--scale {text!r}: expected numbers like 1000,10000") from exc
    if any(not 1 <= n <= 100_000 for n in sizes):
        raise BenchError(f"--scale {text!r}: each size must be 1-100000")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="certcheck vs sslyze on loopback TLS servers, and certcheck at scale.",
    )
    add = parser.add_argument
    add("--servers", type=int, default=200, help="TLS listeners, all scanned by both tools")
    add("--scale", default="1000,10000", help="certcheck-only target counts ('none' to skip)")
    add("--skip-sslyze", action="store_true", help="do not run sslyze (no venv is made)")
    add("--skip-sslscan", action="store_true", help="do not run sslscan")
    add("--skip-testssl", action="store_true", help="do not run testssl.sh")
    add(
        "--testssl-subset",
        type=int,
        default=10,
        help="reachable listeners testssl.sh (and certcheck, for comparison) scan; "
        "its figures are extrapolated to all listeners",
    )
    add(
        "--profile",
        action="store_true",
        help="also profile certcheck: CPU with py-spy, memory with tracemalloc",
    )
    add(
        "--no-split",
        dest="split",
        action="store_false",
        help="skip the second comparison on the reachable servers only (no silent/closed)",
    )
    add("--timeout", type=float, default=tools.SSLYZE_TIMEOUT_S, help="seconds per connection")
    add(
        "--concurrency",
        type=int,
        default=tools.SSLYZE_SERVERS_AT_ONCE,
        help="targets certcheck scans at once in the comparison (sslyze's default: 10)",
    )
    add("--scale-concurrency", type=int, default=32, help="targets at once in the scale runs")
    add("--max-run-minutes", type=float, default=60, help="kill a tool run after this long")
    add("--certcheck", help="certcheck executable (default: beside this Python)")
    add("--sslyze-venv", type=Path, default=BENCH / ".venv-sslyze")
    add("--out", type=Path, default=BENCH / "out", help="logs, tool outputs, results.json")
    add("--results", type=Path, default=BENCH / "RESULTS.md", help="markdown to update")
    return parser


def check_args(args: argparse.Namespace) -> None:
    if not 1 <= args.servers <= 5000:
        raise BenchError(f"--servers {args.servers}: choose 1-5000")
    if not 1 <= args.concurrency <= 256 or not 1 <= args.scale_concurrency <= 256:
        raise BenchError("--concurrency and --scale-concurrency must be 1-256 (certcheck's range)")
    if not 0.1 <= args.timeout <= 600:
        raise BenchError("--timeout must be 0.1-600 seconds")
    if args.max_run_minutes <= 0:
        raise BenchError("--max-run-minutes must be positive")
    if not 1 <= args.testssl_subset <= 5000:
        raise BenchError("--testssl-subset must be 1-5000")


def peer_executables(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """sslscan and testssl.sh unless skipped; a missing one is an error (say how to skip it)."""
    sslscan = None if args.skip_sslscan else peers.sslscan_exe()
    testssl = None if args.skip_testssl else peers.testssl_exe()
    if not args.skip_sslscan and not sslscan:
        raise BenchError("sslscan is not on PATH (apt-get install sslscan) or use --skip-sslscan")
    if not args.skip_testssl and not testssl:
        raise BenchError(
            "testssl.sh is not on PATH (apt-get install testssl.sh) or use --skip-testssl"
        )
    if (sslscan or testssl) and not shutil.which("xargs"):
        raise BenchError("xargs (GNU findutils) is needed to run sslscan / testssl.sh in a pool")
    return sslscan, testssl


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.time()
    try:
        check_args(args)
        scale = parse_scale(args.scale)
        args.max_run_s = args.max_run_minutes * 60
        certcheck = certcheck_exe(args.certcheck)
        byte_compile_certcheck()
        sslyze_python = None if args.skip_sslyze else ensure_sslyze(args.sslyze_venv)
        sslscan, testssl = peer_executables(args)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    options = tools.certcheck_options(certcheck)
    runs = 9 + len(scale) + (2 if args.profile else 0)
    try:
        servers = Servers(args.servers, out, lifetime_s=runs * args.max_run_s + 600)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    runs_done: list[Run] = []
    agreement: tools.Agreement | None = None
    peer_agreement: dict[str, tools.Agreement] = {}
    ours_all: tools.Outcome | None = None
    profile: dict[str, Any] | None = None
    try:
        listeners = listener_targets(servers.manifest)
        reachable = [
            target
            for target, server in zip(listeners, servers.manifest["servers"], strict=True)
            if server["behaviour"] == "tls"
        ]
        subsets = [("all", listeners)]
        if args.split and reachable and len(reachable) < len(listeners):
            subsets.append(("reachable", reachable))
        for subset, targets in subsets:
            ours_run, ours = run_certcheck(
                args, subset, certcheck, options, targets, args.concurrency, servers, out
            )
            runs_done.append(ours_run)
            if sslyze_python:
                theirs_run, theirs = run_sslyze(args, subset, sslyze_python, targets, servers, out)
                runs_done.append(theirs_run)
                if subset == "all":
                    agreement = tools.compare(ours, theirs)
            if subset == "all":
                ours_all = ours
            if sslscan:
                scan_run, scanned = run_sslscan(args, subset, sslscan, targets, servers, out)
                runs_done.append(scan_run)
                if subset == "all":
                    peer_agreement["sslscan"] = tools.compare(ours, scanned, theirs_name="sslscan")
        if testssl and reachable:
            sample = reachable[: args.testssl_subset]
            ours_run, ours = run_certcheck(
                args, "sample", certcheck, options, sample, args.concurrency, servers, out
            )
            runs_done.append(ours_run)
            test_run, tested = run_testssl(args, testssl, sample, len(listeners), servers, out)
            runs_done.append(test_run)
            peer_agreement["testssl"] = tools.compare(
                ours_all or ours, tested, theirs_name="testssl"
            )
        for size in scale:
            run, _ = run_certcheck(
                args,
                "scale",
                certcheck,
                options,
                scale_targets(listeners, size),
                args.scale_concurrency,
                servers,
                out,
            )
            runs_done.append(run)
        if args.profile:
            profile = {
                "cpu": cpu_profile(args, certcheck, options, listeners, servers, out),
                "memory": memory_profile(
                    args,
                    certcheck,
                    options,
                    scale_targets(listeners, min(scale, default=1000)),
                    servers,
                    out,
                ),
            }
    finally:
        servers.stop()
    info = machine_info(sys.executable, sslyze_python)
    info.update(peers.versions(sslscan, testssl))
    document = {
        "command": "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)),
        "duration_s": round(time.time() - started, 1),
        "machine": info,
        "settings": {
            "servers": args.servers,
            "timeout_s": args.timeout,
            "concurrency": args.concurrency,
            "scale_concurrency": args.scale_concurrency,
            "connections_per_server": tools.SSLYZE_CONNECTIONS_PER_SERVER,
            "certcheck_options_seen": sorted(options),
            "triple_des_served": servers.manifest.get("triple_des"),
            "server_processes": servers.manifest.get("processes", 1),
            "kinds": _kind_counts(servers.manifest),
            "testssl_subset": None if args.skip_testssl else args.testssl_subset,
        },
        "runs": [asdict(r) for r in runs_done],
        "agreement": asdict(agreement) if agreement else None,
        "peer_agreement": {tool: asdict(a) for tool, a in peer_agreement.items()},
        "checks": peers.CHECKS,
        "profile": profile,
    }
    (out / "results.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    results_md.update(args.results, document)
    print(f"bench: wrote {out / 'results.json'} and {args.results}", flush=True)
    for line in results_md.verdict_lines(document):
        print(f"bench: {line}")
    return 0


def _kind_counts(manifest: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for server in manifest["servers"]:
        counts[server["kind"]] = counts.get(server["kind"], 0) + 1
    return counts


if __name__ == "__main__":
    sys.exit(main())
