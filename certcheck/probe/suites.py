"""TLS cipher suite codes and their IANA names.

Kept as plain data so the table can grow into full cipher enumeration without
touching the ClientHello code in :mod:`certcheck.probe.hello`.  Codes and names
come from the IANA "TLS Cipher Suites" registry.
"""

from __future__ import annotations

#: Cipher suite code -> IANA name, for every suite the probe offers.
CIPHER_NAMES: dict[int, str] = {
    # TLS 1.3 (RFC 8446 appendix B.4)
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0x1304: "TLS_AES_128_CCM_SHA256",
    0x1305: "TLS_AES_128_CCM_8_SHA256",
    # ECDHE with ECDSA certificates
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC008: "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
    0xC007: "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    # ECDHE with RSA certificates
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0xC011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    # Finite-field DHE with RSA certificates
    0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
    0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
    0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
    0x0016: "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
    # Static RSA key exchange
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
    0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    0x0005: "TLS_RSA_WITH_RC4_128_SHA",
    0x0004: "TLS_RSA_WITH_RC4_128_MD5",
    # Signalling values (RFC 5746, RFC 7507)
    0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
    0x5600: "TLS_FALLBACK_SCSV",
}

#: The five TLS 1.3 suites, in the order the probe offers them.
TLS13_SUITES: list[int] = [0x1301, 0x1302, 0x1303, 0x1304, 0x1305]

#: Suites defined only for TLS 1.2 (AEAD or SHA-256/384 PRF); never offered below it.
TLS12_ONLY_SUITES: frozenset[int] = frozenset(
    {
        0xC02B, 0xC02C, 0xCCA9, 0xC023, 0xC024,
        0xC02F, 0xC030, 0xCCA8, 0xC027, 0xC028,
        0x009E, 0x009F, 0xCCAA, 0x0067, 0x006B,
        0x009C, 0x009D, 0x003C, 0x003D,
    }
)  # fmt: skip

#: Suites for TLS 1.2 and below, strongest first, as a broad real client sends them.
LEGACY_SUITES: list[int] = [
    code for code in CIPHER_NAMES if code not in TLS13_SUITES and code not in (0x00FF, 0x5600)
]


def cipher_name(code: int) -> str:
    """IANA name of a suite, or its hex code when the table does not know it."""
    return CIPHER_NAMES.get(code, f"0x{code:04X}")


def default_suites(version: str) -> list[int]:
    """A broad list of real suites that the given protocol version can negotiate."""
    if version == "TLSv1.3":
        return list(TLS13_SUITES)
    if version == "TLSv1.2":
        return list(LEGACY_SUITES)
    return [code for code in LEGACY_SUITES if code not in TLS12_ONLY_SUITES]
