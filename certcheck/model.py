"""The data that flows through certcheck: targets, facts, findings and verdicts.

Everything here is plain data: dataclasses that turn into JSON-ready dicts and
back.  The probe produces :class:`ServerFacts`; evaluation turns facts into
:class:`Finding` objects and per-platform verdicts; reports only read them.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["info", "warning", "error"]
SEVERITY_ORDER: dict[str, int] = {"info": 0, "warning": 1, "error": 2}

#: Platforms a verdict is always given for (RULES.md "Platform keys").
VERDICT_PLATFORMS: tuple[str, ...] = ("ios", "android", "android_legacy")

#: Protocol versions the probe asks about, oldest first.
PROTOCOLS: tuple[str, ...] = ("SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")


@dataclass(frozen=True)
class Target:
    """One endpoint to scan.

    ``host`` is the name used for SNI and hostname checks; ``connect_addr``
    (from ``--resolve``) is where the TCP connection goes instead of a DNS
    lookup of ``host``.
    """

    host: str
    port: int = 443
    scheme: str = "https"
    connect_addr: str | None = None
    path: str = ""
    original: str = ""

    @property
    def sni(self) -> str | None:
        """SNI is never sent for an IP literal (RFC 6066 §3)."""
        from certcheck.targets import is_ip

        return None if is_ip(self.host) else self.host

    @property
    def label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Target:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class ScanError:
    """Why a target could not be scanned (a status, not a finding)."""

    kind: str  # dns | refused | timeout | reset | not_tls | tls_alert | unreachable | error
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ServerFacts:
    """What the probe saw, without any judgement.

    ``chain`` holds the certificates exactly as the server sent them, DER in
    base64, leaf first, order kept.  ``protocols`` maps each protocol name of
    :data:`PROTOCOLS` to True (accepted), False (refused) or None (unknown,
    e.g. the probe failed part-way).
    """

    target: Target
    scanned_at: str
    address: str | None = None
    error: ScanError | None = None
    chain: list[str] = field(default_factory=list)
    negotiated_protocol: str | None = None
    negotiated_cipher: str | None = None
    alpn: str | None = None
    ocsp_staple: str | None = None
    protocols: dict[str, bool | None] = field(default_factory=dict)
    protocol_errors: dict[str, str] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    source: str = "scan"  # scan | file
    #: accepted cipher suites per protocol version (IANA names), in the server's
    #: preference order when it enforces one; a version absent = not enumerated
    cipher_suites: dict[str, list[str]] = field(default_factory=dict)
    #: accepted key-exchange groups (IANA names: x25519, secp256r1, ...) per version
    groups: dict[str, list[str]] = field(default_factory=dict)
    #: DHE parameters per version where DHE suites are accepted: {"bits": 2048,
    #: "named": "ffdhe2048" | None, "g": 2, "p": hex prime, "suite": IANA name}
    dh_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: per version: True = the server chooses by its own order, None = unknown
    server_cipher_order: dict[str, bool | None] = field(default_factory=dict)
    sslv2: bool | None = None
    #: leaf sent to a ClientHello without SNI (base64 DER), when it was probed
    no_sni_leaf: str | None = None
    #: SignedCertificateTimestamp entries from the TLS extension (base64 each)
    tls_scts: list[str] = field(default_factory=list)
    #: connections the probe opened to this target
    connections: int = 0
    #: issuers fetched from AIA caIssuers URLs (--fetch-aia), base64 DER, leaf-side first
    aia_certificates: list[str] = field(default_factory=list)
    aia_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def chain_der(self) -> list[bytes]:
        return [base64.b64decode(c) for c in self.chain]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["target"] = self.target.to_dict()
        data["error"] = self.error.to_dict() if self.error else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServerFacts:
        """Rebuild facts from JSON; TypeError/ValueError name what is malformed."""
        kwargs = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        kwargs["target"] = Target.from_dict(data["target"])
        if not isinstance(kwargs["target"].host, str) or not isinstance(
            kwargs["target"].port, int
        ):
            raise TypeError("target needs a string host and an integer port")
        if data.get("error"):
            kwargs["error"] = ScanError(**data["error"])
        chain = kwargs.get("chain", [])
        if not isinstance(chain, list) or not all(isinstance(c, str) for c in chain):
            raise TypeError("chain must be a list of base64 strings")
        for index, entry in enumerate(chain):
            try:
                base64.b64decode(entry, validate=True)
            except ValueError as exc:
                raise ValueError(f"chain[{index}] is not base64: {exc}") from exc
        protocols = kwargs.get("protocols", {})
        if not isinstance(protocols, dict) or not all(
            v is None or isinstance(v, bool) for v in protocols.values()
        ):
            raise TypeError("protocols must map protocol names to true, false or null")
        return cls(**kwargs)


@dataclass
class Finding:
    """One rule that fired on one target, with the values that made it fire."""

    rule_id: str
    severity: Severity
    platforms: list[str]
    title: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str = ""
    #: platforms whose clients refuse the connection because of this finding
    breaks: list[str] = field(default_factory=list)
    #: matched by an active --ignore / [[ignore]]: kept for the record, never counted
    suppressed: bool = False
    suppressed_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class TargetResult:
    """Facts, findings and verdicts for one target."""

    facts: ServerFacts
    findings: list[Finding] = field(default_factory=list)
    verdicts: dict[str, str] = field(default_factory=dict)
    overall: str = "pass"  # pass | warn | fail | error (not scanned)
    certificate: dict[str, Any] | None = None
    #: handshake simulation, one entry per client profile (when evaluated)
    simulation: list[dict[str, Any]] | None = None

    @property
    def active_findings(self) -> list[Finding]:
        """Findings that count for verdicts and exit codes (not suppressed)."""
        return [f for f in self.findings if not f.suppressed]

    @property
    def worst_severity(self) -> str | None:
        active = self.active_findings
        if not active:
            return None
        return max((f.severity for f in active), key=SEVERITY_ORDER.__getitem__)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.facts.target.to_dict(),
            "status": "scanned" if self.facts.ok else "error",
            "overall": self.overall,
            "verdicts": dict(self.verdicts),
            "certificate": self.certificate,
            "findings": [f.to_dict() for f in self.findings],
            "simulation": self.simulation,
            "facts": self.facts.to_dict(),
        }
