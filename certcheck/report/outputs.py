"""Write the file reports (--html, --junit, --sarif, --jsonl, --json) from one results document.

Shared by the scanning commands (``scan``, ``evaluate``, ``check-cert``, ``demo``)
and by ``certcheck report``, so a report made later from a saved document is
the same file the scan would have written.  ``-`` means standard output; at most
one report may go there.  Problems are :class:`OutputError` (a usage error).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from certcheck.report import i18n, jsondoc, jsonl
from certcheck.report.junit import junit_xml
from certcheck.report.sarif import sarif_document
from certcheck.safeload import LoadError, load_json, quote


class OutputError(ValueError):
    """An output that cannot be written, or a document that cannot be read."""


@dataclass(frozen=True)
class ReportFiles:
    """Where each report goes (None: not asked for)."""

    json: str | None = None
    html: str | None = None
    lang: str = i18n.DEFAULT_LANG
    jsonl: str | None = None
    junit: str | None = None
    sarif: str | None = None

    def named(self) -> dict[str, str]:
        """``{"--html": path, ...}`` for every output asked for."""
        pairs = {
            "--json": self.json,
            "--html": self.html,
            "--jsonl": self.jsonl,
            "--junit": self.junit,
            "--sarif": self.sarif,
        }
        return {flag: path for flag, path in pairs.items() if path}

    @property
    def to_stdout(self) -> bool:
        return "-" in self.named().values()

    @property
    def needs_document(self) -> bool:
        return self.needs_document_after(jsonl_done=False)

    def needs_document_after(self, jsonl_done: bool) -> bool:
        """Whether a document must be built once ``--jsonl`` was (or was not) streamed."""
        return any((self.json, self.html, self.junit, self.sarif)) or (
            bool(self.jsonl) and not jsonl_done
        )

    def check(self) -> None:
        """Reject bad choices before any work is done (OutputError names the option)."""
        if self.lang not in i18n.languages():
            raise OutputError(f"--lang {self.lang!r}: choose one of {', '.join(i18n.languages())}")
        stdout = [flag for flag, path in self.named().items() if path == "-"]
        if len(stdout) > 1:
            raise OutputError(
                f"only one output can go to standard output ('-'): {', '.join(stdout)}"
            )
        paths: dict[str, str] = {}
        for flag, path in self.named().items():
            if path == "-":
                continue
            key = str(Path(path).resolve())
            if key in paths:
                raise OutputError(f"{flag} and {paths[key]} both write to {path!r}")
            paths[key] = flag
            if Path(path).is_dir():
                raise OutputError(f"{flag} {path!r}: is a directory")


def _write(flag: str, path: str, text: str) -> None:
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        Path(path).write_bytes(text.encode("utf-8", errors="replace"))
    except OSError as exc:
        raise OutputError(f"{flag} {path!r}: {exc.strerror or exc}") from exc


def open_stream(flag: str, path: str) -> TextIO:
    """A line-buffered text stream for ``--jsonl`` ('-' is standard output)."""
    if path == "-":
        return sys.stdout
    try:
        return open(path, "w", encoding="utf-8", errors="replace", buffering=1)  # noqa: SIM115
    except OSError as exc:
        raise OutputError(f"{flag} {path!r}: {exc.strerror or exc}") from exc


def write_reports(
    document: dict[str, Any],
    files: ReportFiles,
    *,
    fail_on: str | None = None,
    jsonl_done: bool = False,
) -> None:
    """Every report ``files`` asks for, from one results document.

    ``jsonl_done``: the scan already streamed the ``--jsonl`` lines as it went.
    ``fail_on`` overrides the document's level for the JUnit failures.
    """
    if files.json:
        _write("--json", files.json, jsondoc.dumps(document))
    if files.jsonl and not jsonl_done:
        stream = open_stream("--jsonl", files.jsonl)
        try:
            writer = jsonl.JsonlWriter(
                stream, profile=str(document.get("profile")), fail_on=str(document.get("fail_on"))
            )
            for result in document.get("results") or []:
                writer.write_dict(result, str(document.get("evaluated_at")))
        finally:
            if stream is not sys.stdout:
                stream.close()
    if files.html:
        # Imported here: jinja2 and the page modules are 40 ms of every scan's start-up.
        from certcheck.report.html import render_html

        _write("--html", files.html, render_html(document, files.lang))
    if files.junit:
        _write("--junit", files.junit, junit_xml(document, fail_on))
    if files.sarif:
        text = json.dumps(sarif_document(document), indent=2, ensure_ascii=False) + "\n"
        _write("--sarif", files.sarif, text)


def load_results(path: Path) -> dict[str, Any]:
    """A results document from ``--json`` or ``--jsonl`` output, checked against the schema."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise OutputError(f"{str(path)!r}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise OutputError(f"{str(path)!r}: {exc.strerror or exc}") from exc
    source = str(path)
    stripped = text.lstrip()
    if not stripped:
        raise OutputError(f"{source}: the file is empty")
    first_line = stripped.split("\n", 1)[0]
    from_lines = f'"kind":"{jsonl.LINE_KIND}"' in first_line.replace(" ", "")
    try:
        if from_lines:  # each line is checked against the schema as it is read
            document = jsonl.read_lines(text, source)
        else:
            document = load_json(text, source)
    except (jsondoc.DocumentError, LoadError) as exc:
        raise OutputError(str(exc)) from None
    if isinstance(document, dict) and document.get("kind") == jsondoc.FACTS_KIND:
        raise OutputError(
            f"{source}: this is saved facts, not results; evaluate them first: "
            f"certcheck evaluate {source} --html FILE"
        )
    if not isinstance(document, dict) or document.get("kind") != jsondoc.RESULTS_KIND:
        raise OutputError(f"{source}: not a certcheck results document (from --json or --jsonl)")
    major = str(document.get("schema_version", "")).split(".")[0]
    if major != jsondoc.SCHEMA_VERSION.split(".")[0]:
        raise OutputError(
            f"{source}: schema_version {quote(document.get('schema_version'))} is not supported "
            f"(this certcheck reads {jsondoc.SCHEMA_VERSION})"
        )
    # Imported here: jsonschema is 50 ms of every command's start-up (as in jsondoc, jsonl).
    from certcheck.report.schema_errors import first_problem

    problem = None if from_lines else first_problem(document)
    if problem:
        raise OutputError(f"{source}: not a valid results document: {problem}")
    return document


