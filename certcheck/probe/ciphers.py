"""Cipher suite, group and server-order enumeration with hand-built ClientHellos.

For each protocol version the server accepts:

* **suites** — offer every remaining candidate, note the suite the server
  picks, drop it and ask again until the server refuses.  The picks are the
  accepted set, in the server's preference order when it enforces one.
* **server order** — offer the accepted suites reversed: a server that picks
  its first choice again enforces its own order (True); one that picks our
  first follows the client (False).
* **groups** (TLS 1.2 and 1.3) — the same remove-the-pick loop over named
  groups: TLS 1.2 offers only ECDHE suites and reads the curve from
  ServerKeyExchange; TLS 1.3 sends an empty key_share so the
  HelloRetryRequest names the group.

Each loop is sequential; the loops of all versions run concurrently, and all
connections go through one :class:`ConnectionBudget`, so at most
``max_connections`` are open to the server at once.  No cryptography is done, so RC4, 3DES, export
or SSLv3 are seen whatever the local OpenSSL supports.  A loop that ends in
silence or a network error is *not* reported as complete: the version is
left out and the reason goes to ``errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from certcheck.probe.budget import ConnectionBudget
from certcheck.probe.flight import SERVER_KEY_EXCHANGE, read_flight, server_hello_of, ske_group
from certcheck.probe.hello import (
    PROTOCOL_CODES,
    HelloAnswer,
    build_client_hello,
    probe_version,
    probe_versions,
)
from certcheck.probe.suites import (
    SUITES_BY_CODE,
    cipher_name,
    default_groups,
    default_suites,
    group_name,
)

#: Versions whose key-exchange groups are enumerated.
GROUP_VERSIONS = ("TLSv1.2", "TLSv1.3")


@dataclass
class CipherScan:
    """Everything enumerated for one server, with IANA names (ServerFacts fields)."""

    cipher_suites: dict[str, list[str]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    server_cipher_order: dict[str, bool | None] = field(default_factory=dict)
    #: "<version> ciphers" / "<version> groups" -> why that list is missing
    errors: dict[str, str] = field(default_factory=dict)


def enumerate_suites(
    address: tuple,
    version: str,
    sni: str | None,
    timeout: float,
    budget: ConnectionBudget | None = None,
    first: HelloAnswer | None = None,
) -> tuple[list[int], str | None]:
    """Accepted suites of ``version`` in pick order, and an error if incomplete.

    ``first`` may be the answer to a hello that offered the full default
    list for this version (the version probe); it saves one connection.
    """
    candidates = default_suites(version)
    accepted: list[int] = []
    answer = first if first is not None and first.accepted and first.cipher in candidates else None
    while candidates:
        if answer is None:
            answer = probe_version(
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


def server_order(
    address: tuple,
    version: str,
    sni: str | None,
    timeout: float,
    accepted: list[int],
    budget: ConnectionBudget | None = None,
) -> bool | None:
    """True if the server picks by its own preference, False if by ours, None if unclear.

    ``accepted`` must be in pick order (its first entry is what the server
    took from our full offer).
    """
    if len(accepted) < 2:
        return None
    answer = probe_version(
        address, version, sni, timeout, cipher_suites=accepted[::-1], budget=budget
    )
    if not answer.accepted:
        return None
    if answer.cipher == accepted[0]:
        return True
    if answer.cipher == accepted[-1]:
        return False
    return None


def enumerate_groups(
    address: tuple,
    version: str,
    sni: str | None,
    timeout: float,
    budget: ConnectionBudget | None = None,
    suites: list[int] | None = None,
) -> tuple[list[int], str | None]:
    """Accepted key-exchange groups for TLS 1.2 (ECDHE) or TLS 1.3, in pick order.

    ``suites`` defaults to every ECDHE candidate (TLS 1.2) or every TLS 1.3
    suite, so this needs no suite enumeration first and can run beside it.
    A TLS 1.2 server without ECDHE refuses the first offer: no groups.
    """
    if version not in GROUP_VERSIONS:
        raise ValueError(f"groups are enumerated for TLS 1.2 and 1.3 only, not {version}")
    suites = list(suites) if suites is not None else default_suites(version)
    if version == "TLSv1.2":
        suites = [s for s in suites if s in SUITES_BY_CODE and SUITES_BY_CODE[s].kex == "ECDHE"]
    if not suites:
        return [], None  # no ECDHE suite: no group to find
    candidates = default_groups(version)
    accepted: list[int] = []
    while candidates:
        group, refused, error = _pick_group(
            address, version, sni, timeout, suites, candidates, budget
        )
        if error is not None:
            return accepted, error
        if refused:
            if version == "TLSv1.3" and not accepted:
                # Every TLS 1.3 handshake uses a group: refusing them all contradicts
                # the accepted version, so this list would not be the truth.
                return accepted, "the server refused every group offer"
            break
        if group not in candidates:
            return accepted, f"server chose group {group_name(group or 0)}, which was not offered"
        accepted.append(group)
        candidates.remove(group)
    return accepted, None


def _pick_group(
    address: tuple,
    version: str,
    sni: str | None,
    timeout: float,
    suites: list[int],
    groups: list[int],
    budget: ConnectionBudget | None,
) -> tuple[int | None, bool, str | None]:
    """One offer: ``(group, refused, error)``."""
    if version == "TLSv1.3":
        answer = probe_version(
            address, version, sni, timeout,
            cipher_suites=suites, groups=groups, key_share=False, budget=budget,
        )  # fmt: skip
        if answer.accepted is False and 0x001D in groups:
            # A server that refuses an empty key_share may still take an x25519 share.
            answer = probe_version(
                address, version, sni, timeout,
                cipher_suites=suites, groups=groups, key_share=True, budget=budget,
            )  # fmt: skip
        if answer.accepted is None:
            return None, False, answer.detail
        if not answer.accepted:
            return None, True, None
        if answer.group is None:
            return None, False, f"{answer.detail}: no key_share group"
        return answer.group, False, None
    hello = build_client_hello(version, sni, suites, groups)
    result = read_flight(address, hello, timeout, SERVER_KEY_EXCHANGE, budget, version)
    if result.hello.accepted is None:
        return None, False, result.hello.detail
    if not result.hello.accepted:
        return None, True, None
    body = result.flight.get(SERVER_KEY_EXCHANGE)
    if body is None:
        hello_answer = server_hello_of(result.flight)
        chosen = cipher_name(hello_answer.cipher or 0) if hello_answer else "?"
        why = result.flight.error or f"no ServerKeyExchange (suite {chosen})"
        return None, False, why
    group, error = ske_group(body)
    return group, False, error


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


def _suites_and_order(
    address: tuple,
    version: str,
    sni: str | None,
    timeout: float,
    budget: ConnectionBudget,
    first: HelloAnswer | None,
) -> tuple[list[int], bool | None, str | None]:
    suites, error = enumerate_suites(address, version, sni, timeout, budget, first)
    if error is None and not suites:
        error = "the server refused every suite offer"  # yet the version was accepted
    if error is not None:
        return suites, None, error
    return suites, server_order(address, version, sni, timeout, suites, budget), None


def enumerate_ciphers(
    address: tuple,
    sni: str | None,
    timeout: float,
    versions: Mapping[str, HelloAnswer | None] | list[str] | None = None,
    max_connections: int = 5,
    budget: ConnectionBudget | None = None,
) -> CipherScan:
    """Enumerate suites, order and groups for every version given.

    ``versions`` maps each version to enumerate to its version-probe answer
    (or None); a plain list works too.  Without it, every version is probed
    first and the accepted ones are enumerated.  ``budget`` (shared with
    other probes of the same target) wins over ``max_connections``.  Each
    version's suite chain and group chain run concurrently.
    """
    budget = budget or ConnectionBudget(max_connections)
    if versions is None:
        answers = probe_versions(address, sni, timeout, budget=budget)
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
        if name in versions and (kind == "ciphers" or name in GROUP_VERSIONS)
    ]
    if not tasks:
        return scan
    with ThreadPoolExecutor(max_workers=min(budget.limit, len(tasks))) as pool:
        futures = {
            (kind, name): (
                pool.submit(_suites_and_order, address, name, sni, timeout, budget, versions[name])
                if kind == "ciphers"
                else pool.submit(enumerate_groups, address, name, sni, timeout, budget)
            )
            for kind, name in tasks
        }
        results = {key: future.result() for key, future in futures.items()}
    for name in versions:  # report in the caller's order
        if ("ciphers", name) in results:
            suites, order, error = results[("ciphers", name)]
            if error is None:
                scan.cipher_suites[name] = [cipher_name(c) for c in suites]
                scan.server_cipher_order[name] = order
            else:
                scan.errors[f"{name} ciphers"] = error
        if ("groups", name) in results:
            groups, error = results[("groups", name)]
            if error is None:
                scan.groups[name] = [group_name(g) for g in groups]
            else:
                scan.errors[f"{name} groups"] = error
    return scan
