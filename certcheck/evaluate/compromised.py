"""Known-compromised CAs (rules/compromised_roots.toml) and the chains that reach them.

A chain that ends at Superfish, eDellRoot and the like is not "missing an
intermediate": the CA's key is public (or the CA exists to intercept TLS), so
anyone can mint a certificate for any site under it.  A certificate that was
served or sits on the built path matches by its DER fingerprint (SHA-256,
SHA-1) or by its public key (SPKI SHA-256, which also catches a re-issued copy
of the same key).  When the CA itself was not sent, only the top certificate's
*issuer name* can be compared; that weaker match says so in its evidence.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from certcheck.catalog import read_data
from certcheck.evaluate.certinfo import by_identity, fingerprint

TABLE_FILE = "compromised_roots.toml"
KINDS = frozenset({"key_disclosed", "interception"})
_REQUIRED = frozenset({"name", "subject", "kind", "disclosed", "source"})
_OPTIONAL = frozenset({"sha256", "sha1", "spki_sha256", "references", "facts_from", "note"})
_HEX_LENGTH = {"sha256": 64, "sha1": 40, "spki_sha256": 64}
_PARTIAL_DATE = re.compile(r"\d{4}(-(0[1-9]|1[0-2]))?")
_FULL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: one RDN, normalised: sorted (OID, value with runs of white space folded, case-folded)
NameKey = tuple[tuple[tuple[str, str], ...], ...]


class CompromisedTableError(ValueError):
    """rules/compromised_roots.toml (or a table given to find_compromised) is malformed."""


@dataclass(frozen=True)
class CompromisedRoot:
    """One row of the table: a CA certificate whose key must be treated as public."""

    name: str
    subject: str
    subject_key: NameKey
    kind: str
    disclosed: str
    source: str
    sha256: str | None = None
    sha1: str | None = None
    spki_sha256: str | None = None
    references: tuple[str, ...] = ()
    note: str = ""


def name_key(name: x509.Name) -> NameKey:
    """A comparison key for a distinguished name.

    RFC 5280 §7.1 compares names after case folding and white-space
    compression; this is that comparison, close enough for recognising a
    known CA by name (attribute order inside an RDN does not matter).
    """
    return tuple(
        tuple(sorted((a.oid.dotted_string, " ".join(str(a.value).split()).casefold()) for a in rdn))
        for rdn in name.rdns
    )


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry[key]
    if not isinstance(value, str) or not value.strip():
        raise CompromisedTableError(f"{where}: {key} must be a non-empty string, not {value!r}")
    return value


def _url(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise CompromisedTableError(f"{where}: {value!r} is not an http(s) URL")
    return value


def _disclosed(value: Any, where: str) -> str:
    """A TOML date (or its ISO string), or "YYYY" / "YYYY-MM" where the day is not established."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and _PARTIAL_DATE.fullmatch(value):
        return value
    if isinstance(value, str) and _FULL_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise CompromisedTableError(
        f"{where}: disclosed must be a date (YYYY-MM-DD) or 'YYYY' / 'YYYY-MM', not {value!r}"
    )


def _digest(entry: Mapping[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(f"[0-9a-f]{{{_HEX_LENGTH[key]}}}", value):
        raise CompromisedTableError(
            f"{where}: {key} must be {_HEX_LENGTH[key]} lowercase hex digits, not {value!r}"
        )
    return value


def _row(entry: Any, where: str) -> CompromisedRoot:
    if not isinstance(entry, Mapping):
        raise CompromisedTableError(f"{where}: not a table")
    missing = _REQUIRED - entry.keys()
    unknown = entry.keys() - _REQUIRED - _OPTIONAL
    if missing:
        raise CompromisedTableError(f"{where}: missing {sorted(missing)}")
    if unknown:
        raise CompromisedTableError(f"{where}: unknown {sorted(unknown)}")
    subject = _text(entry, "subject", where)
    try:
        parsed = x509.Name.from_rfc4514_string(subject)
    except ValueError as exc:
        raise CompromisedTableError(f"{where}: subject {subject!r} is not RFC 4514: {exc}") from exc
    kind = _text(entry, "kind", where)
    if kind not in KINDS:
        raise CompromisedTableError(f"{where}: kind {kind!r} is not one of {sorted(KINDS)}")
    references = entry.get("references", [])
    if not isinstance(references, list):
        raise CompromisedTableError(f"{where}: references must be a list of URLs")
    note = entry.get("note", "")
    if not isinstance(note, str):
        raise CompromisedTableError(f"{where}: note must be a string")
    return CompromisedRoot(
        name=_text(entry, "name", where),
        subject=subject,
        subject_key=name_key(parsed),
        kind=kind,
        disclosed=_disclosed(entry["disclosed"], where),
        source=_url(entry["source"], where),
        sha256=_digest(entry, "sha256", where),
        sha1=_digest(entry, "sha1", where),
        spki_sha256=_digest(entry, "spki_sha256", where),
        references=tuple(_url(url, where) for url in references),
        note=note,
    )


def parse_table(data: Mapping[str, Any], where: str = TABLE_FILE) -> tuple[CompromisedRoot, ...]:
    """Validate a parsed table (``{"root": [...]}``); CompromisedTableError names the bad row."""
    entries = data.get("root")
    if not isinstance(entries, list) or not entries:
        raise CompromisedTableError(f"{where}: no [[root]] entries")
    rows = tuple(_row(entry, f"{where}: [[root]] #{n}") for n, entry in enumerate(entries, 1))
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, 1):
        for value in (row.sha256, row.sha1):
            if value is not None and seen.setdefault(value, n) != n:
                raise CompromisedTableError(
                    f"{where}: [[root]] #{n} repeats the fingerprint of #{seen[value]}"
                )
    return rows


@cache
def load_compromised() -> tuple[CompromisedRoot, ...]:
    """The shipped table, validated once per process."""
    try:
        data = tomllib.loads(read_data(TABLE_FILE).decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CompromisedTableError(f"{TABLE_FILE}: {exc}") from exc
    return parse_table(data)


@dataclass(frozen=True)
class _Index:
    by_digest: dict[tuple[str, str], tuple[CompromisedRoot, ...]]
    by_name: dict[NameKey, tuple[CompromisedRoot, ...]]


def _build_index(rows: Iterable[CompromisedRoot]) -> _Index:
    by_digest: dict[tuple[str, str], list[CompromisedRoot]] = {}
    by_name: dict[NameKey, list[CompromisedRoot]] = {}
    for row in rows:
        for field in ("sha256", "sha1", "spki_sha256"):
            value = getattr(row, field)
            if value is not None:
                by_digest.setdefault((field, value), []).append(row)
        by_name.setdefault(row.subject_key, []).append(row)
    return _Index(
        {k: tuple(v) for k, v in by_digest.items()}, {k: tuple(v) for k, v in by_name.items()}
    )


@cache
def _default_index() -> _Index:
    return _build_index(load_compromised())


def _spki_sha256(cert: x509.Certificate) -> str | None:
    try:
        der = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, TypeError, NotImplementedError, UnsupportedAlgorithm):
        # a key type cryptography does not know, or a malformed key: match by fingerprint only
        return None
    return hashlib.sha256(der).hexdigest()


@by_identity
def _digests(cert: x509.Certificate) -> tuple[tuple[str, str], ...]:
    """(Cached, as certinfo.fingerprint is: a fleet's targets share their CAs.)"""
    found = [("sha256", fingerprint(cert)), ("sha1", cert.fingerprint(hashes.SHA1()).hex())]
    spki = _spki_sha256(cert)
    if spki is not None:
        found.append(("spki_sha256", spki))
    return tuple(found)


_MATCHED_BY = {"sha256": "fingerprint", "sha1": "fingerprint", "spki_sha256": "public key"}


def _evidence(row: CompromisedRoot, matched_by: str, detail: str, cert: str | None) -> dict:
    return {
        "name": row.name,
        "kind": row.kind,
        "disclosed": row.disclosed,
        "source": row.source,
        "matched_by": matched_by,
        "subject": row.subject,
        "certificate_sha256": cert,
        "detail": detail,
    }


def find_compromised(
    certs: Sequence[x509.Certificate],
    top_issuer: x509.Name | None,
    table: Sequence[CompromisedRoot] | None = None,
) -> list[dict[str, Any]]:
    """Evidence for every table row the chain reaches (empty list: none).

    ``certs``: every certificate served or on the built path, roots included.
    ``top_issuer``: the issuer name of the chain's top certificate when that
    issuer was not sent (None otherwise).  It matches by name only when no
    certificate in ``certs`` carries that name: a same-named CA whose key is
    present and different is not the compromised one.  ``table`` replaces the
    shipped table (tests, callers with their own list).
    """
    index = _default_index() if table is None else _build_index(table)
    evidence: list[dict[str, Any]] = []
    matched: set[int] = set()
    for cert in certs:
        for field, value in _digests(cert):
            for row in index.by_digest.get((field, value), ()):
                if id(row) not in matched:
                    matched.add(id(row))
                    detail = f"a certificate of the chain has this CA's {field.replace('_', ' ')}"
                    evidence.append(_evidence(row, _MATCHED_BY[field], detail, fingerprint(cert)))
    if top_issuer is None:
        return evidence
    wanted = name_key(top_issuer)
    if any(name_key(cert.subject) == wanted for cert in certs):
        return evidence
    names_done = {e["name"] for e in evidence}
    for row in index.by_name.get(wanted, ()):
        if row.name in names_done:
            continue
        names_done.add(row.name)
        detail = (
            "matched by name: the chain's top certificate names this CA as its issuer; "
            "the CA certificate was not sent, so its key could not be compared"
        )
        evidence.append(_evidence(row, "name", detail, None))
    return evidence
