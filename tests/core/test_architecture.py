"""The rooms of the house: which part of certcheck may load which.

The evaluator judges facts; it must not need sockets, OpenSSL, reports or the CLI
(so facts from a file, a test or another tool are judged by exactly the code a scan
uses, and importing it is cheap).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from paths import PACKAGE

FORBIDDEN_FOR_EVALUATE = (
    "certcheck.probe",
    "certcheck.report",
    "certcheck.cli",
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


PACKAGE = PACKAGE


def _imports(path: Path) -> set[str]:
    """Every certcheck module ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("certcheck"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("certcheck"))
    return found


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_no_import_cycle_between_top_level_modules():
    units = {p.stem if p.parent == PACKAGE else p.relative_to(PACKAGE).parts[0]
             for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        unit = path.stem if path.parent == PACKAGE else path.relative_to(PACKAGE).parts[0]
        for module in _imports(path):
            other = _unit(module)
            if other != unit and other in units:
                graph.setdefault(unit, set()).add(other)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(u for u in graph if reaches(u, u, {u}))
    assert cycles == []


def test_command_modules_never_import_the_app():
    """Commands are registered in certcheck/cli/app.py; a command module imports the
    shared pieces (common, options, settings, emit), never the app."""
    offenders = [
        p.name for p in (PACKAGE / "cli").glob("*.py")
        if p.name not in {"app.py", "__init__.py", "__main__.py"}
        and any(m.startswith("certcheck.cli.app") for m in _imports(p))
    ]
    assert offenders == []


def test_no_module_imports_another_modules_private_names():
    """What two modules share is public (e.g. report/chrome.py for every page), so a
    module's private helpers can change without breaking a neighbour."""
    borrowed = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("certcheck"):
                names = [a.name for a in node.names if a.name.startswith("_") and a.name[1] != "_"]
                borrowed += [f"{path.relative_to(PACKAGE)}: {node.module}.{n}" for n in names]
    assert borrowed == []


def test_every_html_page_renders_through_the_shared_chrome():
    pages = ["html.py", "miniprogram_page.py", "forecast_page.py", "history_page.py"]
    for name in pages:
        imports = _imports(PACKAGE / "report" / name)
        assert "certcheck.report.chrome" in imports, name
        assert "jinja2" not in imports and "import jinja2" not in (
            PACKAGE / "report" / name
        ).read_text("utf-8"), name
