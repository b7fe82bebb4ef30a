"""Cipher suite, group and server-order enumeration with hand-built ClientHellos.

For each protocol version the server accepts:

* **suites** — offer every remaining candidate, note the suite the server
  picks, drop it and ask again until the server refuses.  The picks are the
  accepted set, in the server's preference order when it enforces one.
* **server order** — offer the accepted suites reversed: a server that picks
  its first choice again enforces its own order (True); one that picks our
  first follows the client (False).
* **groups** — the same remove-the-pick loop over named groups: TLS 1.0-1.2
  offer only ECDHE suites (any authentication) and read the curve from
  ServerKeyExchange; TLS 1.3 sends an empty key_share so the
  HelloRetryRequest names the group.  In TLS <= 1.2 an ECDSA certificate's
  curve must stay in every offer (RFC 8422 5.1.1), so once it is removed the
  loop goes on with that curve placed last.  TLS 1.2 groups run beside the
  suites; TLS 1.0/1.1 groups only after ECDHE suites were found there.
* **DH parameters** (SSLv3 - TLS 1.2) — when DHE suites were accepted, one
  more offer of exactly those reads dh_p and dh_g from ServerKeyExchange.

Each loop is sequential; the loops of all versions run concurrently, and all
connections go through one :class:`ConnectionBudget`, so at most
``max_connections`` are open to the server at once.  No cryptography is done, so RC4, 3DES, export
or SSLv3 are seen whatever the local OpenSSL supports.  A loop that ends in
silence or a network error is *not* reported as complete: the version is
left out and the reason goes to ``errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from certcheck.core.tls import (
    SUITES_BY_CODE,
    cipher_name,
    default_groups,
    default_suites,
    group_name,
    named_dh_prime,
)
from certcheck.probe.budget import ConnectionBudget
from certcheck.probe.driver import Plan, Together, run
from certcheck.probe.flight import (
    CERTIFICATE,
    SERVER_KEY_EXCHANGE,
    certificate_ec_group,
    flight_plan,
    server_hello_of,
    ske_dh_params,
    ske_group,
)
from certcheck.probe.hello import (
    PROTOCOL_CODES,
    HelloAnswer,
    build_client_hello,
    version_plan,
    versions_plan,
)

#: Versions whose key-exchange groups are enumerated (1.0/1.1 when ECDHE is accepted there).
GROUP_VERSIONS = ("TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
#: Versions whose group chain runs beside the suite chain (the others follow it).
_CONCURRENT_GROUPS = ("TLSv1.2", "TLSv1.3")
#: Versions whose DHE parameters are read (TLS 1.3 names its ffdhe groups instead).
DH_VERSIONS = ("SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2")
#: Largest DH prime (and generator) kept in the facts; RFC 7919's largest group is 8192.
MAX_RECORDED_DH_BITS = 16384


@dataclass
class CipherScan:
    """Everything enumerated for one server, with IANA names (ServerFacts fields)."""

    cipher_suites: dict[str, list[str]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    server_cipher_order: dict[str, bool | None] = field(default_factory=dict)
    #: per version: {"bits", "named", "g", "p" (hex), "suite"} of the DHE parameters
    dh_params: dict[str, dict] = field(default_factory=dict)
    #: "<version> ciphers" / "<version> groups" / "<version> DH parameters" -> why missing
    errors: dict[str, str] = field(default_factory=dict)
    #: "<version> groups (partial)" -> why that list may be incomplete (it is still kept)
    notes: dict[str, str] = field(default_factory=dict)


def suites_plan(
    address: tuple,
    version: str,
    sni: str | None,
    timeout: float,
    budget: ConnectionBudget | None = None,
    first: HelloAnswer | None = None,
) -> Plan[tuple[list[int], str | None]]:
    """Accepted suites of ``version`` in pick order, and an error if incomplete.

    ``first`` may be the answer to a hello that offered the full default
    list for this version (the version probe); it saves one connection.
    """
    candidates = default_suites(version)
    accepted: list[int] = []
    answer = first if first is not None and first.accepted and first.cipher in candidates else None
    while candidates:
        if answer is None:
            answer = yield from version_plan(
                address, version, sni, timeout, cipher_suites=candidates, budget=budget
            )
        if answer.accepted is None:
            return accepted, answer.detail
        if not answer.accepted:
            break  # alert, close or reset: none of the remaining suites is accepted
        if answer.cipher not in candidates:
            chosen = cipher_name(answer.cipher or 0)
            return accepted, f"server chose {chosen}, which was not offered"
        accepted.append(answer.cipher)
        candidates.remove(answer.cipher)
        answer = None
    return accepted, None


def order_plan(
    address: tuple,
    version: str,
    sni: str | None,
    timeout: float,
    accepted: list[int],
    budget: ConnectionBudget | None = None,
) -> Plan[bool | None]:
    """True if the server picks by its own preference, False if by ours, None if unclear.

    ``accepted`` must be in pick order (its first entry is what the server
    took from our full offer).
    """
    if len(accepted) < 2:
        return None
    answer = yield from version_plan(
        address, version, sni, timeout, cipher_suites=accepted[::-1], budget=budget
    )
    if not answer.accepted:
        return None
    if answer.cipher == accepted[0]:
        return True
    if answer.cipher == accepted[-1]:
        return False
    return None


@dataclass
class _Pick:
    """What one group offer told: the group, a refusal, or an error.

    ``cert_group`` is the curve of the ECDSA leaf sent with a TLS <= 1.2 pick.
    """

    group: int | None = None
    refused: bool = False
    error: str | None = None
    cert_group: int | None = None


def _ecdhe_suites(suites: list[int]) -> list[int]:
    return [s for s in suites if s in SUITES_BY_CODE and SUITES_BY_CODE[s].kex == "ECDHE"]


def groups_plan(
    address: tuple,
    version: str,
    sni: str | None,
    timeout: float,
    budget: ConnectionBudget | None = None,
    suites: list[int] | None = None,
) -> Plan[tuple[list[int], str | None, str | None]]:
    """Accepted key-exchange groups of ``version`` in pick order: ``(groups, error, note)``.

    ``suites`` defaults to every ECDHE candidate (TLS <= 1.2) or every TLS 1.3
    suite, so this needs no suite enumeration first and can run beside it.  A
    TLS <= 1.2 server without ECDHE refuses the first offer: no groups.
    ``note`` says when groups may be missing that no offer can reveal.
    """
    if version not in GROUP_VERSIONS:
        raise ValueError(f"groups are enumerated for TLS 1.0 - 1.3 only, not {version}")
    suites = list(suites) if suites is not None else default_suites(version)
    if version != "TLSv1.3":
        suites = _ecdhe_suites(suites)
    if not suites:
        return [], None, None  # no ECDHE suite: no group to find
    candidates = default_groups(version)
    accepted: list[int] = []
    cert_group: int | None = None
    while candidates:
        pick = yield from _pick_group(address, version, sni, timeout, suites, candidates, budget)
        if pick.error is not None:
            return accepted, pick.error, None
        if pick.refused:
            if version == "TLSv1.3" and not accepted:
                # Every TLS 1.3 handshake uses a group: refusing them all contradicts
                # the accepted version, so this list would not be the truth.
                return accepted, "the server refused every group offer", None
            break
        if pick.group not in candidates:
            chosen = group_name(pick.group or 0)
            return accepted, f"server chose group {chosen}, which was not offered", None
        cert_group = cert_group or pick.cert_group
        accepted.append(pick.group)
        candidates.remove(pick.group)
    if not candidates or cert_group is None or not accepted or accepted[-1] != cert_group:
        return accepted, None, None
    # The refusal came right after the ECDSA certificate's own curve left the offer:
    # go on offering the rest with that curve kept, last.
    return (
        yield from _behind_certificate_curve(
            address, version, sni, timeout, suites, candidates, accepted, cert_group, budget
        )
    )


def _behind_certificate_curve(
    address: tuple,
    version: str,
    sni: str | None,
    timeout: float,
    suites: list[int],
    candidates: list[int],
    accepted: list[int],
    cert_group: int,
    budget: ConnectionBudget | None,
) -> Plan[tuple[list[int], str | None, str | None]]:
    """Second pass for an ECDSA-only TLS <= 1.2 server: every offer ends with its curve.

    When the server picks its certificate's curve again, a server that follows the
    client's order has nothing more; one that follows its own order may still rank
    other groups below that curve, which no TLS <= 1.2 offer can show (the note).
    """
    while candidates:
        pick = yield from _pick_group(
            address, version, sni, timeout, suites, [*candidates, cert_group], budget
        )
        if pick.error is not None:
            return accepted, pick.error, None
        if pick.refused:
            return accepted, None, None
        if pick.group == cert_group:
            break
        if pick.group not in candidates:
            chosen = group_name(pick.group or 0)
            return accepted, f"server chose group {chosen}, which was not offered", None
        accepted.append(pick.group)
        candidates.remove(pick.group)
    else:
        return accepted, None, None
    if len(accepted) >= 2:
        # Our least-preferred pick first: a server that takes it follows the client.
        check = yield from _pick_group(
            address, version, sni, timeout, suites, accepted[::-1], budget
        )
        if check.error is None and check.group == accepted[-1]:
            return accepted, None, None
    curve = group_name(cert_group)
    return (
        accepted,
        None,
        (
            f"the server's ECDSA certificate is on {curve}, which every {version} offer must "
            f"include; groups the server ranks below {curve} cannot be seen in {version}"
        ),
    )


def _pick_group(
    address: tuple,
    version: str,
    sni: str | None,
    timeout: float,
    suites: list[int],
    groups: list[int],
    budget: ConnectionBudget | None,
) -> Plan[_Pick]:
    """One group offer."""
    if version == "TLSv1.3":
        answer = yield from version_plan(
            address, version, sni, timeout,
            cipher_suites=suites, groups=groups, key_share=False, budget=budget,
        )  # fmt: skip
        if answer.accepted is False and 0x001D in groups:
            # A server that refuses an empty key_share may still take an x25519 share.
            answer = yield from version_plan(
                address, version, sni, timeout,
                cipher_suites=suites, groups=groups, key_share=True, budget=budget,
            )  # fmt: skip
        if answer.accepted is None:
            return _Pick(error=answer.detail)
        if not answer.accepted:
            return _Pick(refused=True)
        if answer.group is None:
            return _Pick(error=f"{answer.detail}: no key_share group")
        return _Pick(group=answer.group)
    hello = build_client_hello(version, sni, suites, groups)
    result = yield from flight_plan(address, hello, timeout, SERVER_KEY_EXCHANGE, budget, version)
    if result.hello.accepted is None:
        return _Pick(error=result.hello.detail)
    if not result.hello.accepted:
        return _Pick(refused=True)
    body = result.flight.get(SERVER_KEY_EXCHANGE)
    if body is None:
        hello_answer = server_hello_of(result.flight)
        chosen = cipher_name(hello_answer.cipher or 0) if hello_answer else "?"
        return _Pick(error=result.flight.error or f"no ServerKeyExchange (suite {chosen})")
    group, error = ske_group(body)
    info = SUITES_BY_CODE.get(result.hello.cipher or 0)
    cert_group = None
    if info is not None and info.auth == "ECDSA":
        cert_group = certificate_ec_group(result.flight.get(CERTIFICATE) or b"")
    return _Pick(group=group, error=error, cert_group=cert_group)


def dh_plan(
    address: tuple,
    version: str,
    sni: str | None,
    timeout: float,
    suites: list[int],
    budget: ConnectionBudget | None = None,
) -> Plan[tuple[dict | None, str | None]]:
    """The DHE parameters a server sends when offered ``suites`` (DHE ones): ``(params, error)``.

    ``params`` is ``{"bits", "named", "g", "p", "suite"}``: the prime's size in
    bits, its RFC 2409/3526/7919 name or None, the generator, the prime in hex
    and the suite that carried them (``p`` is left out, and ``g`` is 0, when
    larger than :data:`MAX_RECORDED_DH_BITS`).  No judgement: evaluation decides.
    """
    hello = build_client_hello(version, sni, suites)
    result = yield from flight_plan(address, hello, timeout, SERVER_KEY_EXCHANGE, budget, version)
    if not result.hello.accepted:
        return None, f"DHE offer: {result.hello.detail}"
    body = result.flight.get(SERVER_KEY_EXCHANGE)
    if body is None:
        return None, result.flight.error or "no ServerKeyExchange after a DHE suite"
    chosen = result.hello.cipher or 0
    if chosen not in suites:
        return None, f"server chose {cipher_name(chosen)}, which was not offered"
    values, error = ske_dh_params(body)
    if values is None:
        return None, error
    p, g, _ys = values
    params: dict = {
        "bits": p.bit_length(),
        "named": named_dh_prime(p) if g == 2 else None,
        "g": g if g.bit_length() <= MAX_RECORDED_DH_BITS else 0,  # 0: too large to keep
        "suite": cipher_name(chosen),
    }
    if p.bit_length() <= MAX_RECORDED_DH_BITS:  # a hostile 500 000-bit "prime" is not kept
        params["p"] = f"{p:x}"
    return params, None


#: Enumeration chains, longest expected first so they start first.
_TASK_ORDER = (
    ("ciphers", "TLSv1.2"),
    ("ciphers", "TLSv1.1"),
    ("ciphers", "TLSv1.0"),
    ("groups", "TLSv1.3"),
    ("groups", "TLSv1.2"),
    ("ciphers", "TLSv1.3"),
    ("ciphers", "SSLv3"),
)


@dataclass
class _VersionChain:
    """The sequential results of one version's suite chain."""

    suites: list[int]
    order: bool | None = None
    error: str | None = None
    #: (groups, error, note) for TLS 1.0/1.1 with ECDHE; None when not enumerated
    groups: tuple[list[int], str | None, str | None] | None = None
    #: (params, error) when DHE suites were accepted; None otherwise
    dh: tuple[dict | None, str | None] | None = None


def _version_chain(
    address: tuple,
    version: str,
    sni: str | None,
    timeout: float,
    budget: ConnectionBudget,
    first: HelloAnswer | None,
) -> Plan[_VersionChain]:
    """Suites, then server order, then (when the suites ask for it) groups and DH parameters."""
    suites, error = yield from suites_plan(address, version, sni, timeout, budget, first)
    if error is None and not suites:
        error = "the server refused every suite offer"  # yet the version was accepted
    if error is not None:
        return _VersionChain(suites, error=error)
    order = yield from order_plan(address, version, sni, timeout, suites, budget)
    chain = _VersionChain(suites, order)
    ecdhe = _ecdhe_suites(suites)
    if version in GROUP_VERSIONS and version not in _CONCURRENT_GROUPS and ecdhe:
        chain.groups = yield from groups_plan(address, version, sni, timeout, budget, ecdhe)
    dhe = [s for s in suites if SUITES_BY_CODE.get(s) and SUITES_BY_CODE[s].kex == "DHE"]
    if version in DH_VERSIONS and dhe:
        chain.dh = yield from dh_plan(address, version, sni, timeout, dhe, budget)
    return chain


def enumerate_ciphers(
    address: tuple,
    sni: str | None,
    timeout: float,
    versions: Mapping[str, HelloAnswer | None] | list[str] | None = None,
    max_connections: int = 5,
    budget: ConnectionBudget | None = None,
) -> CipherScan:
    """Enumerate suites, order, groups and DH parameters for every version given.

    ``versions`` maps each version to enumerate to its version-probe answer
    (or None); a plain list works too.  Without it, every version is probed
    first and the accepted ones are enumerated.  ``budget`` (shared with
    other probes of the same target) wins over ``max_connections``.  Each
    version's suite chain and (TLS 1.2/1.3) group chain run concurrently.
    """
    return run(
        ciphers_plan(address, sni, timeout, versions, budget or ConnectionBudget(max_connections))
    )


def ciphers_plan(
    address: tuple,
    sni: str | None,
    timeout: float,
    versions: Mapping[str, HelloAnswer | None] | list[str] | None,
    budget: ConnectionBudget,
) -> Plan[CipherScan]:
    """The plan of :func:`enumerate_ciphers`."""
    if versions is None:
        answers = yield from versions_plan(address, sni, timeout, budget=budget)
        versions = {name: a for name, a in answers.items() if a.accepted}
    elif isinstance(versions, list):
        versions = dict.fromkeys(versions)
    for name in versions:
        if name not in PROTOCOL_CODES:
            raise ValueError(f"unknown protocol version {name!r}")
    scan = CipherScan()
    tasks = [
        (kind, name)
        for kind, name in _TASK_ORDER
        if name in versions and (kind == "ciphers" or name in _CONCURRENT_GROUPS)
    ]
    if not tasks:
        return scan
    plans = tuple(
        _version_chain(address, name, sni, timeout, budget, versions[name])
        if kind == "ciphers"
        else groups_plan(address, name, sni, timeout, budget)
        for kind, name in tasks
    )
    results = dict(zip(tasks, (yield Together(plans)), strict=True))
    for name in versions:  # report in the caller's order
        chain = results.get(("ciphers", name))
        if chain is not None:
            _record_chain(scan, name, chain)
        if ("groups", name) in results:
            _record_groups(scan, name, results[("groups", name)])
    return scan


def _record_chain(scan: CipherScan, name: str, chain: _VersionChain) -> None:
    if chain.error is not None:
        scan.errors[f"{name} ciphers"] = chain.error
        return
    scan.cipher_suites[name] = [cipher_name(c) for c in chain.suites]
    scan.server_cipher_order[name] = chain.order
    if chain.groups is not None:
        _record_groups(scan, name, chain.groups)
    if chain.dh is not None:
        params, error = chain.dh
        if params is not None:
            scan.dh_params[name] = params
        else:
            scan.errors[f"{name} DH parameters"] = error or "no DH parameters"


def _record_groups(
    scan: CipherScan, name: str, result: tuple[list[int], str | None, str | None]
) -> None:
    groups, error, note = result
    if error is not None:
        scan.errors[f"{name} groups"] = error
        return
    scan.groups[name] = [group_name(g) for g in groups]
    if note is not None:
        scan.notes[f"{name} groups (partial)"] = note


# -- each chain on its own (tests, tools) ------------------------------------------------------


def enumerate_suites(
    address: tuple,
    version: str,
    sni: str | None,
    timeout: float,
    budget: ConnectionBudget | None = None,
    first: HelloAnswer | None = None,
) -> tuple[list[int], str | None]:
    """:func:`suites_plan`, run on its own."""
    return run(suites_plan(address, version, sni, timeout, budget, first))


def server_order(
    address: tuple,
    version: str,
    sni: str | None,
    timeout: float,
    accepted: list[int],
    budget: ConnectionBudget | None = None,
) -> bool | None:
    """:func:`order_plan`, run on its own."""
    return run(order_plan(address, version, sni, timeout, accepted, budget))


def enumerate_groups(
    address: tuple,
    version: str,
    sni: str | None,
    timeout: float,
    budget: ConnectionBudget | None = None,
    suites: list[int] | None = None,
) -> tuple[list[int], str | None, str | None]:
    """:func:`groups_plan`, run on its own."""
    return run(groups_plan(address, version, sni, timeout, budget, suites))


def probe_dh_params(
    address: tuple,
    version: str,
    sni: str | None,
    timeout: float,
    suites: list[int],
    budget: ConnectionBudget | None = None,
) -> tuple[dict | None, str | None]:
    """:func:`dh_plan`, run on its own."""
    return run(dh_plan(address, version, sni, timeout, suites, budget))
