"""``certcheck fix-chain``: the chain a server should send, ready to paste into a config."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certcheck.cli.common import err, fail_usage, out, parse_at, read_file
from certcheck.cli.options import AtOpt, CaFile
from certcheck.evaluate.certinfo import is_self_signed, iso, subject_str
from certcheck.evaluate.rules.chain import TOLERATED_BY_CLIENTS, classify_validator_error
from certcheck.evaluate.trust import PathResult, TrustStore, TrustStoreError, build_path
from certcheck.probe import probe_target
from certcheck.probe.aia import add_aia_issuers
from certcheck.targets import TargetError, apply_resolve, parse_overrides, parse_target


def fix_chain(
    target: Annotated[str, typer.Argument(help="host, host:port or https://host[:port]")],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the PEM chain here instead of stdout.")
    ] = None,
    resolve: Annotated[
        list[str] | None,
        typer.Option("--resolve", metavar="HOST:PORT:ADDR", help="As for scan (repeatable)."),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, max=600)] = 10.0,
    ca_file: CaFile = None,
    fetch_aia: Annotated[
        bool,
        typer.Option(
            "--fetch-aia/--no-fetch-aia",
            help="Fetch missing intermediates from the AIA caIssuers URLs (default on).",
        ),
    ] = True,
    at: AtOpt = None,
) -> None:
    """Print the chain the server should send: leaf first, intermediates in order, no root.

    The output is what nginx's ssl_certificate, Apache's SSLCertificateFile
    (2.4.8+) or a cloud console's "certificate chain" field expects.
    """
    try:
        overrides = parse_overrides(resolve or [])
        parsed = apply_resolve(parse_target(target), overrides)
    except TargetError as exc:
        fail_usage(str(exc))
    try:
        trust = TrustStore.load(read_file(ca_file, "--ca-file") if ca_file else None)
    except TrustStoreError as exc:
        fail_usage(str(exc))
    facts = probe_target(parsed, timeout)
    if not facts.ok:
        assert facts.error is not None
        err.print(f"certcheck: {parsed.label}: {facts.error.message}", markup=False)
        raise typer.Exit(3)
    if fetch_aia:
        add_aia_issuers(facts, timeout, overrides)
    served = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in facts.chain]
    fetched = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in facts.aia_certificates]
    result = build_path(served[0], served[1:] + fetched, trust, parse_at(at))
    anchor = result.path[-1] if result.anchored else None
    anchor_is_root = anchor is not None and is_self_signed(anchor)
    # A root is not sent (clients have it); any other trust anchor is (clients may not).
    chain = result.path[:-1] if anchor_is_root and len(result.path) > 1 else result.path
    pem = b"".join(c.public_bytes(Encoding.PEM) for c in chain).decode("ascii")
    for error in facts.aia_errors:
        err.print(f"certcheck: AIA fetch failed: {error}", markup=False)
    for cert in chain:
        err.print(
            f"# {subject_str(cert.subject)}  (issuer {subject_str(cert.issuer)}, "
            f"expires {iso(cert.not_valid_after_utc)})",
            markup=False,
        )
    problem = _chain_problem(result, anchor, anchor_is_root)
    if anchor is not None and anchor_is_root:
        err.print(f"# root, not included: {subject_str(anchor.subject)}", markup=False)
    if problem:
        err.print(f"certcheck: this chain is not complete: {problem}", markup=False)
    if out_file is not None:
        try:
            out_file.write_text(pem, encoding="ascii")
        except OSError as exc:
            fail_usage(f"--out {str(out_file)!r}: {exc.strerror or exc}")
        err.print(f"wrote {len(chain)} certificate(s) to {out_file}", markup=False)
    else:
        out.print(pem, end="", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1 if problem else 0)


def _chain_problem(
    result: PathResult, anchor: x509.Certificate | None, anchor_is_root: bool
) -> str | None:
    """Why the printed chain would not validate for clients, or None when it does."""
    if anchor is None:
        missing = f" (missing issuer: {result.missing_issuer})" if result.missing_issuer else ""
        return f"it does not reach a trusted root{missing}"
    if not anchor_is_root:
        return (
            f"it ends at {subject_str(anchor.subject)}, a trust anchor that is not a root "
            "(an intermediate given with --ca-file?): it is included, but clients that do "
            "not trust it need its issuer too; give the root with --ca-file"
        )
    if result.webpki_ran and not result.webpki_ok:
        kind, reason = classify_validator_error(result.webpki_error)
        if kind in TOLERATED_BY_CLIENTS:
            return None  # phones and browsers accept it (the scan reports it, as a warning)
        return f"it reaches {subject_str(anchor.subject)} but does not validate: {reason}"
    return None
