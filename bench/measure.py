"""Run one tool as a child process and measure it: wall, CPU, peak RSS.

The child is reaped with :func:`os.wait4`, which returns the child's own
``rusage``: ``ru_utime + ru_stime`` is its CPU time (all threads) and
``ru_maxrss`` its peak resident set size (KiB on Linux).  Nothing is sampled,
so the numbers cost the child nothing.
"""

from __future__ import annotations

import os
import platform
import resource
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

#: How often the parent checks whether the child has finished (bounds the wall error).
POLL_SECONDS = 0.02


@dataclass
class Measurement:
    """What one tool run cost."""

    wall_s: float
    cpu_s: float
    user_s: float
    sys_s: float
    peak_rss_mib: float
    returncode: int
    timed_out: bool = False


def run_measured(
    cmd: list[str],
    stdout: Path,
    stderr: Path,
    limit_s: float,
    stdin: Path | None = None,
) -> Measurement:
    """Run ``cmd`` to the end (or kill it after ``limit_s``) and measure it."""
    with (
        stdout.open("wb") as out,
        stderr.open("wb") as err,
        stdin.open("rb") if stdin else open(os.devnull, "rb") as inp,
    ):
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=inp, stdout=out, stderr=err)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            if time.monotonic() - started > limit_s and not timed_out:
                timed_out = True
                os.kill(proc.pid, signal.SIGKILL)  # only the child we started
            time.sleep(POLL_SECONDS)
        wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return measurement_of(wall, usage, proc.returncode, timed_out)


def measurement_of(
    wall: float, usage: resource.struct_rusage, returncode: int, timed_out: bool
) -> Measurement:
    """A :class:`Measurement` from the wall time and ``os.wait4``'s resource usage of a
    finished process tree (CPU of the children it waited for included)."""
    return Measurement(
        wall_s=round(wall, 2),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 2),
        user_s=round(usage.ru_utime, 2),
        sys_s=round(usage.ru_stime, 2),
        peak_rss_mib=round(usage.ru_maxrss / 1024, 1),
        returncode=returncode,
        timed_out=timed_out,
    )


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) a running process has used so far."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = stat.rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15)


def _first_line(cmd: list[str]) -> str:
    """What ``cmd`` printed, its lines joined with '; ' (for version strings)."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    text = (done.stdout or done.stderr).strip()
    return "; ".join(text.splitlines()) if text else f"unavailable (exit {done.returncode})"


#: Prints the OpenSSL version string compiled into each of nassl's extension modules.
_NASSL_OPENSSL = """
import pathlib, re, importlib.metadata, nassl
for so in sorted(pathlib.Path(nassl.__file__).parent.glob("_nassl*.so")):
    found = re.search(rb"OpenSSL [0-9][.][0-9][.][0-9][a-z]*", so.read_bytes())
    name = so.name.split(".")[0]
    print(name, found.group().decode() if found else "?")
print("nassl", importlib.metadata.version("nassl"))
"""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def machine_info(certcheck_python: str, sslyze_python: str | None) -> dict[str, str]:
    """The machine and the software versions the numbers belong to."""
    crypto = (
        "import cryptography; from cryptography.hazmat.backends.openssl import backend; "
        "print(cryptography.__version__, '/', backend.openssl_version_text())"
    )
    info = {
        "cpus": f"{os.cpu_count()} (nproc {len(os.sched_getaffinity(0))})",
        "cpu_model": _cpu_model(),
        "memory": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python (certcheck)": _first_line([certcheck_python, "-VV"]),
        "ssl module OpenSSL (certcheck, servers)": _first_line(
            [certcheck_python, "-c", "import ssl; print(ssl.OPENSSL_VERSION)"]
        ),
        "cryptography / its OpenSSL": _first_line([certcheck_python, "-c", crypto]),
        "certcheck": _first_line(
            [certcheck_python, "-c", "import certcheck; print(certcheck.__version__)"]
        ),
    }
    if sslyze_python:
        info["python (sslyze)"] = _first_line([sslyze_python, "-VV"])
        info["sslyze"] = _first_line(
            [sslyze_python, "-c", "from sslyze.__version__ import __version__; print(__version__)"]
        )
        info["nassl (sslyze's OpenSSL builds)"] = _first_line([sslyze_python, "-c", _NASSL_OPENSSL])
    return info
