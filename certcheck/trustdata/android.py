"""Android's system root store: ``platforms/android_versions.tsv`` and ``android_roots.tsv``.

Android keeps its TLS roots as one PEM file per certificate (``<subject hash>.<n>``, the PEM
block followed by an ``openssl x509 -text`` dump): AOSP ``system/ca-certificates/files`` up to
Android 13 and Conscrypt's ``apex/ca-certificates/files`` (the updatable APEX store) from
Android 14.  The tables list every root once, with the snapshots (store states) that have it.

Two uses of the same code:

* ``python -m certcheck.trustdata.android extend`` appends a release snapshot (read from a
  directory of those files) to the shipped tables; Android 15 and 16 were added this way.
* ``certcheck data update`` reads the current Conscrypt store (AOSP ``main``: a gitiles
  archive of the directory and the commit's JSON) and appends it as snapshot
  ``updatable-<date>`` standing for API 34 and up, since Android 14+ devices receive that
  store with Google Play system updates.  History stays as shipped; only the new state is
  added, so the refreshed table answers "is this root trusted by a current Android 14+".
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import sys
import tarfile
import warnings
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certcheck.trustdata import TableBuilder, TrustDataError, UpstreamFile, register
from certcheck.trustdata.fields import key_label, one_cell

VERSIONS = "platforms/android_versions.tsv"
ROOTS = "platforms/android_roots.tsv"
GITILES = "https://android.googlesource.com/platform/external/conscrypt"
ARCHIVE = UpstreamFile(
    "conscrypt-ca-files.tar.gz",
    f"{GITILES}/+archive/refs/heads/main/apex/ca-certificates/files.tar.gz",
    "Conscrypt's updatable CA store (one PEM file per root), AOSP main",
)
COMMIT = UpstreamFile(
    "conscrypt-main.json",
    f"{GITILES}/+/refs/heads/main?format=JSON",
    "the AOSP main commit the archive was made from (id and date)",
)
#: a store with fewer roots than this is refused (every snapshot since 2.3 has over 100)
MIN_STORE = 100
#: the refreshed store replaces none of history; it may drop at most this share of the
#: newest shipped snapshot's roots (larger drops look like a broken download)
MAX_DROP = 0.2
_FILE_NAME = re.compile(r"^[0-9a-f]{8}\.[0-9]+$")
_MAX_MEMBER = 256 * 1024
_MAX_MEMBERS = 5000
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----")
_ROOT_COLUMNS = (
    "sha256", "name", "subject", "not_after", "key", "first_api", "last_api", "present_in", "note"
)
_VERSION_COLUMNS = (
    "label", "api_min", "api_max", "releases", "repo", "commit", "commit_date", "roots",
    "confidence",
)


@dataclass(frozen=True)
class Snapshot:
    """One store state: its android_versions.tsv row and the certificates it holds."""

    label: str
    api_min: int
    api_max: int
    releases: str
    repo: str
    commit: str
    commit_date: date
    confidence: str
    certs: dict[str, x509.Certificate]


# --------------------------------------------------------------------------- reading stores


def parse_store(
    files: dict[str, bytes], min_certs: int = MIN_STORE
) -> dict[str, x509.Certificate]:
    """``{file name: bytes}`` of a ``files/`` directory -> ``{sha256: certificate}``."""
    certs: dict[str, x509.Certificate] = {}
    for name, data in sorted(files.items()):
        match = _PEM.search(data)
        if match is None:
            raise TrustDataError(f"Android store file {name}: no PEM certificate")
        try:
            with warnings.catch_warnings():  # old roots have non-positive serial numbers
                warnings.simplefilter("ignore")
                cert = x509.load_pem_x509_certificate(match.group(0))
        except ValueError as exc:
            raise TrustDataError(f"Android store file {name}: unreadable certificate") from exc
        certs[hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()] = cert
    if len(certs) < min_certs:
        raise TrustDataError(
            f"Android store has {len(certs)} certificates, fewer than {min_certs}: "
            "truncated or not the CA store"
        )
    return certs


def read_directory(folder: Path) -> dict[str, bytes]:
    """The store files of a ``files/`` directory (other names are ignored)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if _FILE_NAME.match(p.name)}


def read_archive(data: bytes) -> dict[str, bytes]:
    """The store files of a gitiles ``+archive`` tar.gz (regular files only, size-capped)."""
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for count, member in enumerate(archive):
                if count > _MAX_MEMBERS:
                    raise TrustDataError("Android store archive: implausibly many entries")
                base = member.name.rsplit("/", 1)[-1]
                if not member.isfile() or not _FILE_NAME.match(base):
                    continue
                if member.size > _MAX_MEMBER:
                    raise TrustDataError(f"Android store archive: {base} is implausibly large")
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                files[base] = handle.read()
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, OSError, zlib.error) as exc:
        raise TrustDataError(f"Android store archive is truncated or not a tar.gz ({exc})") from exc
    return files


def read_commit(data: bytes) -> tuple[str, date]:
    """Commit id and committer date from gitiles ``?format=JSON`` (``)]}'`` prefixed)."""
    text = data.decode("utf-8", "replace")
    text = text.split("\n", 1)[1] if text.startswith(")]}'") else text
    try:
        raw = json.loads(text)
        commit, when = raw["commit"], raw["committer"]["time"]
        day = datetime.strptime(when, "%a %b %d %H:%M:%S %Y %z").astimezone(UTC).date()
    except (ValueError, KeyError, TypeError) as exc:
        raise TrustDataError("Conscrypt commit JSON: no commit id and committer time") from exc
    if not isinstance(commit, str) or not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise TrustDataError("Conscrypt commit JSON: bad commit id")
    return commit, day


# --------------------------------------------------------------------------- row facts


def _name(cert: x509.Certificate) -> str:
    subject = cert.subject
    cn = subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if cn:
        return str(cn[0].value)
    org = [str(a.value) for a in subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)]
    ou = [
        str(a.value)
        for a in subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
    ]
    return " / ".join(org[:1] + ou[:1]) or subject.rfc4514_string()


def cert_facts(cert: x509.Certificate) -> dict[str, str]:
    return {
        "name": one_cell(_name(cert)),
        "subject": one_cell(cert.subject.rfc4514_string()),
        "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "key": key_label(cert),
    }


# --------------------------------------------------------------------------- tables


def _rows(text: str, columns: Sequence[str], where: str) -> tuple[list[str], list[dict[str, str]]]:
    """(comment lines, rows) of a shipped TSV table; the header must be ``columns``."""
    lines = text.splitlines()
    comments = [ln for ln in lines if ln.startswith("#")]
    data = [ln for ln in lines if ln and not ln.startswith("#")]
    if not data or tuple(data[0].split("\t")) != tuple(columns):
        raise TrustDataError(f"{where}: unexpected header row")
    rows = []
    for line in data[1:]:
        cells = line.split("\t")
        if len(cells) != len(columns):
            raise TrustDataError(f"{where}: a row has {len(cells)} fields")
        rows.append(dict(zip(columns, cells, strict=True)))
    return comments, rows


def _expand(spec: str, labels: list[str]) -> list[str]:
    index = {label: i for i, label in enumerate(labels)}
    out: list[str] = []
    for part in filter(None, spec.split(",")):
        first, _, last = part.partition("..")
        out.extend(labels[index[first] : index[last or first] + 1])
    return out


def _compress(present: set[str], labels: list[str]) -> str:
    """Labels -> "a..b,c" over runs of consecutive snapshots."""
    parts, run = [], []
    for label in labels + [""]:
        if label in present:
            run.append(label)
            continue
        if run:
            parts.append(run[0] if len(run) == 1 else f"{run[0]}..{run[-1]}")
        run = []
    return ",".join(parts)


def _replace_line(comments: list[str], pattern: str, new: str) -> list[str]:
    return [new if re.match(pattern, line) else line for line in comments]


def extend_tables(versions_text: str, roots_text: str, snapshots: Iterable[Snapshot]) -> tuple[
    str, str
]:
    """The two tables with ``snapshots`` appended (a label already there is replaced)."""
    v_comments, versions = _rows(versions_text, _VERSION_COLUMNS, VERSIONS)
    r_comments, roots = _rows(roots_text, _ROOT_COLUMNS, ROOTS)
    labels = [v["label"] for v in versions]
    presence = {r["sha256"]: set(_expand(r["present_in"], labels)) for r in roots}
    facts = {r["sha256"]: r for r in roots}
    for snap in snapshots:
        row = {
            "label": snap.label, "api_min": str(snap.api_min), "api_max": str(snap.api_max),
            "releases": snap.releases, "repo": snap.repo, "commit": snap.commit,
            "commit_date": snap.commit_date.isoformat(), "roots": str(len(snap.certs)),
            "confidence": snap.confidence,
        }
        if snap.label in labels:
            versions[labels.index(snap.label)] = row
            for held in presence.values():
                held.discard(snap.label)
        else:
            versions.append(row)
            labels.append(snap.label)
        for sha, cert in snap.certs.items():
            presence.setdefault(sha, set()).add(snap.label)
            if sha not in facts:
                facts[sha] = {"sha256": sha, **cert_facts(cert), "note": ""}
    by_label = {v["label"]: v for v in versions}
    newest = labels[-1]
    out_rows = []
    for sha, held in presence.items():
        if not held:
            continue
        ordered = [label for label in labels if label in held]
        row = dict(facts[sha])
        row["first_api"] = by_label[ordered[0]]["api_min"]
        row["last_api"] = "" if newest in held else by_label[ordered[-1]]["api_max"]
        row["present_in"] = _compress(held, labels)
        out_rows.append(row)
    out_rows.sort(key=lambda r: (r["name"].casefold(), r["name"], r["sha256"]))
    first, last = versions[0], versions[-1]
    snapshot_day = max(date.fromisoformat(v["commit_date"]) for v in versions)
    r_comments = _replace_line(
        r_comments, r"^# at least one snapshot of android_versions",
        f"# at least one snapshot of android_versions.tsv (Android {first['label']} .. "
        f"{last['label']}, API {first['api_min']} .. {last['api_max']}).",
    )
    r_comments = _replace_line(
        r_comments, r"^#   last_api ",
        "#   last_api    highest API level of the last snapshot that has it; empty = still in "
        f"the newest (API {last['api_max']})",
    )
    r_comments = [
        re.sub(r"Snapshot of the facts: \d{4}-\d{2}-\d{2}", f"Snapshot of the facts: "
               f"{snapshot_day.isoformat()}", line) for line in r_comments
    ]
    v_comments = [
        re.sub(r"Snapshot of the facts: \d{4}-\d{2}-\d{2}", f"Snapshot of the facts: "
               f"{snapshot_day.isoformat()}", line) for line in v_comments
    ]
    versions_out = "\n".join(
        v_comments + ["\t".join(_VERSION_COLUMNS)]
        + ["\t".join(v[c] for c in _VERSION_COLUMNS) for v in versions]
    )
    roots_out = "\n".join(
        r_comments + ["\t".join(_ROOT_COLUMNS)]
        + ["\t".join(r[c] for c in _ROOT_COLUMNS) for r in out_rows]
    )
    return versions_out + "\n", roots_out + "\n"


# --------------------------------------------------------------------------- refresh


def _packaged(table: str) -> str:
    return resources.files("certcheck.rules").joinpath(table).read_text(encoding="utf-8")


def refreshed_snapshot(files: dict[str, bytes]) -> Snapshot:
    """The current Conscrypt store as snapshot ``updatable-<date>`` (API 34 .. newest)."""
    commit, day = read_commit(files[COMMIT.name])
    certs = parse_store(read_archive(files[ARCHIVE.name]))
    _, versions = _rows(_packaged(VERSIONS), _VERSION_COLUMNS, VERSIONS)
    _, roots = _rows(_packaged(ROOTS), _ROOT_COLUMNS, ROOTS)
    labels = [v["label"] for v in versions]
    newest = versions[-1]
    held = {r["sha256"] for r in roots if newest["label"] in _expand(r["present_in"], labels)}
    kept = len(held & certs.keys())
    if held and kept < (1 - MAX_DROP) * len(held):
        raise TrustDataError(
            f"Android store keeps only {kept} of the {len(held)} roots of snapshot "
            f"{newest['label']}: refusing it as implausible"
        )
    return Snapshot(
        label=f"updatable-{day.isoformat()}",
        api_min=34,
        api_max=max(int(v["api_max"]) for v in versions),
        releases="Android 14+ with Google Play system updates: Conscrypt APEX store, AOSP main",
        repo="aosp-main",
        commit=commit,
        commit_date=day,
        confidence="medium",
        certs=certs,
    )


def build_versions(files: dict[str, bytes]) -> str:
    return extend_tables(_packaged(VERSIONS), _packaged(ROOTS), [refreshed_snapshot(files)])[0]


def build_roots(files: dict[str, bytes]) -> str:
    return extend_tables(_packaged(VERSIONS), _packaged(ROOTS), [refreshed_snapshot(files)])[1]


register(TableBuilder(
    table=VERSIONS,
    description="Android store snapshots, with the current Conscrypt (updatable) store added",
    upstream=(COMMIT, ARCHIVE),
    build=build_versions,
    min_rows=20,
))
register(TableBuilder(
    table=ROOTS,
    description="Android store roots, with the current Conscrypt (updatable) store added",
    upstream=(COMMIT, ARCHIVE),
    build=build_roots,
    min_rows=100,
))


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``extend``: append a release snapshot read from a ``files/`` directory to the tables."""
    parser = argparse.ArgumentParser(prog="python -m certcheck.trustdata.android")
    sub = parser.add_subparsers(dest="command", required=True)
    ext = sub.add_parser("extend", help="append or replace one snapshot in the rules/ tables")
    ext.add_argument("files", type=Path, help="a directory holding the store's files/")
    ext.add_argument("--rules", type=Path, required=True, help="the rules/ directory to update")
    for flag in ("label", "releases", "repo", "commit", "confidence"):
        ext.add_argument(f"--{flag}", required=True)
    ext.add_argument("--api-min", type=int, required=True)
    ext.add_argument("--api-max", type=int, required=True)
    ext.add_argument("--date", type=date.fromisoformat, required=True, help="commit date")
    args = parser.parse_args(argv)
    try:
        snap = Snapshot(
            args.label, args.api_min, args.api_max, args.releases, args.repo, args.commit,
            args.date, args.confidence, parse_store(read_directory(args.files)),
        )
        versions_path, roots_path = args.rules / VERSIONS, args.rules / ROOTS
        versions, roots = extend_tables(
            versions_path.read_text(encoding="utf-8"), roots_path.read_text(encoding="utf-8"),
            [snap],
        )
    except (TrustDataError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    versions_path.write_text(versions, encoding="utf-8")
    roots_path.write_text(roots, encoding="utf-8")
    print(f"{snap.label}: {len(snap.certs)} roots")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
