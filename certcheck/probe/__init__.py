"""The probe: the only part of certcheck that opens sockets.

:func:`probe_target` resolves a target once, performs one real handshake for
the certificate chain and, in parallel, one raw ClientHello per protocol
version.  Whatever goes wrong becomes a :class:`ScanError` on the facts.
"""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime

from certcheck.model import PROTOCOLS, ScanError, ServerFacts, Target
from certcheck.probe.handshake import ProbeError, classify_os_error, handshake
from certcheck.probe.hello import probe_versions

# getaddrinfo cannot be cancelled; a small shared pool bounds the threads a
# hung resolver can hold.
_RESOLVER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="certcheck-dns")


def resolve(target: Target, timeout: float) -> tuple:
    """Return the address tuple to connect to, honouring ``--resolve``."""
    host = target.connect_addr or target.host
    future = _RESOLVER.submit(socket.getaddrinfo, host, target.port, type=socket.SOCK_STREAM)
    try:
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


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def probe_target(target: Target, timeout: float = 10.0) -> ServerFacts:
    """Collect the facts for one target; never raises for network problems."""
    facts = ServerFacts(target=target, scanned_at=now_iso())
    answers: dict = {}
    try:
        started = time.monotonic()
        address = resolve(target, timeout)
        facts.timings_ms["dns"] = round((time.monotonic() - started) * 1000, 1)
        facts.address = address[0]
        with ThreadPoolExecutor(max_workers=1) as pool:
            versions = pool.submit(probe_versions, address, target.sni, timeout)
            try:
                result = handshake(address, target.sni, timeout)
            finally:
                answers = versions.result()
        facts.chain = result.chain
        facts.negotiated_protocol = result.protocol
        facts.negotiated_cipher = result.cipher
        facts.alpn = result.alpn
        facts.ocsp_staple = result.ocsp_staple
        facts.timings_ms["connect"] = round(result.connect_ms, 1)
        facts.timings_ms["handshake"] = round(result.handshake_ms, 1)
    except ProbeError as exc:
        facts.error = exc.error
    except Exception as exc:  # noqa: BLE001 - one target must never end the scan
        facts.error = ScanError("error", f"unexpected probe failure: {exc!r}")
    for name in PROTOCOLS:
        answer = answers.get(name)
        facts.protocols[name] = answer.accepted if answer else None
        if answer and answer.accepted is None:
            facts.protocol_errors[name] = answer.detail
    if facts.ok and facts.negotiated_protocol in facts.protocols:
        # The real handshake is the stronger evidence for the version it used.
        facts.protocols[facts.negotiated_protocol] = True
    return facts
