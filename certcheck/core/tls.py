"""TLS cipher suites and named groups: IANA codes, names and properties.

Codes and names come from the IANA "TLS Cipher Suites" and "TLS Supported
Groups" registries (RFC 5246 appendix A.5, RFC 4492/8422, RFC 5288/5289, RFC
5054, RFC 6655/7251, RFC 7905, RFC 8446 B.4, RFC 7919, draft-ietf-tls-ecdhe-mlkem).
The three ``..._OLD`` suites are Chrome's pre-RFC 7905 ChaCha20 code points;
they carry the names that ``clients.json`` uses for them.

The candidate list covers every suite a client profile in ``clients.json``
offers plus the known-weak families (NULL, anon, EXPORT, RC4, DES, 3DES), so
enumeration stays below 128 suites per ClientHello.  Properties of a suite
(:class:`SuiteInfo`) are derived from its IANA name, which encodes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

#: Cipher suite code -> IANA name.  Order = the probe's default offer order
#: (strong first), which a server that honours client order will follow.
CIPHER_NAMES: dict[int, str] = {
    # TLS 1.3 (RFC 8446 B.4)
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0x1304: "TLS_AES_128_CCM_SHA256",
    0x1305: "TLS_AES_128_CCM_8_SHA256",
    # ECDHE with ECDSA certificates (RFC 8422, 5289, 7905, 7251)
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCC14: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256_OLD",
    0xC0AC: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
    0xC0AD: "TLS_ECDHE_ECDSA_WITH_AES_256_CCM",
    0xC0AE: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
    0xC0AF: "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC008: "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
    0xC007: "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    0xC006: "TLS_ECDHE_ECDSA_WITH_NULL_SHA",
    # ECDHE with RSA certificates
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCC13: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256_OLD",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0xC011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    0xC010: "TLS_ECDHE_RSA_WITH_NULL_SHA",
    # Finite-field DHE with RSA certificates (RFC 5246, 5288, 6655, 7905)
    0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCC15: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256_OLD",
    0xC09E: "TLS_DHE_RSA_WITH_AES_128_CCM",
    0xC09F: "TLS_DHE_RSA_WITH_AES_256_CCM",
    0xC0A2: "TLS_DHE_RSA_WITH_AES_128_CCM_8",
    0xC0A3: "TLS_DHE_RSA_WITH_AES_256_CCM_8",
    0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
    0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
    0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
    0x0045: "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA",
    0x0088: "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA",
    0x0016: "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0x0015: "TLS_DHE_RSA_WITH_DES_CBC_SHA",
    0x0014: "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA",
    # DHE with DSS certificates
    0x00A2: "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256",
    0x00A3: "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384",
    0x0040: "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256",
    0x006A: "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256",
    0x0032: "TLS_DHE_DSS_WITH_AES_128_CBC_SHA",
    0x0038: "TLS_DHE_DSS_WITH_AES_256_CBC_SHA",
    0x0013: "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA",
    0x0012: "TLS_DHE_DSS_WITH_DES_CBC_SHA",
    0x0011: "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA",
    # Static RSA key exchange (RFC 5246, 5288, 6655, 5932)
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0xC09C: "TLS_RSA_WITH_AES_128_CCM",
    0xC09D: "TLS_RSA_WITH_AES_256_CCM",
    0xC0A0: "TLS_RSA_WITH_AES_128_CCM_8",
    0xC0A1: "TLS_RSA_WITH_AES_256_CCM_8",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
    0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x0041: "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA",
    0x0084: "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA",
    0x0007: "TLS_RSA_WITH_IDEA_CBC_SHA",
    0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    0x0005: "TLS_RSA_WITH_RC4_128_SHA",
    0x0004: "TLS_RSA_WITH_RC4_128_MD5",
    0x0009: "TLS_RSA_WITH_DES_CBC_SHA",
    0x0008: "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA",
    0x0006: "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5",
    0x0003: "TLS_RSA_EXPORT_WITH_RC4_40_MD5",
    0x003B: "TLS_RSA_WITH_NULL_SHA256",
    0x0002: "TLS_RSA_WITH_NULL_SHA",
    0x0001: "TLS_RSA_WITH_NULL_MD5",
    # Static ECDH (certificate carries the ECDH key; RFC 8422 section 2)
    0xC02D: "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02E: "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC025: "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC026: "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC004: "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA",
    0xC005: "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA",
    0xC003: "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA",
    0xC002: "TLS_ECDH_ECDSA_WITH_RC4_128_SHA",
    0xC001: "TLS_ECDH_ECDSA_WITH_NULL_SHA",
    0xC031: "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256",
    0xC032: "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384",
    0xC029: "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256",
    0xC02A: "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384",
    0xC00E: "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA",
    0xC00F: "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA",
    0xC00D: "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA",
    0xC00C: "TLS_ECDH_RSA_WITH_RC4_128_SHA",
    0xC00B: "TLS_ECDH_RSA_WITH_NULL_SHA",
    # Static DH (only the weak members: DES, 3DES, export)
    0x0010: "TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA",
    0x000F: "TLS_DH_RSA_WITH_DES_CBC_SHA",
    0x000E: "TLS_DH_RSA_EXPORT_WITH_DES40_CBC_SHA",
    0x000D: "TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA",
    0x000C: "TLS_DH_DSS_WITH_DES_CBC_SHA",
    0x000B: "TLS_DH_DSS_EXPORT_WITH_DES40_CBC_SHA",
    # Anonymous (no server authentication)
    0x00A6: "TLS_DH_anon_WITH_AES_128_GCM_SHA256",
    0x00A7: "TLS_DH_anon_WITH_AES_256_GCM_SHA384",
    0x006C: "TLS_DH_anon_WITH_AES_128_CBC_SHA256",
    0x006D: "TLS_DH_anon_WITH_AES_256_CBC_SHA256",
    0x0034: "TLS_DH_anon_WITH_AES_128_CBC_SHA",
    0x003A: "TLS_DH_anon_WITH_AES_256_CBC_SHA",
    0x001B: "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA",
    0x001A: "TLS_DH_anon_WITH_DES_CBC_SHA",
    0x0018: "TLS_DH_anon_WITH_RC4_128_MD5",
    0x0019: "TLS_DH_anon_EXPORT_WITH_DES40_CBC_SHA",
    0x0017: "TLS_DH_anon_EXPORT_WITH_RC4_40_MD5",
    0xC018: "TLS_ECDH_anon_WITH_AES_128_CBC_SHA",
    0xC019: "TLS_ECDH_anon_WITH_AES_256_CBC_SHA",
    0xC017: "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA",
    0xC016: "TLS_ECDH_anon_WITH_RC4_128_SHA",
    0xC015: "TLS_ECDH_anon_WITH_NULL_SHA",
    # SRP (RFC 5054)
    0xC01D: "TLS_SRP_SHA_WITH_AES_128_CBC_SHA",
    0xC020: "TLS_SRP_SHA_WITH_AES_256_CBC_SHA",
    0xC01A: "TLS_SRP_SHA_WITH_3DES_EDE_CBC_SHA",
    0xC01E: "TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA",
    0xC021: "TLS_SRP_SHA_RSA_WITH_AES_256_CBC_SHA",
    0xC01B: "TLS_SRP_SHA_RSA_WITH_3DES_EDE_CBC_SHA",
    0xC01F: "TLS_SRP_SHA_DSS_WITH_AES_128_CBC_SHA",
    0xC022: "TLS_SRP_SHA_DSS_WITH_AES_256_CBC_SHA",
    0xC01C: "TLS_SRP_SHA_DSS_WITH_3DES_EDE_CBC_SHA",
    # Signalling values, not suites (RFC 5746, RFC 7507)
    0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
    0x5600: "TLS_FALLBACK_SCSV",
}

SIGNALLING: frozenset[int] = frozenset({0x00FF, 0x5600})

#: Named group code -> IANA name (RFC 8422 5.1.1, RFC 7027, RFC 8734, RFC 7919,
#: RFC 8446 4.2.7, draft-ietf-tls-mlkem / draft-ietf-tls-ecdhe-mlkem).
GROUPS: dict[int, str] = {
    0x0001: "sect163k1", 0x0002: "sect163r1", 0x0003: "sect163r2", 0x0004: "sect193r1",
    0x0005: "sect193r2", 0x0006: "sect233k1", 0x0007: "sect233r1", 0x0008: "sect239k1",
    0x0009: "sect283k1", 0x000A: "sect283r1", 0x000B: "sect409k1", 0x000C: "sect409r1",
    0x000D: "sect571k1", 0x000E: "sect571r1", 0x000F: "secp160k1", 0x0010: "secp160r1",
    0x0011: "secp160r2", 0x0012: "secp192k1", 0x0013: "secp192r1", 0x0014: "secp224k1",
    0x0015: "secp224r1", 0x0016: "secp256k1", 0x0017: "secp256r1", 0x0018: "secp384r1",
    0x0019: "secp521r1", 0x001A: "brainpoolP256r1", 0x001B: "brainpoolP384r1",
    0x001C: "brainpoolP512r1", 0x001D: "x25519", 0x001E: "x448",
    0x001F: "brainpoolP256r1tls13", 0x0020: "brainpoolP384r1tls13",
    0x0021: "brainpoolP512r1tls13",
    0x0100: "ffdhe2048", 0x0101: "ffdhe3072", 0x0102: "ffdhe4096", 0x0103: "ffdhe6144",
    0x0104: "ffdhe8192",
    0x0200: "MLKEM512", 0x0201: "MLKEM768", 0x0202: "MLKEM1024",
    0x11EB: "SecP256r1MLKEM768", 0x11EC: "X25519MLKEM768", 0x11ED: "SecP384r1MLKEM1024",
    0x6399: "X25519Kyber768Draft00",
}  # fmt: skip
GROUP_CODES: dict[str, int] = {name: code for code, name in GROUPS.items()}

#: Groups usable for ECDHE in TLS 1.0-1.2 (RFC 8422): the elliptic curves only.
#: Finite-field groups are left out on purpose: an RFC 7919 server that sees
#: none of them may still pick DHE with its own parameters.
TLS12_GROUPS: list[int] = [
    0x001D, 0x0017, 0x0018, 0x0019, 0x001E, 0x001A, 0x001B, 0x001C, 0x0016, 0x0015,
    0x0014, 0x0013, 0x0012, 0x0011, 0x0010, 0x000F, 0x000E, 0x000D, 0x000C, 0x000B,
    0x000A, 0x0009, 0x0008, 0x0007, 0x0006, 0x0005, 0x0004, 0x0003, 0x0002, 0x0001,
]  # fmt: skip

#: Groups a TLS 1.3 server may select (RFC 8446 4.2.7 plus hybrid/PQ code points).
TLS13_GROUPS: list[int] = [
    0x001D, 0x0017, 0x0018, 0x0019, 0x001E, 0x11EC, 0x11EB, 0x11ED, 0x6399,
    0x0200, 0x0201, 0x0202, 0x001F, 0x0020, 0x0021,
    0x0100, 0x0101, 0x0102, 0x0103, 0x0104,
]  # fmt: skip


@dataclass(frozen=True)
class SuiteInfo:
    """What a cipher suite's IANA name says about it.

    ``kex``: RSA, DHE, ECDHE, DH, ECDH (static), SRP, or ``any`` (TLS 1.3,
    where groups decide).  ``auth``: RSA, ECDSA, DSS, SRP, anon, ``any``.
    ``cipher``: AESGCM, AESCCM, AESCCM8, CHACHA20, AES-CBC, CAMELLIA-CBC,
    IDEA-CBC, 3DES, DES, RC4, NULL, EXPORT.  ``mac``: AEAD, SHA1, SHA256,
    SHA384, MD5.  Anonymous DH/ECDH counts as ephemeral (``forward_secret``)
    but always has a ``weak_reason``.  ``bits`` is the symmetric key strength.
    """

    code: int
    name: str
    kex: str
    auth: str
    cipher: str
    mac: str
    tls12_only: bool
    tls13: bool
    forward_secret: bool
    weak_reason: str | None
    bits: int = 0

    @property
    def aead(self) -> bool:
        return self.mac == "AEAD"


def _cipher_of(enc: str) -> tuple[str, int]:
    """Cipher family and key bits from the part after ``_WITH_`` (or TLS 1.3 name)."""
    if "EXPORT" in enc or "_40_" in enc or "DES40" in enc:
        return "EXPORT", 40
    if enc.startswith("NULL"):
        return "NULL", 0
    if enc.startswith("CHACHA20"):
        return "CHACHA20", 256
    if enc.startswith("3DES"):
        return "3DES", 112
    if enc.startswith("DES_"):
        return "DES", 56
    if enc.startswith("RC4"):
        return "RC4", 128
    if enc.startswith("IDEA"):
        return "IDEA-CBC", 128
    bits = 256 if "_256_" in f"_{enc}_" else 128
    for family in ("AES", "CAMELLIA", "ARIA", "SEED"):
        if enc.startswith(family):
            if "_GCM" in enc:
                return f"{family}GCM" if family == "AES" else f"{family}-GCM", bits
            if "_CCM_8" in enc:
                return "AESCCM8", bits
            if "_CCM" in enc:
                return "AESCCM", bits
            return f"{family}-CBC", bits
    raise ValueError(f"unknown cipher in {enc!r}")


_AEAD_CIPHERS = frozenset({"AESGCM", "AESCCM", "AESCCM8", "CHACHA20", "ARIA-GCM", "CAMELLIA-GCM"})


def _mac_of(enc: str, cipher: str) -> str:
    if cipher in _AEAD_CIPHERS:
        return "AEAD"
    for mac in ("SHA384", "SHA256", "MD5"):
        if enc.endswith(mac):
            return mac
    return "SHA1"


def _weak_reason(kex_part: str, cipher: str) -> str | None:
    """Why a suite is weak, most serious reason first (None for acceptable suites)."""
    if cipher == "NULL":
        return "NULL cipher: no encryption"
    if "anon" in kex_part:
        return "anonymous key exchange: the server is not authenticated"
    if cipher == "EXPORT":
        return "export-grade (40-bit) cipher"
    if cipher == "DES":
        return "single DES (56-bit key)"
    if cipher == "RC4":
        return "RC4 is prohibited (RFC 7465)"
    if cipher in ("3DES", "IDEA-CBC"):
        return "64-bit block cipher (Sweet32, CVE-2016-2183)"
    return None


def describe(code: int, name: str) -> SuiteInfo:
    """Derive a :class:`SuiteInfo` from an IANA suite name."""
    if code in SIGNALLING:
        return SuiteInfo(code, name, "SCSV", "none", "none", "none", False, False, False, None)
    body = name.removeprefix("TLS_")
    if "_WITH_" not in body:  # TLS 1.3: the suite names only the AEAD and hash
        cipher, bits = _cipher_of(body)
        mac = "AEAD"
        return SuiteInfo(code, name, "any", "any", cipher, mac, False, True, True, None, bits)
    kex_part, enc = body.split("_WITH_", 1)
    enc = enc.removesuffix("_OLD")
    words = kex_part.replace("_EXPORT", "").split("_")
    if words[0] == "SRP":
        kex, auth = "SRP", words[2] if len(words) > 2 else "SRP"
    else:
        kex, auth = words[0], words[1] if len(words) > 1 else "RSA"
    if auth == "anon":
        kex = {"DH": "DHE", "ECDH": "ECDHE"}[kex]  # anonymous DH is ephemeral DH
    cipher, bits = _cipher_of(f"EXPORT_{enc}" if "EXPORT" in kex_part else enc)
    mac = _mac_of(enc, cipher)
    tls12_only = mac == "AEAD" or mac in ("SHA256", "SHA384")
    return SuiteInfo(
        code=code,
        name=name,
        kex=kex,
        auth=auth,
        cipher=cipher,
        mac=mac,
        tls12_only=tls12_only,
        tls13=False,
        forward_secret=kex in ("DHE", "ECDHE"),
        weak_reason=_weak_reason(kex_part, cipher),
        bits=bits,
    )


SUITES_BY_CODE: dict[int, SuiteInfo] = {c: describe(c, n) for c, n in CIPHER_NAMES.items()}
SUITES_BY_NAME: dict[str, SuiteInfo] = {s.name: s for s in SUITES_BY_CODE.values()}
#: Alias: evaluation code looks suites up as ``SUITES[iana_name]``.
SUITES = SUITES_BY_NAME

#: The five TLS 1.3 suites, in the order the probe offers them.
TLS13_SUITES: list[int] = [c for c, s in SUITES_BY_CODE.items() if s.tls13]

#: Suites defined only for TLS 1.2 (AEAD or SHA-256/384 PRF); never offered below it.
TLS12_ONLY_SUITES: frozenset[int] = frozenset(c for c, s in SUITES_BY_CODE.items() if s.tls12_only)

#: Suites for TLS 1.2 and below, in offer order (strong first).
LEGACY_SUITES: list[int] = [
    c for c, s in SUITES_BY_CODE.items() if not s.tls13 and c not in SIGNALLING
]


def cipher_name(code: int) -> str:
    """IANA name of a suite, or its hex code when the table does not know it."""
    name = CIPHER_NAMES.get(code)  # (no f-string formatted for the known ones)
    return name if name is not None else f"0x{code:04X}"


def group_name(code: int) -> str:
    """IANA name of a named group, or its hex code when unknown."""
    name = GROUPS.get(code)  # (no f-string formatted for the known ones)
    return name if name is not None else f"0x{code:04X}"


def default_suites(version: str) -> list[int]:
    """Every suite the probe knows that the given protocol version can negotiate."""
    if version == "TLSv1.3":
        return list(TLS13_SUITES)
    if version == "TLSv1.2":
        return list(LEGACY_SUITES)
    return [code for code in LEGACY_SUITES if code not in TLS12_ONLY_SUITES]


def default_groups(version: str) -> list[int]:
    """The groups offered in supported_groups for a version."""
    return list(TLS13_GROUPS) if version == "TLSv1.3" else list(TLS12_GROUPS)


def chain_suites(version: str) -> list[int]:
    """The default offer minus anonymous (aNULL) and NULL-cipher (eNULL) suites.

    Used wherever the probe needs the server's certificate: a server that
    prefers an anonymous suite would otherwise answer without one.
    """
    return [
        code
        for code in default_suites(version)
        if SUITES_BY_CODE[code].auth != "anon" and SUITES_BY_CODE[code].cipher != "NULL"
    ]


# --------------------------------------------------------------------------- named DH primes


def _pi_times_2_to(bits: int) -> int:
    """floor(pi * 2**bits): Machin's formula in integers, with guard bits."""
    guard = 64
    one = 1 << (bits + guard)

    def arctan_inverse(x: int) -> int:
        total = term = one // x
        n, sign, x2 = 3, -1, x * x
        while term:
            term //= x2
            total += sign * (term // n)
            n, sign = n + 2, -sign
        return total

    return (4 * (4 * arctan_inverse(5) - arctan_inverse(239))) >> guard


def _e_times_2_to(bits: int) -> int:
    """floor(e * 2**bits): the series sum 1/k!, in integers, with guard bits."""
    guard = 64
    total, term, k = 0, 1 << (bits + guard), 0
    while term:
        total += term
        k += 1
        term //= k
    return total >> guard


#: (name, size, constant, family) of well-known primes.  RFC 2409 6.1/6.2 (Oakley
#: groups 1 and 2) and RFC 3526 2-7: p = 2^n - 2^(n-64) - 1 + 2^64 * (floor(2^(n-130) pi) + k).
#: RFC 7919 appendix A: p = 2^b - 2^(b-64) + (floor(2^(b-130) e) + X) * 2^64 - 1.
_NAMED_PRIME_FORMULAS: tuple[tuple[str, int, int, str], ...] = (
    ("modp768", 768, 149686, "pi"),
    ("modp1024", 1024, 129093, "pi"),
    ("modp1536", 1536, 741804, "pi"),
    ("modp2048", 2048, 124476, "pi"),
    ("modp3072", 3072, 1690314, "pi"),
    ("modp4096", 4096, 240904, "pi"),
    ("modp6144", 6144, 929484, "pi"),
    ("modp8192", 8192, 4743158, "pi"),
    ("ffdhe2048", 2048, 560316, "e"),
    ("ffdhe3072", 3072, 2625351, "e"),
    ("ffdhe4096", 4096, 5736041, "e"),
    ("ffdhe6144", 6144, 15705020, "e"),
    ("ffdhe8192", 8192, 10965728, "e"),
)


@cache
def named_dh_primes() -> dict[int, str]:
    """Prime -> name for the RFC 2409 / RFC 3526 MODP and RFC 7919 ffdhe groups (g = 2)."""
    primes: dict[int, str] = {}
    for name, n, constant, family in _NAMED_PRIME_FORMULAS:
        irrational = _pi_times_2_to(n - 130) if family == "pi" else _e_times_2_to(n - 130)
        primes[(1 << n) - (1 << (n - 64)) - 1 + ((irrational + constant) << 64)] = name
    return primes


def named_dh_prime(p: int) -> str | None:
    """``ffdhe2048``, ``modp1024`` ... when ``p`` is a well-known prime, else None."""
    return named_dh_primes().get(p)
