"""Certificate and chain rules (RULES.md §2 and §7): pure functions of the chain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from certcheck.catalog import Profile, make_finding
from certcheck.core.times import days_left
from certcheck.evaluate.certinfo import (
    DAY,
    CertificateDecodeError,
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
    load_certificate,
    san_dns_names,
    san_ip_addresses,
    signature_hash,
    subject_str,
)
from certcheck.evaluate.compromised import find_compromised
from certcheck.evaluate.names import check_host
from certcheck.evaluate.trust import PathResult, TrustStore, build_path
from certcheck.model import Finding

APPLE_398_START = datetime(2020, 9, 1, tzinfo=UTC)  # S9
#: trustd: leaves of non-store anchors issued after this are held to 825 days (S5)
APPLE_OTHER_ANCHOR_START = datetime(2019, 7, 1, tzinfo=UTC)
#: Chrome's maximum lifetime for publicly trusted leaves, by issuance date (CHROME_VALIDITY):
#: net/cert/cert_verify_proc.cc HasTooLongValidity
CHROME_LIFETIME: tuple[tuple[datetime, int], ...] = (
    (datetime(2020, 9, 1, tzinfo=UTC), 398),
    (datetime(2018, 3, 1, tzinfo=UTC), 825),
)
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
ANY_EKU = x509.ObjectIdentifier("2.5.29.37.0")
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

    def add(
        self, rule_id: str, evidence: dict[str, Any], variant: str | None = None
    ) -> None:
        """The catalog's finding (or its ``variant``); the profile's severity wins."""
        self.findings.append(make_finding(rule_id, evidence, self.profile, variant))


def parse_chain(chain_der: list[bytes]) -> tuple[list[x509.Certificate], list[str]]:
    """Parse what the server sent; unparseable entries are reported, not fatal."""
    certs: list[x509.Certificate] = []
    problems: list[str] = []
    for index, der in enumerate(chain_der):
        try:
            certs.append(load_certificate(der))
        except CertificateDecodeError as exc:
            problems.append(f"certificate #{index} could not be parsed: {exc}")
    return certs, problems


def second_of(moment: datetime) -> datetime:
    """``moment`` truncated to the second: X.509 times have one-second resolution.

    RFC 5280 §4.1.2.5: the validity period runs from notBefore *through*
    notAfter, inclusive, so 12:00:00.7 is still within a notAfter of 12:00:00.
    """
    return moment.replace(microsecond=0)


def _validity_rules(out: _Collector, leaf: x509.Certificate, now: datetime) -> None:
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if second_of(now) > not_after:
        ago = -days_left(not_after, now)  # as the report shows it: "expired N days ago"
        out.add("cert_expired", {"not_after": iso(not_after), "days_ago": ago})
    elif now < not_before:
        skew = (not_before - now).total_seconds()
        out.add("cert_not_yet_valid", {"not_before": iso(not_before), "seconds_early": int(skew)})
    else:
        remaining = (not_after - now).total_seconds() / DAY
        critical = remaining <= out.profile.crit_days
        if critical or remaining <= out.profile.warn_days:
            out.add(
                "cert_expiring_soon",
                {
                    "not_after": iso(not_after),
                    "days_left": days_left(not_after, now),
                    "threshold_days": out.profile.crit_days
                    if critical
                    else out.profile.warn_days,
                },
                "critical" if critical else None,
            )


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
        # With DNS names in the SAN no client falls back to the CN (RFC 6125 §6.4.4,
        # RFC 2818 §3.1): the host is simply not covered.
        evidence["note"] = "the host is only in the subject CN; clients ignore the CN when "
        evidence["note"] += "the certificate has subjectAltName entries"
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
    small_rsa, bad_ec, weak_sig, unknown = [], [], [], []
    for cert in checked:
        algorithm, bits, curve = key_description(cert)
        who = subject_str(cert.subject)
        if algorithm == "unknown":
            oid = cert.public_key_algorithm_oid.dotted_string
            unknown.append({"subject": who, "algorithm": oid})
        if algorithm == "RSA" and bits < 2048:
            small_rsa.append({"subject": who, "bits": bits})
        if algorithm == "EC" and (bits < 256 or curve not in GOOD_CURVES):
            bad_ec.append({"subject": who, "bits": bits, "curve": curve})
        digest = signature_hash(cert)
        if digest in WEAK_HASHES and not is_self_signed(cert):
            weak_sig.append({"subject": who, "hash": digest})
    if unknown:
        out.add("key_unsupported", {"certificates": unknown})
    if small_rsa:
        out.add("rsa_key_too_small", {"certificates": small_rsa, "min_bits": 2048})
    if bad_ec:
        out.add("ec_key_too_small_or_curve", {"certificates": bad_ec})
    if weak_sig:
        out.add("sig_hash_weak", {"certificates": weak_sig})


def _has_eku(cert: x509.Certificate, *oids: x509.ObjectIdentifier) -> bool | None:
    """None without an EKU extension; else whether it lists one of ``oids`` or anyEKU."""
    eku = extension(cert, ExtensionOID.EXTENDED_KEY_USAGE)
    if eku is None:
        return None
    return any(oid in eku for oid in (*oids, ANY_EKU))


def _anchor_kind(result: PathResult) -> str | None:
    """store (a root of the platforms' stores), custom (--ca-file) or None (no anchor found)."""
    if not result.anchored:
        return None
    return "store" if result.anchor_source == "system" else "custom"


def _apple_lifetime_limit(anchor: str | None, not_before: datetime) -> tuple[float, str] | None:
    """trustd's SecPolicyCheckValidityPeriodMaximums (S5): the limit and why, or None.

    Store roots: 825 days + 1 h for leaves issued before 2020-09-01, 398 days
    (no slip) from then on (HT211025, S9).  Other anchors: 825 days + 1 h only
    for leaves issued after 2019-07-01; a root installed as a user profile is
    exempt altogether.  No anchor: the chain fails on trust, not on lifetime.
    """
    if anchor == "store":
        if not_before < APPLE_398_START:
            return APPLE_825_SECONDS, "store root, issued before 2020-09-01"
        return APPLE_398_SECONDS, "store root, issued on or after 2020-09-01"
    if anchor == "custom" and not_before > APPLE_OTHER_ANCHOR_START:
        return APPLE_825_SECONDS, (
            "private root (app-provided anchor), issued after 2019-07-01; "
            "a root installed as a user profile has no limit"
        )
    return None


def _chrome_lifetime_limit(anchor: str | None, not_before: datetime) -> int | None:
    """Chrome's limit for publicly trusted leaves (CHROME_VALIDITY): days, or None (not checked)."""
    if anchor != "store":
        return None
    for start, days in CHROME_LIFETIME:
        if not_before >= start:
            return days
    return None


def _anchor_policy_rules(out: _Collector, leaf: x509.Certificate, result: PathResult) -> None:
    """Lifetime and EKU rules that Apple and Chrome apply depending on the chain's anchor."""
    anchor = _anchor_kind(result)
    not_before = leaf.not_valid_before_utc
    lifetime = lifetime_seconds(leaf)
    apple = _apple_lifetime_limit(anchor, not_before)
    if apple is not None and lifetime > apple[0]:
        out.add(
            "validity_too_long_apple",
            {
                "not_before": iso(not_before),
                "not_after": iso(leaf.not_valid_after_utc),
                "lifetime_days": round(lifetime / DAY, 2),
                "max_days": round(apple[0] / DAY, 2),
                "anchor": anchor,
                "applies_because": apple[1],
            },
        )
    chrome = _chrome_lifetime_limit(anchor, not_before)
    if chrome is not None and lifetime > chrome * DAY:
        out.add(
            "validity_too_long_chrome",
            {
                "not_before": iso(not_before),
                "lifetime_days": round(lifetime / DAY, 2),
                "max_days": chrome,
            },
        )
    if anchor == "store":
        # The Baseline Requirements bind publicly trusted CAs, not private ones.
        _br_schedule_rule(out, leaf)
    _eku_rules(out, leaf, result, anchor)


def _br_schedule_rule(out: _Collector, leaf: x509.Certificate) -> None:
    not_before = leaf.not_valid_before_utc
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


def _eku_rules(
    out: _Collector, leaf: x509.Certificate, result: PathResult, anchor: str | None
) -> None:
    """serverAuth EKU (S5 SecPolicyCheckServerAuthEKU, S7).

    An EKU extension without serverAuth (or anyEKU) is refused by every client.
    A leaf *without* the extension is refused by Apple for store roots, and for
    other anchors when issued after 2019-07-01; other clients accept it.
    """
    has = _has_eku(leaf, SERVER_AUTH)
    eku = extension(leaf, ExtensionOID.EXTENDED_KEY_USAGE)
    if has is False:
        names = [getattr(oid, "_name", oid.dotted_string) for oid in eku or []]
        out.add("eku_serverauth_missing", {"eku": names}, "excluded")
        return
    if has is None:
        applies = anchor == "store" or (
            anchor == "custom" and leaf.not_valid_before_utc > APPLE_OTHER_ANCHOR_START
        )
        if applies:
            out.add(
                "eku_serverauth_missing",
                {"eku": None, "reason": "no extendedKeyUsage", "anchor": anchor},
            )
    if anchor == "store":
        # Apple: any sub-CA that carries an EKU must allow serverAuth (or anyEKU).
        bad = [
            subject_str(ca.subject)
            for ca in result.path[1:-1]
            if _has_eku(ca, SERVER_AUTH) is False
        ]
        if bad and not any(f.rule_id == "eku_serverauth_missing" for f in out.findings):
            out.add(
                "eku_serverauth_missing",
                {"intermediates": bad, "reason": "an intermediate's EKU excludes serverAuth"},
                "intermediate",
            )


#: cryptography.x509.verification's failure texts -> (kind, plain reason).
_VALIDATOR_REASONS: tuple[tuple[str, str, str], ...] = (
    ("name constraint", "name_constraints", "a CA's name constraints do not allow this name"),
    ("path length", "path_length", "a CA's path length constraint is exceeded"),
    ("not valid at validation time", "validity", "a CA certificate is outside its validity"),
    ("EKU", "eku", "a CA certificate's extendedKeyUsage does not allow TLS server use"),
    ("key usage", "key_usage", "a CA certificate's keyUsage does not allow signing certificates"),
    ("basicConstraints", "basic_constraints", "an issuer is not marked as a CA"),
    ("signature", "signature", "a signature on the path does not verify or is refused"),
    ("Forbidden", "algorithm", "a key or signature algorithm on the path is refused"),
    ("too weak", "algorithm", "a key on the path is too weak"),
    (
        "no matching subjectAltName",
        "name_syntax",
        "the validator accepts none of the certificate's names (invalid DNS name syntax)",
    ),
    ("extension", "profile", "a certificate breaks the RFC 5280 profile the validator enforces"),
)
#: Validator refusals that phones and browsers are known to tolerate: the overall
#: verdict still fails (never more lenient than the validator), no platform "breaks".
TOLERATED_BY_CLIENTS = frozenset({"name_syntax", "profile"})
#: Rules whose finding already names the cause of a validator failure of that kind.
_EXPLAINED_BY: dict[str, frozenset[str]] = {
    "algorithm": frozenset({"sig_hash_weak", "rsa_key_too_small", "ec_key_too_small_or_curve"}),
    "signature": frozenset({"sig_hash_weak"}),
    "eku": frozenset({"eku_serverauth_missing"}),
    "name_syntax": frozenset({"wildcard_invalid", "wildcard_partial_label"}),
}
PHONES = frozenset({"ios", "android"})


def classify_validator_error(message: str | None) -> tuple[str, str]:
    """(kind, plain reason) for the validator's failure text."""
    text = message or ""
    for needle, kind, reason in _VALIDATOR_REASONS:
        if needle.lower() in text.lower():
            return kind, reason
    return "other", "the chain breaks a WebPKI path validation rule"


def _path_rules(
    out: _Collector,
    leaf: x509.Certificate,
    served: list[x509.Certificate],
    result: PathResult,
    repaired: PathResult | None,
    trust: TrustStore,
    now: datetime,
) -> PathResult:
    """Trust findings; returns the path the other rules judge (the repaired one if any).

    Whatever else fires, a chain the WebPKI validator rejects always gets a
    finding that names the path problem: a policy finding never hides it.
    """
    self_signed = is_self_signed(leaf) and trust.source_of(leaf) != "system"
    top = result.path[-1]
    compromised = find_compromised(
        [*served, *result.path], None if result.anchored or self_signed else top.issuer
    )
    for evidence in compromised:
        # Even when the user's own store trusts it: anyone holding the key can impersonate.
        out.add("ca_key_compromised", evidence)
    if compromised and not result.anchored:
        # Not "send the intermediate" or "unknown root": the fix is to remove that root.
        pass
    elif self_signed:
        out.add(
            "self_signed_leaf", {"subject": subject_str(leaf.subject), "sha256": fingerprint(leaf)}
        )
    elif result.bad_signature is not None:
        signed, issuer = result.bad_signature
        out.add(
            "chain_invalid",
            {
                "kind": "signature",
                "reason": f"the signature of {signed} does not verify with the key of {issuer}",
                "certificate": signed,
                "issuer": issuer,
            },
            "signature",
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
    # Intermediates on the path are part of what clients validate.
    for cert in result.path[1:-1] if result.anchored else result.path[1:]:
        if cert.not_valid_after_utc < second_of(now) and not any(
            f.rule_id == "cert_expired" for f in out.findings
        ):
            out.add(
                "cert_expired",
                {
                    "certificate": subject_str(cert.subject),
                    "not_after": iso(cert.not_valid_after_utc),
                },
                "intermediate",
            )
    return result


def _validator_failure(out: _Collector, result: PathResult, now: datetime) -> None:
    """``chain_invalid`` for an anchored path the validator refuses, unless a rule names why."""
    kind, reason = classify_validator_error(result.webpki_error)
    # A precise finding explains the refusal only if it concerns every phone platform:
    # an Apple-only finding (a leaf without EKU) must not hide what Android refuses too.
    fired = {
        f.rule_id
        for f in out.findings
        if f.severity == "error" and ("all" in f.platforms or PHONES <= set(f.platforms))
    }
    if fired & _EXPLAINED_BY.get(kind, frozenset()):
        return
    moment = second_of(now)
    cas = result.path[1:]
    if kind == "validity":
        expired_intermediates = [c for c in result.path[1:-1] if c.not_valid_after_utc < moment]
        if expired_intermediates:
            return  # cert_expired names the intermediate
        anchor = result.path[-1]
        if anchor.not_valid_after_utc < moment and len(result.path) > 1:
            out.add(
                "chain_invalid",
                {
                    "kind": "expired_root",
                    "reason": f"the root {subject_str(anchor.subject)} expired on "
                    f"{iso(anchor.not_valid_after_utc)}",
                    "validator": result.webpki_error,
                    "note": "Android ignores the expiry of its own roots; other clients do not",
                },
                "expired_root",
            )
            return
        early = [subject_str(c.subject) for c in cas if c.not_valid_before_utc > now]
        if not early:
            # Every CA is valid now: the validator ran at an instant inside an expired
            # (or future) leaf's validity, when a CA was not; clients judge at now, and
            # the leaf's own dates have their rule.
            return
        reason = f"{', '.join(early)} is not valid yet"
    evidence = {"kind": kind, "reason": reason, "validator": result.webpki_error}
    if kind in TOLERATED_BY_CLIENTS:
        evidence["note"] = (
            "phones and browsers usually accept this; strict validators (cryptography, "
            "rustls/webpki, Go) refuse it"
        )
        out.add("chain_invalid", evidence, "tolerated")
        return
    out.add("chain_invalid", evidence)


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
        if c.not_valid_after_utc < second_of(now) and fp not in path_fps[:-1]
    ]
    anchor = result.path[-1] if result.anchored and len(result.path) > 1 else None
    if anchor is not None and anchor.not_valid_after_utc < second_of(now):
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
            "cert_unparseable",
            {
                "reason": "no certificate could be read"
                if not served
                else "the server certificate (#0) could not be read",
                "problems": problems,
                "served": len(chain_der),
            },
            "no_leaf",
        )
        return ChainReport(out.findings, {"chain": [], "parse_errors": problems})
    if problems:
        # Clients abort the handshake on a certificate they cannot decode, wherever it is.
        out.add("cert_unparseable", {"problems": problems, "served": len(chain_der)})
    leaf = served[0]
    result = build_path(leaf, served[1:], trust, now)
    _validity_rules(out, leaf, now)
    _name_rules(out, leaf, host)
    _key_and_hash_rules(out, result.path, result.anchored)

    repaired = None
    if result.missing_issuer is not None and fetched_der:
        fetched, _ = parse_chain(fetched_der)
        candidate = build_path(leaf, served[1:] + fetched, trust, now)
        repaired = candidate if candidate.anchored else None
    result = _path_rules(out, leaf, served, result, repaired, trust, now)
    _anchor_policy_rules(out, leaf, result)
    if result.anchored and not result.webpki_ok and result.webpki_ran:
        # Last, so that every precise rule has had its say: whatever else fired, a
        # path the validator refuses always ends with a finding that names it.
        _validator_failure(out, result, now)
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
