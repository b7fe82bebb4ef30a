"""The one place command-line options become a :class:`~certcheck.evaluate.Policy` and
a set of checked output files."""

from __future__ import annotations

from pathlib import Path

from certcheck import settings
from certcheck.cli.common import fail_usage
from certcheck.evaluate import Policy
from certcheck.report.outputs import OutputError, ReportFiles
from certcheck.settings import PolicyInputError, PolicyInputs


def build_policy(
    profile: str,
    warn_days: int | None,
    crit_days: int | None,
    ca_file: Path | None,
    distrust: list[str] | None,
    profile_file: Path | None = None,
    ignore: list[str] | None = None,
    ca_pem: bytes | None = None,
) -> Policy:
    """The policy of a command's options (:func:`certcheck.settings.build_policy`); a bad
    option is a usage error naming it."""
    inputs = PolicyInputs(
        profile=profile,
        warn_days=warn_days,
        crit_days=crit_days,
        ca_file=ca_file,
        ca_pem=ca_pem,
        distrust=tuple(distrust or ()),
        profile_file=profile_file,
        ignore=tuple(ignore or ()),
    )
    try:
        return settings.build_policy(inputs)
    except PolicyInputError as exc:
        fail_usage(str(exc))


def report_files(
    json_out: str | None,
    html: str | None = None,
    lang: str = "en",
    jsonl_out: str | None = None,
    junit: str | None = None,
    sarif: str | None = None,
) -> ReportFiles:
    """The file outputs asked for, checked before any work is done."""
    files = ReportFiles(
        json=json_out, html=html, lang=lang, jsonl=jsonl_out, junit=junit, sarif=sarif
    )
    try:
        files.check()
    except OutputError as exc:
        fail_usage(str(exc))
    return files
