"""Where certcheck's memory goes: ``certcheck scan`` in-process under tracemalloc.

    python bench/memprofile.py OUTPUT.json scan ARGS...

Runs the CLI exactly as the ``certcheck`` executable would, with tracemalloc
on, and takes one snapshot when the scan hands its results to the reports
(``emit`` as ``certcheck.cli.scan`` calls it): what the run still holds at its
end (a streamed ``--jsonl`` scan keeps counts, not results).  Writes the traced total, the peak and
the top allocation sites (by file and by line) to OUTPUT.json.  tracemalloc
makes the scan several times slower; use it for the shape, not for timing.
"""

from __future__ import annotations

import json
import os
import sys
import tracemalloc
from pathlib import Path
from typing import Any

FRAMES = int(os.environ.get("MEMPROFILE_FRAMES", "8"))  # tests use 1: faster
TOP = 15
IMPORT_FILES = ("<frozen importlib._bootstrap_external>", "<frozen importlib._bootstrap>")


def _stats(snapshot: tracemalloc.Snapshot, key: str) -> list[dict[str, Any]]:
    total = sum(s.size for s in snapshot.statistics("filename")) or 1
    rows = []
    for stat in snapshot.statistics(key)[:TOP]:
        frame = stat.traceback[0]
        where = frame.filename.split("site-packages/")[-1].split("/work/main/")[-1]
        if key == "lineno":
            where = f"{where}:{frame.lineno}"
        rows.append(
            {
                "where": where,
                "mib": round(stat.size / 2**20, 2),
                "share": round(100 * stat.size / total, 1),
                "blocks": stat.count,
            }
        )
    return rows


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    output = Path(sys.argv[1])
    sys.argv = ["certcheck", *sys.argv[2:]]
    tracemalloc.start(FRAMES)
    from certcheck import cli
    from certcheck.cli import scan as scan_command  # the module `certcheck scan` runs

    report: dict[str, Any] = {}
    original = scan_command.emit

    def emit_with_snapshot(results: list[Any], **kwargs: Any) -> int:
        everything = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        # Module code and import machinery are the same for 10 or 10,000 targets.
        snapshot = everything.filter_traces([tracemalloc.Filter(False, f) for f in IMPORT_FILES])
        current, peak = tracemalloc.get_traced_memory()
        imports = sum(s.size for s in everything.statistics("filename")) - sum(
            s.size for s in snapshot.statistics("filename")
        )
        report.update(
            targets=len(results),
            traced_mib_at_emit=round(current / 2**20, 1),
            imports_mib=round(imports / 2**20, 1),
            traced_peak_mib=round(peak / 2**20, 1),
            by_file=_stats(snapshot, "filename"),
            by_line=_stats(snapshot, "lineno"),
        )
        return original(results, **kwargs)

    scan_command.emit = emit_with_snapshot  # type: ignore[assignment]
    try:
        cli.main()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 0
    else:
        code = 0
    current, peak = tracemalloc.get_traced_memory()
    report.setdefault("traced_peak_mib", round(peak / 2**20, 1))
    report["traced_peak_mib_whole_run"] = round(peak / 2**20, 1)
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return code


if __name__ == "__main__":
    sys.exit(main())
