"""Trust anchors and certification path building.

Validation proper is done by ``cryptography.x509.verification`` (the WebPKI
path validator).  When it fails, :func:`build_path` also follows issuer links
through the served certificates and the anchors, so the report can say *why*:
a missing intermediate (and which), a self-signed certificate, an unknown root,
or a path that exists but breaks a WebPKI rule (weak hash, small key, …).
"""

from __future__ import annotations

import ipaddress
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.verification import (
    DNSName,
    IPAddress,
    PolicyBuilder,
    Store,
    VerificationError,
)

from certcheck.evaluate.certinfo import (
    fingerprint,
    is_self_signed,
    issued_by,
    san_dns_names,
    san_ip_addresses,
    subject_str,
)

MAX_DEPTH = 8
NO_NAME_ERROR = "the leaf has no subjectAltName name the validator accepts"
_SHA256 = hashes.SHA256()


class TrustStoreError(ValueError):
    """A --ca-file that cannot be used."""


@dataclass
class TrustStore:
    """The anchors one evaluation trusts: certifi's Mozilla roots plus --ca-file."""

    system: list[x509.Certificate]
    extra: list[x509.Certificate] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.anchors = self.system + self.extra
        self.system_fps = {fingerprint(c) for c in self.system}
        self.extra_fps = {fingerprint(c) for c in self.extra}
        #: identifies the anchor set (for caches), stable across equal stores
        self.token = "|".join(sorted(self.system_fps)) + "/" + "|".join(sorted(self.extra_fps))
        self.by_subject: dict[x509.Name, list[x509.Certificate]] = {}
        for cert in self.anchors:
            self.by_subject.setdefault(cert.subject, []).append(cert)
        self.store = Store(self.anchors)

    @classmethod
    def load(cls, extra_pem: bytes | None = None, source: str = "--ca-file") -> TrustStore:
        system = list(_certifi_roots())
        extra: list[x509.Certificate] = []
        if extra_pem is not None:
            try:
                extra = x509.load_pem_x509_certificates(extra_pem)
            except ValueError as exc:
                raise TrustStoreError(
                    f"{source}: no PEM certificate could be read ({exc})"
                ) from exc
        return cls(system=system, extra=extra)

    def source_of(self, cert: x509.Certificate) -> str | None:
        fp = fingerprint(cert)
        if fp in self.system_fps:
            return "system"
        if fp in self.extra_fps:
            return "ca-file"
        return None


@cache
def _certifi_roots() -> tuple[x509.Certificate, ...]:
    with open(certifi.where(), "rb") as fh, warnings.catch_warnings():
        # A few long-lived roots have non-positive serials; they are still roots.
        warnings.simplefilter("ignore")
        return tuple(x509.load_pem_x509_certificates(fh.read()))


@dataclass
class PathResult:
    """A path from the leaf towards an anchor (leaf first, anchor last if found)."""

    path: list[x509.Certificate]
    anchored: bool = False
    anchor_source: str | None = None
    missing_issuer: str | None = None
    ends_self_signed: bool = False
    webpki_ok: bool = False
    webpki_error: str | None = None
    #: the validator ran on this chain (False: the leaf has no name it accepts)
    webpki_ran: bool = False
    #: (certificate, issuer) when an issuer with the right name is there but its
    #: key does not verify the certificate's signature
    bad_signature: tuple[str, str] | None = None


def _find_issuer(
    cert: x509.Certificate, candidates: list[x509.Certificate], used: set[str]
) -> x509.Certificate | None:
    for candidate in candidates:
        if fingerprint(candidate) not in used and issued_by(cert, candidate):
            return candidate
    return None


def _walk(leaf: x509.Certificate, served: list[x509.Certificate], trust: TrustStore) -> PathResult:
    result = PathResult(path=[leaf])
    used = {fingerprint(leaf)}
    current = leaf
    for _ in range(MAX_DEPTH):
        source = trust.source_of(current)
        if source is not None:
            result.anchored, result.anchor_source = True, source
            return result
        anchor = _find_issuer(current, trust.by_subject.get(current.issuer, []), used)
        if anchor is not None:
            result.path.append(anchor)
            result.anchored, result.anchor_source = True, trust.source_of(anchor)
            return result
        if is_self_signed(current):
            result.ends_self_signed = True
            return result
        step = _find_issuer(current, served, used)
        if step is None:
            result.missing_issuer = subject_str(current.issuer)
            named = [
                c
                for c in [*served, *trust.by_subject.get(current.issuer, [])]
                if c.subject == current.issuer and fingerprint(c) not in used
            ]
            if named:
                result.bad_signature = (subject_str(current.subject), subject_str(named[0].subject))
            return result
        result.path.append(step)
        used.add(fingerprint(step))
        current = step
    return result


def _verifier_subjects(leaf: x509.Certificate) -> list[DNSName | IPAddress]:
    """Names the leaf claims, so the validator checks the path and not the host.

    The host itself is judged by the name rules; here any claimed name will do.
    A name the validator refuses to build a policy for (a space, a bare ``*``)
    is skipped; the name rules report it.
    """
    found: list[DNSName | IPAddress] = []
    for name in san_dns_names(leaf) or []:
        candidate = name.replace("*", "wildcard", 1) if name.startswith("*.") else name
        found.append(DNSName(candidate))
    for ip in san_ip_addresses(leaf):
        try:
            found.append(IPAddress(ipaddress.ip_address(ip)))
        except ValueError:
            continue
    return found


def _validation_time(leaf: x509.Certificate, now: datetime) -> datetime:
    """``now``, moved inside the leaf's validity: expiry is reported by its own rule."""
    start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if start <= now <= end:
        return now
    return start + (end - start) / 2 if end > start else start + timedelta(seconds=0)


#: Many targets of a fleet share one chain: path building is cached by chain,
#: trust store and instant.  Bounded so a long scan's memory stays flat.
_PATH_CACHE: dict[tuple[tuple[bytes, ...], str, datetime], PathResult] = {}
_PATH_CACHE_MAX = 2048


def build_path(
    leaf: x509.Certificate,
    served: list[x509.Certificate],
    trust: TrustStore,
    now: datetime,
) -> PathResult:
    """Validate with the WebPKI validator; explain failures by walking issuer links."""
    key = (tuple(c.fingerprint(_SHA256) for c in [leaf, *served]), trust.token, now)
    cached = _PATH_CACHE.get(key)
    if cached is None:
        cached = _build_path(leaf, served, trust, now)
        if len(_PATH_CACHE) >= _PATH_CACHE_MAX:
            _PATH_CACHE.pop(next(iter(_PATH_CACHE)))
        _PATH_CACHE[key] = cached
    copy = PathResult(**{f: getattr(cached, f) for f in cached.__dataclass_fields__})
    copy.path = list(cached.path)
    return copy


def _build_path(
    leaf: x509.Certificate,
    served: list[x509.Certificate],
    trust: TrustStore,
    now: datetime,
) -> PathResult:
    walked = _walk(leaf, served, trust)
    verifier = None
    for subject in _verifier_subjects(leaf):
        try:
            verifier = (
                PolicyBuilder()
                .store(trust.store)
                .time(_validation_time(leaf, now))
                .max_chain_depth(8)
                .build_server_verifier(subject)
            )
        except ValueError:  # a name the validator refuses: try the next one
            continue
        break
    if verifier is None:
        walked.webpki_error = NO_NAME_ERROR
        return walked
    walked.webpki_ran = True
    try:
        chain = verifier.verify(leaf, served)
    except VerificationError as exc:
        walked.webpki_error = str(exc)
        return walked
    except Exception as exc:  # noqa: BLE001 - malformed extensions the validator refuses
        walked.webpki_error = f"certificate could not be processed: {exc}"
        return walked
    anchor = chain[-1]
    return PathResult(
        path=list(chain),
        anchored=True,
        anchor_source=trust.source_of(anchor),
        webpki_ok=True,
        webpki_ran=True,
    )
