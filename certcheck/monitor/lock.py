"""One monitor run at a time per *shard* of a history database.

A run owns a set of targets (all of a configuration's, or one ``--shard K/N``
of them) and locks that set, named by :func:`shard_key` -- a hash of its
sorted target keys.  Two runs of the same set are refused (or queue with
``--wait``); runs of different sets (the shards of one fleet, or two
configurations with other targets) share the history at the same time.  Why a
key per set rather than one lock per target: a fleet of 10,000 targets would
need 10,000 advisory locks, more than PostgreSQL's shared lock table holds by
default, and lock rows in a table would outlive a killed run; one lock per set
costs one lock and the server or kernel frees it when the process dies.  The
limit: two *overlapping but different* sets (``--shard 1/2`` next to an
unsharded run of the same configuration) are not detected -- the shards of
one configuration never overlap.

Every run also holds the history-wide lock in *shared* mode; maintenance that
needs the whole history (``store.lock()`` without a key) takes it exclusively,
so it waits for, or is refused by, every run.

SQLite: ``flock`` on ``<database>.lock`` (shared by runs) and on
``<database>.lock.<key>`` (one run per set), beside the database's *real* path,
so two configurations that reach one database by different spellings (a
symlink, ``./x/../history.db``, a relative path from another folder) share one
lock.  (A hard link is a second name for the file that no path resolution can
see; do not give one history two hard-linked names.)  PostgreSQL: session-level
advisory locks on one dedicated connection, the history-wide key
:data:`PG_LOCK_KEY` (shared) and the set's 64-bit key (exclusive).  Both are
released by the operating system or the server when the process dies, so a
killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text

from certcheck.core.times import iso

#: pg_advisory_lock key: a fixed number that names "certcheck monitor" (any int64 would do)
PG_LOCK_KEY = 0x4F7C_3B2E_91A0_5D16
#: advisory key serialising schema upgrades (two shards starting on a new database)
PG_SCHEMA_KEY = 0x4F7C_3B2E_91A0_5D17
#: how long a run waits for another run's schema upgrade to finish
SCHEMA_WAIT = 120.0
_POLL = 0.2


class LockBusy(RuntimeError):
    """Another run holds the lock (the message says which, when it can)."""


def _deadline_passed(start: float, wait: float) -> bool:
    return time.monotonic() - start >= wait


def shard_key(targets: Iterable[str]) -> str:
    """The lock identity of a set of target keys: 16 hex digits, order and duplicates ignored."""
    joined = "\n".join(sorted(set(targets)))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]


def pg_key(key: str) -> int:
    """A :func:`shard_key` as a signed 64-bit advisory lock key."""
    return int.from_bytes(bytes.fromhex(key)[:8], "big", signed=True)


def sqlite_lock_path(database: str, key: str | None = None) -> Path:
    """The lock file of the SQLite history at ``database`` (see the module doc).

    ``key`` None is the history-wide lock, else the lock of one target set.
    ``os.path.realpath`` resolves every symlink and ``..`` in the path, also when the
    file does not exist yet; in-memory and unnamed databases keep the plain name.
    """
    suffix = ".lock" if key is None else f".lock.{key}"
    if database in ("", ":memory:") or database.startswith("file:"):
        return Path(f"{database}{suffix}")
    return Path(os.path.realpath(database) + suffix)


def _flock(handle: IO[str], mode: int, path: Path, start: float, wait: float) -> None:
    while True:
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if _deadline_passed(start, wait):
                handle.seek(0)
                holder = handle.read(500).strip() or "unknown process"
                raise LockBusy(
                    f"another certcheck monitor run is using this history ({holder}); "
                    f"lock file {path}"
                ) from None
            time.sleep(_POLL)


@contextlib.contextmanager
def file_lock(
    path: Path, wait: float = 0.0, shared: bool = False, note: str = ""
) -> Iterator[None]:
    """Hold a flock on ``path`` (created if missing) for the block.

    An exclusive holder writes its pid, start time and ``note`` into the file for
    the message a refused run prints; shared holders leave the file alone.
    """
    handle = open(path, "a+", encoding="utf-8")  # held open for the whole block
    try:
        _flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX, path, time.monotonic(), wait)
        if not shared:
            handle.seek(0)
            handle.truncate()
            started = iso(datetime.now(UTC))
            handle.write(f"pid {os.getpid()}, started {started}{note}\n")
            handle.flush()
        yield
    finally:
        handle.close()  # closing the descriptor releases the flock


@contextlib.contextmanager
def shard_file_lock(
    database: str, key: str | None, wait: float = 0.0, note: str = ""
) -> Iterator[None]:
    """SQLite: the history-wide lock (exclusive when ``key`` is None, else shared + the set's)."""
    start = time.monotonic()
    if key is None:
        with file_lock(sqlite_lock_path(database), wait, note=note):
            yield
        return
    with file_lock(sqlite_lock_path(database), wait, shared=True):
        left = max(0.0, wait - (time.monotonic() - start))
        with file_lock(sqlite_lock_path(database, key), left, note=note):
            yield


def file_lock_held(path: Path) -> bool:
    """True when some process holds a flock on ``path`` (a run of that set is alive)."""
    if not path.exists():
        return False
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False  # closing releases the probe's lock


def _holder(connection: Connection, key: int) -> str:
    row = connection.execute(
        text(
            "SELECT a.pid, a.client_addr, a.backend_start FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid::bigint = :high AND l.objid::bigint = :low "
            "AND a.pid <> pg_backend_pid() LIMIT 1"
        ),
        {"high": (key >> 32) & 0xFFFF_FFFF, "low": key & 0xFFFF_FFFF},
    ).first()
    connection.commit()
    if row is None:
        return "unknown session"
    return f"server pid {row.pid}, connected {row.backend_start:%Y-%m-%d %H:%M}"


def _try(connection: Connection, key: int, shared: bool) -> bool:
    function = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
    got = connection.execute(text(f"SELECT {function}(:key)"), {"key": key}).scalar()
    connection.commit()
    return bool(got)


def _acquire(
    connection: Connection, key: int, shared: bool, start: float, wait: float, what: str
) -> None:
    while not _try(connection, key, shared):
        if _deadline_passed(start, wait):
            raise LockBusy(
                f"another certcheck monitor run is using this history "
                f"({_holder(connection, key)}); advisory lock on {what}"
            )
        time.sleep(_POLL)


@contextlib.contextmanager
def advisory_lock(
    engine: Engine, label: str, wait: float = 0.0, key: str | None = None, note: str = ""
) -> Iterator[None]:
    """PostgreSQL: :data:`PG_LOCK_KEY` exclusively (``key`` None), else shared + the set's key."""
    with engine.connect() as connection:
        start = time.monotonic()
        held: list[tuple[int, bool]] = []
        try:
            if key is None:
                _acquire(connection, PG_LOCK_KEY, False, start, wait, label)
                held.append((PG_LOCK_KEY, False))
            else:
                _acquire(connection, PG_LOCK_KEY, True, start, wait, label)
                held.append((PG_LOCK_KEY, True))
                _acquire(connection, pg_key(key), False, start, wait, f"{label}{note}")
                held.append((pg_key(key), False))
            yield
        finally:
            for number, shared in reversed(held):
                function = "pg_advisory_unlock_shared" if shared else "pg_advisory_unlock"
                with contextlib.suppress(Exception):
                    connection.execute(text(f"SELECT {function}(:key)"), {"key": number})
                    connection.commit()


def advisory_held(engine: Engine, key: str) -> bool:
    """True when some session holds the advisory lock of target set ``key``."""
    with engine.connect() as connection:
        if _try(connection, pg_key(key), False):
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": pg_key(key)})
            connection.commit()
            return False
        return True


@contextlib.contextmanager
def schema_lock(engine: Engine, database: str | None) -> Iterator[None]:
    """Serialise schema upgrades: two shards that start together on a new database.

    ``database`` is the SQLite file (None for PostgreSQL).  Waits up to
    :data:`SCHEMA_WAIT` seconds; an upgrade takes well under a second.
    """
    if database is not None:
        with file_lock(Path(str(sqlite_lock_path(database)) + ".schema"), SCHEMA_WAIT):
            yield
        return
    with engine.connect() as connection:
        _acquire(connection, PG_SCHEMA_KEY, False, time.monotonic(), SCHEMA_WAIT, "the schema")
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PG_SCHEMA_KEY})
                connection.commit()
