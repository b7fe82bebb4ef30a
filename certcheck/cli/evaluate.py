"""``certcheck evaluate`` (saved facts) and ``certcheck check-cert`` (a certificate file)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from certcheck.catalog import load_profiles
from certcheck.cli.common import err, fail_usage, parse_at, read_file
from certcheck.cli.emit import emit
from certcheck.cli.options import (
    AtOpt,
    CaFile,
    Clients,
    CritDays,
    Distrust,
    FailOn,
    FailOnOpt,
    HtmlOut,
    IgnoreOpt,
    JsonlOut,
    JsonOut,
    JunitOut,
    LangOpt,
    Nagios,
    Profile,
    ProfileFile,
    SarifOut,
    Verbose,
    WarnDays,
)
from certcheck.cli.settings import build_policy, report_files
from certcheck.core.times import iso
from certcheck.model import ServerFacts
from certcheck.pipeline import evaluate_all
from certcheck.report import jsondoc
from certcheck.safeload import quote
from certcheck.targets import TargetError, parse_target


def evaluate(
    facts_file: Annotated[
        Path,
        typer.Argument(
            help="Facts saved with --save-facts, a --json results document or --jsonl lines."
        ),
    ],
    ca_file: CaFile = None,
    distrust: Distrust = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="Policy profile: wechat, ats or strict (default: the one the facts were "
            "scanned with, else wechat).",
        ),
    ] = None,
    profile_file: ProfileFile = None,
    ignore: IgnoreOpt = None,
    at: AtOpt = None,
    warn_days: WarnDays = None,
    crit_days: CritDays = None,
    fail_on: FailOnOpt = FailOn.error,
    json_out: JsonOut = None,
    html: HtmlOut = None,
    lang: LangOpt = "en",
    jsonl_out: JsonlOut = None,
    junit: JunitOut = None,
    sarif: SarifOut = None,
    verbose: Verbose = False,
    clients: Clients = False,
    nagios: Nagios = False,
) -> None:
    """Evaluate saved facts again, offline (no network).

    A facts file written by ``scan --save-facts`` records the profile, thresholds,
    --distrust fingerprints and --ca-file anchors of the scan; each is reused unless
    given again here.
    """
    files = report_files(json_out, html, lang, jsonl_out, junit, sarif)
    text = read_file(facts_file, "facts file").decode("utf-8", "replace")
    try:
        facts, recorded = jsondoc.load_facts_document(text, str(facts_file))
    except jsondoc.DocumentError as exc:
        fail_usage(str(exc))
    ca_pem = None
    if ca_file is None and isinstance(recorded.get("ca_pem"), str):
        ca_pem = recorded["ca_pem"].encode("ascii", "replace")
    reused = _reused(recorded, profile, warn_days, crit_days, distrust, ca_pem)
    policy = build_policy(
        profile or _str(recorded.get("profile")) or "wechat",
        warn_days if warn_days is not None else _int(recorded.get("warn_days")),
        crit_days if crit_days is not None else _int(recorded.get("crit_days")),
        ca_file,
        distrust if distrust is not None else [str(d) for d in recorded.get("distrust") or []],
        profile_file,
        ignore,
        ca_pem=ca_pem,
    )
    if reused:
        err.print(f"certcheck: as scanned: {', '.join(reused)}", markup=False)
    now = parse_at(at)
    results = evaluate_all(facts, policy, now)
    raise typer.Exit(
        emit(
            results,
            now=now,
            policy=policy,
            fail_on=fail_on,
            json_out=json_out,
            verbose=verbose,
            clients=clients,
            nagios=nagios,
            files=files,
        )
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _reused(
    recorded: dict,
    profile: str | None,
    warn_days: int | None,
    crit_days: int | None,
    distrust: list[str] | None,
    ca_pem: bytes | None,
) -> list[str]:
    """What the facts file's recorded policy supplies (said on stderr, for the record)."""
    reused = []
    if profile is None and _str(recorded.get("profile")):
        reused.append(f"profile {recorded['profile']}")
    base = load_profiles().get(profile or _str(recorded.get("profile")) or "wechat")
    days = (_int(recorded.get("warn_days")), _int(recorded.get("crit_days")))
    own = (base.warn_days, base.crit_days) if base else None
    if warn_days is None and crit_days is None and days[0] is not None and days != own:
        reused.append(f"thresholds {days[0]}/{days[1]} days")
    if distrust is None and recorded.get("distrust"):
        reused.append(f"{len(recorded['distrust'])} --distrust fingerprint(s)")
    if ca_pem:
        reused.append(f"{ca_pem.count(b'BEGIN CERTIFICATE')} --ca-file anchor(s)")
    return reused


def _load_pem_chain(path: Path) -> list[str]:
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    data = read_file(path, "certificate file")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        try:
            certs = [x509.load_der_x509_certificate(data)]
        except ValueError:
            fail_usage(f"{str(path)!r}: no PEM or DER certificate could be read")
    return [base64.b64encode(c.public_bytes(Encoding.DER)).decode("ascii") for c in certs]


def check_cert(
    chain_file: Annotated[
        Path,
        typer.Argument(
            help="PEM file: the leaf first, then the intermediates as the server would send them."
        ),
    ],
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Host name the certificate must cover (default: the first name in its SAN).",
        ),
    ] = None,
    ca_file: CaFile = None,
    distrust: Distrust = None,
    profile: Profile = "wechat",
    profile_file: ProfileFile = None,
    ignore: IgnoreOpt = None,
    at: AtOpt = None,
    warn_days: WarnDays = None,
    crit_days: CritDays = None,
    fail_on: FailOnOpt = FailOn.error,
    json_out: JsonOut = None,
    html: HtmlOut = None,
    lang: LangOpt = "en",
    jsonl_out: JsonlOut = None,
    junit: JunitOut = None,
    sarif: SarifOut = None,
    verbose: Verbose = False,
    nagios: Nagios = False,
) -> None:
    """Check a certificate chain from a file: the certificate rules, no network."""
    files = report_files(json_out, html, lang, jsonl_out, junit, sarif)
    chain = _load_pem_chain(chain_file)
    if host is None:
        host = _default_host(chain[0])
        try:
            target = parse_target(host)
        except TargetError:
            fail_usage(
                f"{str(chain_file)!r}: the certificate's name {quote(host)} is not a host name "
                "(give one with --host)"
            )
    else:
        try:
            target = parse_target(host)
        except TargetError as exc:
            fail_usage(f"--host: {exc}")
    policy = build_policy(profile, warn_days, crit_days, ca_file, distrust, profile_file, ignore)
    facts = ServerFacts(
        target=target,
        scanned_at=iso(datetime.now(UTC)),
        chain=chain,
        source="file",
    )
    now = parse_at(at)
    results = evaluate_all([facts], policy, now)
    raise typer.Exit(
        emit(
            results,
            now=now,
            policy=policy,
            fail_on=fail_on,
            json_out=json_out,
            verbose=verbose,
            files=files,
            nagios=nagios,
        )
    )


def _default_host(leaf_b64: str) -> str:
    import base64

    from cryptography import x509

    from certcheck.evaluate.certinfo import common_names, san_dns_names

    leaf = x509.load_der_x509_certificate(base64.b64decode(leaf_b64))
    names = (san_dns_names(leaf) or []) + common_names(leaf)
    if not names:
        fail_usage("the certificate names no host; give one with --host")
    return names[0].replace("*", "wildcard", 1)
