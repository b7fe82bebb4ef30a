"""``--jsonl``: one JSON object per target, written the moment the target is done.

Each line is a self-contained ``certcheck-result`` object (see the schema):
``{"schema_version", "kind", "tool", "evaluated_at", "profile", "fail_on",
"result": {...one entry of the results document...}}``.  Lines are flushed one
by one, so a scan that is killed keeps every target it had finished; reading
such a file back tolerates a cut-off last line.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import datetime
from typing import Any, TextIO

from certcheck import __version__
from certcheck.core.times import iso
from certcheck.model import TargetResult
from certcheck.report.evidence import counts_against
from certcheck.report.jsondoc import RESULTS_KIND, SCHEMA_VERSION, DocumentError
from certcheck.safeload import LoadError, load_json

LINE_KIND = "certcheck-result"


def result_line(
    result: dict[str, Any], *, evaluated_at: str, profile: str, fail_on: str
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": LINE_KIND,
        "tool": {"name": "certcheck", "version": __version__},
        "evaluated_at": evaluated_at,
        "profile": profile,
        "fail_on": fail_on,
        "result": result,
    }


class JsonlWriter:
    """Writes and flushes one line per result; safe to call from several threads."""

    def __init__(self, stream: TextIO, *, profile: str, fail_on: str) -> None:
        self.stream = stream
        self.profile = profile
        self.fail_on = fail_on
        self.count = 0
        self._lock = threading.Lock()

    def write(self, result: TargetResult, now: datetime) -> None:
        self.write_dict(result.to_dict(), iso(now))

    def write_dict(self, result: dict[str, Any], evaluated_at: str) -> None:
        line = result_line(
            result, evaluated_at=evaluated_at, profile=self.profile, fail_on=self.fail_on
        )
        text = json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            self.stream.write(text)
            self.stream.flush()
            self.count += 1


def _counts(results: list[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(r.get("overall") for r in results)
    overall = {k: counts.get(k, 0) for k in ("pass", "warn", "fail", "error")}
    return {"targets": len(results), **overall}


def exit_code_of(results: list[dict[str, Any]], fail_on: str) -> int:
    """The scan's exit code from saved results (suppressed findings do not count)."""
    if any(((r.get("facts") or {}).get("error") or {}).get("kind") == "internal" for r in results):
        return 4
    for result in results:
        if any(counts_against(f, fail_on) for f in result.get("findings") or []):
            return 1
    return 3 if any(r.get("status") in ("error", "partial") for r in results) else 0


def read_lines(text: str, source: str) -> dict[str, Any]:
    """A results document assembled from ``--jsonl`` output.

    A last line without its newline (a scan killed mid-write) is dropped; any
    other line that is not a result line is an error naming its line number, and so
    is a line that breaks the schema (``line 3: result.facts.groups: expected …``).
    """
    from certcheck.report.schema_errors import first_problem

    lines = text.split("\n")
    complete = text.endswith("\n")
    headers: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        last = number == len(lines)
        try:
            line = load_json(raw, f"{source}: line {number}")
        except LoadError as exc:
            if exc.syntax is None:
                raise DocumentError(str(exc)) from None
            if last and not complete:
                break
            raise DocumentError(f"{source}: line {number} is not JSON ({exc.syntax})") from None
        if not isinstance(line, dict) or line.get("kind") != LINE_KIND:
            raise DocumentError(f"{source}: line {number} is not a certcheck --jsonl result line")
        if not isinstance(line.get("result"), dict):
            raise DocumentError(f"{source}: line {number} has no result object")
        problem = first_problem(line)
        if problem:
            raise DocumentError(f"{source}: line {number}: {problem}")
        headers.append(line)
        results.append(line["result"])
    if not headers:
        raise DocumentError(f"{source}: no result lines")
    first = headers[0]
    fail_on = str(first.get("fail_on", "error"))
    return {
        "schema_version": str(first.get("schema_version", SCHEMA_VERSION)),
        "kind": RESULTS_KIND,
        "tool": first.get("tool") or {"name": "certcheck", "version": __version__},
        "evaluated_at": max(str(h.get("evaluated_at", "")) for h in headers),
        "profile": str(first.get("profile", "")),
        "fail_on": fail_on,
        "exit_code": exit_code_of(results, fail_on),
        "summary": _counts(results),
        "results": results,
    }
