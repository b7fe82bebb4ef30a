"""The data that flows through certcheck: targets, facts, findings and verdicts.

Everything here is plain data: dataclasses that turn into JSON-ready dicts and
back.  The probe produces :class:`ServerFacts`; evaluation turns facts into
:class:`Finding` objects and per-platform verdicts; reports only read them.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict, dataclass, field, fields
from functools import cache
from typing import Any, Literal, get_type_hints

from certcheck.core.names import is_ip
from certcheck.safeload import quote
from certcheck.typecheck import FieldError, check_value

Severity = Literal["info", "warning", "error"]
SEVERITY_ORDER: dict[str, int] = {"info": 0, "warning": 1, "error": 2}

#: Platforms a verdict is always given for (RULES.md "Platform keys").
VERDICT_PLATFORMS: tuple[str, ...] = ("ios", "android", "android_legacy")

#: Protocol versions the probe asks about, oldest first.
PROTOCOLS: tuple[str, ...] = ("SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")


def plain_copy(value: Any) -> Any:
    """A copy of JSON-like data (dicts, lists, tuples of plain values): what
    ``dataclasses.asdict`` makes of a field, without its deepcopy of every leaf (a result's
    facts and findings are written once per target, so this is on the hot path)."""
    if isinstance(value, dict):
        return {k: plain_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_copy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain_copy(v) for v in value)
    return value


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
        return None if is_ip(self.host) else self.host

    @property
    def label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def to_dict(self) -> dict[str, Any]:
        # every field is a str, int or None: no copy needed (asdict deep-copies each one)
        return {name: getattr(self, name) for name in _TARGET_FIELDS}

    @classmethod
    def from_dict(cls, data: Any) -> Target:
        """A target from JSON; :class:`FieldError` names a missing or malformed field."""
        fields = _checked_fields(cls, data, required=("host",))
        if not fields["host"]:
            raise FieldError(("host",), "expected a host name, got ''")
        port = fields.get("port", 443)
        if not 1 <= port <= 65535:
            raise FieldError(("port",), f"expected a port from 1 to 65535, got {quote(port)}")
        return cls(**fields)


_TARGET_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Target))

@dataclass
class ScanError:
    """Why a target could not be scanned (a status, not a finding)."""

    #: dns | refused | timeout | reset | not_tls | tls_alert | unreachable | error, or
    #: internal: the probe worked but certcheck's evaluation raised (exit code 4)
    kind: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ScanError:
        return cls(**_checked_fields(cls, data, required=("kind", "message")))


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _checked_fields(
    cls: type, data: Any, required: tuple[str, ...] = (), skip: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The fields of dataclass ``cls`` present in ``data``, each checked against its type
    hint.  Keys the dataclass does not know are ignored: a newer certcheck may add some."""
    if not isinstance(data, dict):
        raise FieldError((), f"expected an object, got {quote(data)}")
    for name in required:
        if name not in data:
            raise FieldError((name,), "this required field is missing")
    hints = _hints(cls)
    fields: dict[str, Any] = {}
    for name in cls.__dataclass_fields__:
        if name in data:
            if name not in skip:
                check_value(data[name], hints[name], (name,))
            fields[name] = data[name]
    return fields


def _check_base64(value: Any, path: tuple[str | int, ...]) -> None:
    try:
        if not isinstance(value, str):
            raise ValueError
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise FieldError(path, f"expected a base64 DER string, got {quote(value)}") from None


#: ServerFacts fields holding base64 DER: one value or a list of them
_BASE64_ONE = ("no_sni_leaf", "ocsp_staple")
_BASE64_LISTS = ("chain", "tls_scts", "aia_certificates")


#: how the probe words a step it had no time left for (certcheck.probe.budget)
PROBE_BUDGET_EXHAUSTED = "probe time budget exhausted"


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

    @property
    def incomplete(self) -> list[str]:
        """The probes that ran out of the target's time budget (its answers are unknown):
        a target with any is only partly scanned."""
        return sorted(
            name for name, detail in self.protocol_errors.items()
            if PROBE_BUDGET_EXHAUSTED in str(detail)
        )

    def chain_der(self) -> list[bytes]:
        return [base64.b64decode(c) for c in self.chain]

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: plain_copy(getattr(self, f.name)) for f in fields(self)}
        data["target"] = self.target.to_dict()
        data["error"] = self.error.to_dict() if self.error else None
        return data

    @classmethod
    def from_dict(cls, data: Any) -> ServerFacts:
        """Rebuild facts from JSON (a file, or the monitor's history).

        Every field is checked against its type hint; a :class:`FieldError` (a
        ValueError) names the first bad one, e.g. ``cipher_suites["TLSv1.2"]: expected
        a list of strings, got 5``.  Unknown keys are ignored.
        """
        kwargs = _checked_fields(
            cls,
            data,
            required=("target", "scanned_at"),
            skip=("target", "error", *_BASE64_ONE, *_BASE64_LISTS),
        )
        try:
            kwargs["target"] = Target.from_dict(data["target"])
        except FieldError as exc:
            raise exc.within("target") from None
        error = data.get("error")
        try:
            kwargs["error"] = None if error is None else ScanError.from_dict(error)
        except FieldError as exc:
            raise exc.within("error") from None
        for name in _BASE64_ONE:
            if kwargs.get(name) is not None:
                _check_base64(kwargs[name], (name,))
        for name in _BASE64_LISTS:
            entries = kwargs.get(name, [])
            if not isinstance(entries, list):
                raise FieldError(
                    (name,), f"expected a list of base64 DER strings, got {quote(entries)}"
                )
            for index, entry in enumerate(entries):
                _check_base64(entry, (name, index))
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
        return {f.name: plain_copy(getattr(self, f.name)) for f in fields(self)}

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

    @property
    def status(self) -> str:
        """scanned, partial (part of the probe ran out of time), or error (not scanned)."""
        if not self.facts.ok:
            return "error"
        return "partial" if self.facts.incomplete else "scanned"

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.facts.target.to_dict(),
            "status": self.status,
            "overall": self.overall,
            "verdicts": dict(self.verdicts),
            "certificate": self.certificate,
            "findings": [f.to_dict() for f in self.findings],
            "simulation": self.simulation,
            "facts": self.facts.to_dict(),
        }
