"""Chrome Root Store: Chromium's ``root_store.textproto`` -> ``rules/platforms/chrome_roots.tsv``.

The upstream file is a text-format protobuf (``chrome_root_store.RootStore``, defined in
Chromium's ``net/cert/root_store.proto``): ``trust_anchors { sha256_hex: "…" constraints { … } }``
entries, ``additional_certs`` (CA certificates shipped with the store; only those with
``tls_trust_anchor: true`` are TLS trust anchors) and ``mtc_anchors`` (Merkle Tree Certificate
logs, which have no certificate and are not tabulated).  The comment line above each entry
names the certificate's subject; the table takes it as the row's name.

The parser is a small, strict reader of the text format: anything it cannot read, a field
it does not know inside ``constraints`` (a constraint it cannot apply would make certcheck
trust more than Chrome does), bad hex, repeats and implausibly few anchors all raise
:class:`~certcheck.trustdata.TrustDataError` naming the line.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Union

from certcheck.trustdata import TableBuilder, TrustDataError, UpstreamFile, register

UPSTREAM_NAME = "root_store.textproto"
UPSTREAM_URL = (
    "https://raw.githubusercontent.com/chromium/chromium/main/"
    "net/data/ssl/chrome_root_store/root_store.textproto"
)
#: Chrome has shipped 130-150 roots since 2022; a file with far fewer is truncated or not it.
MIN_ANCHORS = 80

Value = Union[str, "Message"]
Message = dict[str, list[Value]]

_TOKEN = re.compile(
    r"""(?P<newline>\n)|(?P<space>[ \t\r\f\v]+)|(?P<comment>\#[^\n]*)
    |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    |(?P<punct>[{}<>:;,\[\]])|(?P<word>[-+]?[A-Za-z0-9_.]+)""",
    re.VERBOSE,
)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "?": "?"}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_VERSION = re.compile(r"^\d+(?:\.\d+){0,3}$")
_DNS_NAME = re.compile(r"^\.?[A-Za-z0-9*_-]+(?:\.[A-Za-z0-9_-]+)*\.?$")
_ATTR_SPLIT = re.compile(r",\s*(?=[A-Za-z][A-Za-z0-9.]*\s*=)")

#: ConstraintSet fields (root_store.proto) -> table key; times are seconds since the epoch
_TIME_FIELDS = {
    "sct_not_after_sec": "sct_not_after",
    "sct_all_after_sec": "sct_all_after",
    "validity_starts_not_after_sec": "validity_starts_not_after",
    "validity_starts_after_sec": "validity_starts_after",
}
_VERSION_FIELDS = ("min_version", "max_version_exclusive")
#: Merkle Tree Certificate index limits: "Ignored if specified on a classical TrustAnchor"
_IGNORED_CONSTRAINTS = frozenset({"index_not_after", "index_after"})
_ANCHOR_FIELDS = frozenset(
    {
        "der",
        "sha256_hex",
        "ev_policy_oids",
        "constraints",
        "display_name",
        "eutl",
        "enforce_anchor_expiry",
        "enforce_anchor_constraints",
        "tls_trust_anchor",
        "trust_anchor_id",
        "crs_root_id",
    }
)
_TOP_FIELDS = frozenset({"version_major", "trust_anchors", "additional_certs", "mtc_anchors"})

COLUMNS = ("sha256", "name", "subject", "kind", "ev", "enforce_expiry", "constraints")


# --------------------------------------------------------------------------- text format


@dataclass(frozen=True)
class _Token:
    kind: str  # string | punct | word
    text: str
    line: int


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    line, pos = 1, 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise TrustDataError(f"line {line}: cannot read {text[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        if kind == "newline":
            line += 1
        elif kind in ("string", "punct", "word"):
            out.append(_Token(kind, match.group(), line))
        pos = match.end()
    return out


def _unescape(token: _Token) -> str:
    """A quoted text-format string; bytes escapes (\\xNN, \\NNN) become code points < 256."""
    body, out, i = token.text[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[nxt])
            i += 2
        elif nxt in "xX" and re.match(r"[0-9A-Fa-f]{1,2}", body[i + 2 :]):
            digits = re.match(r"[0-9A-Fa-f]{1,2}", body[i + 2 :])
            assert digits is not None
            out.append(chr(int(digits.group(), 16)))
            i += 2 + len(digits.group())
        elif nxt in "01234567":
            digits = re.match(r"[0-7]{1,3}", body[i + 1 :])
            assert digits is not None
            out.append(chr(int(digits.group(), 8) & 0xFF))
            i += 1 + len(digits.group())
        else:
            raise TrustDataError(f"line {token.line}: unknown escape \\{nxt} in a string")
    return "".join(out)


class _Reader:
    """Recursive-descent reader of one text-format message (fields in file order)."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        #: line of each top-level field occurrence, in order: (name, line)
        self.top_lines: list[tuple[str, int]] = []

    def _peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def message(self, closing: str | None, depth: int = 0) -> Message:
        if depth > 16:
            raise TrustDataError("messages nested too deeply")
        msg: Message = {}
        while True:
            tok = self._peek()
            if tok is None:
                if closing is not None:
                    raise TrustDataError("the file ends inside a message (truncated?)")
                return msg
            if tok.kind == "punct" and tok.text == closing:
                self.pos += 1
                return msg
            if tok.kind != "word" or not re.match(r"^[A-Za-z_]\w*$", tok.text):
                raise TrustDataError(f"line {tok.line}: expected a field name, found {tok.text!r}")
            self.pos += 1
            if depth == 0:
                self.top_lines.append((tok.text, tok.line))
            msg.setdefault(tok.text, []).append(self._value(tok, depth))
            sep = self._peek()
            if sep is not None and sep.kind == "punct" and sep.text in ",;":
                self.pos += 1

    def _value(self, name: _Token, depth: int) -> Value:
        tok = self._peek()
        if tok is not None and tok.kind == "punct" and tok.text == ":":
            self.pos += 1
            tok = self._peek()
        if tok is None:
            raise TrustDataError(f"line {name.line}: {name.text} has no value (truncated?)")
        if tok.kind == "punct" and tok.text in "{<":
            self.pos += 1
            return self.message("}" if tok.text == "{" else ">", depth + 1)
        if tok.kind == "string":
            parts = []
            while tok is not None and tok.kind == "string":  # adjacent strings concatenate
                parts.append(_unescape(tok))
                self.pos += 1
                tok = self._peek()
            return "".join(parts)
        if tok.kind == "word":
            self.pos += 1
            return tok.text
        raise TrustDataError(f"line {tok.line}: {name.text}: unexpected {tok.text!r}")


# --------------------------------------------------------------------------- the root store


@dataclass(frozen=True)
class ChromeAnchor:
    """One TLS trust anchor of the Chrome Root Store, as the table holds it."""

    sha256: str
    name: str
    subject: str
    kind: str  # root | intermediate
    ev: bool
    enforce_expiry: bool
    constraints: tuple[str, ...]  # one rendered ConstraintSet each ("k=v;k=v")


@dataclass(frozen=True)
class ChromeRootStore:
    version_major: int
    anchors: tuple[ChromeAnchor, ...]
    trust_anchor_count: int
    additional_count: int
    mtc_count: int
    ignored_fields: tuple[str, ...]


def _scalar(values: list[Value], field: str, where: str) -> str:
    if len(values) != 1 or not isinstance(values[0], str):
        raise TrustDataError(f"{where}: {field} must be given once, as a value")
    return values[0]


def _bool(msg: Message, field: str, where: str) -> bool:
    if field not in msg:
        return False
    value = _scalar(msg[field], field, where)
    if value not in ("true", "false", "True", "False", "1", "0", "t", "f"):
        raise TrustDataError(f"{where}: {field} is {value!r}, not true/false")
    return value in ("true", "True", "1", "t")


def _int(value: str, what: str, where: str) -> int:
    if not re.match(r"^[-+]?\d{1,19}$", value):
        raise TrustDataError(f"{where}: {what} is {value!r}, not an integer")
    return int(value)


def _iso(seconds: int, where: str) -> str:
    try:
        moment = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise TrustDataError(f"{where}: {seconds} is not a usable time") from exc
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _constraint_set(msg: Value, where: str) -> str:
    if not isinstance(msg, dict):
        raise TrustDataError(f"{where}: constraints must be a message")
    unknown = set(msg) - set(_TIME_FIELDS) - set(_VERSION_FIELDS) - _IGNORED_CONSTRAINTS
    unknown -= {"permitted_dns_names"}
    if unknown:
        raise TrustDataError(
            f"{where}: unknown constraint field(s) {', '.join(sorted(unknown))}: certcheck "
            "cannot apply them, so it will not tabulate this store"
        )
    parts: list[str] = []
    for field, key in _TIME_FIELDS.items():
        if field in msg:
            seconds = _int(_scalar(msg[field], field, where), field, where)
            parts.append(f"{key}={_iso(seconds, where)}")
    for field in _VERSION_FIELDS:
        if field in msg:
            version = _scalar(msg[field], field, where)
            if not _VERSION.match(version):
                raise TrustDataError(f"{where}: {field} {version!r} is not a Chrome version")
            parts.append(f"{field}={version}")
    names = msg.get("permitted_dns_names", [])
    if names:
        if not all(isinstance(n, str) and _DNS_NAME.match(n) for n in names):
            raise TrustDataError(f"{where}: permitted_dns_names holds a bad DNS name")
        parts.append("permitted_dns_names=" + ",".join(str(n).lower() for n in names))
    if not parts:
        # An empty set is always satisfied: the anchor is effectively unconstrained.
        parts.append("any")
    return ";".join(parts)


def _attrs(subject: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in _ATTR_SPLIT.split(subject):
        key, sep, value = part.partition("=")
        if sep:
            out.setdefault(key.strip().upper(), value.strip())
    return out


def _subject_comment(lines: list[str], line: int) -> str:
    """The first line of the comment block right above an entry, if it names a subject."""
    block: list[str] = []
    index = line - 2  # the line before the entry, 0-based
    while index >= 0 and lines[index].lstrip().startswith("#"):
        block.insert(0, lines[index].lstrip()[1:].strip())
        index -= 1
    if not block:
        return ""
    first = block[0]
    if len(first) >= 2 and first[0] == first[-1] == '"':
        first = first[1:-1]
    return first if "=" in first and not first.startswith("http") else ""


def _clean(text: str) -> str:
    return " ".join(text.split())


def _anchor(entry: Value, kind: str, subject: str, where: str) -> ChromeAnchor | None:
    if not isinstance(entry, dict):
        raise TrustDataError(f"{where}: must be a message")
    if kind == "intermediate" and not _bool(entry, "tls_trust_anchor", where):
        return None  # shipped for other purposes (e.g. eutl QWAC CAs), not a TLS anchor
    if ("sha256_hex" in entry) == ("der" in entry):
        raise TrustDataError(f"{where}: needs exactly one of sha256_hex and der")
    if "sha256_hex" in entry:
        sha = _scalar(entry["sha256_hex"], "sha256_hex", where).lower()
        if not _SHA256.match(sha):
            raise TrustDataError(f"{where}: sha256_hex {sha[:80]!r} is not 64 hex digits")
    else:
        der = _scalar(entry["der"], "der", where)
        sha = hashlib.sha256(der.encode("latin-1", errors="strict")).hexdigest()
    display = entry.get("display_name")
    attrs = _attrs(subject)
    name = _scalar(display, "display_name", where) if display else ""
    name = name or attrs.get("CN") or attrs.get("OU") or attrs.get("O") or ""
    constraints = tuple(
        _constraint_set(c, f"{where} constraints {i}")
        for i, c in enumerate(entry.get("constraints", []), start=1)
    )
    return ChromeAnchor(
        sha256=sha,
        name=_clean(name),
        subject=_clean(subject),
        kind=kind,
        ev=bool(entry.get("ev_policy_oids")),
        enforce_expiry=_bool(entry, "enforce_anchor_expiry", where),
        constraints=constraints,
    )


def parse_root_store(data: bytes, min_anchors: int = MIN_ANCHORS) -> ChromeRootStore:
    """The TLS trust anchors of a ``root_store.textproto``; TrustDataError if it is not one.

    ``min_anchors`` is the plausibility floor on ``trust_anchors`` (tests read excerpts)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TrustDataError(f"not UTF-8 text (byte {exc.start})") from exc
    reader = _Reader(_tokens(text))
    store = reader.message(None)
    if "version_major" not in store:
        raise TrustDataError("no version_major: not a Chrome root_store.textproto")
    version = _int(_scalar(store["version_major"], "version_major", "top"), "version_major", "top")
    if not store.get("trust_anchors"):
        raise TrustDataError("no trust_anchors entries")
    lines = text.split("\n")
    anchors: list[ChromeAnchor] = []
    counters = {"trust_anchors": 0, "additional_certs": 0}
    seen: set[str] = set()
    for field, line in reader.top_lines:
        if field not in counters:
            continue
        entry = store[field][counters[field]]
        counters[field] += 1
        kind = "root" if field == "trust_anchors" else "intermediate"
        anchor = _anchor(entry, kind, _subject_comment(lines, line), f"line {line}: {field}")
        if anchor is None:
            continue
        if anchor.sha256 in seen:
            raise TrustDataError(f"line {line}: {anchor.sha256} is listed twice")
        seen.add(anchor.sha256)
        anchors.append(anchor)
    roots = sum(1 for a in anchors if a.kind == "root")
    if roots < min_anchors:
        raise TrustDataError(
            f"only {roots} trust_anchors (Chrome has well over {min_anchors}): truncated?"
        )
    return ChromeRootStore(
        version_major=version,
        anchors=tuple(anchors),
        trust_anchor_count=counters["trust_anchors"],
        additional_count=counters["additional_certs"],
        mtc_count=len(store.get("mtc_anchors", [])),
        ignored_fields=tuple(sorted(set(store) - _TOP_FIELDS)),
    )


# --------------------------------------------------------------------------- the table

_HEADER = """\
# Chrome Root Store: one row per TLS trust anchor in Chromium's
# net/data/ssl/chrome_root_store/root_store.textproto (Chrome on Windows, macOS, Linux,
# ChromeOS and Android; Chrome for iOS uses Apple's store).
#
# Columns (tab-separated, one header row after this block; empty = none):
#   sha256          SHA-256 of the certificate's DER, lowercase hex (sha256_hex upstream)
#   name            display_name if set, else CN, else OU, else O of the subject comment
#   subject         the subject as the comment above the entry gives it (Chromium's wording)
#   kind            root = a trust_anchors entry; intermediate = an additional_certs entry
#                   with tls_trust_anchor: true (a CA certificate Chrome trusts directly)
#   ev              yes = the entry lists EV policy OIDs
#   enforce_expiry  yes = Chrome enforces the anchor's validity period (enforce_anchor_expiry)
#   constraints     the entry's ConstraintSets: the anchor is trusted only when one set holds.
#                   Sets are separated by " | "; the fields of one set (";") must all hold:
#                     sct_not_after=T          the leaf has an SCT at or before T (UTC)
#                     sct_all_after=T          the leaf has SCTs, all after T
#                     validity_starts_not_after=T, validity_starts_after=T: the leaf's notBefore
#                     min_version=V            Chrome version >= V
#                     max_version_exclusive=V  Chrome version < V
#                     permitted_dns_names=a,b  every DNS name of the leaf is inside a or b
#                     any                      an empty set (always holds)
#
# Not here: additional_certs without tls_trust_anchor (e.g. EU QWAC CAs) and mtc_anchors
# (Merkle Tree Certificate logs: no certificate).
# Made by certcheck.trustdata.chrome from the upstream file; do not edit by hand.
"""


def render_table(store: ChromeRootStore, source: str, snapshot: date) -> str:
    """The text of ``rules/platforms/chrome_roots.tsv`` for a parsed store.

    ``snapshot`` becomes the header's "Snapshot of the facts" (the file has no date)."""
    intermediates = sum(1 for a in store.anchors if a.kind == "intermediate")
    source_lines = source.strip().splitlines() or [""]
    lines = [
        _HEADER.rstrip("\n"),
        f"# Source: {source_lines[0]}",
        *(f"#   {more.strip()}" for more in source_lines[1:]),
        f"#   version_major {store.version_major}: {store.trust_anchor_count} trust_anchors, "
        f"{store.additional_count} additional_certs ({intermediates} tls_trust_anchor), "
        f"{store.mtc_count} mtc_anchors",
    ]
    if store.ignored_fields:
        lines.append(f"#   top-level fields not read: {', '.join(store.ignored_fields)}")
    lines.append(f"# Snapshot of the facts: {snapshot.isoformat()}.")
    lines.append("\t".join(COLUMNS))
    for a in store.anchors:
        cells = (
            a.sha256,
            a.name,
            a.subject,
            a.kind,
            "yes" if a.ev else "",
            "yes" if a.enforce_expiry else "",
            " | ".join(a.constraints),
        )
        lines.append("\t".join(cells))
    return "\n".join(lines) + "\n"


def make_table(data: bytes, source: str, snapshot: date) -> str:
    """Parse ``root_store.textproto`` bytes and render the table, naming ``source``."""
    return render_table(parse_root_store(data), source, snapshot)


def build(files: dict[str, bytes]) -> str:
    """TableBuilder.build: ``{"root_store.textproto": bytes}`` -> the table text.

    root_store.textproto carries no date, so a refresh dates its facts by the day it was
    read (Chromium main at that moment); without a date the data-age note could never
    flag a refreshed table as stale."""
    if UPSTREAM_NAME not in files:
        raise TrustDataError(f"{UPSTREAM_NAME} is missing")
    source = f"{UPSTREAM_URL}\n(snapshot = the day it was read: the file carries no date)"
    return make_table(files[UPSTREAM_NAME], source, datetime.now(UTC).date())


BUILDER = register(
    TableBuilder(
        table="platforms/chrome_roots.tsv",
        description="Chrome Root Store trust anchors with their constraints",
        upstream=(
            UpstreamFile(
                name=UPSTREAM_NAME,
                url=UPSTREAM_URL,
                description="Chromium's Chrome Root Store definition (text protobuf)",
            ),
        ),
        build=build,
        min_rows=MIN_ANCHORS,
    )
)
