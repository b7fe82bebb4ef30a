"""Per-client trust: does the served chain lead to a root in *this client's* store?

Each client profile names a root store (``rules/clients.toml`` ``root_store``):
the Android system store of its API level, Apple's store, the Chrome Root Store
(``rules/platforms/chrome_roots.tsv``), Mozilla's roots (certifi) or Java's
cacerts (not tabulated: "unknown").  Roots from ``--ca-file`` count as present
in every store: the user vouches for them.

Chrome Root Store anchors may carry constraint sets (an SCT cut-off, a Chrome
version range, DNS names): Chrome trusts the anchor only when one set holds for
the leaf, so a path to a constrained anchor that no set admits is "untrusted"
(:func:`chrome_constraint_problem`).

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

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509

from certcheck.core.times import parse_instant
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
from certcheck.evaluate.rules.distrust import Issuance, issuance
from certcheck.evaluate.trust import TrustStore
from certcheck.platforms import (
    ANDROID_UPDATABLE_API,
    ChromeConstraintSet,
    android_api,
    android_first_trusting_version,
    android_snapshot_for_api,
    android_store,
    apple_added_after,
    apple_label_for,
    apple_release,
    apple_store,
    apple_store_updatable,
    chrome_roots,
    chrome_store,
    chrome_version,
    root_info,
    roots_by_subject,
)

MAX_DEPTH = 8
#: Outcome kinds of one chain-building attempt, best first.
_RANK = (
    "ok",
    "unknown",
    "rejected",  # reaches a root, but through a certificate the client refuses
    "constrained",  # reaches a Chrome anchor whose constraint sets do not admit this leaf
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
    #: anchor SHA-256 -> its constraint sets (Chrome Root Store); one must hold for the leaf
    constraints: Mapping[str, tuple[ChromeConstraintSet, ...]] = field(
        default_factory=dict, compare=False, hash=False
    )
    #: the client's version for min_version / max_version_exclusive; None = the newest
    client_version: tuple[int, ...] | None = None
    #: Apple: the apple_versions.tsv release whose store this is (None = the current store)
    apple_label: str | None = None

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
    #: why, as data (REASON_CODES): what client_rules matches, never the wording
    code: str | None = None
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
        return parse_instant(value)
    except ValueError:
        return None


#: store views by (root_store, anchor set, client version): the same few dozen for a whole
#: run (StoreView is frozen; the tables behind it do not change while certcheck runs)
_VIEWS: dict[tuple[str, str, str | None], StoreView] = {}
_VIEWS_MAX = 512


def store_view(root_store: str, trust: TrustStore, client_version: str | None = None) -> StoreView:
    """The :class:`StoreView` for a profile's ``root_store`` value (cached, see _VIEWS)."""
    key = (root_store, trust.token, client_version)
    view = _VIEWS.get(key)
    if view is None:
        if len(_VIEWS) >= _VIEWS_MAX:
            _VIEWS.clear()
        view = _VIEWS[key] = _store_view(root_store, trust, client_version)
    return view


def _store_view(root_store: str, trust: TrustStore, client_version: str | None) -> StoreView:
    """The :class:`StoreView` for a profile's ``root_store`` value.

    ``client_version`` (a Chrome profile's ``os_version``, e.g. "137") decides the Chrome
    anchors' version-bound constraint sets.  Without it the newest Chrome is assumed (every
    ``min_version`` met, no ``max_version_exclusive``): the simulation keeps one view per
    root_store, and the Chrome profiles are current releases."""
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
    ios = apple_release(root_store)
    if root_store == "apple" or ios is not None:
        label = apple_label_for(ios)
        if label is None:  # the current anchors; devices may get newer ones as trust assets
            return StoreView(root_store, "Apple trust store", apple_store(), may_lag=True)
        return StoreView(
            root_store,
            f"Apple trust store of iOS {label}",
            apple_store(label),
            may_lag=apple_store_updatable(label),
            apple_label=label,
        )
    if root_store == "chrome":
        try:
            version = chrome_version(client_version) if client_version else None
        except ValueError:
            version = None  # not a Chrome version number: the newest Chrome is assumed
        constrained = {sha: r.constraints for sha, r in chrome_roots().items() if r.constraints}
        return StoreView(
            root_store,
            "Chrome Root Store",
            chrome_store(),
            constraints=constrained,
            client_version=version,
        )
    if root_store == "mozilla":
        return StoreView(root_store, "Mozilla root store (certifi)", frozenset(trust.system_fps))
    return StoreView(root_store, "Java cacerts (not tabulated)", None)


def _dns_names(leaf: x509.Certificate) -> list[str]:
    try:
        ext = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [name.lower().rstrip(".") for name in ext.value.get_values_for_type(x509.DNSName)]


def _within(name: str, subtree: str) -> bool:
    """RFC 5280 4.2.1.10 dNSName subtree: the name itself or names with labels added left."""
    if subtree.startswith("."):  # ".example.com": subdomains only
        return name.endswith(subtree)
    subtree = subtree.rstrip(".")
    return name == subtree or name.endswith("." + subtree)


def _set_failures(
    cset: ChromeConstraintSet,
    leaf: x509.Certificate,
    when: Issuance,
    version: tuple[int, ...] | None,
) -> tuple[int, list[str]]:
    """(version conditions failed, every failed condition worded) for one constraint set."""
    failed: list[str] = []
    version_failed = 0
    sct = when.earliest_sct
    dated = sct if sct is not None else when.not_before
    basis = "earliest SCT" if sct is not None else "notBefore (no SCT seen)"
    if cset.sct_not_after is not None and dated > cset.sct_not_after:
        failed.append(
            f"issued (by {basis}) on or before {iso(cset.sct_not_after)}; "
            f"this certificate's {basis.split(' (')[0]} is {iso(dated)}"
        )
    if cset.sct_all_after is not None and dated <= cset.sct_all_after:
        failed.append(
            f"issued (by {basis}) after {iso(cset.sct_all_after)}; "
            f"this certificate's {basis.split(' (')[0]} is {iso(dated)}"
        )
    start = when.not_before
    if cset.validity_starts_not_after is not None and start > cset.validity_starts_not_after:
        failed.append(f"notBefore on or before {iso(cset.validity_starts_not_after)}")
    if cset.validity_starts_after is not None and start <= cset.validity_starts_after:
        failed.append(f"notBefore after {iso(cset.validity_starts_after)}")
    # version None = the newest Chrome: above every min_version, never below a maximum
    if cset.min_version is not None and version is not None and version < cset.min_version:
        version_failed += 1
        failed.append(f"Chrome {'.'.join(map(str, cset.min_version))} or later")
    if cset.max_version_exclusive is not None and (
        version is None or version >= cset.max_version_exclusive
    ):
        version_failed += 1
        failed.append(f"Chrome before {'.'.join(map(str, cset.max_version_exclusive))}")
    if cset.permitted_dns_names:
        outside = [
            n
            for n in _dns_names(leaf)
            if not any(_within(n, tree) for tree in cset.permitted_dns_names)
        ]
        if outside:
            failed.append(
                f"DNS names within {', '.join(cset.permitted_dns_names)}; "
                f"{outside[0]} is outside them"
            )
    return version_failed, failed


def chrome_constraint_problem(
    sets: tuple[ChromeConstraintSet, ...],
    leaf: x509.Certificate,
    when: Issuance,
    version: tuple[int, ...] | None,
    anchor: str,
) -> str | None:
    """Why none of a Chrome Root Store anchor's constraint sets admits ``leaf``; None if one does.

    Chrome trusts a constrained anchor when at least one set holds, every field of it.
    The SCT fields compare the leaf's earliest SCT (embedded, or from the TLS extension
    when the caller passes those).  A leaf without SCTs is dated by its notBefore: Chrome
    would refuse it under its CT policy anyway (certcheck's CT rules say so), and notBefore
    is the closest stand-in for when it was issued, as in the distrust rules
    (:class:`certcheck.evaluate.rules.distrust.Issuance`).  Only SCTs Chrome counts as valid matter
    to Chrome; certcheck does not verify log signatures here.
    ``version`` is the client's Chrome version ("131" matches every M131); None is the
    newest Chrome.  The worded problem is the one of the set closest to holding, preferring
    the set meant for this version.
    """
    best: tuple[int, int, list[str]] | None = None
    for cset in sets:
        version_failed, failed = _set_failures(cset, leaf, when, version)
        if not failed:
            return None
        rank = (version_failed, len(failed), failed)
        if best is None or rank[:2] < best[:2]:
            best = rank
    if best is None:
        return None
    return (
        f"untrusted root on this client: Chrome trusts {anchor} only for certificates "
        f"{'; and '.join(best[2])} (Chrome Root Store constraint)"
    )


def _refuses(policy: CertificatePolicy, ca: x509.Certificate) -> bool:
    """The client will not use this CA certificate (its own signature or key)."""
    if is_self_signed(ca):
        return False  # an anchor: its self-signature is not verified
    return policy.signature_problem(ca) is not None or policy.key_problem(ca) is not None


def _pick(ends: list[_End]) -> _End:
    return min(ends, key=lambda e: (_RANK.index(e.kind), -len(e.path)))


#: (fingerprint of a certificate, fingerprint of a candidate issuer) -> whether it issued it,
#: for every target of a scan: a fleet's chains share their intermediates and roots, and the
#: name comparison before the signature check is most of the cost.  Bounded.
_ISSUED: dict[tuple[str, str], bool] = {}
_ISSUED_SIZE = 65536


class ChainTrust:
    """Chain building for one served chain against any client's store, with caches."""

    def __init__(
        self,
        served: list[x509.Certificate],
        fetched: list[x509.Certificate],
        trust: TrustStore,
        now: datetime,
        tls_scts: list[str] | None = None,
    ) -> None:
        self.served = served
        self.fetched = fetched
        self.trust = trust
        self.now = now
        #: SCTs from the TLS extension (base64), for Chrome's SCT-dated anchor constraints
        self.tls_scts = list(tls_scts or [])
        self._issuance: dict[str, Issuance] = {}
        self._candidates: dict[str, list[RootCandidate]] = {}
        self._outcomes: dict[
            tuple[str, tuple[int, ...] | None, bool, str, CertificatePolicy | None], TrustOutcome
        ] = {}

    # ------------------------------------------------------------------ helpers

    def _issued_by(self, cert: x509.Certificate, issuer: x509.Certificate) -> bool:
        key = (fingerprint(cert), fingerprint(issuer))
        known = _ISSUED.get(key)
        if known is None:
            known = issued_by(cert, issuer)
            if len(_ISSUED) >= _ISSUED_SIZE:
                _ISSUED.clear()
            _ISSUED[key] = known
        return known

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

    def _accept(self, store: StoreView, cand: RootCandidate, leaf: x509.Certificate) -> str:
        """ok | unknown | expired | constrained | absent for one candidate root in one store."""
        if cand.from_ca_file:
            return "ok"
        if store.members is None:
            return "unknown"
        if cand.sha256 in store.members:
            expired = cand.not_after is not None and cand.not_after < self.now
            if expired and not store.ignores_anchor_expiry:
                return "expired"
            if self._constraint_problem(store, cand, leaf) is not None:
                return "constrained"
            return "ok"
        if store.may_lag and self._unknown_to_tables(store, cand.sha256):
            return "unknown"
        return "absent"

    def _constraint_problem(
        self, store: StoreView, cand: RootCandidate, leaf: x509.Certificate
    ) -> str | None:
        """Why the anchor's Chrome constraint sets do not admit ``leaf``; None if one does."""
        sets = store.constraints.get(cand.sha256)
        if not sets:
            return None
        fp = fingerprint(leaf)
        if fp not in self._issuance:
            self._issuance[fp] = issuance(leaf, self.tls_scts)
        return chrome_constraint_problem(
            sets, leaf, self._issuance[fp], store.client_version, cand.name
        )

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
                verdict = self._accept(store, itself, path[0])
                if verdict == "ok":
                    return [_End("ok", path, [itself])]
        judged: dict[str, list[RootCandidate]] = {}
        for cand in self.candidates(node):
            judged.setdefault(self._accept(store, cand, path[0]), []).append(cand)
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
        for kind in ("unknown", "constrained", "expired", "absent"):
            if kind in judged:
                problem = None
                if kind == "constrained":
                    problem = self._constraint_problem(store, judged[kind][0], path[0])
                ends.append(_End(kind, path, judged[kind], problem))
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
        key = (store.key, store.client_version, fetches_aia, fingerprint(leaf), policy)
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
                "untrusted", cand.name, cand.sha256, source, reason=end.problem,
                code="client_policy", path=path,
            )
        if end.kind == "constrained" and cand is not None:
            return TrustOutcome(
                "untrusted",
                cand.name,
                cand.sha256,
                "store",
                reason=end.problem,
                code="store_constraint",
                missing_root_sha256=cand.sha256,
                path=path,
            )
        if end.kind == "unknown" and cand is not None:
            why = (
                f"{store.label}: cannot tell whether it has {cand.name}"
                if store.members is None
                else f"{cand.name} is not in certcheck's data for the {store.label} "
                "(the store may have gained it since)"
            )
            return TrustOutcome(
                "unknown", cand.name, cand.sha256, reason=why, code="store_unknown", path=path
            )
        if end.kind == "expired" and cand is not None:
            when = iso(cand.not_after) if cand.not_after else "?"
            return TrustOutcome(
                "untrusted",
                cand.name,
                cand.sha256,
                reason=f"root {cand.name} expired on {when}",
                code="expired_root",
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
                code="untrusted_root",
                path=path,
            )
        if end.kind == "expired_issuer":
            return TrustOutcome(
                "untrusted",
                reason=f"the intermediate {subject_str(top.subject)} expired on "
                f"{iso(top.not_valid_after_utc)} and no other path leads to a root in the "
                f"{store.label}",
                code="expired_intermediate",
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
        elif store.apple_label and (added := apple_added_after(cand.sha256, store.apple_label)):
            first = f"iOS {added}"
            reason = (
                f"untrusted root on this client: iOS < {added} has no {cand.name} "
                f"(first trusted in {first})"
            )
        elif store.key.startswith("apple") and info is not None and info.apple_status:
            reason += f" (Apple: {info.apple_status})"
        return TrustOutcome(
            "untrusted",
            cand.name,
            cand.sha256,
            reason=reason,
            code="untrusted_root",
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
                code="untrusted_root",
                path=path,
            )
        urls = aia_ca_issuers(top)
        if fetches_aia and urls:
            return TrustOutcome(
                "unknown",
                reason=f"incomplete chain: the server does not send {issuer}; this client "
                f"fetches it from {urls[0]} (--fetch-aia checks the rest of the chain)",
                code="incomplete_chain",
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
            code="incomplete_chain",
            path=path,
        )
