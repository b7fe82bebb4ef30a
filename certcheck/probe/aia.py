"""Fetch missing issuers from AIA caIssuers URLs (RFC 5280 §4.2.2.1).

Only used when asked (``--fetch-aia``, ``certcheck fix-chain``): a scan must not
reach third parties unasked.  Every fetch is bounded: size, time, hops.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from certcheck.model import ServerFacts

MAX_BYTES = 256 * 1024
MAX_HOPS = 4


@dataclass
class AiaResult:
    """Certificates fetched (base64 DER) and what went wrong on the way."""

    certificates: list[str] = field(default_factory=list)
    fetched_urls: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _parse_certificates(body: bytes) -> list[x509.Certificate]:
    """DER certificate, PEM, or a PKCS#7 bundle (.p7c) -- all seen in the wild."""
    for loader in (
        lambda b: [x509.load_der_x509_certificate(b)],
        x509.load_pem_x509_certificates,
        pkcs7.load_der_pkcs7_certificates,
        pkcs7.load_pem_pkcs7_certificates,
    ):
        try:
            certs = loader(body)
        except ValueError:
            continue
        if certs:
            return list(certs)
    raise ValueError("the response is not a DER, PEM or PKCS#7 certificate")


def fetch_url(
    url: str, timeout: float, overrides: dict[tuple[str, int], str] | None = None
) -> bytes:
    """GET one http(s) URL with a total deadline and a size cap."""
    import http.client  # only when a chain lacks an issuer: not at every start-up

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"unsupported AIA URL {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = (overrides or {}).get((parts.hostname.lower(), port), parts.hostname)
    conn_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_class(address, port, timeout=timeout)
    deadline = time.monotonic() + timeout
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request("GET", path, headers={"Host": parts.netloc, "User-Agent": "certcheck"})
        response = conn.getresponse()
        if response.status != 200:
            raise ValueError(f"HTTP {response.status}")
        body = bytearray()
        while chunk := response.read(16384):
            body += chunk
            if len(body) > MAX_BYTES:
                raise ValueError(f"response larger than {MAX_BYTES} bytes")
            if time.monotonic() > deadline:
                raise TimeoutError("timed out")
        return bytes(body)
    finally:
        conn.close()


def fetch_missing_issuers(
    start: x509.Certificate,
    timeout: float,
    overrides: dict[tuple[str, int], str] | None = None,
    max_hops: int = MAX_HOPS,
) -> AiaResult:
    """Follow caIssuers links upward from ``start`` until a self-signed CA or no link."""
    import http.client

    from certcheck.evaluate.certinfo import aia_ca_issuers, is_self_signed

    result = AiaResult()
    current = start
    for _ in range(max_hops):
        urls = aia_ca_issuers(current)
        if not urls or is_self_signed(current):
            break
        issuer = None
        for url in urls:
            try:
                certs = _parse_certificates(fetch_url(url, timeout, overrides))
            except (OSError, ValueError, http.client.HTTPException) as exc:
                result.errors.append(f"{url}: {exc}")
                continue
            result.fetched_urls.append(url)
            issuer = next((c for c in certs if c.subject == current.issuer), certs[0])
            break
        if issuer is None:
            break
        result.certificates.append(base64.b64encode(issuer.public_bytes(Encoding.DER)).decode())
        current = issuer
    return result


def add_aia_issuers(
    facts: ServerFacts, timeout: float, overrides: dict[tuple[str, int], str] | None = None
) -> None:
    """Fetch the issuers above the last certificate the server sent, into the facts."""
    if not facts.ok or not facts.chain:
        return
    try:
        top = x509.load_der_x509_certificate(base64.b64decode(facts.chain[-1]))
        result = fetch_missing_issuers(top, timeout, overrides)
    except Exception as exc:  # noqa: BLE001 - an undecodable certificate has no usable AIA
        facts.aia_errors = [f"the last certificate sent cannot be decoded: {str(exc)[:200]}"]
        return
    facts.aia_certificates = result.certificates
    facts.aia_errors = result.errors
