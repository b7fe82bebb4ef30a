"""Per-client trust: does the served chain lead to a root in *this client's* store?

Each client profile names a root store (``rules/clients.toml`` ``root_store``):
the Android system store of its API level, Apple's store, Mozilla's roots
(certifi; also the stand-in for Chrome's store, which certcheck does not
tabulate) or Java's cacerts (not tabulated: "unknown").  Roots from
``--ca-file`` count as present in every store: the user vouches for them.

Chain building follows RULES.md §2.5 and §3.4: the served certificates are
tried in every order that links (cross-signs included); clients that fetch
missing issuers (iOS trustd, Chrome, Firefox via its preloaded intermediates)
may also use the issuers fetched over AIA (``--fetch-aia``); Android does
not.  Android ignores the expiry of its anchors (S24); other clients do not.

The client's certificate constraints (signature schemes, SHA-2, CA key sizes:
:class:`~certcheck.evaluate.client_constraints.CertificatePolicy`) are applied
*during* the search, so a path through a cross-sign that satisfies them is
found even when the first path that reaches a root does not; when no path
satisfies them, the outcome names what the best path breaks.
The platform tables hold fingerprints and subject names, not the roots'
DER: a tabulated root that certifi or ``--ca-file`` does not carry is
matched by subject name only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509

from certcheck.evaluate.certinfo import (
    aia_ca_issuers,
    common_names,
    fingerprint,
    is_self_signed,
    iso,
    issued_by,
    subject_str,
)
from certcheck.evaluate.client_constraints import CertificatePolicy
from certcheck.evaluate.trust import TrustStore
from certcheck.platforms import (
    ANDROID_UPDATABLE_API,
    android_api,
    android_first_trusting_version,
    android_snapshot_for_api,
    android_store,
    apple_store,
    root_info,
    roots_by_subject,
)

MAX_DEPTH = 8
#: Outcome kinds of one chain-building attempt, best first.
_RANK = (
    "ok",
    "unknown",
    "rejected",  # reaches a root, but through a certificate the client refuses
    "expired",
    "absent",
    "self_signed",
    "expired_issuer",
    "missing",
)


@dataclass(frozen=True)
class StoreView:
    """One client's root store, as far as the tables know it."""

    key: str  # the profile's root_store: "android:24", "apple", "mozilla", "chrome", "java"
    label: str
    members: frozenset[str] | None  # SHA-256 of the roots; None = not tabulated
    android_api: int | None = None
    #: the tables may predate roots this store has gained (updatable stores)
    may_lag: bool = False

    @property
    def ignores_anchor_expiry(self) -> bool:
        return self.android_api is not None


@dataclass(frozen=True)
class RootCandidate:
    """A root that may have issued a certificate (same subject name, and key if known)."""

    sha256: str
    name: str
    from_ca_file: bool = False
    not_after: datetime | None = None


@dataclass
class TrustOutcome:
    """Whether one client trusts the chain, and which root decides it."""

    trust: str  # ok | untrusted | unknown
    root: str | None = None
    root_sha256: str | None = None
    root_source: str | None = None  # store | ca-file
    reason: str | None = None
    #: the root the chain needs but this client's store lacks (trust == "untrusted")
    missing_root_sha256: str | None = None
    first_trusted_in: str | None = None
    path: list[str] = field(default_factory=list)
    #: the certificates of the chosen path, leaf first (the anchor only if it was served)
    certificates: list[x509.Certificate] = field(default_factory=list)


@dataclass
class _End:
    kind: str
    path: list[x509.Certificate]
    candidates: list[RootCandidate] = field(default_factory=list)
    problem: str | None = None  # kind == "rejected": the constraint the path breaks


def _display_name(cert: x509.Certificate) -> str:
    names = common_names(cert)
    return names[0] if names else subject_str(cert.subject)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def store_view(root_store: str, trust: TrustStore) -> StoreView:
    """The :class:`StoreView` for a profile's ``root_store`` value."""
    api = android_api(root_store)
    if api is not None:
        snapshot = android_snapshot_for_api(api)
        return StoreView(
            key=root_store,
            label=f"Android {snapshot} (API {api}) system store",
            members=android_store(api),
            android_api=api,
            # Android 14+ take the updatable Conscrypt APEX store from Google Play system
            # updates: a device may hold roots newer than any snapshot in the tables.
            may_lag=api >= ANDROID_UPDATABLE_API,
        )
    if root_store == "apple":
        return StoreView(root_store, "Apple trust store", apple_store(), may_lag=True)
    if root_store in ("mozilla", "chrome"):
        label = "Mozilla root store (certifi)"
        if root_store == "chrome":
            label = "Chrome Root Store (Mozilla's roots from certifi stand in for it)"
        return StoreView(root_store, label, frozenset(trust.system_fps))
    return StoreView(root_store, "Java cacerts (not tabulated)", None)


def _refuses(policy: CertificatePolicy, ca: x509.Certificate) -> bool:
    """The client will not use this CA certificate (its own signature or key)."""
    if is_self_signed(ca):
        return False  # an anchor: its self-signature is not verified
    return policy.signature_problem(ca) is not None or policy.key_problem(ca) is not None


def _pick(ends: list[_End]) -> _End:
    return min(ends, key=lambda e: (_RANK.index(e.kind), -len(e.path)))


class ChainTrust:
    """Chain building for one served chain against any client's store, with caches."""

    def __init__(
        self,
        served: list[x509.Certificate],
        fetched: list[x509.Certificate],
        trust: TrustStore,
        now: datetime,
    ) -> None:
        self.served = served
        self.fetched = fetched
        self.trust = trust
        self.now = now
        self._issued: dict[tuple[str, str], bool] = {}
        self._candidates: dict[str, list[RootCandidate]] = {}
        self._outcomes: dict[tuple[str, bool, str, CertificatePolicy | None], TrustOutcome] = {}

    # ------------------------------------------------------------------ helpers

    def _issued_by(self, cert: x509.Certificate, issuer: x509.Certificate) -> bool:
        key = (fingerprint(cert), fingerprint(issuer))
        if key not in self._issued:
            self._issued[key] = issued_by(cert, issuer)
        return self._issued[key]

    def candidates(self, cert: x509.Certificate) -> list[RootCandidate]:
        """Roots (certifi, --ca-file, platform tables) that may have issued ``cert``."""
        fp = fingerprint(cert)
        if fp in self._candidates:
            return self._candidates[fp]
        found: dict[str, RootCandidate] = {}
        refused: set[str] = set()
        for root in self.trust.by_subject.get(cert.issuer, []):
            root_fp = fingerprint(root)
            if not self._issued_by(cert, root):
                refused.add(root_fp)
                continue
            found[root_fp] = RootCandidate(
                root_fp,
                _display_name(root),
                from_ca_file=root_fp in self.trust.extra_fps,
                not_after=root.not_valid_after_utc,
            )
        for sha in roots_by_subject(subject_str(cert.issuer)):
            if sha in found or sha in refused:
                continue
            info = root_info(sha)
            if info is not None:
                found[sha] = RootCandidate(sha, info.name, not_after=_parse_time(info.not_after))
        self._candidates[fp] = list(found.values())
        return self._candidates[fp]

    def _as_anchor(self, cert: x509.Certificate) -> RootCandidate | None:
        """A served certificate that is itself a known root (or a --ca-file anchor)."""
        fp = fingerprint(cert)
        if fp in self.trust.extra_fps:
            return RootCandidate(fp, _display_name(cert), True, cert.not_valid_after_utc)
        if fp in self.trust.system_fps or root_info(fp) is not None:
            return RootCandidate(fp, _display_name(cert), False, cert.not_valid_after_utc)
        return None

    def _accept(self, store: StoreView, cand: RootCandidate) -> str:
        """ok | unknown | expired | absent for one candidate root in one store."""
        if cand.from_ca_file:
            return "ok"
        if store.members is None:
            return "unknown"
        if cand.sha256 in store.members:
            expired = cand.not_after is not None and cand.not_after < self.now
            return "expired" if expired and not store.ignores_anchor_expiry else "ok"
        if store.may_lag and self._unknown_to_tables(store, cand.sha256):
            return "unknown"
        return "absent"

    @staticmethod
    def _unknown_to_tables(store: StoreView, sha: str) -> bool:
        info = root_info(sha)
        if info is None:
            return True
        if store.android_api is not None:
            return not info.android_present_in
        return info.apple_status is None

    # ------------------------------------------------------------------ search

    def _walk(
        self,
        store: StoreView,
        pool: list[x509.Certificate],
        path: list[x509.Certificate],
        seen: set[str],
        policy: CertificatePolicy | None = None,
    ) -> list[_End]:
        """Ends of the paths from ``path``; with ``policy``, only through CAs it accepts."""
        node = path[-1]
        ends: list[_End] = []
        if len(path) > 1:
            itself = self._as_anchor(node)
            if itself is not None:
                verdict = self._accept(store, itself)
                if verdict == "ok":
                    return [_End("ok", path, [itself])]
        judged: dict[str, list[RootCandidate]] = {}
        for cand in self.candidates(node):
            judged.setdefault(self._accept(store, cand), []).append(cand)
        if "ok" in judged:
            return [_End("ok", path, judged["ok"][:1])]
        lapsed: list[x509.Certificate] = []
        if len(path) < MAX_DEPTH:
            for issuer in pool:
                fp = fingerprint(issuer)
                # Each certificate is expanded once per search: a hostile chain of
                # mutually-issuing copies cannot make the search exponential.
                if fp in seen or not self._issued_by(node, issuer):
                    continue
                if issuer.not_valid_after_utc < self.now:
                    lapsed.append(issuer)  # clients skip expired intermediates, try other paths
                    continue
                if policy is not None and _refuses(policy, issuer):
                    continue  # the client will not use this CA: look for another path
                seen.add(fp)
                found = self._walk(store, pool, [*path, issuer], seen, policy)
                if any(end.kind == "ok" for end in found):
                    return [end for end in found if end.kind == "ok"][:1]
                ends += found
        for kind in ("unknown", "expired", "absent"):
            if kind in judged:
                ends.append(_End(kind, path, judged[kind]))
        if not judged and not ends:
            if lapsed:
                ends.append(_End("expired_issuer", [*path, lapsed[0]]))
            else:
                ends.append(_End("self_signed" if is_self_signed(node) else "missing", path))
        return ends

    def outcome(
        self,
        store: StoreView,
        fetches_aia: bool,
        leaf: x509.Certificate,
        policy: CertificatePolicy | None = None,
    ) -> TrustOutcome:
        """Trust of ``leaf`` (+ the served chain) for one store and client policy; cached."""
        key = (store.key, fetches_aia, fingerprint(leaf), policy)
        if key not in self._outcomes:
            best = self._best(store, fetches_aia, leaf, policy)
            outcome = self._describe(store, fetches_aia, best)
            outcome.certificates = list(best.path)
            self._outcomes[key] = outcome
        return self._outcomes[key]

    def _best(
        self,
        store: StoreView,
        fetches_aia: bool,
        leaf: x509.Certificate,
        policy: CertificatePolicy | None,
    ) -> _End:
        pool = [c for c in self.served if fingerprint(c) != fingerprint(leaf)]
        if fetches_aia:
            pool += self.fetched
        if policy is not None and policy.signature_problem(leaf) is None:
            ends = self._walk(store, pool, [leaf], {fingerprint(leaf)}, policy)
            if any(end.kind == "ok" for end in ends):
                return _pick(ends)
        # No path the client accepts: search without its constraints to say why.
        best = _pick(self._walk(store, pool, [leaf], {fingerprint(leaf)}))
        problem = policy.path_problem(best.path) if policy is not None else None
        if best.kind == "ok" and problem is not None:
            return _End("rejected", best.path, best.candidates, problem)
        return best

    # ------------------------------------------------------------------ wording

    def _describe(self, store: StoreView, fetches_aia: bool, end: _End) -> TrustOutcome:
        path = [subject_str(c.subject) for c in end.path]
        top = end.path[-1]
        cand = end.candidates[0] if end.candidates else None
        if end.kind == "ok" and cand is not None:
            source = "ca-file" if cand.from_ca_file else "store"
            return TrustOutcome("ok", cand.name, cand.sha256, source, path=[*path, cand.name])
        if end.kind == "rejected" and cand is not None:
            source = "ca-file" if cand.from_ca_file else "store"
            return TrustOutcome(
                "untrusted", cand.name, cand.sha256, source, reason=end.problem, path=path
            )
        if end.kind == "unknown" and cand is not None:
            why = (
                f"{store.label}: cannot tell whether it has {cand.name}"
                if store.members is None
                else f"{cand.name} is not in certcheck's data for the {store.label} "
                "(the store may have gained it since)"
            )
            return TrustOutcome("unknown", cand.name, cand.sha256, reason=why, path=path)
        if end.kind == "expired" and cand is not None:
            when = iso(cand.not_after) if cand.not_after else "?"
            return TrustOutcome(
                "untrusted",
                cand.name,
                cand.sha256,
                reason=f"root {cand.name} expired on {when}",
                missing_root_sha256=cand.sha256,
                path=path,
            )
        if end.kind == "absent" and cand is not None:
            return self._absent(store, cand, path)
        if end.kind == "self_signed":
            what = "self-signed certificate" if len(end.path) == 1 else "root"
            return TrustOutcome(
                "untrusted",
                _display_name(top),
                fingerprint(top),
                reason=f"untrusted root on this client: {what} {subject_str(top.subject)} "
                f"is not in the {store.label}",
                path=path,
            )
        if end.kind == "expired_issuer":
            return TrustOutcome(
                "untrusted",
                reason=f"the intermediate {subject_str(top.subject)} expired on "
                f"{iso(top.not_valid_after_utc)} and no other path leads to a root in the "
                f"{store.label}",
                path=path,
            )
        return self._missing(store, fetches_aia, end.path, path)

    def _absent(self, store: StoreView, cand: RootCandidate, path: list[str]) -> TrustOutcome:
        reason = f"untrusted root on this client: {cand.name} is not in the {store.label}"
        first = None
        info = root_info(cand.sha256)
        if store.android_api is not None and info is not None and info.android_first_api:
            label = android_first_trusting_version(cand.sha256)
            if info.android_first_api > store.android_api:
                first = f"Android {label} (API {info.android_first_api})"
                reason = (
                    f"untrusted root on this client: Android < {label} has no {cand.name} "
                    f"(first trusted in {first})"
                )
            else:
                reason += " (removed from Android since)"
        elif store.key == "apple" and info is not None and info.apple_status:
            reason += f" (Apple: {info.apple_status})"
        return TrustOutcome(
            "untrusted",
            cand.name,
            cand.sha256,
            reason=reason,
            missing_root_sha256=cand.sha256,
            first_trusted_in=first,
            path=path,
        )

    def _missing(
        self, store: StoreView, fetches_aia: bool, chain: list[x509.Certificate], path: list[str]
    ) -> TrustOutcome:
        top = chain[-1]
        issuer = subject_str(top.issuer)
        if len(chain) > 1:
            return TrustOutcome(
                "untrusted",
                issuer,
                reason=f"untrusted root on this client: {issuer} is not a root in the "
                f"{store.label} (nor in any store certcheck knows)",
                path=path,
            )
        urls = aia_ca_issuers(top)
        if fetches_aia and urls:
            return TrustOutcome(
                "unknown",
                reason=f"incomplete chain: the server does not send {issuer}; this client "
                f"fetches it from {urls[0]} (--fetch-aia checks the rest of the chain)",
                path=path,
            )
        how = (
            "and there is no AIA URL to fetch it from"
            if fetches_aia
            else ("and this client does not fetch missing issuers")
        )
        return TrustOutcome(
            "untrusted",
            issuer,
            reason=f"incomplete chain: the server does not send {issuer} {how}",
            path=path,
        )
