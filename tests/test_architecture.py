"""The rooms of the house: which part of certcheck may load which.

The evaluator judges facts; it must not need sockets, OpenSSL, reports or the CLI
(so facts from a file, a test or another tool are judged by exactly the code a scan
uses, and importing it is cheap).
"""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN_FOR_EVALUATE = (
    "certcheck.probe",
    "certcheck.report",
    "certcheck.cli",
    "certcheck.commands",
    "certcheck.monitor",
    "certcheck.miniprogram",
    "OpenSSL",
    "ssl",  # (the stdlib loads socket itself, via email.utils; certcheck opens none)
)


def _loaded_by(statement: str) -> set[str]:
    code = f"{statement}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return set(out.split())


def test_importing_the_evaluator_loads_no_probe_network_report_or_cli():
    loaded = _loaded_by("import certcheck.evaluate")
    bad = sorted(
        m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_FOR_EVALUATE)
    )
    assert bad == []


def test_the_core_imports_nothing_else_of_certcheck():
    loaded = _loaded_by("import certcheck.core.tls, certcheck.core.names")
    others = sorted(
        m for m in loaded
        if m.startswith("certcheck.") and not m.startswith("certcheck.core")
    )
    assert others == []
