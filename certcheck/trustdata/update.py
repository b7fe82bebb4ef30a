"""``certcheck data update``: download, build, verify, then write the refreshed tables.

Order of work, so that a failure at any step leaves the data in use unchanged:

1. every upstream file of the chosen builders is read (downloaded over HTTPS, or from
   ``--from DIR``), size-capped, with a timeout; a short body is an error, not a table;
2. each builder turns the bytes into the table's text (it refuses implausible input);
3. the texts are checked: at least ``min_rows`` data rows, then parsed by the very
   loaders the scans use, with the new tables overlaid on the packaged ones;
4. only then are the tables written (``tables/<sha256>``, temp file + ``os.replace``)
   and the manifest replaced, which is the one atomic switch to the new data.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import ipaddress
import json
import os
import re
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import Message
from http.client import HTTPException
from pathlib import Path
from typing import IO

from certcheck import datadir
from certcheck.trustdata import TableBuilder, TrustDataError

#: per-file download limits
MAX_BYTES = 64 * 1024 * 1024
TIMEOUT = 30.0
#: a whole download may take this many times the per-read timeout (a server that drips
#: bytes must not hold the update forever)
TOTAL_FACTOR = 20
#: environment override of ``--source-url``
ENV_SOURCE = "CERTCHECK_DATA_SOURCE_URL"
_SNAPSHOT = re.compile(r"Snapshot of the facts: (\d{4}-\d{2}-\d{2})")


class UpdateError(Exception):
    """Why nothing was written; one line for the user."""


@dataclass(frozen=True)
class Built:
    """One table ready to be written."""

    table: str
    text: str
    sources: tuple[str, ...]
    snapshot: date | None

    @property
    def data(self) -> bytes:
        return self.text.encode("utf-8")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


# --------------------------------------------------------------------------- reading


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> None:
    """HTTPS only; plain HTTP only to a loopback address (a local mirror, the tests)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and _loopback(parts.hostname):
        return
    raise UpdateError(f"refusing {url}: only https:// (or http:// to a loopback address)")


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to URLs :func:`check_url` accepts."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def download(url: str, *, timeout: float = TIMEOUT, max_bytes: int = MAX_BYTES) -> bytes:
    """The body of ``url``; a non-200 answer, a short or oversized body raise UpdateError."""
    check_url(url)
    opener = urllib.request.build_opener(_Redirects)
    request = urllib.request.Request(url, headers={"User-Agent": "certcheck-data-update"})
    try:
        with opener.open(request, timeout=timeout) as answer:
            if answer.status != 200:
                raise UpdateError(f"{url}: HTTP {answer.status}")
            declared = answer.headers.get("Content-Length")
            chunks, size = [], 0
            deadline = time.monotonic() + timeout * TOTAL_FACTOR
            while size <= max_bytes:
                if time.monotonic() > deadline:
                    raise UpdateError(f"{url}: slower than {timeout * TOTAL_FACTOR:.0f} s")
                chunk = answer.read(min(1 << 20, max_bytes + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            body = b"".join(chunks)
    except UpdateError:
        raise
    except urllib.error.HTTPError as exc:
        raise UpdateError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise UpdateError(f"{url}: {exc.reason}") from exc
    except TimeoutError as exc:
        # the server sent nothing for a whole read timeout: as slow as a stalled download
        raise UpdateError(f"{url}: slower than {timeout:g} s without data") from exc
    except (HTTPException, OSError, ValueError) as exc:
        # IncompleteRead (the connection closed before Content-Length bytes), resets
        raise UpdateError(f"{url}: download cut short ({type(exc).__name__})") from exc
    if len(body) > max_bytes:
        raise UpdateError(f"{url}: larger than {max_bytes} bytes")
    if declared is not None and declared.isdigit() and int(declared) != len(body):
        raise UpdateError(f"{url}: got {len(body)} of {declared} bytes")
    if not body:
        raise UpdateError(f"{url}: empty answer")
    return body


def rebase(url: str, base: str) -> str:
    """``url`` with its scheme and host replaced by ``base`` (a mirror with the same paths)."""
    parts = urllib.parse.urlsplit(url)
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    return base.rstrip("/") + tail


def read_local(folder: Path, name: str) -> bytes:
    path = folder / name
    try:
        if path.stat().st_size > MAX_BYTES:
            raise UpdateError(f"{path}: larger than {MAX_BYTES} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise UpdateError(f"{path}: {exc.strerror or exc}") from exc


# --------------------------------------------------------------------------- building


def data_rows(text: str) -> int:
    """Data rows of a TSV table (comment lines and the header row excluded)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return max(len(lines) - 1, 0)


def snapshot_of(text: str) -> date | None:
    """The "Snapshot of the facts: YYYY-MM-DD" a table's header states, if any."""
    match = _SNAPSHOT.search(text)
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


def build_all(
    chosen: Iterable[TableBuilder], fetch: Callable[[str, str], bytes]
) -> list[Built]:
    """Build every chosen table; ``fetch(name, url)`` reads one upstream file (cached by URL)."""
    cache: dict[str, bytes] = {}
    out = []
    for builder in chosen:
        files = {}
        for upstream in builder.upstream:
            if upstream.url not in cache:
                cache[upstream.url] = fetch(upstream.name, upstream.url)
            files[upstream.name] = cache[upstream.url]
        try:
            text = builder.build(files)
        except TrustDataError as exc:
            raise UpdateError(f"{builder.table}: {exc}") from exc
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            raise UpdateError(f"{builder.table}: upstream data not understood ({exc})") from exc
        rows = data_rows(text)
        if rows < builder.min_rows:
            raise UpdateError(
                f"{builder.table}: built {rows} rows, fewer than the {builder.min_rows} expected"
            )
        out.append(Built(builder.table, text, tuple(u.url for u in builder.upstream),
                         snapshot_of(text)))
    return out


def _loader_caches() -> list[Callable[..., object]]:
    from certcheck import catalog, platforms

    found = []
    for module in (platforms, catalog):
        for value in vars(module).values():
            if callable(value) and hasattr(value, "cache_clear"):
                found.append(value)
    return found


def verify(built: list[Built]) -> None:
    """Parse the new tables with the app's own loaders (every zero-argument cached loader of
    certcheck.platforms, so loaders added later are covered), the new tables overlaid."""
    loaders = _loader_caches()
    try:
        with datadir.overlay({b.table: b.data for b in built}):
            for loader in loaders:
                loader.cache_clear()  # type: ignore[attr-defined]
            for loader in loaders:
                target = inspect.unwrap(loader)
                if any(
                    p.default is inspect.Parameter.empty
                    and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                    for p in inspect.signature(target).parameters.values()
                ):
                    continue
                try:
                    loader()
                except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
                    raise UpdateError(f"the built tables do not load: {exc}") from exc
    finally:
        for loader in loaders:
            loader.cache_clear()  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- writing


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _write_manifest(directory: Path, manifest: dict[str, dict[str, object]]) -> None:
    document = {"format": datadir.MANIFEST_FORMAT, "tables": manifest}
    _write_atomic(
        directory / datadir.MANIFEST,
        (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8"),
    )


def write(built: list[Built], directory: Path, now: datetime) -> None:
    """Write the tables, then switch the manifest to them; drop files no entry names."""
    manifest = _raw_manifest(directory)
    try:
        for item in built:
            _write_atomic(datadir.table_file(directory, item.sha256), item.data)
            manifest[item.table] = {
                "sha256": item.sha256,
                "snapshot": item.snapshot.isoformat() if item.snapshot else None,
                "fetched_at": now.astimezone(UTC).isoformat(timespec="seconds"),
                "sources": list(item.sources),
            }
        _write_manifest(directory, manifest)
    except OSError as exc:
        raise UpdateError(f"cannot write {directory}: {exc.strerror or exc}") from exc
    keep = {str(e.get("sha256")) for e in manifest.values() if isinstance(e, dict)}
    for path in (directory / datadir.TABLES).glob("*"):
        if path.name not in keep:
            with contextlib.suppress(OSError):
                path.unlink()


def _raw_manifest(directory: Path) -> dict[str, dict[str, object]]:
    """Entries to keep from the current manifest (only the well-formed ones)."""
    current = datadir.read_manifest(directory)
    return {
        t: {
            "sha256": e.sha256,
            "snapshot": e.snapshot.isoformat() if e.snapshot else None,
            "fetched_at": e.fetched_at,
            "sources": list(e.sources),
        }
        for t, e in current.items()
    }


def update(
    chosen: list[TableBuilder],
    *,
    directory: Path,
    from_dir: Path | None = None,
    source_url: str | None = None,
    now: datetime | None = None,
    timeout: float = TIMEOUT,
) -> list[Built]:
    """Refresh the chosen tables; raises UpdateError (nothing written) on any failure."""
    if not chosen:
        raise UpdateError("no table to update")

    def fetch(name: str, url: str) -> bytes:
        if from_dir is not None:
            return read_local(from_dir, name)
        return download(rebase(url, source_url) if source_url else url, timeout=timeout)

    built = build_all(chosen, fetch)
    verify(built)
    write(built, directory, now or datetime.now(UTC))
    return built


def remove(directory: Path, tables: Iterable[str]) -> list[str]:
    """Forget refreshed copies (back to the packaged tables); returns the tables dropped."""
    manifest = _raw_manifest(directory)
    dropped = [t for t in tables if t in manifest]
    if not dropped:
        return []
    for table in dropped:
        del manifest[table]
    try:
        _write_manifest(directory, manifest)
    except OSError as exc:
        raise UpdateError(f"cannot write {directory}: {exc.strerror or exc}") from exc
    return dropped
