"""Apple's trust store per release, from ``apple-oss-distributions/security_certificates``.

Input of the full build (:func:`build_table`, ``python -m certcheck.trustdata.apple build``):
one GitHub tag archive (``.tar.gz``, as served at ``…/archive/refs/tags/<tag>.tar.gz``) for
every security_certificates tag named in ``rules/platforms/apple_versions.tsv``, keyed
``<tag>.tar.gz``, and the archive of ``main`` (``security_certificates-main.tar.gz``).
Input of ``certcheck data update`` (``TableBuilder.build`` = :func:`refresh_table`): the
main archive only; the releases' stores are history and stay as shipped, main decides
``status`` (old tags' archives are up to 80 MB each, over the download cap).  An
archive's first path component (GitHub's ``<repo>-<tag>/`` prefix) is ignored.  From each
archive the builder reads, by content (SHA-256 of the DER, never the file name; old tags
use human names):

* ``certificates/roots/`` — the trust anchors of that release;
* ``certificates/removed/`` (recursive) — certificates Apple took out of the store;
* ``certificates/distrusted/`` and ``certificates/revoked/`` — explicitly blocked ones.

Output: ``rules/platforms/apple_roots.tsv``, one row per distinct certificate, with the
releases (labels of apple_versions.tsv) whose ``certificates/roots`` hold it.

Regenerate the shipped table with ``python -m certcheck.trustdata.apple build DIR --out
rules/platforms/apple_roots.tsv``, DIR holding the archives (GitHub's downloads, or
``git archive --format=tar.gz --prefix=x/ <tag> certificates`` from a clone, named as above;
main as ``security_certificates-main.tar.gz``); ``certcheck data update`` downloads them.

Which iOS release a tag stands for is not in the archives: apple_versions.tsv records it
(distribution-macOS pins each macOS release to a tag; the iOS release is the one Apple
shipped with that macOS release), so the mapping is data with its sources, not code.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import sys
import tarfile
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from certcheck.trustdata import TableBuilder, TrustDataError, UpstreamFile, register
from certcheck.trustdata.fields import key_label, one_cell

TABLE = "platforms/apple_roots.tsv"
VERSIONS = "platforms/apple_versions.tsv"
REPO_URL = "https://github.com/apple-oss-distributions/security_certificates"
#: a release store with fewer anchors than this is a broken or foreign archive
MIN_ROOTS = 100
#: a certificate file larger than this is not a certificate
MAX_CERT_BYTES = 64 * 1024
#: decompressed archive size limit (old tags unpack to ~250 MB)
MAX_ARCHIVE_BYTES = 1024 * 1024 * 1024
_FOLDERS = ("roots", "removed", "distrusted", "revoked")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
#: the default branch: Apple's newest published store, possibly newer than any tag in
#: apple_versions.tsv; it decides ``status`` (what a current Apple OS trusts)
CURRENT = "security_certificates-main.tar.gz"


@dataclass(frozen=True)
class Release:
    """One row of apple_versions.tsv: an iOS release label and its security_certificates tag."""

    label: str
    tag: str
    roots: int


@dataclass
class Archive:
    """What one tag archive holds: ``folders[folder][sha256] = (der, cert)``."""

    folders: dict[str, dict[str, tuple[bytes, x509.Certificate]]]
    commit: str  # from the pax global header (git archive / GitHub); "" if absent
    date: date | None  # newest member mtime = the commit's committer date


@dataclass
class _Cert:
    der: bytes
    cert: x509.Certificate
    present_in: list[str]
    removed: bool = False
    distrusted: bool = False


def read_releases(text: str) -> tuple[Release, ...]:
    """The rows of apple_versions.tsv (oldest first), checked for shape."""
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    if not lines:
        raise TrustDataError(f"rules/{VERSIONS}: no header row")
    header = lines[0].split("\t")
    out: list[Release] = []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(header):
            raise TrustDataError(f"rules/{VERSIONS}: data line {number}: wrong number of fields")
        row = dict(zip(header, cells, strict=True))
        if not row["tag"].startswith("security_certificates-") or not row["roots"].isdigit():
            raise TrustDataError(f"rules/{VERSIONS}: data line {number}: bad tag or roots")
        out.append(Release(row["label"], row["tag"], int(row["roots"])))
    labels = [r.label for r in out]
    if not out or len(set(labels)) != len(labels):
        raise TrustDataError(f"rules/{VERSIONS}: labels must be present and unique")
    return tuple(out)


def _releases() -> tuple[Release, ...]:
    from importlib import resources

    node = resources.files("certcheck.rules").joinpath(*VERSIONS.split("/"))
    return read_releases(node.read_text(encoding="utf-8"))


def archive_name(tag: str) -> str:
    return f"{tag}.tar.gz"


def _load_cert(data: bytes, where: str) -> tuple[bytes, x509.Certificate] | None:
    """DER (or PEM) bytes -> (DER, certificate); None for a non-certificate file."""
    if len(data) > MAX_CERT_BYTES:
        raise TrustDataError(f"{where}: {len(data)} bytes, too large for a certificate")
    try:
        with warnings.catch_warnings():  # old roots with a negative serial: still roots
            warnings.simplefilter("ignore")
            if data.lstrip().startswith(b"-----BEGIN"):
                cert = x509.load_pem_x509_certificate(data)
            else:
                cert = x509.load_der_x509_certificate(data)
    except ValueError:
        return None
    return cert.public_bytes(Encoding.DER), cert


def read_archive(data: bytes, where: str, min_roots: int = MIN_ROOTS) -> Archive:
    """The certificates of roots, removed, distrusted and revoked in one tag archive."""
    out: dict[str, dict[str, tuple[bytes, x509.Certificate]]] = {f: {} for f in _FOLDERS}
    unreadable: list[str] = []
    total = 0
    newest = 0.0
    commit = ""
    try:
        # streamed: old tags hold ~250 MB of allowlist files the builder never reads
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|gz") as tar:
            for member in tar:
                total += member.size
                newest = max(newest, float(member.mtime))
                if total > MAX_ARCHIVE_BYTES:
                    raise TrustDataError(f"{where}: archive larger than {MAX_ARCHIVE_BYTES} bytes")
                parts = member.name.split("/")[1:]  # drop GitHub's <repo>-<tag>/ prefix
                if len(parts) < 3 or parts[0] != "certificates" or parts[1] not in _FOLDERS:
                    continue
                if not member.isfile() or parts[-1].startswith("."):
                    continue
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                loaded = _load_cert(handle.read(MAX_CERT_BYTES + 1), f"{where}: {member.name}")
                if loaded is None:
                    if parts[1] == "roots":
                        unreadable.append(member.name)
                    continue
                sha = hashlib.sha256(loaded[0]).hexdigest()
                out[parts[1]][sha] = loaded
            comment = tar.pax_headers.get("comment", "")
            commit = comment if _COMMIT.match(comment) else ""
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise TrustDataError(f"{where}: truncated or broken tar.gz archive ({exc})") from exc
    if unreadable:
        raise TrustDataError(f"{where}: {unreadable[0]} in certificates/roots is not a certificate")
    if len(out["roots"]) < min_roots:
        raise TrustDataError(
            f"{where}: {len(out['roots'])} certificates in certificates/roots "
            f"(fewer than {min_roots}: not a security_certificates release)"
        )
    day = datetime.fromtimestamp(newest, UTC).date() if newest > 0 else None
    return Archive(out, commit, day)


# --------------------------------------------------------------------------- row fields


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def _display_name(cert: x509.Certificate) -> str:
    cn = _attr(cert.subject, NameOID.COMMON_NAME)
    if cn:
        return cn
    org = _attr(cert.subject, NameOID.ORGANIZATION_NAME)
    unit = _attr(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    return " / ".join(p for p in (org, unit) if p) or cert.subject.rfc4514_string()


def present_in_spec(present: list[str], labels: list[str]) -> str:
    """Release labels -> ``"9.0..10.2,12.0.."`` (ranges in table order; open end = newest)."""
    index = {label: i for i, label in enumerate(labels)}
    spans: list[list[int]] = []
    for i in sorted(index[p] for p in present):
        if spans and spans[-1][1] == i - 1:
            spans[-1][1] = i
        else:
            spans.append([i, i])
    parts = []
    for first, last in spans:
        if last == len(labels) - 1:
            parts.append(f"{labels[first]}..")
        elif first == last:
            parts.append(labels[first])
        else:
            parts.append(f"{labels[first]}..{labels[last]}")
    return ",".join(parts)


HEADER = """\
# Apple (iOS / iPadOS / macOS) trust store per release: one row per certificate (distinct DER)
# that apple-oss-distributions/security_certificates holds in certificates/roots,
# certificates/removed*, certificates/distrusted or certificates/revoked at a tag of
# rules/platforms/apple_versions.tsv (iOS 8.3 .. 26.0 = macOS 10.10.3 .. 26.0) or on main.
# Generated by certcheck.trustdata.apple (python -m certcheck.trustdata.apple build); do not edit.
#
# Columns (tab-separated, one header row after this block; empty = none):
#   sha256       SHA-256 of the DER, lowercase hex (computed; old tags use human file names)
#   name         subject CN, else O (/ OU)
#   subject      subject DN, RFC 4514
#   not_after    notAfter, UTC (Apple does enforce anchor expiry)
#   key          key type and size
#   type         root (self-issued) or intermediate
#   status       trusted    = in certificates/roots on main: the current OS trust anchors
#                removed    = in certificates/roots of an older release only, or in removed*
#                distrusted = in a distrusted/ or revoked/ folder at one of the tags (blocked)
#   present_in   releases whose certificates/roots hold it: labels of apple_versions.tsv or
#                inclusive ranges a..b in that table's order; "a.." = a up to the newest release
#
# A chain is trusted on iOS release V only if it ends at a root whose present_in holds the
# newest apple_versions.tsv label <= V; releases newer than the last label use the trusted
# rows (certcheck.platforms.apple_store).  Not here: certificates/custom (EU QWAC anchors),
# Apple's date-based partial distrust (valid.sqlite3: the announced ones are in
# rules/distrusted_cas.toml), and trust store updates Apple ships between OS releases
# (MobileAsset PKITrustStore).
# Source: {repo}
#   {count} tags (see apple_versions.tsv), {first_tag} ..
#   {newest_tag}; main = {main_commit}.
# Older tags are not read: a certificate blocked only before 10.10.3 has no row.
# Snapshot of the facts: {snapshot}.
"""


def build_table(
    files: dict[str, bytes], releases: tuple[Release, ...], min_roots: int = MIN_ROOTS
) -> str:
    """The full apple_roots.tsv text from the tag archives of ``releases`` and of main."""

    def read(name: str, why: str) -> Archive:
        if name not in files:
            raise TrustDataError(f"{name}: missing ({why})")
        return read_archive(files[name], name, min_roots)

    labels = [r.label for r in releases]
    certs: dict[str, _Cert] = {}
    archives: dict[str, Archive] = {}

    def add(archive: Archive, label: str | None) -> None:
        for folder, found in archive.folders.items():
            for sha, (der, cert) in found.items():
                entry = certs.setdefault(sha, _Cert(der, cert, []))
                if folder == "roots":
                    if label is not None and label not in entry.present_in:
                        entry.present_in.append(label)
                elif folder == "removed":
                    entry.removed = True
                else:
                    entry.distrusted = True

    for release in releases:
        if release.tag not in archives:
            name = archive_name(release.tag)
            archives[release.tag] = read(name, f"needed for iOS {release.label}")
        archive = archives[release.tag]
        found = len(archive.folders["roots"])
        if abs(found - release.roots) > release.roots // 5:
            raise TrustDataError(
                f"{archive_name(release.tag)}: {found} roots, apple_versions.tsv expects "
                f"{release.roots}: not the archive of that tag"
            )
        add(archive, release.label)
    current = read(CURRENT, "the current store")
    newest_tag = archives[releases[-1].tag]
    dropped = set(newest_tag.folders["roots"]) - set(current.folders["roots"])
    if len(dropped) > len(newest_tag.folders["roots"]) // 5:
        raise TrustDataError(
            f"{CURRENT}: lacks {len(dropped)} of the {len(newest_tag.folders['roots'])} roots "
            f"of {releases[-1].tag}: not the current security_certificates"
        )
    add(current, None)
    rows = []
    for sha, entry in certs.items():
        if entry.distrusted:
            status = "distrusted"
        elif sha in current.folders["roots"]:
            status = "trusted"
        else:
            status = "removed"
        rows.append(_row(sha, entry.cert, status, present_in_spec(entry.present_in, labels)))
    return _table(rows, releases, len(archives), current, newest_tag.date)


COLUMNS = ("sha256", "name", "subject", "not_after", "key", "type", "status", "present_in")


def _row(sha: str, cert: x509.Certificate, status: str, present_in: str) -> dict[str, str]:
    return {
        "sha256": sha,
        "name": _display_name(cert),
        "subject": cert.subject.rfc4514_string(),
        "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "key": key_label(cert),
        "type": "root" if cert.issuer == cert.subject else "intermediate",
        "status": status,
        "present_in": present_in,
    }


def _table(
    rows: list[dict[str, str]],
    releases: tuple[Release, ...],
    tags: int,
    current: Archive,
    fallback_date: date | None,
) -> str:
    snapshot = current.date or fallback_date
    header = HEADER.format(
        repo=REPO_URL,
        count=tags,
        first_tag=releases[0].tag,
        newest_tag=releases[-1].tag,
        main_commit=current.commit or "commit not recorded in the archive",
        snapshot=snapshot.isoformat() if snapshot else "unknown",
    )
    lines = sorted(
        (row["name"].casefold(), "\t".join(one_cell(row[c]) for c in COLUMNS)) for row in rows
    )
    return header + "\t".join(COLUMNS) + "\n" + "".join(line + "\n" for _, line in lines)


def _parse_table(text: str) -> list[dict[str, str]]:
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    if not lines or tuple(lines[0].split("\t")) != COLUMNS:
        raise TrustDataError(f"rules/{TABLE}: not the expected columns")
    rows = []
    for line in lines[1:]:
        cells = line.split("\t")
        if len(cells) != len(COLUMNS):
            raise TrustDataError(f"rules/{TABLE}: a row with {len(cells)} fields")
        rows.append(dict(zip(COLUMNS, cells, strict=True)))
    return rows


def refresh_table(
    shipped: str, current_data: bytes, releases: tuple[Release, ...], min_roots: int = MIN_ROOTS
) -> str:
    """The shipped table with ``status`` taken from security_certificates main.

    The releases' stores (``present_in``) are history and stay as shipped; main decides what
    the current Apple store trusts, and its new certificates get rows (no release yet)."""
    current = read_archive(current_data, CURRENT, min_roots)
    folders = current.folders
    rows = {row["sha256"]: row for row in _parse_table(shipped)}
    trusted = {sha for sha, row in rows.items() if row["status"] == "trusted"}
    dropped = trusted - set(folders["roots"])
    if len(dropped) > len(trusted) // 5:
        raise TrustDataError(
            f"{CURRENT}: lacks {len(dropped)} of the {len(trusted)} trusted roots of the "
            "shipped table: not the current security_certificates"
        )
    blocked = set(folders["distrusted"]) | set(folders["revoked"])
    for folder in ("roots", "removed", "distrusted", "revoked"):
        for sha, (_, cert) in folders[folder].items():
            if sha not in rows:
                rows[sha] = _row(sha, cert, "removed", "")
    for sha, row in rows.items():
        if row["status"] == "distrusted" or sha in blocked:
            row["status"] = "distrusted"
        elif sha in folders["roots"]:
            row["status"] = "trusted"
        else:
            row["status"] = "removed"
    return _table(list(rows.values()), releases, len({r.tag for r in releases}), current, None)


def _packaged_table() -> str:
    from importlib import resources

    node = resources.files("certcheck.rules").joinpath(*TABLE.split("/"))
    return node.read_text(encoding="utf-8")


def build(files: dict[str, bytes]) -> str:
    """``certcheck data update``: the shipped table refreshed from security_certificates main
    (old tags' archives reach 80 MB each; their stores do not change)."""
    if CURRENT not in files:
        raise TrustDataError(f"{CURRENT}: missing")
    with warnings.catch_warnings():  # over-long names in old roots: read, not refused
        warnings.simplefilter("ignore")
        return refresh_table(_packaged_table(), files[CURRENT], _releases())


def build_all(files: dict[str, bytes]) -> str:
    """The whole table from the archive of every tag in apple_versions.tsv and of main."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_table(files, _releases())


MAIN_ARCHIVE = UpstreamFile(
    CURRENT,
    f"{REPO_URL}/archive/refs/heads/main.tar.gz",
    "security_certificates main: Apple's newest published store",
)


def tag_archives() -> tuple[UpstreamFile, ...]:
    """Where the archive of every tag in apple_versions.tsv is (for ``build``, not updates)."""
    tags = dict.fromkeys(r.tag for r in _releases())
    return tuple(
        UpstreamFile(
            archive_name(tag),
            f"{REPO_URL}/archive/refs/tags/{tag}.tar.gz",
            f"security_certificates tag archive ({tag})",
        )
        for tag in tags
    )


BUILDER = register(
    TableBuilder(
        table=TABLE,
        description="Apple trust store per iOS release (security_certificates tags)",
        upstream=(MAIN_ARCHIVE,),
        build=build,
        min_rows=300,
    )
)


def main(argv: Sequence[str] | None = None) -> int:
    """``build DIR``: the table from the tag archives in DIR (to ``--out`` or stdout)."""
    parser = argparse.ArgumentParser(prog="python -m certcheck.trustdata.apple")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("build", help="build apple_roots.tsv from security_certificates archives")
    cmd.add_argument("archives", type=Path, help="directory of <tag>.tar.gz and main archives")
    cmd.add_argument("--out", type=Path, help="write the table here (default: stdout)")
    args = parser.parse_args(argv)
    try:
        names = [u.name for u in (*tag_archives(), MAIN_ARCHIVE)]
        missing = [n for n in names if not (args.archives / n).is_file()]
        if missing:
            raise TrustDataError(f"{args.archives}: no {missing[0]} (and {len(missing) - 1} more)")
        text = build_all({n: (args.archives / n).read_bytes() for n in names})
    except (TrustDataError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
