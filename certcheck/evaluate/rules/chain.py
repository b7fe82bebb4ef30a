"""Certificate and chain rules (RULES.md §2 and §7): one ``@rule`` function per rule.

:func:`prepare_chain` parses the served chain and builds the path once per target (the
:class:`ChainState` in the context); each rule below reads it.  The WebPKI validator's
verdict is never softened: whatever policy finding fires, a path the validator refuses
ends with a finding that names the path problem (``chain_invalid`` runs after the rules
that may explain it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from certcheck.catalog import Profile
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
from certcheck.evaluate.context import Context
from certcheck.evaluate.names import check_host
from certcheck.evaluate.rules.registry import rule, run
from certcheck.evaluate.trust import PathResult, TrustStore, build_path
from certcheck.model import Finding, ServerFacts, Target

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


@dataclass
class Paths:
    """The path a served chain builds, and what is wrong with its trust (one of
    :data:`TRUST_PROBLEMS`, or None): decided once, each trust rule reads it."""

    leaf: x509.Certificate
    #: the path from what the server sent; the key and hash rules judge this one
    initial: PathResult
    #: the path the other rules judge: ``repaired`` when only an intermediate is missing
    judged: PathResult
    repaired: PathResult | None
    problem: str | None
    self_signed: bool
    compromised: list[dict[str, Any]]


#: What can be wrong with a chain's trust, in the order they are told apart.
TRUST_PROBLEMS = (
    "compromised_root",  # a known compromised key at the top: remove that root
    "self_signed",
    "bad_signature",
    "repaired",  # only the intermediate is missing (it was fetched over AIA)
    "untrusted_above",  # intermediates sent; the chain stops above them: an unknown root
    "missing_issuer",
    "unanchored",
)


@dataclass
class ChainState:
    """The served chain of one target, parsed, with its path (None: no leaf to judge)."""

    host: str
    served_count: int
    served: list[x509.Certificate]
    problems: list[str]
    paths: Paths | None
    #: certificates listed by ``--distrust`` (served or on the path)
    user_distrusted: list[dict[str, str]] = field(default_factory=list)


def prepare_chain(
    chain_der: list[bytes],
    host: str,
    trust: TrustStore,
    now: datetime,
    distrust: frozenset[str] = frozenset(),
    fetched_der: list[bytes] | None = None,
) -> ChainState:
    """Parse what the server sent and build its path (``fetched_der``: issuers fetched
    over AIA, used only to tell whether a chain is good apart from what the server omits)."""
    served, problems = parse_chain(chain_der)
    # An unreadable first certificate means there is no leaf: the next one must
    # not be judged as if it were the server's certificate.
    leaf_unreadable = len(served) < len(chain_der) and parse_chain(chain_der[:1])[1] != []
    state = ChainState(host, len(chain_der), served, problems, None)
    if not served or leaf_unreadable:
        return state
    leaf = served[0]
    initial = build_path(leaf, served[1:], trust, now)
    repaired = None
    if initial.missing_issuer is not None and fetched_der:
        fetched, _ = parse_chain(fetched_der)
        candidate = build_path(leaf, served[1:] + fetched, trust, now)
        repaired = candidate if candidate.anchored else None
    self_signed = is_self_signed(leaf) and trust.source_of(leaf) != "system"
    top = initial.path[-1]
    compromised = find_compromised(
        [*served, *initial.path], None if initial.anchored or self_signed else top.issuer
    )
    problem = _trust_problem(initial, repaired, self_signed, bool(compromised))
    judged = repaired if problem == "repaired" and repaired is not None else initial
    state.paths = Paths(leaf, initial, judged, repaired, problem, self_signed, compromised)
    state.user_distrusted = [
        {"subject": subject_str(c.subject), "sha256": fingerprint(c)}
        for c in {fingerprint(c): c for c in served + judged.path}.values()
        if fingerprint(c) in distrust
    ]
    return state


def _trust_problem(
    result: PathResult, repaired: PathResult | None, self_signed: bool, compromised: bool
) -> str | None:
    if compromised and not result.anchored:
        return "compromised_root"
    if self_signed:
        return "self_signed"
    if result.bad_signature is not None:
        return "bad_signature"
    if repaired is not None:
        return "repaired"
    if result.missing_issuer is not None:
        return "untrusted_above" if len(result.path) > 1 else "missing_issuer"
    if not result.anchored:
        return "unanchored"
    return None


def chain_summary(state: ChainState, now: datetime) -> dict[str, Any]:
    """The ``certificate`` block of a result: the served chain and the path it builds."""
    if state.paths is None:
        return {"chain": [], "parse_errors": state.problems}
    leaf, result = state.paths.leaf, state.paths.judged
    return {
        "leaf": describe(leaf, now),
        "chain": [describe(c, now) for c in state.served],
        "path": [subject_str(c.subject) for c in result.path],
        "path_sha256": [fingerprint(c) for c in result.path],
        "trusted": result.anchored and result.webpki_ok,
        "anchor": subject_str(result.path[-1].subject) if result.anchored else None,
        "anchor_source": result.anchor_source,
        "webpki_error": result.webpki_error,
        "is_ca_leaf": is_ca(leaf),
        "parse_errors": state.problems,
    }


def _paths(ctx: Context) -> Paths | None:
    return ctx.chain.paths if ctx.chain is not None else None

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


# -- the served certificates ----------------------------------------------------------------


@rule("cert_unparseable")
def cert_unparseable(ctx: Context) -> list[Finding]:
    state = ctx.chain
    if state is None:
        return []
    if state.paths is None:
        reason = "no certificate could be read" if not state.served else (
            "the server certificate (#0) could not be read"
        )
        evidence = {"reason": reason, "problems": state.problems, "served": state.served_count}
        return [ctx.finding("cert_unparseable", evidence, "no_leaf")]
    if state.problems:
        # Clients abort the handshake on a certificate they cannot decode, wherever it is.
        evidence = {"problems": state.problems, "served": state.served_count}
        return [ctx.finding("cert_unparseable", evidence)]
    return []


# -- validity ---------------------------------------------------------------------------------


@rule("cert_expired")
def cert_expired(ctx: Context) -> list[Finding]:
    """The leaf, or else the first expired intermediate on the path clients validate."""
    paths = _paths(ctx)
    if paths is None:
        return []
    not_after = paths.leaf.not_valid_after_utc
    if second_of(ctx.now) > not_after:
        ago = -days_left(not_after, ctx.now)  # as the report shows it: "expired N days ago"
        return [ctx.finding("cert_expired", {"not_after": iso(not_after), "days_ago": ago})]
    result = paths.judged
    for cert in result.path[1:-1] if result.anchored else result.path[1:]:
        if cert.not_valid_after_utc < second_of(ctx.now):
            evidence = {
                "certificate": subject_str(cert.subject),
                "not_after": iso(cert.not_valid_after_utc),
            }
            return [ctx.finding("cert_expired", evidence, "intermediate")]
    return []


@rule("cert_not_yet_valid")
def cert_not_yet_valid(ctx: Context) -> list[Finding]:
    paths = _paths(ctx)
    if paths is None:
        return []
    not_before = paths.leaf.not_valid_before_utc
    if second_of(ctx.now) > paths.leaf.not_valid_after_utc or ctx.now >= not_before:
        return []
    skew = (not_before - ctx.now).total_seconds()
    evidence = {"not_before": iso(not_before), "seconds_early": int(skew)}
    return [ctx.finding("cert_not_yet_valid", evidence)]


@rule("cert_expiring_soon")
def cert_expiring_soon(ctx: Context) -> list[Finding]:
    paths = _paths(ctx)
    if paths is None:
        return []
    leaf, now, profile = paths.leaf, ctx.now, ctx.profile
    not_after = leaf.not_valid_after_utc
    if second_of(now) > not_after or now < leaf.not_valid_before_utc:
        return []
    remaining = (not_after - now).total_seconds() / DAY
    critical = remaining <= profile.crit_days
    if not critical and remaining > profile.warn_days:
        return []
    evidence = {
        "not_after": iso(not_after),
        "days_left": days_left(not_after, now),
        "threshold_days": profile.crit_days if critical else profile.warn_days,
    }
    return [ctx.finding("cert_expiring_soon", evidence, "critical" if critical else None)]


# -- names ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Names:
    evidence: dict[str, Any]
    check: Any
    dns: list[str] | None
    ips: list[str]
    cn_covers: bool


def _names(ctx: Context) -> _Names | None:
    paths = _paths(ctx)
    if paths is None or ctx.chain is None:
        return None
    leaf, host = paths.leaf, ctx.chain.host
    dns = san_dns_names(leaf)
    ips = san_ip_addresses(leaf)
    cns = common_names(leaf)
    check = check_host(host, dns or [], ips)
    evidence: dict[str, Any] = {"host": host, "san": dns or [], "san_ip": ips, "subject_cn": cns}
    return _Names(evidence, check, dns, ips, check_host(host, cns, []).matched)


def _no_san(names: _Names) -> bool:
    return names.dns is None or (not names.dns and not names.ips)


def _mismatch_evidence(names: _Names) -> dict[str, Any]:
    evidence = dict(names.evidence)
    if not _no_san(names) and names.cn_covers:
        # With DNS names in the SAN no client falls back to the CN (RFC 6125 §6.4.4,
        # RFC 2818 §3.1): the host is simply not covered.
        evidence["note"] = "the host is only in the subject CN; clients ignore the CN when "
        evidence["note"] += "the certificate has subjectAltName entries"
    return evidence


def _name_fails(names: _Names) -> bool:
    """The host is not covered (a CN-only certificate whose CN covers it is its own rule)."""
    return not names.check.matched and not (_no_san(names) and names.cn_covers)


@rule("wildcard_invalid")
def wildcard_invalid(ctx: Context) -> list[Finding]:
    names = _names(ctx)
    if names is None:
        return []
    found = []
    if names.check.malformed_wildcards:
        evidence = {**names.evidence, "malformed": names.check.malformed_wildcards}
        found.append(ctx.finding("wildcard_invalid", evidence))
    if _name_fails(names) and names.check.too_deep_wildcards:
        evidence = {
            **_mismatch_evidence(names),
            "wildcards": names.check.too_deep_wildcards,
            "reason": "a wildcard covers "
            "exactly one label; it does not cover the base domain or deeper names",
        }
        found.append(ctx.finding("wildcard_invalid", evidence))
    return found


@rule("wildcard_partial_label")
def wildcard_partial_label(ctx: Context) -> list[Finding]:
    names = _names(ctx)
    if names is None or not names.check.partial_wildcards:
        return []
    evidence = {**names.evidence, "partial": names.check.partial_wildcards}
    return [ctx.finding("wildcard_partial_label", evidence)]


@rule("san_missing_or_cn_only")
def san_missing_or_cn_only(ctx: Context) -> list[Finding]:
    names = _names(ctx)
    if names is None or names.check.matched or not _no_san(names):
        return []
    evidence = {**names.evidence, "reason": "no subjectAltName extension"}
    return [ctx.finding("san_missing_or_cn_only", evidence)]


@rule("hostname_mismatch")
def hostname_mismatch(ctx: Context) -> list[Finding]:
    names = _names(ctx)
    if names is None or not _name_fails(names):
        return []
    return [ctx.finding("hostname_mismatch", _mismatch_evidence(names))]


# -- keys and signatures ----------------------------------------------------------------------


def _judged_keys(ctx: Context) -> list[x509.Certificate]:
    """The certificates whose keys and signatures are judged: the anchor is exempt."""
    paths = _paths(ctx)
    if paths is None:
        return []
    path, anchored = paths.initial.path, paths.initial.anchored
    return path[:-1] if anchored and len(path) > 1 else path


@rule("key_unsupported")
def key_unsupported(ctx: Context) -> list[Finding]:
    unknown = [
        {"subject": subject_str(c.subject), "algorithm": c.public_key_algorithm_oid.dotted_string}
        for c in _judged_keys(ctx)
        if key_description(c)[0] == "unknown"
    ]
    return [ctx.finding("key_unsupported", {"certificates": unknown})] if unknown else []


@rule("rsa_key_too_small")
def rsa_key_too_small(ctx: Context) -> list[Finding]:
    small = []
    for cert in _judged_keys(ctx):
        algorithm, bits, _ = key_description(cert)
        if algorithm == "RSA" and bits < 2048:
            small.append({"subject": subject_str(cert.subject), "bits": bits})
    if not small:
        return []
    return [ctx.finding("rsa_key_too_small", {"certificates": small, "min_bits": 2048})]


@rule("ec_key_too_small_or_curve")
def ec_key_too_small_or_curve(ctx: Context) -> list[Finding]:
    bad = []
    for cert in _judged_keys(ctx):
        algorithm, bits, curve = key_description(cert)
        if algorithm == "EC" and (bits < 256 or curve not in GOOD_CURVES):
            bad.append({"subject": subject_str(cert.subject), "bits": bits, "curve": curve})
    return [ctx.finding("ec_key_too_small_or_curve", {"certificates": bad})] if bad else []


@rule("sig_hash_weak")
def sig_hash_weak(ctx: Context) -> list[Finding]:
    weak = []
    for cert in _judged_keys(ctx):
        digest = signature_hash(cert)
        if digest in WEAK_HASHES and not is_self_signed(cert):
            weak.append({"subject": subject_str(cert.subject), "hash": digest})
    return [ctx.finding("sig_hash_weak", {"certificates": weak})] if weak else []


# -- trust ------------------------------------------------------------------------------------


@rule("ca_key_compromised")
def ca_key_compromised(ctx: Context) -> list[Finding]:
    """Even when the user's own store trusts it: anyone holding the key can impersonate."""
    paths = _paths(ctx)
    if paths is None:
        return []
    return [ctx.finding("ca_key_compromised", evidence) for evidence in paths.compromised]


@rule("self_signed_leaf")
def self_signed_leaf(ctx: Context) -> list[Finding]:
    paths = _paths(ctx)
    if paths is None or paths.problem != "self_signed":
        return []
    leaf = paths.leaf
    evidence = {"subject": subject_str(leaf.subject), "sha256": fingerprint(leaf)}
    return [ctx.finding("self_signed_leaf", evidence)]


@rule("chain_incomplete")
def chain_incomplete(ctx: Context) -> list[Finding]:
    paths = _paths(ctx)
    if paths is None or ctx.chain is None:
        return []
    result, served = paths.initial, ctx.chain.served
    if paths.problem == "repaired" and paths.repaired is not None:
        evidence = {
            "missing_issuer": result.missing_issuer,
            "issued_to": subject_str(result.path[-1].subject),
            "aia_ca_issuers": aia_ca_issuers(result.path[-1]),
            "served": len(served),
            "fetched_over_aia": [
                subject_str(c.subject) for c in paths.repaired.path[len(result.path) : -1]
            ],
            "note": "the chain is otherwise good: only the intermediate is missing",
        }
        return [ctx.finding("chain_incomplete", evidence)]
    if paths.problem == "missing_issuer":
        last = result.path[-1]
        evidence = {
            "missing_issuer": result.missing_issuer,
            "issued_to": subject_str(last.subject),
            "aia_ca_issuers": aia_ca_issuers(last),
            "served": len(served),
        }
        return [ctx.finding("chain_incomplete", evidence)]
    return []


@rule("untrusted_root")
def untrusted_root(ctx: Context) -> list[Finding]:
    paths = _paths(ctx)
    if paths is None:
        return []
    result = paths.initial
    top = result.path[-1]
    if paths.problem == "untrusted_above":
        # The server sent intermediates and the chain stops above the last one:
        # what is missing is (almost always) a root no store has, not an
        # intermediate -- every platform refuses it, iOS included.
        evidence = {
            "root": result.missing_issuer,
            "sha256": None,
            "issued_to": subject_str(top.subject),
            "reason": "the top certificate sent is issued by a CA that is not a "
            "trusted root (or by an intermediate the server does not send)",
            "webpki": result.webpki_error,
        }
        return [ctx.finding("untrusted_root", evidence)]
    if paths.problem == "unanchored":
        evidence = {
            "root": subject_str(top.subject),
            "sha256": fingerprint(top),
            "webpki": result.webpki_error,
        }
        return [ctx.finding("untrusted_root", evidence)]
    return []


# -- what Apple and Chrome require, by anchor --------------------------------------------------


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


@rule("validity_too_long_apple")
def validity_too_long_apple(ctx: Context) -> list[Finding]:
    paths = _paths(ctx)
    if paths is None:
        return []
    leaf = paths.leaf
    not_before, lifetime = leaf.not_valid_before_utc, lifetime_seconds(leaf)
    anchor = _anchor_kind(paths.judged)
    apple = _apple_lifetime_limit(anchor, not_before)
    if apple is None or lifetime <= apple[0]:
        return []
    evidence = {
        "not_before": iso(not_before),
        "not_after": iso(leaf.not_valid_after_utc),
        "lifetime_days": round(lifetime / DAY, 2),
        "max_days": round(apple[0] / DAY, 2),
        "anchor": anchor,
        "applies_because": apple[1],
    }
    return [ctx.finding("validity_too_long_apple", evidence)]


@rule("validity_too_long_chrome")
def validity_too_long_chrome(ctx: Context) -> list[Finding]:
    paths = _paths(ctx)
    if paths is None:
        return []
    leaf = paths.leaf
    not_before, lifetime = leaf.not_valid_before_utc, lifetime_seconds(leaf)
    chrome = _chrome_lifetime_limit(_anchor_kind(paths.judged), not_before)
    if chrome is None or lifetime <= chrome * DAY:
        return []
    evidence = {
        "not_before": iso(not_before),
        "lifetime_days": round(lifetime / DAY, 2),
        "max_days": chrome,
    }
    return [ctx.finding("validity_too_long_chrome", evidence)]


@rule("validity_exceeds_br_schedule")
def validity_exceeds_br_schedule(ctx: Context) -> list[Finding]:
    """The Baseline Requirements bind publicly trusted CAs, not private ones."""
    paths = _paths(ctx)
    if paths is None or _anchor_kind(paths.judged) != "store":
        return []
    leaf = paths.leaf
    not_before = leaf.not_valid_before_utc
    for start, max_days in BR_SCHEDULE:
        if not_before >= start:
            days = lifetime_days_inclusive(leaf)
            if days <= max_days:
                return []
            evidence = {
                "issued": iso(not_before),
                "lifetime_days": days,
                "max_days": max_days,
                "rule_from": iso(start),
            }
            return [ctx.finding("validity_exceeds_br_schedule", evidence)]
    return []


@rule("eku_serverauth_missing")
def eku_serverauth_missing(ctx: Context) -> list[Finding]:
    """serverAuth EKU (S5 SecPolicyCheckServerAuthEKU, S7).

    An EKU extension without serverAuth (or anyEKU) is refused by every client.
    A leaf *without* the extension is refused by Apple for store roots, and for
    other anchors when issued after 2019-07-01; other clients accept it.
    """
    paths = _paths(ctx)
    if paths is None:
        return []
    leaf, result = paths.leaf, paths.judged
    anchor = _anchor_kind(result)
    has = _has_eku(leaf, SERVER_AUTH)
    if has is False:
        eku = extension(leaf, ExtensionOID.EXTENDED_KEY_USAGE)
        names = [getattr(oid, "_name", oid.dotted_string) for oid in eku or []]
        return [ctx.finding("eku_serverauth_missing", {"eku": names}, "excluded")]
    if has is None:
        applies = anchor == "store" or (
            anchor == "custom" and leaf.not_valid_before_utc > APPLE_OTHER_ANCHOR_START
        )
        if applies:
            evidence = {"eku": None, "reason": "no extendedKeyUsage", "anchor": anchor}
            return [ctx.finding("eku_serverauth_missing", evidence)]
    if anchor == "store":
        # Apple: any sub-CA that carries an EKU must allow serverAuth (or anyEKU).
        bad = [
            subject_str(ca.subject)
            for ca in result.path[1:-1]
            if _has_eku(ca, SERVER_AUTH) is False
        ]
        if bad:
            evidence = {"intermediates": bad, "reason": "an intermediate's EKU excludes serverAuth"}
            return [ctx.finding("eku_serverauth_missing", evidence, "intermediate")]
    return []


# -- the validator's verdict ------------------------------------------------------------------


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


@rule("chain_invalid")
def chain_invalid(ctx: Context) -> list[Finding]:
    """A signature that does not verify; else an anchored path the validator refuses,
    unless a rule that ran before names why (last of the path rules on purpose)."""
    paths = _paths(ctx)
    if paths is None:
        return []
    found = []
    if paths.problem == "bad_signature" and paths.initial.bad_signature is not None:
        signed, issuer = paths.initial.bad_signature
        evidence = {
            "kind": "signature",
            "reason": f"the signature of {signed} does not verify with the key of {issuer}",
            "certificate": signed,
            "issuer": issuer,
        }
        found.append(ctx.finding("chain_invalid", evidence, "signature"))
    result = paths.judged
    if result.anchored and not result.webpki_ok and result.webpki_ran:
        found += _validator_failure(ctx, result)
    return found


def _validator_failure(ctx: Context, result: PathResult) -> list[Finding]:
    kind, reason = classify_validator_error(result.webpki_error)
    # A precise finding explains the refusal only if it concerns every phone platform:
    # an Apple-only finding (a leaf without EKU) must not hide what Android refuses too.
    fired = {
        f.rule_id
        for f in ctx.findings
        if f.severity == "error" and ("all" in f.platforms or PHONES <= set(f.platforms))
    }
    if fired & _EXPLAINED_BY.get(kind, frozenset()):
        return []
    now = ctx.now
    moment = second_of(now)
    cas = result.path[1:]
    if kind == "validity":
        expired_intermediates = [c for c in result.path[1:-1] if c.not_valid_after_utc < moment]
        if expired_intermediates:
            return []  # cert_expired names the intermediate
        anchor = result.path[-1]
        if anchor.not_valid_after_utc < moment and len(result.path) > 1:
            evidence = {
                "kind": "expired_root",
                "reason": f"the root {subject_str(anchor.subject)} expired on "
                f"{iso(anchor.not_valid_after_utc)}",
                "validator": result.webpki_error,
                "note": "Android ignores the expiry of its own roots; other clients do not",
            }
            return [ctx.finding("chain_invalid", evidence, "expired_root")]
        early = [subject_str(c.subject) for c in cas if c.not_valid_before_utc > now]
        if not early:
            # Every CA is valid now: the validator ran at an instant inside an expired
            # (or future) leaf's validity, when a CA was not; clients judge at now, and
            # the leaf's own dates have their rule.
            return []
        reason = f"{', '.join(early)} is not valid yet"
    evidence = {"kind": kind, "reason": reason, "validator": result.webpki_error}
    if kind in TOLERATED_BY_CLIENTS:
        evidence["note"] = (
            "phones and browsers usually accept this; strict validators (cryptography, "
            "rustls/webpki, Go) refuse it"
        )
        return [ctx.finding("chain_invalid", evidence, "tolerated")]
    return [ctx.finding("chain_invalid", evidence)]


# -- the chain as served ----------------------------------------------------------------------


def _served(ctx: Context) -> tuple[list[x509.Certificate], PathResult] | None:
    paths = _paths(ctx)
    if paths is None or ctx.chain is None:
        return None
    return ctx.chain.served, paths.judged


@rule("chain_includes_root")
def chain_includes_root(ctx: Context) -> list[Finding]:
    seen = _served(ctx)
    if seen is None:
        return []
    roots = [subject_str(c.subject) for c in seen[0][1:] if is_self_signed(c)]
    return [ctx.finding("chain_includes_root", {"roots": roots})] if roots else []


@rule("chain_extra_certs")
def chain_extra_certs(ctx: Context) -> list[Finding]:
    seen = _served(ctx)
    if seen is None or not seen[1].anchored:
        return []
    served, result = seen
    path_fps = {fingerprint(c) for c in result.path}
    extras = [
        subject_str(c.subject)
        for c in served[1:]
        if fingerprint(c) not in path_fps and not is_self_signed(c)
    ]
    return [ctx.finding("chain_extra_certs", {"unused": extras})] if extras else []


@rule("chain_order")
def chain_order(ctx: Context) -> list[Finding]:
    """The served certificates that are on the path must come first, in path order."""
    seen = _served(ctx)
    if seen is None:
        return []
    served, result = seen
    path_fps = [fingerprint(c) for c in result.path]
    served_fps = [fingerprint(c) for c in served]
    in_path = [fp for fp in served_fps if fp in path_fps]
    expected = [fp for fp in path_fps if fp in served_fps]
    if in_path == expected and served_fps[: len(in_path)] == in_path:
        return []
    evidence = {
        "served": [subject_str(c.subject) for c in served],
        "expected": [subject_str(c.subject) for c in result.path],
    }
    return [ctx.finding("chain_order", evidence)]


@rule("chain_contains_expired_cert")
def chain_contains_expired_cert(ctx: Context) -> list[Finding]:
    seen = _served(ctx)
    if seen is None:
        return []
    served, result = seen
    moment = second_of(ctx.now)
    path_fps = [fingerprint(c) for c in result.path]
    expired_off_path = [
        subject_str(c.subject)
        for c in served[1:]
        if c.not_valid_after_utc < moment and fingerprint(c) not in path_fps[:-1]
    ]
    anchor = result.path[-1] if result.anchored and len(result.path) > 1 else None
    if anchor is not None and anchor.not_valid_after_utc < moment:
        expired_off_path.append(subject_str(anchor.subject) + " (root)")
    if not expired_off_path:
        return []
    return [ctx.finding("chain_contains_expired_cert", {"expired": sorted(set(expired_off_path))})]


# -- for tests and tools: the chain rules alone ------------------------------------------------


def evaluate_chain(
    chain_der: list[bytes],
    host: str,
    trust: TrustStore,
    profile: Profile,
    now: datetime,
    distrust: frozenset[str] = frozenset(),
    fetched_der: list[bytes] | None = None,
) -> ChainReport:
    """Every rule of this module for one served chain and the host it was served for, and
    ``ca_fully_distrusted`` for certificates listed in ``distrust`` (``--distrust``; the
    distrust data needs the facts' SCTs: :func:`certcheck.evaluate.evaluate` applies it)."""
    facts = ServerFacts(target=Target(host=host), scanned_at="")
    state = prepare_chain(chain_der, host, trust, now, distrust, fetched_der)
    summary = chain_summary(state, now)
    ctx = Context(facts, facts, profile, trust, now, distrust, chain=state, certificate=summary)
    return ChainReport(run(ctx, ("chain", "distrust")), summary)
