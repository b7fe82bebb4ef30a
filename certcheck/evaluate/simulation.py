"""Handshake simulation: would each client profile of ``rules/clients.toml`` connect?

For every profile, from the probed facts alone (no network):

1. protocol: the highest version both the client offers and the server accepts;
2. cipher suite: the server's first preferred suite the client offers when the
   server enforces its order, else the client's first suite the server
   accepts; ECDHE needs a group both support (a client without
   supported_groups cannot do ECDHE); TLS 1.3 needs a common group;
3. certificate: clients without SNI get the server's default certificate;
   the client's key-size limits; an ECDSA key on a curve the client offers;
4. trust: a path the client accepts (signature schemes it lists, SHA-2 where
   its vendor requires it, CA key sizes: :mod:`certcheck.evaluate.client_constraints`)
   must reach a root in the client's own store
   (:mod:`certcheck.evaluate.client_trust`).

Certificate dates and the host name are the same for every client and are
judged by the certificate rules, not repeated here.  Facts the probe could
not establish give ``ok: None`` ("unknown"), never a guess.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509

from certcheck.core.tls import SUITES_BY_NAME
from certcheck.evaluate.certinfo import (
    b64_der,
    key_description,
    san_dns_names,
    san_ip_addresses,
    subject_str,
    try_load,
)
from certcheck.evaluate.client_constraints import CertificatePolicy, client_policy
from certcheck.evaluate.client_trust import ChainTrust, StoreView, TrustOutcome, store_view
from certcheck.evaluate.names import check_host
from certcheck.evaluate.trust import TrustStore
from certcheck.model import PROTOCOLS, ServerFacts
from certcheck.platforms import ClientProfile, client_profiles


@dataclass(frozen=True)
class Negotiation:
    status: str  # ok | fail | unknown
    protocol: str | None = None
    cipher: str | None = None
    group: str | None = None
    reason: str | None = None
    #: why, as data (no_common_protocol, no_common_cipher, no_common_group, not_probed, ...)
    code: str | None = None


@dataclass
class ClientResult:
    """One profile's simulated connection."""

    profile: ClientProfile
    ok: bool | None
    negotiation: Negotiation
    trust: TrustOutcome
    store: StoreView
    reason: str | None
    #: ``reason`` as data (see Negotiation.code, TrustOutcome.code; sni, key, curve, dh)
    reason_code: str | None = None

    @property
    def verdict_platform(self) -> str:
        """The verdict key this client counts for (RULES.md "Platform keys")."""
        return verdict_platform(self.profile)

    def to_dict(self) -> dict[str, Any]:
        return {
            "client": self.profile.id,
            "name": self.profile.name,
            "platform": self.profile.platform,
            "os_version": self.profile.os_version,
            "ok": self.ok,
            "protocol": self.negotiation.protocol,
            "cipher": self.negotiation.cipher,
            "group": self.negotiation.group,
            "reason": self.reason,
            "reason_code": self.reason_code,
            "trust": self.trust.trust,
            "root": self.trust.root,
            "root_source": self.trust.root_source,
            "store": self.store.key,
            "ats": self.profile.ats,
        }


def verdict_platform(profile: ClientProfile) -> str:
    if profile.platform == "android":
        return "android" if (profile.api_level or 0) >= 24 else "android_legacy"
    return profile.platform


# --------------------------------------------------------------------------- negotiation


def _kex(name: str) -> str:
    info = SUITES_BY_NAME.get(name)
    if info is not None:
        return info.kex
    return "ECDHE" if "_ECDHE_" in name else "other"


def _tls12_only(name: str) -> bool:
    info = SUITES_BY_NAME.get(name)
    return info.tls12_only if info is not None else name.endswith(("_SHA256", "_SHA384"))


def _ordered_common(first: list[str], second: list[str]) -> list[str]:
    wanted = set(second)
    return [item for item in first if item in wanted]


def negotiate(profile: ClientProfile, facts: ServerFacts) -> Negotiation:
    """Protocol, suite and group this client would get, or why it gets none."""
    if not facts.protocols:
        return Negotiation(
            "unknown", reason="handshake not probed (certificate only)", code="not_probed"
        )
    accepted = [v for v in PROTOCOLS if facts.protocols.get(v) is True]
    common = [v for v in PROTOCOLS if v in profile.protocols and v in accepted]
    if not common:
        unknown = [v for v in profile.protocols if facts.protocols.get(v) is None]
        if unknown:
            return Negotiation(
                "unknown",
                reason=f"server answer unknown for {', '.join(unknown)}",
                code="protocols_unknown",
            )
        return Negotiation(
            "fail",
            reason=f"no common protocol: client offers {', '.join(profile.protocols)}; "
            f"server accepts {', '.join(accepted) or 'none'}",
            code="no_common_protocol",
        )
    version = common[-1]
    server_suites = facts.cipher_suites.get(version)
    if server_suites is None:
        return Negotiation(
            "unknown", version, reason=f"cipher suites of {version} not enumerated",
            code="suites_unknown",
        )
    tls13 = version == "TLSv1.3"
    if tls13:
        offered = list(profile.tls13_cipher_suites)
    else:
        offered = [
            s
            for s in profile.cipher_suites
            if not s.endswith("_SCSV") and (version == "TLSv1.2" or not _tls12_only(s))
        ]
    server_order = facts.server_cipher_order.get(version) is True
    suites = (
        _ordered_common(server_suites, offered)
        if server_order
        else _ordered_common(offered, server_suites)
    )
    # TLS 1.0/1.1 ECDHE uses the same supported_groups negotiation as TLS 1.2 (RFC 8422 §5.1.1):
    # a server enumerated only at 1.2 is taken to choose curves the same way at 1.0/1.1
    key = "TLSv1.3" if tls13 else version
    server_groups = facts.groups.get(key, None if tls13 else facts.groups.get("TLSv1.2"))
    client_groups = list(profile.supported_groups)
    groups: list[str] | None = None
    if server_groups is not None:
        groups = (
            _ordered_common(server_groups, client_groups)
            if server_order
            else _ordered_common(client_groups, server_groups)
        )
    if not suites:
        return Negotiation(
            "fail", version, reason=f"no common cipher suite in {version}", code="no_common_cipher"
        )
    if tls13:
        if groups == []:
            return Negotiation(
                "fail",
                version,
                reason=f"no common key-exchange group in {version}",
                code="no_common_group",
            )
        return Negotiation("ok", version, suites[0], groups[0] if groups else None)
    for suite in suites:
        if _kex(suite) != "ECDHE":
            return Negotiation("ok", version, suite)
        if client_groups and groups != []:
            return Negotiation("ok", version, suite, groups[0] if groups else None)
    return Negotiation(
        "fail",
        version,
        reason=f"no common cipher suite in {version} (no common ECDHE curve)",
        code="no_common_group",
    )


# --------------------------------------------------------------------------- certificate checks


def _client_leaf(
    profile: ClientProfile, facts: ServerFacts, leaf: x509.Certificate
) -> tuple[x509.Certificate, str | None]:
    """The leaf this client gets, and why it fails if it gets the wrong one."""
    if profile.sni or not facts.no_sni_leaf or facts.no_sni_leaf == facts.chain[0]:
        return leaf, None
    try:
        default = x509.load_der_x509_certificate(base64.b64decode(facts.no_sni_leaf))
    except ValueError:
        return leaf, "no SNI: the server's default certificate cannot be read"
    names = san_dns_names(default) or []
    if not check_host(facts.target.host, names, san_ip_addresses(default)).matched:
        return default, (
            f"no SNI: the server's default certificate ({subject_str(default.subject)}) "
            f"does not cover {facts.target.host}"
        )
    return default, None


def _key_problem(profile: ClientProfile, leaf: x509.Certificate, cipher: str | None) -> str | None:
    algorithm, bits, _curve = key_description(leaf)
    if algorithm == "unknown":
        return "unsupported key type: the client cannot verify the server's signature"
    info = SUITES_BY_NAME.get(cipher or "")
    auth = info.auth if info is not None else "any"
    # A suite for the other key type means the server has a second certificate we never saw.
    matches = auth == "any" or (auth, algorithm) in (("RSA", "RSA"), ("ECDSA", "EC"))
    if not matches:
        return None
    if algorithm == "RSA" and profile.min_rsa_bits and bits < profile.min_rsa_bits:
        return f"key too small: RSA {bits} bits, client needs >= {profile.min_rsa_bits}"
    if algorithm == "RSA" and profile.max_rsa_bits and bits > profile.max_rsa_bits:
        return f"key too large: RSA {bits} bits, client accepts <= {profile.max_rsa_bits}"
    if algorithm == "EC" and profile.min_ecdsa_bits and bits < profile.min_ecdsa_bits:
        return f"key too small: EC {bits} bits, client needs >= {profile.min_ecdsa_bits}"
    return None


def _dh_problem(
    profile: ClientProfile, facts: ServerFacts, negotiation: Negotiation
) -> str | None:
    """A DHE suite whose prime is outside the client's ``min_dh_bits``..``max_dh_bits``.

    The server has already chosen the suite when the client sees the prime in
    ServerKeyExchange, so the client aborts; it does not retry with another suite
    (Java 7/8: "Could not generate DH keypair" above its limit; Chrome 45-52:
    ERR_SSL_WEAK_SERVER_EPHEMERAL_DH_KEY below 1024).  Unknown parameters: no claim.
    """
    info = SUITES_BY_NAME.get(negotiation.cipher or "")
    if info is None or info.kex != "DHE" or negotiation.protocol is None:
        return None
    params = facts.dh_params.get(negotiation.protocol)
    bits = params.get("bits") if isinstance(params, dict) else None
    if not isinstance(bits, int) or isinstance(bits, bool):
        return None
    if profile.min_dh_bits and bits < profile.min_dh_bits:
        return f"DH prime too small: {bits} bits, client needs >= {profile.min_dh_bits}"
    if profile.max_dh_bits and bits > profile.max_dh_bits:
        return f"DH prime too large: {bits} bits, client accepts <= {profile.max_dh_bits}"
    return None


def _curve_problem(
    policy: CertificatePolicy, leaf: x509.Certificate, cipher: str | None
) -> str | None:
    """An ECDSA leaf on a curve the client does not offer (suites for its key type only)."""
    info = SUITES_BY_NAME.get(cipher or "")
    if info is not None and info.auth not in ("ECDSA", "any"):
        return None  # an RSA suite: the server's other certificate, not this one
    return policy.curve_problem(leaf)


# --------------------------------------------------------------------------- simulation


def _parse(chain_b64: list[str]) -> list[x509.Certificate]:
    certs = []
    for entry in chain_b64:
        cert = try_load(b64_der(entry))
        if cert is not None:
            certs.append(cert)
    return certs


def simulate(
    facts: ServerFacts,
    trust: TrustStore,
    now: datetime,
    profiles: tuple[ClientProfile, ...] | None = None,
) -> list[ClientResult]:
    """One :class:`ClientResult` per profile; empty when there is no readable leaf."""
    leaves = _parse(facts.chain[:1])
    if not leaves:
        return []
    leaf = leaves[0]
    served = [leaf, *_parse(facts.chain[1:])]
    # TLS-extension SCTs date the leaf for Chrome's sct_not_after constraints
    chains = ChainTrust(served, _parse(facts.aia_certificates), trust, now, facts.tls_scts)
    stores: dict[str, StoreView] = {}
    results = []
    for profile in profiles if profiles is not None else client_profiles():
        # a Chrome profile's version decides its anchors' version-bound constraints
        version = profile.os_version if profile.platform == "chrome" else None
        key = f"{profile.root_store}@{version or ''}"
        store = stores.get(key) or store_view(profile.root_store, trust, version)
        stores[key] = store
        results.append(_one(profile, facts, leaf, chains, store))
    return results


def _one(
    profile: ClientProfile,
    facts: ServerFacts,
    leaf: x509.Certificate,
    chains: ChainTrust,
    store: StoreView,
) -> ClientResult:
    negotiation = negotiate(profile, facts)
    client_leaf, sni_problem = _client_leaf(profile, facts, leaf)
    policy = client_policy(profile, negotiation.protocol)
    outcome = chains.outcome(store, profile.fetches_aia, client_leaf, policy)
    problems: list[tuple[str | None, str | None]] = [
        (negotiation.code, negotiation.reason if negotiation.status == "fail" else None),
        ("sni", sni_problem),
        ("key", _key_problem(profile, client_leaf, negotiation.cipher)),
        ("curve", _curve_problem(policy, client_leaf, negotiation.cipher)),
        ("dh", _dh_problem(profile, facts, negotiation)),
        (outcome.code, outcome.reason if outcome.trust == "untrusted" else None),
    ]
    failure = next(((code, text) for code, text in problems if text), None)
    if failure is not None:
        return ClientResult(profile, False, negotiation, outcome, store, failure[1], failure[0])
    if negotiation.status == "ok" and outcome.trust == "ok":
        return ClientResult(profile, True, negotiation, outcome, store, None)
    if negotiation.status == "unknown":
        return ClientResult(
            profile, None, negotiation, outcome, store, negotiation.reason, negotiation.code
        )
    return ClientResult(profile, None, negotiation, outcome, store, outcome.reason, outcome.code)


# --------------------------------------------------------------------------- memo


def simulation_key(facts: ServerFacts, trust: TrustStore, now: datetime) -> tuple[Any, ...]:
    """Everything :func:`simulate` reads: equal keys, equal simulations.

    The host matters only for a no-SNI client that gets a different certificate.
    """
    chain = tuple(facts.chain)
    other_default = bool(facts.no_sni_leaf) and bool(chain) and facts.no_sni_leaf != chain[0]
    return (
        trust.token,
        now,
        chain,
        tuple(facts.aia_certificates),
        tuple(facts.tls_scts),
        tuple(sorted(facts.protocols.items())),
        tuple(sorted((v, tuple(s)) for v, s in facts.cipher_suites.items())),
        tuple(sorted((v, tuple(g)) for v, g in facts.groups.items())),
        tuple(sorted(facts.server_cipher_order.items())),
        json.dumps(facts.dh_params, sort_keys=True, default=str),
        (facts.no_sni_leaf, facts.target.host) if other_default else None,
    )


class SimulationCache:
    """Simulations by their inputs (:func:`simulation_key`), least recently used dropped.

    A fleet behind one certificate chain and one TLS configuration is simulated once:
    the simulation is most of an evaluation's CPU.  Bounded, so memory stays flat over
    any number of targets; safe to share between threads.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.hits = 0
        self._entries: OrderedDict[tuple[Any, ...], tuple[ClientResult, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def simulate(self, facts: ServerFacts, trust: TrustStore, now: datetime) -> list[ClientResult]:
        key = simulation_key(facts, trust, now)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return list(found)
        results = simulate(facts, trust, now)
        with self._lock:
            self._entries[key] = tuple(results)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return results

