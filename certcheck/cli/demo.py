"""``certcheck demo``: a real scan of loopback servers with the sample certificates."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from certcheck import settings
from certcheck.cli.common import out
from certcheck.cli.emit import emit
from certcheck.cli.options import (
    Clients,
    FailOn,
    HtmlOut,
    JsonlOut,
    JsonOut,
    JunitOut,
    LangOpt,
    SarifOut,
    Verbose,
)
from certcheck.cli.settings import report_files
from certcheck.pipeline import evaluate_all, scan_targets
from certcheck.report.i18n import catalog
from certcheck.settings import PolicyInputs


def demo(
    json_out: JsonOut = None,
    html: HtmlOut = None,
    lang: LangOpt = "en",
    jsonl_out: JsonlOut = None,
    junit: JunitOut = None,
    sarif: SarifOut = None,
    verbose: Verbose = False,
    clients: Clients = False,
) -> None:
    """Scan loopback servers with sample certificates (good and broken): no network needed."""
    from certcheck.demo import demo_servers

    files = report_files(json_out, html, lang, jsonl_out, junit, sarif)
    if not files.to_stdout:
        out.print(
            "certcheck demo: scanning local TLS servers on 127.0.0.1 that use sample "
            "certificates from a private test CA, as 'certcheck scan HOST --resolve "
            "HOST:PORT:127.0.0.1 --ca-file CA.pem' would.\n"
        )
    with demo_servers() as setup:
        policy = settings.build_policy(PolicyInputs(ca_pem=setup.ca_pem))
        facts = scan_targets(setup.targets, timeout=5.0)
    now = datetime.now(UTC)
    results = evaluate_all(facts, policy, now)
    code = emit(
        results,
        now=now,
        policy=policy,
        fail_on=FailOn.error,
        json_out=json_out,
        verbose=verbose,
        clients=clients,
        files=files,
    )
    if not files.to_stdout:
        out.print("\n" + catalog(lang).get("console", "demo_outro"))
    raise typer.Exit(0 if code in (0, 1) else code)
