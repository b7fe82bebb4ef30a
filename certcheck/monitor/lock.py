"""One monitor run at a time per history database.

SQLite: an exclusive ``flock`` on ``<database>.lock`` beside the file -- the
file's *real* path, so two configurations that reach one database by different
spellings (a symlink, ``./x/../history.db``, a relative path from another
folder) share one lock.  (A hard link is a second name for the file that no
path resolution can see; do not give one history two hard-linked names.)
PostgreSQL: a session-level advisory lock held on its own connection.  Both
are released by the operating system or the server when the process dies, so
a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, text

#: pg_advisory_lock key: a fixed number that names "certcheck monitor" (any int64 would do)
PG_LOCK_KEY = 0x4F7C_3B2E_91A0_5D16
_POLL = 0.2


class LockBusy(RuntimeError):
    """Another run holds the lock (the message says which, when it can)."""


def _deadline_passed(start: float, wait: float) -> bool:
    return time.monotonic() - start >= wait


def sqlite_lock_path(database: str) -> Path:
    """The lock file of the SQLite history at ``database`` (see the module doc).

    ``os.path.realpath`` resolves every symlink and ``..`` in the path, also when the
    file does not exist yet; in-memory and unnamed databases keep the plain name.
    """
    if database in ("", ":memory:") or database.startswith("file:"):
        return Path(f"{database}.lock")
    return Path(os.path.realpath(database) + ".lock")


@contextlib.contextmanager
def file_lock(path: Path, wait: float = 0.0) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (created if missing) for the block."""
    handle = open(path, "a+", encoding="utf-8")  # held open for the whole block
    try:
        start = time.monotonic()
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if _deadline_passed(start, wait):
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown process"
                    raise LockBusy(
                        f"another certcheck monitor run is using this history ({holder}); "
                        f"lock file {path}"
                    ) from None
                time.sleep(_POLL)
        handle.seek(0)
        handle.truncate()
        started = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        handle.write(f"pid {os.getpid()}, started {started}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing the descriptor releases the flock


@contextlib.contextmanager
def advisory_lock(engine: Engine, label: str, wait: float = 0.0) -> Iterator[None]:
    """Hold PostgreSQL advisory lock :data:`PG_LOCK_KEY` for the block."""
    with engine.connect() as connection:
        start = time.monotonic()
        while True:
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": PG_LOCK_KEY}
            ).scalar()
            connection.commit()
            if got:
                break
            if _deadline_passed(start, wait):
                holder = connection.execute(
                    text(
                        "SELECT a.pid, a.client_addr, a.backend_start FROM pg_locks l "
                        "JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                        "AND l.classid::bigint = :high AND l.objid::bigint = :low"
                    ),
                    {"high": PG_LOCK_KEY >> 32, "low": PG_LOCK_KEY & 0xFFFF_FFFF},
                ).first()
                who = (
                    f"server pid {holder.pid}, connected {holder.backend_start:%Y-%m-%d %H:%M}"
                    if holder
                    else "unknown session"
                )
                raise LockBusy(
                    f"another certcheck monitor run is using this history ({who}); "
                    f"advisory lock on {label}"
                )
            time.sleep(_POLL)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PG_LOCK_KEY})
                connection.commit()
