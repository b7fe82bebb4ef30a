"""The probe: the only part of certcheck that opens sockets.

:func:`probe_target` resolves a target once, performs one real handshake for
the certificate chain and, beside it, one raw ClientHello per protocol
version; then it enumerates cipher suites and groups of every accepted
version, asks for SSLv2 and fetches the leaf sent without SNI.  All
connections to the target share one :class:`ConnectionBudget` (at most
``max_connections`` at once, counted in ``facts.connections``).  Whatever goes
wrong becomes a :class:`ScanError` (or a ``protocol_errors`` note) on the facts.

Every probe is a *plan* (:mod:`certcheck.probe.driver`): :func:`probe_plan` is the
whole target, and a scan runs the plans of all its targets on one driver thread
(:mod:`certcheck.probe.fleet`); the blocking functions (``probe_target``,
``probe_version``, ``enumerate_ciphers``...) run one plan on the calling thread.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Any

from certcheck.core.names import is_ip
from certcheck.core.times import iso
from certcheck.core.tls import SUITES_BY_NAME, cipher_name
from certcheck.model import PROTOCOLS, ScanError, ServerFacts, Target
from certcheck.probe.budget import ConnectionBudget
from certcheck.probe.ciphers import ciphers_plan
from certcheck.probe.context import ScanContext
from certcheck.probe.driver import Await, Plan, Together, run
from certcheck.probe.flight import default_leaf_plan, plaintext_chain_plan, tls_scts
from certcheck.probe.handshake import (
    HandshakeResult,
    ProbeError,
    classify_os_error,
    handshake_plan,
)
from certcheck.probe.hello import HelloAnswer, versions_plan
from certcheck.probe.sslv2 import sslv2_plan

# getaddrinfo cannot be cancelled; a small shared pool bounds the threads a
# hung resolver can hold.
_RESOLVER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="certcheck-dns")


def resolve(target: Target, timeout: float, context: ScanContext | None = None) -> tuple:
    """Return the address tuple to connect to, honouring ``--resolve``.

    With a ``context`` each (host, port) is looked up once per scan.
    """
    if context is not None:
        key = (target.connect_addr or target.host, target.port)
        return context.resolve_once(key, lambda: _resolve(target, timeout))
    return _resolve(target, timeout)


def _literal(host: str) -> bool:
    """An IP literal that needs no lookup (a scoped ``fe80::1%eth0`` goes to getaddrinfo)."""
    return is_ip(host) and "%" not in host


def _resolve(target: Target, timeout: float) -> tuple:
    host = target.connect_addr or target.host
    try:
        if _literal(host):
            # A literal needs no lookup: no thread hop (this runs on the probe's driver).
            infos = socket.getaddrinfo(
                host, target.port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
            )
        else:
            future = _RESOLVER.submit(
                socket.getaddrinfo, host, target.port, type=socket.SOCK_STREAM
            )
            infos = future.result(timeout=timeout)
    except FutureTimeout as exc:
        raise ProbeError(ScanError("dns", f"DNS lookup of {host} timed out")) from exc
    except OSError as exc:
        raise ProbeError(classify_os_error(exc, f"resolve {host}")) from exc
    if not infos:
        raise ProbeError(ScanError("dns", f"DNS lookup of {host} returned no address"))
    # Prefer IPv4 when both exist: it is what most mobile networks still reach.
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return infos[0][4][:2]


#: Threads for the probe's blocking work (DNS lookups, AIA fetches) of every target
#: probed at once; made as needed and kept, so no target pays
#: for creating one.  --concurrency is at most 512.
_BLOCKING_THREADS = 512
_blocking: tuple[int, ThreadPoolExecutor] | None = None
_blocking_lock = threading.Lock()


def blocking_pool() -> ThreadPoolExecutor:
    """The process's threads for blocking probe work (a forked child makes its own)."""
    global _blocking
    with _blocking_lock:
        if _blocking is None or _blocking[0] != os.getpid():
            pool = ThreadPoolExecutor(_BLOCKING_THREADS, thread_name_prefix="certcheck-blocking")
            _blocking = (os.getpid(), pool)
        return _blocking[1]


def now_iso() -> str:
    return iso(datetime.now(UTC))


#: The whole probe of one target may take at most this many ``timeout``s:
#: each connection is bounded by ``timeout``, but enumeration makes dozens.
BUDGET_TIMEOUTS = 6

_FIRST_ROUND = ["TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1.0"]

#: Versions whose ServerHello / Certificate are plaintext, best first.
_PLAINTEXT_VERSIONS = ("TLSv1.2", "TLSv1.1", "TLSv1.0", "SSLv3")


def probe_target(
    target: Target,
    timeout: float = 10.0,
    max_connections: int = 5,
    context: ScanContext | None = None,
) -> ServerFacts:
    """Collect the facts for one target; never raises for network problems.

    ``timeout`` bounds each connection; ``max_connections`` bounds how many
    are open to the target at once (ValueError if below 1); a ``context``
    shares per-address limits, the connection rate and DNS answers across a scan.
    """
    return run(probe_plan(target, timeout, max_connections, context))


def _address_of(target: Target, timeout: float, context: ScanContext | None) -> Plan[tuple]:
    """:func:`resolve` on a worker thread (a DNS lookup blocks), at once for an IP literal."""
    if _literal(target.connect_addr or target.host):
        return resolve(target, timeout, context)
    return (yield Await(blocking_pool().submit(resolve, target, timeout, context)))


def probe_plan(
    target: Target,
    timeout: float = 10.0,
    max_connections: int = 5,
    context: ScanContext | None = None,
) -> Plan[ServerFacts]:
    """The plan of :func:`probe_target`: a scan runs many at once on one driver."""
    if max_connections < 1:
        raise ValueError(f"max_connections must be at least 1, not {max_connections}")
    facts = ServerFacts(target=target, scanned_at=now_iso())
    answers: dict[str, HelloAnswer] = {}
    budget = ConnectionBudget(max_connections, total_seconds=timeout * BUDGET_TIMEOUTS)
    try:
        started = time.monotonic()
        address = yield from _address_of(target, timeout, context)
        budget = ConnectionBudget(
            max_connections,
            total_seconds=timeout * BUDGET_TIMEOUTS,
            context=context,
            address=address,
        )
        facts.timings_ms["dns"] = round((time.monotonic() - started) * 1000, 1)
        facts.address = address[0]
        # The real handshake runs beside the raw probes on the same driver and asks for
        # its slot first: four version probes + the handshake fit in the default limit of
        # five, so a silent server costs one timeout.
        real, answers = yield Together(
            (
                _outcome(handshake_plan(address, target.sni, timeout, budget)),
                _raw_plan(facts, address, timeout, budget),
            )
        )
        try:
            _handshake_facts(facts, real.take())
        except ProbeError as exc:
            # OpenSSL may refuse what the server speaks (SSLv3, RC4/3DES only):
            # TLS <= 1.2 sends its chain in the clear, so read it raw instead.
            raw = exc.error.kind in ("tls_alert", "reset")
            if not raw or not (
                (yield from _raw_chain(facts, address, answers, timeout, budget, exc.error))
                or _anonymous_only(facts, exc.error)
            ):
                raise
    except ProbeError as exc:
        facts.error = exc.error
    except Exception as exc:  # noqa: BLE001 - one target must never end the scan
        facts.error = ScanError("error", f"unexpected probe failure: {exc!r}")
    facts.connections = budget.opened
    for name in PROTOCOLS:
        answer = answers.get(name)
        facts.protocols[name] = answer.accepted if answer else None
        if answer and answer.accepted is None:
            facts.protocol_errors[name] = answer.detail
    if facts.ok and facts.negotiated_protocol in facts.protocols:
        # The real handshake is the stronger evidence for the version it used.
        facts.protocols[facts.negotiated_protocol] = True
    return facts


class _Outcome:
    """A handshake's result or its ProbeError, held so that a failed handshake does not
    end the plans run beside it (a :class:`Together` passes the first error on)."""

    def __init__(self, result: HandshakeResult | None, error: ProbeError | None) -> None:
        self.result = result
        self.error = error

    def take(self) -> HandshakeResult:
        """The result, or the error raised, and let go of: an exception kept in a frame
        its own traceback holds is a cycle, and a long scan's memory grew with them."""
        if self.error is None:
            assert self.result is not None
            return self.result
        try:
            raise self.error
        finally:
            self.error = None


def _outcome(plan: Plan[HandshakeResult]) -> Plan[_Outcome]:
    try:
        return _Outcome((yield from plan), None)
    except ProbeError as exc:
        return _Outcome(None, exc)


def _raw_plan(
    facts: ServerFacts, address: tuple, timeout: float, budget: ConnectionBudget
) -> Plan[dict[str, HelloAnswer]]:
    """The version probes (SSLv3 only of a server that answered), then enumeration."""
    sni = facts.target.sni
    answers = yield from versions_plan(address, sni, timeout, _FIRST_ROUND, budget)
    if any(a.accepted is not None for a in answers.values()):
        answers.update((yield from versions_plan(address, sni, timeout, ["SSLv3"], budget)))
    try:
        yield from _raw_facts(facts, address, answers, timeout, budget)
    except Exception as exc:  # noqa: BLE001 - the chain and versions still count
        facts.protocol_errors["enumeration"] = f"unexpected failure: {exc!r}"
    return answers


def _raw_chain(
    facts: ServerFacts,
    address: tuple,
    answers: dict[str, HelloAnswer],
    timeout: float,
    budget: ConnectionBudget,
    error: ScanError,
) -> Plan[bool]:
    """Fill the chain from a raw TLS <= 1.2 handshake; False when there is none."""
    version = next((v for v in _PLAINTEXT_VERSIONS if answers.get(v) and answers[v].accepted), None)
    if version is None:
        return False
    sni = facts.target.sni
    hello, chain, _detail = yield from plaintext_chain_plan(address, version, sni, timeout, budget)
    if not chain:
        return False
    facts.chain = chain
    facts.negotiated_protocol = version
    facts.negotiated_cipher = cipher_name(hello.cipher) if hello.cipher is not None else None
    facts.protocol_errors["handshake"] = (
        f"OpenSSL here could not complete a handshake ({error.message}); the chain was read "
        f"from a raw {version} handshake"
    )
    return True


def _anonymous_only(facts: ServerFacts, error: ScanError) -> bool:
    """True (and noted) when every accepted suite is anonymous or NULL: no chain exists.

    The handshake refuses those suites to read a chain, so it fails on such a
    server; the target is still evaluated (the suites are the finding).
    """
    suites = [s for names in facts.cipher_suites.values() for s in names]
    if not suites:
        return False
    for name in suites:
        info = SUITES_BY_NAME.get(name)
        if info is None or (info.auth != "anon" and info.cipher != "NULL"):
            return False
    if not any(SUITES_BY_NAME[name].auth == "anon" for name in suites):
        return False  # NULL suites with a certificate: the raw chain should have worked
    facts.protocol_errors["handshake"] = (
        f"the server accepts only anonymous or NULL cipher suites, so it sends no "
        f"certificate (authenticated handshake: {error.message})"
    )
    return True


def _handshake_facts(facts: ServerFacts, result: HandshakeResult) -> None:
    facts.chain = result.chain
    facts.negotiated_protocol = result.protocol
    facts.negotiated_cipher = result.cipher
    facts.alpn = result.alpn
    facts.ocsp_staple = result.ocsp_staple
    facts.timings_ms["connect"] = round(result.connect_ms, 1)
    facts.timings_ms["handshake"] = round(result.handshake_ms, 1)


def _raw_facts(
    facts: ServerFacts,
    address: tuple,
    answers: dict[str, HelloAnswer],
    timeout: float,
    budget: ConnectionBudget,
) -> Plan[None]:
    """Enumeration, SSLv2, the no-SNI leaf and TLS SCTs, from the version answers.

    Nothing is tried against a server that gave no definite answer at all
    (silent, unreachable): it would only add timeouts.
    """
    if not any(a.accepted is not None for a in answers.values()):
        return
    plain = next((v for v in _PLAINTEXT_VERSIONS if answers.get(v) and answers[v].accepted), None)
    accepted = {name: a for name, a in answers.items() if a.accepted}
    plans: tuple[Plan[Any], ...] = (
        ciphers_plan(address, facts.target.sni, timeout, accepted, budget),
        sslv2_plan(address, timeout, budget),
    )
    if plain:
        plans += (default_leaf_plan(address, plain, timeout, budget),)
    scan, sslv2, *leaf = yield Together(plans)
    facts.cipher_suites = scan.cipher_suites
    facts.groups = scan.groups
    facts.dh_params = scan.dh_params
    facts.server_cipher_order = scan.server_cipher_order
    facts.protocol_errors.update(scan.errors)
    facts.protocol_errors.update(scan.notes)
    if plain:
        facts.tls_scts = tls_scts(answers[plain])
    if leaf:
        facts.no_sni_leaf, detail = leaf[0]
        if facts.no_sni_leaf is None:
            facts.protocol_errors["no-SNI certificate"] = detail
    facts.sslv2 = sslv2.accepted
