"""The user data directory: refreshed copies of the shipped trust tables.

``certcheck data update`` writes tables it rebuilt from their upstream files here, so
root stores can be refreshed without upgrading certcheck.  Location, first that is set:
``$CERTCHECK_DATA_DIR``, ``$XDG_DATA_HOME/certcheck``, ``~/.local/share/certcheck``.

Layout: ``manifest.json`` (one entry per refreshed table: its sha256, upstream URLs,
fetch time, snapshot date) and ``tables/<sha256>`` (the table's bytes, named by their
digest).  The manifest is replaced atomically last, so it is the single commit point
of an update: a table is read from here only when the manifest lists it *and* the file
has exactly the recorded digest; anything else (no manifest, a damaged one, a missing or
edited file) falls back to the packaged copy, never to half-written data.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ENV_DIR = "CERTCHECK_DATA_DIR"
MANIFEST = "manifest.json"
TABLES = "tables"
MANIFEST_FORMAT = 1
#: only tables a builder produces can be replaced (rules/platforms/...)
_REPLACEABLE = re.compile(r"^platforms/[a-z0-9_]+\.(tsv|toml)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

#: tables being verified by an update before they are written (see :func:`overlay`)
_overlay: dict[str, bytes] = {}


@dataclass(frozen=True)
class UserTable:
    """One refreshed table as the manifest records it."""

    table: str
    sha256: str
    snapshot: date | None
    fetched_at: str
    sources: tuple[str, ...]


def data_dir() -> Path:
    """Where refreshed tables live (the directory need not exist)."""
    explicit = os.environ.get(ENV_DIR)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg:
        return Path(xdg) / "certcheck"
    return Path.home() / ".local" / "share" / "certcheck"


def _entry(table: str, raw: object) -> UserTable | None:
    if not isinstance(raw, dict) or not _REPLACEABLE.match(table):
        return None
    digest, snapshot = raw.get("sha256"), raw.get("snapshot")
    sources, fetched = raw.get("sources", []), raw.get("fetched_at", "")
    if not isinstance(digest, str) or not _SHA256.match(digest) or not isinstance(fetched, str):
        return None
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        return None
    try:
        day = date.fromisoformat(snapshot) if isinstance(snapshot, str) else None
    except ValueError:
        return None
    return UserTable(table, digest, day, fetched, tuple(sources))


def read_manifest(directory: Path | None = None) -> dict[str, UserTable]:
    """The manifest's well-formed entries; a missing or unreadable manifest is empty."""
    path = (directory or data_dir()) / MANIFEST
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    tables = raw.get("tables") if isinstance(raw, dict) else None
    if not isinstance(tables, dict) or raw.get("format") != MANIFEST_FORMAT:
        return {}
    out = {}
    for table, entry in tables.items():
        parsed = _entry(str(table), entry)
        if parsed is not None:
            out[parsed.table] = parsed
    return out


def table_file(directory: Path, digest: str) -> Path:
    return directory / TABLES / digest


def user_state(table: str, directory: Path | None = None) -> tuple[UserTable | None, str]:
    """The manifest entry of ``table`` and whether its file is usable: "ok", "none"
    (not refreshed), "missing" or "damaged" (the file's digest is not the recorded one)."""
    directory = directory or data_dir()
    entry = read_manifest(directory).get(table)
    if entry is None:
        return None, "none"
    try:
        data = table_file(directory, entry.sha256).read_bytes()
    except OSError:
        return entry, "missing"
    return entry, "ok" if hashlib.sha256(data).hexdigest() == entry.sha256 else "damaged"


def user_copy(table: str) -> bytes | None:
    """The refreshed bytes of ``table`` (a path under rules/), or None to use the packaged one."""
    if table in _overlay:
        return _overlay[table]
    if not _REPLACEABLE.match(table):
        return None
    directory = data_dir()
    entry = read_manifest(directory).get(table)
    if entry is None:
        return None
    try:
        data = table_file(directory, entry.sha256).read_bytes()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == entry.sha256 else None


@contextlib.contextmanager
def overlay(tables: Mapping[str, bytes]) -> Iterator[None]:
    """Make the loaders read ``tables`` (not yet written) while an update verifies them."""
    saved = dict(_overlay)
    _overlay.update(tables)
    try:
        yield
    finally:
        _overlay.clear()
        _overlay.update(saved)
