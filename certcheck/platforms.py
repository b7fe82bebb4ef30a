"""Platform fact tables: root stores, distrust events, client profiles, data sources.

Pure data loaders over the ``rules/`` package data (``certcheck.rules``):

* ``rules/platforms/android_versions.tsv`` and ``android_roots.tsv`` — the AOSP
  system root store per snapshot / API level;
* ``rules/platforms/apple_versions.tsv`` and ``apple_roots.tsv`` — Apple's trust store
  per iOS release (present_in) and now (trusted, removed, distrusted);
* ``rules/distrusted_cas.toml`` — distrust events with per-platform rules;
* ``rules/clients.toml`` — client profiles for handshake simulation;
* ``rules/sources.toml`` — where each table comes from and how old it is.

Every loader is cached; a malformed table raises :class:`PlatformDataError`
(a ``ValueError``) that names the file and the bad entry.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Any

from certcheck.datadir import user_copy
from certcheck.model import PROTOCOLS

PLATFORMS_DIR = "platforms"
DISTRUST_PLATFORMS = frozenset({"apple", "android", "chrome", "mozilla", "microsoft"})
DISTRUST_KINDS = frozenset({"full", "issued_after", "sct_after", "issued_before"})
DATED_KINDS = DISTRUST_KINDS - {"full"}
CLIENT_PLATFORMS = frozenset({"android", "ios", "java", "chrome", "firefox"})
APPLE_STATUSES = frozenset({"trusted", "removed", "distrusted"})

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ANDROID_STORE = re.compile(r"^android:(\d+)$")
#: from this API level (Android 14) the root store is Conscrypt's updatable APEX store
ANDROID_UPDATABLE_API = 34
_OTHER_STORES = frozenset({"apple", "mozilla", "chrome", "java"})
#: "apple:<iOS version>": the store of that release (apple_versions.tsv); bare "apple" = newest
_APPLE_STORE = re.compile(r"^apple:(\d+(?:\.\d+){0,2})$")


class PlatformDataError(ValueError):
    """A table in rules/ is malformed."""


# --------------------------------------------------------------------------- data classes


@dataclass(frozen=True)
class RootInfo:
    """What the platform tables know about one certificate (by SHA-256 of its DER)."""

    sha256: str
    name: str
    not_after: str | None
    android_first_api: int | None
    android_last_api: int | None  # None = still present in the newest snapshot (or never present)
    android_present_in: tuple[str, ...]
    apple_status: str | None  # "trusted" | "removed" | "distrusted" | None (not in Apple's data)
    subject: str = ""  # subject DN, RFC 4514
    key: str = ""  # e.g. "RSA-2048", "EC-secp384r1"
    #: apple_versions.tsv labels (iOS releases) whose store holds it, oldest first
    apple_present_in: tuple[str, ...] = ()


@dataclass(frozen=True)
class DistrustRule:
    platform: str
    kind: str
    cutoff: datetime | None
    effective: str
    effective_date: date | None
    source: str
    note: str


@dataclass(frozen=True)
class DistrustEvent:
    """A distrust event, restricted to certificates that share the same rules.

    ``rules/distrusted_cas.toml`` has one entry per event; where an event's rules
    differ between its certificates (e.g. roots removed from Android in
    different releases) the loader yields one ``DistrustEvent`` per group of
    certificates, all with the event's name, so every rule applies to every
    certificate listed.
    """

    name: str
    certificates: tuple[tuple[str, str], ...]  # (sha256, name)
    rules: tuple[DistrustRule, ...]
    source: str


@dataclass(frozen=True)
class ClientProfile:
    id: str
    name: str
    platform: str
    os_version: str
    api_level: int | None
    root_store: str
    protocols: tuple[str, ...]
    cipher_suites: tuple[str, ...]
    tls13_cipher_suites: tuple[str, ...]
    supported_groups: tuple[str, ...]
    signature_algorithms: tuple[str, ...]
    sni: bool
    min_rsa_bits: int | None
    min_dh_bits: int | None
    max_dh_bits: int | None
    min_ecdsa_bits: int | None
    requires_sha2: bool
    current: bool
    legacy: bool
    fetches_aia: bool
    ats: bool
    source: str
    key_share_groups: tuple[str, ...] = ()
    max_rsa_bits: int | None = None
    android_store_snapshot: str | None = None
    evidence: str = ""
    note: str = ""
    #: signature_algorithms_cert (RFC 8446 4.2.3); empty = not sent
    signature_algorithms_cert: tuple[str, ...] = ()
    #: where a vendor says the client refuses SHA-1 certificates (requires_sha2)
    requires_sha2_source: str = ""
    #: the recorded ClientHello (hex, record layer included) the lists were decoded from
    client_hello: str = ""
    #: why, and on which source, the profile departs from its recorded ClientHello
    capture_deviation: str = ""


@dataclass(frozen=True)
class DataSource:
    file: str
    description: str
    sources: tuple[str, ...]
    snapshot: date


@dataclass(frozen=True)
class _AndroidVersion:
    label: str
    api_min: int
    api_max: int


# --------------------------------------------------------------------------- file reading


def _text(*parts: str) -> str:
    """A table under rules/: the refreshed copy of ``certcheck data update`` if there is one."""
    refreshed = user_copy("/".join(parts))
    if refreshed is not None:
        return refreshed.decode("utf-8")
    node = resources.files("certcheck.rules")
    for part in parts:
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8")


def _read_tsv(*parts: str) -> list[dict[str, str]]:
    """Rows of a TSV table with a ``#`` comment block and one header row."""
    where = "/".join(parts)
    lines = [ln for ln in _text(*parts).splitlines() if ln and not ln.startswith("#")]
    if not lines:
        raise PlatformDataError(f"rules/{where}: no header row")
    header = lines[0].split("\t")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(header):
            raise PlatformDataError(
                f"rules/{where}: data line {number} has {len(cells)} fields, expected {len(header)}"
            )
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def _read_toml(name: str) -> dict[str, Any]:
    try:
        return tomllib.loads(_text(name))
    except tomllib.TOMLDecodeError as exc:
        raise PlatformDataError(f"rules/{name}: {exc}") from exc


def _check_sha256(value: str, where: str) -> str:
    if not isinstance(value, str) or not _SHA256.match(value):
        raise PlatformDataError(f"{where}: {value!r} is not a lowercase hex SHA-256")
    return value


def _check_keys(entry: dict[str, Any], allowed: set[str], required: set[str], where: str) -> None:
    unknown = set(entry) - allowed
    missing = required - set(entry)
    if unknown:
        raise PlatformDataError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    if missing:
        raise PlatformDataError(f"{where}: missing key(s) {', '.join(sorted(missing))}")


def _opt_int(value: str) -> int | None:
    return int(value) if value else None


# --------------------------------------------------------------------------- Android


@cache
def _android_versions() -> tuple[_AndroidVersion, ...]:
    versions = []
    for row in _read_tsv(PLATFORMS_DIR, "android_versions.tsv"):
        version = _AndroidVersion(row["label"], int(row["api_min"]), int(row["api_max"]))
        if version.api_min > version.api_max:
            raise PlatformDataError(f"rules/platforms/android_versions.tsv: {version.label}: api")
        versions.append(version)
    return tuple(versions)


def _expand_present_in(spec: str, sha256: str) -> tuple[str, ...]:
    """``"2.3..4.4.3,7.0"`` -> every snapshot label in android_versions.tsv order."""
    labels = [v.label for v in _android_versions()]
    index = {label: i for i, label in enumerate(labels)}
    out: list[str] = []
    for part in filter(None, spec.split(",")):
        first, _, last = part.partition("..")
        last = last or first
        if first not in index or last not in index or index[first] > index[last]:
            raise PlatformDataError(
                f"rules/platforms/android_roots.tsv: {sha256}: bad present_in part {part!r}"
            )
        out.extend(labels[index[first] : index[last] + 1])
    return tuple(out)


@cache
def _roots() -> dict[str, RootInfo]:
    android = {}
    for row in _read_tsv(PLATFORMS_DIR, "android_roots.tsv"):
        sha = _check_sha256(row["sha256"], "rules/platforms/android_roots.tsv")
        android[sha] = row
    apple = {}
    for row in _read_tsv(PLATFORMS_DIR, "apple_roots.tsv"):
        sha = _check_sha256(row["sha256"], "rules/platforms/apple_roots.tsv")
        if row["status"] not in APPLE_STATUSES:
            raise PlatformDataError(f"rules/platforms/apple_roots.tsv: {sha}: bad status")
        apple[sha] = row
    info: dict[str, RootInfo] = {}
    for sha in sorted(android.keys() | apple.keys()):
        a, b = android.get(sha), apple.get(sha)
        row = a or b
        assert row is not None
        info[sha] = RootInfo(
            sha256=sha,
            name=row["name"],
            not_after=row["not_after"] or None,
            android_first_api=_opt_int(a["first_api"]) if a else None,
            android_last_api=_opt_int(a["last_api"]) if a else None,
            android_present_in=_expand_present_in(a["present_in"], sha) if a else (),
            apple_status=b["status"] if b else None,
            subject=row["subject"],
            key=row["key"],
            apple_present_in=_expand_apple_present_in(b["present_in"], sha) if b else (),
        )
    return info


def root_info(sha256: str) -> RootInfo | None:
    """Everything the platform tables know about a certificate, or None."""
    return _roots().get(sha256.lower().replace(":", ""))


@cache
def _roots_by_subject() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for info in _roots().values():
        out.setdefault(info.subject, []).append(info.sha256)
    return {subject: tuple(shas) for subject, shas in out.items()}


def roots_by_subject(subject: str) -> tuple[str, ...]:
    """SHA-256 of every tabulated certificate with this subject DN (RFC 4514 string)."""
    return _roots_by_subject().get(subject, ())


def android_known_api_range() -> tuple[int, int]:
    """Lowest and highest Android API level the store data covers."""
    versions = _android_versions()
    return min(v.api_min for v in versions), max(v.api_max for v in versions)


def android_snapshot_for_api(api: int) -> str:
    """The store snapshot label used for an API level.

    The newest snapshot covering ``api``; for the uncovered levels inside the
    known range (Android 3.x, 4.4W, 12L) the newest snapshot before it.  Levels
    outside :func:`android_known_api_range` raise ``ValueError``.
    """
    low, high = android_known_api_range()
    if not low <= api <= high:
        raise ValueError(f"Android API level {api} is outside the store data (API {low}..{high})")
    versions = _android_versions()
    covering = [v for v in versions if v.api_min <= api <= v.api_max]
    if covering:
        return covering[-1].label
    return [v for v in versions if v.api_max < api][-1].label


@cache
def android_store(api: int) -> frozenset[str]:
    """SHA-256 of every root in the Android system store at that API level."""
    label = android_snapshot_for_api(api)
    return frozenset(sha for sha, info in _roots().items() if label in info.android_present_in)


def android_first_trusting_version(sha256: str) -> str | None:
    """The first Android store snapshot (a version label, e.g. "7.1") with this root."""
    info = root_info(sha256)
    if info is None or not info.android_present_in:
        return None
    return info.android_present_in[0]


def android_api(root_store: str) -> int | None:
    """The API level of an ``"android:<api>"`` root_store value, else None."""
    match = _ANDROID_STORE.match(root_store)
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------- Apple


def _version_key(version: str) -> tuple[int, ...]:
    """``"12.1.3"`` -> ``(12, 1, 3)``; a bare major ``"9"`` -> ``(9, inf)``: its last release."""
    parts = tuple(int(p) for p in version.split("."))
    return parts if len(parts) > 1 else (parts[0], 1 << 30)


@cache
def _apple_versions() -> tuple[str, ...]:
    """The iOS release labels of apple_versions.tsv, oldest first (the present_in order)."""
    where = "rules/platforms/apple_versions.tsv"
    labels: list[str] = []
    for row in _read_tsv(PLATFORMS_DIR, "apple_versions.tsv"):
        label = row["label"]
        if not re.match(r"^\d+\.\d+(?:\.\d+)?$", label):
            raise PlatformDataError(f"{where}: bad label {label!r}")
        if labels and _version_key(label) <= _version_key(labels[-1]):
            raise PlatformDataError(f"{where}: {label} is not newer than {labels[-1]}")
        labels.append(label)
    if not labels:
        raise PlatformDataError(f"{where}: no releases")
    return tuple(labels)


def _expand_apple_present_in(spec: str, sha256: str) -> tuple[str, ...]:
    """``"9.0..10.2,12.0.."`` -> every apple_versions.tsv label in it ("a.." = to the newest)."""
    labels = _apple_versions()
    index = {label: i for i, label in enumerate(labels)}
    out: list[str] = []
    for part in filter(None, spec.split(",")):
        first, dots, last = part.partition("..")
        last = (last or labels[-1]) if dots else first
        if first not in index or last not in index or index[first] > index[last]:
            raise PlatformDataError(
                f"rules/platforms/apple_roots.tsv: {sha256}: bad present_in part {part!r}"
            )
        out.extend(labels[index[first] : index[last] + 1])
    return tuple(out)


def apple_release(root_store: str) -> str | None:
    """The iOS version of an ``"apple:<version>"`` root_store value, else None."""
    match = _APPLE_STORE.match(root_store)
    return match.group(1) if match else None


def apple_known_releases() -> tuple[str, str]:
    """Oldest and newest iOS release label the per-release Apple store data covers."""
    labels = _apple_versions()
    return labels[0], labels[-1]


@cache
def apple_label_for(version: str | None) -> str | None:
    """The apple_versions.tsv label whose store iOS ``version`` runs; None = newer than the
    data (or ``version`` None): the current store.  Older than the data: ``ValueError``."""
    if version is None:
        return None
    key = _version_key(version)
    labels = _apple_versions()
    if key < _version_key(labels[0]):
        raise ValueError(f"iOS {version} is older than the Apple store data (iOS {labels[0]}..)")
    if key > _version_key(labels[-1]):
        return None  # newer than the newest tagged release: the current store
    return [label for label in labels if _version_key(label) <= key][-1]


@cache
def apple_store(version: str | None = None) -> frozenset[str]:
    """SHA-256 of every Apple trust anchor of iOS ``version`` (``"9"`` = the last iOS 9,
    ``"15.3"``); None, or a release newer than the data, = the current anchors (trusted)."""
    label = apple_label_for(version)
    if label is None:
        return frozenset(sha for sha, info in _roots().items() if info.apple_status == "trusted")
    return frozenset(sha for sha, info in _roots().items() if label in info.apple_present_in)


def apple_store_updatable(label: str) -> bool:
    """Whether devices on release ``label`` may hold roots newer than its tag: Apple ships
    trust store assets (MobileAsset PKITrustStore) to the two newest majors it supports."""
    majors = sorted({int(v.split(".")[0]) for v in _apple_versions()})
    return int(label.split(".")[0]) in majors[-2:]


def apple_first_trusting_release(sha256: str) -> str | None:
    """The first iOS release label (apple_versions.tsv) whose store has this root."""
    info = root_info(sha256)
    if info is None or not info.apple_present_in:
        return None
    return info.apple_present_in[0]


def apple_added_after(sha256: str, label: str) -> str | None:
    """The first release with this root if that is newer than release ``label``, else None
    (the root was removed, or never tabulated)."""
    first = apple_first_trusting_release(sha256)
    if first is None or _version_key(first) <= _version_key(label):
        return None
    return first


# --------------------------------------------------------------------------- distrust

_EVENT_KEYS = {"name", "source", "certificates", "rules"}
_CERT_KEYS = {"sha256", "type", "name"}
_RULE_KEYS = {"platform", "kind", "cutoff", "effective", "effective_date", "only", "source", "note"}


def _rule(entry: dict[str, Any], where: str) -> DistrustRule:
    _check_keys(entry, _RULE_KEYS, {"platform", "kind", "effective", "source"}, where)
    platform, kind = entry["platform"], entry["kind"]
    if platform not in DISTRUST_PLATFORMS:
        raise PlatformDataError(f"{where}: unknown platform {platform!r}")
    if kind not in DISTRUST_KINDS:
        raise PlatformDataError(f"{where}: unknown kind {kind!r}")
    cutoff = entry.get("cutoff")
    if (cutoff is None) == (kind in DATED_KINDS):
        verb = "needs" if cutoff is None else "takes no"
        raise PlatformDataError(f"{where}: kind {kind} {verb} cutoff")
    if cutoff is not None and (not isinstance(cutoff, datetime) or cutoff.tzinfo is None):
        raise PlatformDataError(f"{where}: cutoff must be a UTC date-time (2024-11-11T23:59:59Z)")
    eff_date = entry.get("effective_date")
    if eff_date is not None and (isinstance(eff_date, datetime) or not isinstance(eff_date, date)):
        raise PlatformDataError(f"{where}: effective_date must be a date (YYYY-MM-DD)")
    return DistrustRule(
        platform=platform,
        kind=kind,
        cutoff=cutoff.astimezone(UTC) if cutoff is not None else None,
        effective=entry["effective"],
        effective_date=eff_date,
        source=entry["source"],
        note=entry.get("note", ""),
    )


def _event_groups(entry: dict[str, Any], where: str) -> list[DistrustEvent]:
    _check_keys(entry, _EVENT_KEYS, _EVENT_KEYS, where)
    certs: list[tuple[str, str]] = []
    for cert in entry["certificates"]:
        _check_keys(cert, _CERT_KEYS, _CERT_KEYS, f"{where}: certificate")
        certs.append((_check_sha256(cert["sha256"], where), cert["name"]))
    shas = [sha for sha, _ in certs]
    if not certs or len(set(shas)) != len(shas):
        raise PlatformDataError(f"{where}: certificates must be a non-empty list without repeats")
    covered: dict[str, list[DistrustRule]] = {sha: [] for sha in shas}
    for number, raw in enumerate(entry["rules"], start=1):
        rule_where = f"{where}: rule {number}"
        rule = _rule(raw, rule_where)
        targets = shas
        if "only" in raw:
            targets = []
            for prefix in raw["only"]:
                hits = [sha for sha in shas if sha.startswith(prefix)]
                if len(prefix) < 8 or len(hits) != 1:
                    raise PlatformDataError(
                        f"{rule_where}: 'only' entry {prefix!r} must match "
                        "exactly one of the event's certificates"
                    )
                targets.append(hits[0])
        for sha in targets:
            covered[sha].append(rule)
    groups: dict[tuple[DistrustRule, ...], list[tuple[str, str]]] = {}
    for sha, name in certs:
        rules = tuple(covered[sha])
        if not rules:
            raise PlatformDataError(f"{where}: no rule covers certificate {sha}")
        groups.setdefault(rules, []).append((sha, name))
    return [
        DistrustEvent(
            name=entry["name"], certificates=tuple(group), rules=rules, source=entry["source"]
        )
        for rules, group in groups.items()
    ]


@cache
def distrust_events() -> tuple[DistrustEvent, ...]:
    """Every distrust event, split into certificate groups that share the same rules."""
    data = _read_toml("distrusted_cas.toml")
    _check_keys(data, {"event"}, {"event"}, "rules/distrusted_cas.toml")
    events: list[DistrustEvent] = []
    for number, entry in enumerate(data["event"], start=1):
        where = f"rules/distrusted_cas.toml: event {number} ({entry.get('name', '?')})"
        events.extend(_event_groups(entry, where))
    return tuple(events)


@cache
def _distrust_index() -> dict[str, tuple[DistrustEvent, ...]]:
    index: dict[str, list[DistrustEvent]] = {}
    for event in distrust_events():
        for sha, _ in event.certificates:
            index.setdefault(sha, []).append(event)
    return {sha: tuple(events) for sha, events in index.items()}


def distrust_index() -> Mapping[str, tuple[DistrustEvent, ...]]:
    """SHA-256 -> the distrust events that cover that certificate: the shared, cached index
    (read it, do not change it; :func:`distrust_by_fingerprint` gives a copy)."""
    return _distrust_index()


def distrust_by_fingerprint() -> dict[str, list[DistrustEvent]]:
    """SHA-256 -> the distrust events that cover that certificate (a fresh dict)."""
    return {sha: list(events) for sha, events in _distrust_index().items()}


# --------------------------------------------------------------------------- Chrome

CHROME_TABLE = "chrome_roots.tsv"
_CHROME_KINDS = frozenset({"root", "intermediate"})
_CHROME_TIMES = (
    "sct_not_after",
    "sct_all_after",
    "validity_starts_not_after",
    "validity_starts_after",
)
_CHROME_VERSION = re.compile(r"^\d+(?:\.\d+){0,3}$")


@dataclass(frozen=True)
class ChromeConstraintSet:
    """One ConstraintSet of a Chrome Root Store anchor: every field that is set must hold."""

    sct_not_after: datetime | None = None
    sct_all_after: datetime | None = None
    validity_starts_not_after: datetime | None = None
    validity_starts_after: datetime | None = None
    min_version: tuple[int, ...] | None = None  # Chrome >= this ("131" = any M131)
    max_version_exclusive: tuple[int, ...] | None = None  # Chrome < this
    permitted_dns_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChromeRoot:
    """One row of ``rules/platforms/chrome_roots.tsv``."""

    sha256: str
    name: str
    subject: str
    kind: str  # root | intermediate (an additional cert with tls_trust_anchor)
    ev: bool
    enforce_expiry: bool
    #: the anchor is trusted only when one of these holds; empty = unconstrained
    constraints: tuple[ChromeConstraintSet, ...] = ()


def chrome_version(text: str) -> tuple[int, ...]:
    """``"131"`` / ``"121.0.6167.160"`` -> (131,) / (121, 0, 6167, 160); ValueError otherwise."""
    if not _CHROME_VERSION.match(text.strip()):
        raise ValueError(f"{text!r} is not a Chrome version")
    return tuple(int(part) for part in text.strip().split("."))


def _chrome_constraints(spec: str, where: str) -> tuple[ChromeConstraintSet, ...]:
    sets = []
    for part in filter(None, (p.strip() for p in spec.split("|"))):
        values: dict[str, Any] = {}
        for item in part.split(";"):
            key, sep, value = item.strip().partition("=")
            if key == "any" and not sep:
                continue
            if not sep or key in values:
                raise PlatformDataError(f"{where}: bad constraint {item!r}")
            try:
                if key in _CHROME_TIMES:
                    values[key] = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                elif key in ("min_version", "max_version_exclusive"):
                    values[key] = chrome_version(value)
                elif key == "permitted_dns_names":
                    values[key] = tuple(n for n in value.lower().split(",") if n)
                else:
                    raise PlatformDataError(f"{where}: unknown constraint {key!r}")
            except ValueError as exc:
                raise PlatformDataError(f"{where}: bad constraint {item!r}: {exc}") from exc
        sets.append(ChromeConstraintSet(**values))
    return tuple(sets)


@cache
def chrome_roots() -> dict[str, ChromeRoot]:
    """Every TLS trust anchor of the Chrome Root Store table, by SHA-256."""
    where = f"rules/{PLATFORMS_DIR}/{CHROME_TABLE}"
    out: dict[str, ChromeRoot] = {}
    for row in _read_tsv(PLATFORMS_DIR, CHROME_TABLE):
        sha = _check_sha256(row["sha256"], where)
        if sha in out:
            raise PlatformDataError(f"{where}: {sha} is listed twice")
        if row["kind"] not in _CHROME_KINDS:
            raise PlatformDataError(f"{where}: {sha}: bad kind {row['kind']!r}")
        out[sha] = ChromeRoot(
            sha256=sha,
            name=row["name"],
            subject=row["subject"],
            kind=row["kind"],
            ev=row["ev"] == "yes",
            enforce_expiry=row["enforce_expiry"] == "yes",
            constraints=_chrome_constraints(row["constraints"], f"{where}: {sha}"),
        )
    return out


@cache
def chrome_store() -> frozenset[str]:
    """SHA-256 of every Chrome Root Store TLS trust anchor (roots and trusted intermediates)."""
    return frozenset(chrome_roots())


# --------------------------------------------------------------------------- clients

_CLIENT_LISTS = (
    "protocols",
    "cipher_suites",
    "tls13_cipher_suites",
    "supported_groups",
    "key_share_groups",
    "signature_algorithms",
    "signature_algorithms_cert",
    "alpn",
)
_CLIENT_BITS = ("min_rsa_bits", "max_rsa_bits", "min_dh_bits", "max_dh_bits", "min_ecdsa_bits")
_CLIENT_BOOLS = ("sni", "requires_sha2", "current", "legacy", "fetches_aia", "ats")
_CLIENT_STRINGS = ("id", "name", "platform", "os_version", "root_store", "evidence", "source")
_CLIENT_KEYS = {
    *_CLIENT_LISTS,
    *_CLIENT_BITS,
    *_CLIENT_BOOLS,
    *_CLIENT_STRINGS,
    "api_level",
    "android_store_snapshot",
    "requires_sha2_source",
    "source_entry",
    "derivation",
    "note",
    "client_hello",
    "capture_deviation",
}
_CLIENT_REQUIRED = {
    *_CLIENT_BOOLS,
    *_CLIENT_STRINGS,
    "protocols",
    "cipher_suites",
    "tls13_cipher_suites",
    "supported_groups",
    "signature_algorithms",
}


def _client(entry: dict[str, Any], where: str) -> ClientProfile:
    _check_keys(entry, _CLIENT_KEYS, _CLIENT_REQUIRED, where)
    for key in _CLIENT_BOOLS:
        if not isinstance(entry[key], bool):
            raise PlatformDataError(f"{where}: {key} must be true or false")
    for key in _CLIENT_LISTS:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PlatformDataError(f"{where}: {key} must be a list of strings")
    for key in _CLIENT_BITS:
        if key in entry and (not isinstance(entry[key], int) or entry[key] <= 0):
            raise PlatformDataError(f"{where}: {key} must be a positive integer")
    if entry["platform"] not in CLIENT_PLATFORMS:
        raise PlatformDataError(f"{where}: unknown platform {entry['platform']!r}")
    bad = [p for p in entry["protocols"] if p not in PROTOCOLS]
    if not entry["protocols"] or bad:
        raise PlatformDataError(f"{where}: protocols must be a non-empty subset of {PROTOCOLS}")
    store = entry["root_store"]
    api = entry.get("api_level")
    store_api = android_api(store)
    ios = apple_release(store)
    if store_api is None and ios is None and store not in _OTHER_STORES:
        raise PlatformDataError(f"{where}: unknown root_store {store!r}")
    if ios is not None:
        os_major = re.match(r"\d+", entry["os_version"])
        try:
            apple_label_for(ios)
        except ValueError as exc:
            raise PlatformDataError(f"{where}: root_store {store!r}: {exc}") from exc
        if entry["platform"] != "ios" or os_major is None or os_major.group() != ios.split(".")[0]:
            raise PlatformDataError(
                f"{where}: root_store {store!r} does not match the platform and os_version"
            )
    # A release newer than the store data uses the newest (updatable, Conscrypt APEX) store.
    newest = android_known_api_range()[1]
    store_matches = api == store_api or (
        store_api == newest and isinstance(api, int) and api > newest
    )
    if (entry["platform"] == "android") != (store_api is not None) or not store_matches:
        raise PlatformDataError(
            f"{where}: root_store {store!r} does not match the platform and api_level"
        )
    if entry["requires_sha2"] and not entry.get("requires_sha2_source"):
        raise PlatformDataError(
            f"{where}: requires_sha2 = true needs requires_sha2_source (the vendor statement); "
            "otherwise the SHA-1 rule follows signature_algorithms"
        )
    for key in ("client_hello", "capture_deviation", "requires_sha2_source"):
        if key in entry and not isinstance(entry[key], str):
            raise PlatformDataError(f"{where}: {key} must be a string")
    return ClientProfile(
        id=entry["id"],
        name=entry["name"],
        platform=entry["platform"],
        os_version=entry["os_version"],
        api_level=api,
        root_store=store,
        protocols=tuple(entry["protocols"]),
        cipher_suites=tuple(entry["cipher_suites"]),
        tls13_cipher_suites=tuple(entry["tls13_cipher_suites"]),
        supported_groups=tuple(entry["supported_groups"]),
        signature_algorithms=tuple(entry["signature_algorithms"]),
        sni=entry["sni"],
        min_rsa_bits=entry.get("min_rsa_bits"),
        min_dh_bits=entry.get("min_dh_bits"),
        max_dh_bits=entry.get("max_dh_bits"),
        min_ecdsa_bits=entry.get("min_ecdsa_bits"),
        requires_sha2=entry["requires_sha2"],
        current=entry["current"],
        legacy=entry["legacy"],
        fetches_aia=entry["fetches_aia"],
        ats=entry["ats"],
        source=entry["source"],
        key_share_groups=tuple(entry.get("key_share_groups", ())),
        max_rsa_bits=entry.get("max_rsa_bits"),
        android_store_snapshot=entry.get("android_store_snapshot"),
        evidence=entry["evidence"],
        note=entry.get("note", ""),
        signature_algorithms_cert=tuple(entry.get("signature_algorithms_cert", ())),
        requires_sha2_source=entry.get("requires_sha2_source", ""),
        client_hello=entry.get("client_hello", ""),
        capture_deviation=entry.get("capture_deviation", ""),
    )


@cache
def client_profiles() -> tuple[ClientProfile, ...]:
    """Every client profile of ``rules/clients.toml``, in file order."""
    data = _read_toml("clients.toml")
    _check_keys(data, {"client"}, {"client"}, "rules/clients.toml")
    profiles = []
    for number, entry in enumerate(data["client"], start=1):
        where = f"rules/clients.toml: client {number} ({entry.get('id', '?')})"
        profiles.append(_client(entry, where))
    ids = [p.id for p in profiles]
    if len(set(ids)) != len(ids):
        raise PlatformDataError("rules/clients.toml: client ids must be unique")
    return tuple(profiles)


# --------------------------------------------------------------------------- sources


@cache
def data_sources() -> tuple[DataSource, ...]:
    """One entry per data table in ``rules/``: what it holds, sources, snapshot date."""
    data = _read_toml("sources.toml")
    _check_keys(data, {"table"}, {"table"}, "rules/sources.toml")
    out = []
    keys = {"file", "description", "sources", "snapshot"}
    for number, entry in enumerate(data["table"], start=1):
        where = f"rules/sources.toml: table {number} ({entry.get('file', '?')})"
        _check_keys(entry, keys, keys, where)
        snapshot = entry["snapshot"]
        if isinstance(snapshot, datetime) or not isinstance(snapshot, date):
            raise PlatformDataError(f"{where}: snapshot must be a date (YYYY-MM-DD)")
        out.append(
            DataSource(
                file=entry["file"],
                description=entry["description"],
                sources=tuple(entry["sources"]),
                snapshot=snapshot,
            )
        )
    return tuple(out)
