"""Write the reports and the console summary of a finished run."""

from __future__ import annotations

from datetime import datetime

from certcheck.cli.common import fail_usage, out
from certcheck.cli.options import FailOn
from certcheck.cli.settings import report_files
from certcheck.evaluate import Policy
from certcheck.model import TargetResult
from certcheck.pipeline import exit_code
from certcheck.report import jsondoc
from certcheck.report.nagios import nagios_line
from certcheck.report.outputs import OutputError, ReportFiles, write_reports


def emit(
    results: list[TargetResult],
    *,
    now: datetime,
    policy: Policy,
    fail_on: FailOn,
    json_out: str | None,
    verbose: bool,
    clients: bool = False,
    files: ReportFiles | None = None,
    jsonl_done: bool = False,
    code: int | None = None,
    interrupted: bool = False,
    nagios: bool = False,
) -> int:
    """Write the reports and the console summary; return the exit code.

    ``code`` is given by streaming scans, whose ``results`` may be a sample.
    """
    code = exit_code(results, fail_on.value) if code is None else code
    files = files or report_files(json_out)
    if files.needs_document_after(jsonl_done):  # a streamed --jsonl needs no document
        document = jsondoc.results_document(
            results,
            now=now,
            profile=policy.profile.name,
            fail_on=fail_on.value,
            exit_code=code,
            interrupted=interrupted,
        )
        try:
            write_reports(document, files, jsonl_done=jsonl_done)
        except OutputError as exc:
            fail_usage(str(exc))
    if nagios:
        # a plugin: one status line instead of the console summary, and its exit code
        line, plugin_code = nagios_line(results, policy.profile)
        if not files.to_stdout:
            out.print(line, markup=False, soft_wrap=True)
        return plugin_code if not interrupted else code
    if not files.to_stdout:
        from certcheck.report import console as console_report  # rich: only for the table

        console_report.print_results(results, out, verbose, clients, files.lang)
        console_report.print_totals(results, out, now, files.lang)
    return code
