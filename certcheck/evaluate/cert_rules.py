"""Certificate and chain rules (RULES.md §2 and §7): pure functions of the chain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from certcheck.catalog import Profile, make_finding
from certcheck.evaluate.certinfo import (
    DAY,
    aia_ca_issuers,
    common_names,
    describe,
    extension,
    fingerprint,
    is_ca,
    is_self_signed,
    iso,
    key_description,
    lifetime_days_inclusive,
    lifetime_seconds,
    san_dns_names,
    san_ip_addresses,
    signature_hash,
    subject_str,
)
from certcheck.evaluate.names import check_host
from certcheck.evaluate.trust import PathResult, TrustStore, build_path
from certcheck.model import Finding

APPLE_398_START = datetime(2020, 9, 1, tzinfo=UTC)  # S9
APPLE_825_SECONDS = 825 * DAY + 3600  # S5 check_system_trust_ssl_validity_maximums
APPLE_398_SECONDS = 398 * DAY
#: CA/B Forum BR §6.3.2 after ballot SC-081v3 (S10, S11): (issued from, max days)
BR_SCHEDULE: tuple[tuple[datetime, int], ...] = (
    (datetime(2029, 3, 15, tzinfo=UTC), 47),
    (datetime(2027, 3, 15, tzinfo=UTC), 100),
    (datetime(2026, 3, 15, tzinfo=UTC), 200),
)
WEAK_HASHES = {"sha1", "md5", "md2", "md4"}
GOOD_CURVES = {"secp256r1", "secp384r1", "secp521r1"}


@dataclass
class ChainReport:
    findings: list[Finding]
    summary: dict[str, Any]


class _Collector:
    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.findings: list[Finding] = []

    def add(self, rule_id: str, evidence: dict[str, Any], **kwargs: Any) -> None:
        self.findings.append(make_finding(rule_id, evidence, self.profile, **kwargs))


def parse_chain(chain_der: list[bytes]) -> tuple[list[x509.Certificate], list[str]]:
    """Parse what the server sent; unparseable entries are reported, not fatal."""
    certs: list[x509.Certificate] = []
    problems: list[str] = []
    for index, der in enumerate(chain_der):
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            problems.append(f"certificate #{index} could not be parsed: {exc}")
    return certs, problems


def _validity_rules(out: _Collector, leaf: x509.Certificate, now: datetime) -> None:
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if now > not_after:
        days = (now - not_after).total_seconds() / DAY
        out.add("cert_expired", {"not_after": iso(not_after), "days_ago": int(days)})
    elif now < not_before:
        skew = (not_before - now).total_seconds()
        out.add("cert_not_yet_valid", {"not_before": iso(not_before), "seconds_early": int(skew)})
    else:
        days_left = (not_after - now).total_seconds() / DAY
        if days_left <= out.profile.crit_days:
            sev = "error"
        elif days_left <= out.profile.warn_days:
            sev = "warning"
        else:
            sev = None
        if sev:
            out.add(
                "cert_expiring_soon",
                {
                    "not_after": iso(not_after),
                    "days_left": int(days_left),
                    "threshold_days": out.profile.crit_days
                    if sev == "error"
                    else out.profile.warn_days,
                },
                severity=sev,
            )
    lifetime = lifetime_seconds(leaf)
    limit = APPLE_398_SECONDS if not_before >= APPLE_398_START else APPLE_825_SECONDS
    if lifetime > limit:
        out.add(
            "validity_too_long_apple",
            {
                "not_before": iso(not_before),
                "not_after": iso(not_after),
                "lifetime_days": round(lifetime / DAY, 2),
                "max_days": round(limit / DAY, 2),
            },
        )
    for start, max_days in BR_SCHEDULE:
        if not_before >= start:
            days = lifetime_days_inclusive(leaf)
            if days > max_days:
                out.add(
                    "validity_exceeds_br_schedule",
                    {
                        "issued": iso(not_before),
                        "lifetime_days": days,
                        "max_days": max_days,
                        "rule_from": iso(start),
                    },
                )
            break


def _name_rules(out: _Collector, leaf: x509.Certificate, host: str) -> None:
    dns = san_dns_names(leaf)
    ips = san_ip_addresses(leaf)
    cns = common_names(leaf)
    check = check_host(host, dns or [], ips)
    evidence: dict[str, Any] = {"host": host, "san": dns or [], "san_ip": ips, "subject_cn": cns}
    if check.malformed_wildcards:
        out.add("wildcard_invalid", {**evidence, "malformed": check.malformed_wildcards})
    if check.partial_wildcards:
        out.add("wildcard_partial_label", {**evidence, "partial": check.partial_wildcards})
    if check.matched:
        return
    cn_covers = check_host(host, cns, []).matched
    if dns is None or (not dns and not ips):
        out.add("san_missing_or_cn_only", {**evidence, "reason": "no subjectAltName extension"})
        if cn_covers:
            return
    elif cn_covers:
        out.add("san_missing_or_cn_only", {**evidence, "reason": "host only in the subject CN"})
        return
    if check.too_deep_wildcards:
        out.add(
            "wildcard_invalid",
            {
                **evidence,
                "wildcards": check.too_deep_wildcards,
                "reason": "a wildcard covers "
                "exactly one label; it does not cover the base domain or deeper names",
            },
        )
    out.add("hostname_mismatch", evidence)


def _key_and_hash_rules(out: _Collector, path: list[x509.Certificate], anchored: bool) -> None:
    # The anchor's own key and self-signature are not judged (roots are exempt).
    checked = path[:-1] if anchored and len(path) > 1 else path
    small_rsa, bad_ec, weak_sig = [], [], []
    for cert in checked:
        algorithm, bits, curve = key_description(cert)
        who = subject_str(cert.subject)
        if algorithm == "RSA" and bits < 2048:
            small_rsa.append({"subject": who, "bits": bits})
        if algorithm == "EC" and (bits < 256 or curve not in GOOD_CURVES):
            bad_ec.append({"subject": who, "bits": bits, "curve": curve})
        digest = signature_hash(cert)
        if digest in WEAK_HASHES and not is_self_signed(cert):
            weak_sig.append({"subject": who, "hash": digest})
    if small_rsa:
        out.add("rsa_key_too_small", {"certificates": small_rsa, "min_bits": 2048})
    if bad_ec:
        out.add("ec_key_too_small_or_curve", {"certificates": bad_ec})
    if weak_sig:
        out.add("sig_hash_weak", {"certificates": weak_sig})


def _eku_rule(out: _Collector, leaf: x509.Certificate) -> None:
    eku = extension(leaf, ExtensionOID.EXTENDED_KEY_USAGE)
    if eku is None:
        out.add("eku_serverauth_missing", {"eku": None, "reason": "no extendedKeyUsage"})
    elif ExtendedKeyUsageOID.SERVER_AUTH not in eku:
        names = [getattr(oid, "_name", oid.dotted_string) for oid in eku]
        out.add("eku_serverauth_missing", {"eku": names})


def _served_chain_rules(
    out: _Collector,
    served: list[x509.Certificate],
    result: PathResult,
    now: datetime,
) -> None:
    path_fps = [fingerprint(c) for c in result.path]
    served_fps = [fingerprint(c) for c in served]
    roots = [subject_str(c.subject) for c in served[1:] if is_self_signed(c)]
    if roots:
        out.add("chain_includes_root", {"roots": roots})
    extras = [
        subject_str(c.subject)
        for c, fp in zip(served[1:], served_fps[1:], strict=True)
        if fp not in path_fps and not is_self_signed(c)
    ]
    if extras and result.anchored:
        out.add("chain_extra_certs", {"unused": extras})
    # Order: the served certificates that are on the path must come first, in path order.
    in_path = [fp for fp in served_fps if fp in path_fps]
    expected = [fp for fp in path_fps if fp in served_fps]
    prefix_ok = served_fps[: len(in_path)] == in_path
    if in_path != expected or not prefix_ok:
        out.add(
            "chain_order",
            {
                "served": [subject_str(c.subject) for c in served],
                "expected": [subject_str(c.subject) for c in result.path],
            },
        )
    expired_off_path = [
        subject_str(c.subject)
        for c, fp in zip(served[1:], served_fps[1:], strict=True)
        if c.not_valid_after_utc < now and fp not in path_fps[:-1]
    ]
    anchor = result.path[-1] if result.anchored and len(result.path) > 1 else None
    if anchor is not None and anchor.not_valid_after_utc < now:
        expired_off_path.append(subject_str(anchor.subject) + " (root)")
    if expired_off_path:
        out.add("chain_contains_expired_cert", {"expired": sorted(set(expired_off_path))})


def evaluate_chain(
    chain_der: list[bytes],
    host: str,
    trust: TrustStore,
    profile: Profile,
    now: datetime,
    distrust: frozenset[str] = frozenset(),
    fetched_der: list[bytes] | None = None,
) -> ChainReport:
    """All certificate rules for one served chain and the host it was served for.

    ``fetched_der`` are issuers fetched over AIA (``--fetch-aia``): they only
    serve to tell whether a chain is good apart from what the server omits.
    """
    out = _Collector(profile)
    served, problems = parse_chain(chain_der)
    # An unreadable first certificate means there is no leaf: the next one must
    # not be judged as if it were the server's certificate.
    leaf_unreadable = len(served) < len(chain_der) and parse_chain(chain_der[:1])[1] != []
    if not served or leaf_unreadable:
        out.add(
            "untrusted_root",
            {
                "reason": "no certificate could be read"
                if not served
                else "the server certificate (#0) could not be read",
                "problems": problems,
            },
            title="The server sent no usable certificate",
        )
        return ChainReport(out.findings, {"chain": [], "parse_errors": problems})
    if problems:
        # Clients abort the handshake on a certificate they cannot decode, wherever it is.
        out.add("cert_unparseable", {"problems": problems, "served": len(chain_der)})
    leaf = served[0]
    result = build_path(leaf, served[1:], trust, now)
    _validity_rules(out, leaf, now)
    _name_rules(out, leaf, host)
    _eku_rule(out, leaf)
    _key_and_hash_rules(out, result.path, result.anchored)

    repaired = None
    if result.missing_issuer is not None and fetched_der:
        fetched, _ = parse_chain(fetched_der)
        candidate = build_path(leaf, served[1:] + fetched, trust, now)
        repaired = candidate if candidate.anchored else None
    self_signed = is_self_signed(leaf) and trust.source_of(leaf) != "system"
    if self_signed:
        out.add(
            "self_signed_leaf", {"subject": subject_str(leaf.subject), "sha256": fingerprint(leaf)}
        )
    elif repaired is not None:
        out.add(
            "chain_incomplete",
            {
                "missing_issuer": result.missing_issuer,
                "issued_to": subject_str(result.path[-1].subject),
                "aia_ca_issuers": aia_ca_issuers(result.path[-1]),
                "served": len(served),
                "fetched_over_aia": [
                    subject_str(c.subject) for c in repaired.path[len(result.path) : -1]
                ],
                "note": "the chain is otherwise good: only the intermediate is missing",
            },
        )
        result = repaired
    elif result.missing_issuer is not None and len(result.path) > 1:
        # The server sent intermediates and the chain stops above the last one:
        # what is missing is (almost always) a root no store has, not an
        # intermediate -- every platform refuses it, iOS included.
        last = result.path[-1]
        out.add(
            "untrusted_root",
            {
                "root": result.missing_issuer,
                "sha256": None,
                "issued_to": subject_str(last.subject),
                "reason": "the top certificate sent is issued by a CA that is not a "
                "trusted root (or by an intermediate the server does not send)",
                "webpki": result.webpki_error,
            },
        )
    elif result.missing_issuer is not None:
        last = result.path[-1]
        out.add(
            "chain_incomplete",
            {
                "missing_issuer": result.missing_issuer,
                "issued_to": subject_str(last.subject),
                "aia_ca_issuers": aia_ca_issuers(last),
                "served": len(served),
            },
        )
    elif not result.anchored:
        top = result.path[-1]
        out.add(
            "untrusted_root",
            {
                "root": subject_str(top.subject),
                "sha256": fingerprint(top),
                "webpki": result.webpki_error,
            },
        )
    elif not result.webpki_ok and not any(f.severity == "error" for f in out.findings):
        out.add(
            "untrusted_root",
            {"webpki": result.webpki_error, "anchor": subject_str(result.path[-1].subject)},
            title="The chain fails WebPKI path validation",
        )

    # Intermediates on the path are part of what clients validate.
    for cert in result.path[1:-1] if result.anchored else result.path[1:]:
        if cert.not_valid_after_utc < now and not any(
            f.rule_id == "cert_expired" for f in out.findings
        ):
            out.add(
                "cert_expired",
                {
                    "certificate": subject_str(cert.subject),
                    "not_after": iso(cert.not_valid_after_utc),
                },
                title="An intermediate certificate in the chain has expired",
            )
    _served_chain_rules(out, served, result, now)

    hit = [
        {"subject": subject_str(c.subject), "sha256": fingerprint(c)}
        for c in {fingerprint(c): c for c in served + result.path}.values()
        if fingerprint(c) in distrust
    ]
    if hit:
        out.add("ca_fully_distrusted", {"certificates": hit, "source": "--distrust"})

    summary = {
        "leaf": describe(leaf, now),
        "chain": [describe(c, now) for c in served],
        "path": [subject_str(c.subject) for c in result.path],
        "path_sha256": [fingerprint(c) for c in result.path],
        "trusted": result.anchored and result.webpki_ok,
        "anchor": subject_str(result.path[-1].subject) if result.anchored else None,
        "anchor_source": result.anchor_source,
        "webpki_error": result.webpki_error,
        "is_ca_leaf": is_ca(leaf),
        "parse_errors": problems,
    }
    return ChainReport(out.findings, summary)
