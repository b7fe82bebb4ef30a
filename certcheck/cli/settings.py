"""The one place command-line options become a :class:`~certcheck.evaluate.Policy` and
a set of checked output files."""

from __future__ import annotations

from pathlib import Path

from certcheck.catalog import load_profiles
from certcheck.cli.common import fail_usage, read_file
from certcheck.cli.options import profile_names
from certcheck.evaluate import Policy
from certcheck.evaluate.trust import TrustStoreError
from certcheck.policyfile import PolicyFileError, load_policy_file, parse_ignore
from certcheck.report.outputs import OutputError, ReportFiles


def build_policy(
    profile: str,
    warn_days: int | None,
    crit_days: int | None,
    ca_file: Path | None,
    distrust: list[str] | None,
    profile_file: Path | None = None,
    ignore: list[str] | None = None,
) -> Policy:
    if profile not in load_profiles():
        fail_usage(f"--profile {profile!r}: choose one of {', '.join(profile_names())}")
    profile_obj = None
    ignores = []
    try:
        if profile_file is not None:
            profile_obj, ignores = load_policy_file(profile_file)
        ignores += [parse_ignore(item) for item in ignore or []]
    except PolicyFileError as exc:
        fail_usage(str(exc))
    for fp in distrust or []:
        clean = fp.lower().replace(":", "")
        if len(clean) != 64 or any(c not in "0123456789abcdef" for c in clean):
            fail_usage(f"--distrust {fp!r}: expected a SHA-256 fingerprint (64 hex digits)")
    ca_pem = read_file(ca_file, "--ca-file") if ca_file else None
    try:
        return Policy.build(
            profile,
            warn_days,
            crit_days,
            ca_pem,
            distrust,
            profile_obj=profile_obj,
            ignores=ignores,
        )
    except TrustStoreError as exc:
        fail_usage(str(exc).replace("--ca-file", f"--ca-file {str(ca_file)!r}"))


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
