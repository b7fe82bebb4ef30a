"""The history store: runs, per-target results, changes, alerts and their outbox.

SQLAlchemy Core over any supported URL: a SQLite file by default, PostgreSQL
when a team shares one history.  Each target's result is committed together
with its changes and alerts as soon as the target is done, so a run that is
killed half-way keeps everything it finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Row, and_, create_engine, event, func, or_, select, union
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from certcheck import __version__
from certcheck.core.times import parse_instant
from certcheck.model import TargetResult
from certcheck.monitor import migrations
from certcheck.monitor.alerts import Message
from certcheck.monitor.changes import Change, Snapshot
from certcheck.monitor.delivery import PendingDelivery
from certcheck.monitor.lock import (
    advisory_held,
    advisory_lock,
    file_lock_held,
    schema_lock,
    shard_file_lock,
    sqlite_lock_path,
)
from certcheck.monitor.redact import Redactor
from certcheck.monitor.schema import alerts, changes, deliveries, documents, results, runs
from certcheck.report import jsondoc

#: outbox states still to deliver: pending, or sending (in flight when a run was killed)
WAITING = ("pending", "sending")


class StoreError(RuntimeError):
    """The history database cannot be opened or used; the message hides passwords."""


@dataclass
class StoredResult:
    id: int
    run_id: int
    snapshot: Snapshot


def first_line(exc: BaseException) -> str:
    inner = getattr(exc, "orig", None) or exc
    return str(inner).strip().splitlines()[0] if str(inner).strip() else type(inner).__name__


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets `certcheck history` read while a monitor run writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


#: keys of a results document that differ from run to run although nothing changed: the
#: scan time, timings, day and second counters.  The run's result row keeps the summary
#: (evaluated_at, days_left), so they are left out of the content hash.
PER_RUN_KEYS = frozenset({"scanned_at", "timings_ms", "days_left", "days_ago", "seconds_early"})


def _without_per_run(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_per_run(v) for k, v in value.items() if k not in PER_RUN_KEYS}
    if isinstance(value, list):
        return [_without_per_run(v) for v in value]
    return value


def content_hash(document: dict[str, Any]) -> str:
    """SHA-256 of the document's content (canonical JSON, per-run fields left out)."""
    canonical = json.dumps(
        _without_per_run(document), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def target_filter(column: Any, wanted: str) -> Any:
    """``--target`` matches a full ``host:port`` label or every port of a host."""
    host = wanted.strip("[]")
    bracketed = f"[{host}]" if ":" in host else host
    return or_(
        column == wanted,
        column.like(_like_escape(bracketed) + ":%", escape="\\"),
    )


class Store:
    """One history database.  Use :meth:`open`; call :meth:`close` when done."""

    def __init__(self, engine: Engine, label: str, redactor: Redactor) -> None:
        self.engine = engine
        self.label = label
        self.redactor = redactor

    # -- opening, locking, schema -------------------------------------------------------------

    @classmethod
    def open(cls, url: str, redactor: Redactor | None = None) -> Store:
        redactor = redactor or Redactor()
        parsed = make_url(url)
        redactor.add(parsed.password)
        label = redactor.scrub(parsed.render_as_string(hide_password=True))
        if parsed.get_backend_name() == "sqlite":
            database = Path(parsed.database or "")
            if not database.parent.is_dir():
                raise StoreError(
                    f"history database {database}: the folder {database.parent} does not exist"
                )
            label = str(database)
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            try:
                engine = create_engine(url, pool_pre_ping=True)
            except (SQLAlchemyError, ImportError) as exc:
                raise StoreError(
                    f"history database {label}: {redactor.scrub(first_line(exc))}"
                ) from None
        try:
            with engine.connect():
                pass
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(
                f"cannot open history database {label}: {redactor.scrub(first_line(exc))}"
            ) from None
        return cls(engine, label, redactor)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def lock(self, wait: float = 0.0, key: str | None = None, note: str = "") -> Iterator[None]:
        """One run of target set ``key`` at a time; ``key`` None: the whole history.

        See :mod:`.lock`; ``note`` (e.g. the shard) goes into the holder's description.
        """
        if self.backend == "sqlite":
            with shard_file_lock(self.engine.url.database or "", key, wait, note):
                yield
        else:
            with advisory_lock(self.engine, self.label, wait, key, note):
                yield

    def lock_held(self, key: str) -> bool:
        """True when a live run holds target set ``key`` (a 'running' run of it is not stale)."""
        if self.backend == "sqlite":
            return file_lock_held(sqlite_lock_path(self.engine.url.database or "", key))
        return advisory_held(self.engine, key)

    def schema_version(self) -> int | None:
        with self.engine.connect() as connection:
            return migrations.current_version(connection)

    def migrate(self) -> int:
        database = self.engine.url.database or "" if self.backend == "sqlite" else None
        try:
            with schema_lock(self.engine, database):  # shards may start together
                return migrations.migrate(self.engine)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"history database {self.label}: schema upgrade failed: "
                f"{self.redactor.scrub(first_line(exc))}"
            ) from None

    # -- a run ----------------------------------------------------------------------------------

    def close_stale_runs(self, now: datetime, lock_key: str | None = None) -> int:
        """Mark runs left 'running' by a killed process as 'interrupted' (call under the lock).

        With ``lock_key`` (this run's target set) a run of another set is stale only when
        nobody holds that set's lock: a concurrent shard's run is left alone.
        """
        with self.engine.connect() as connection:
            running = list(
                connection.execute(
                    select(runs.c.id, runs.c.lock_key).where(runs.c.status == "running")
                )
            )
        stale = [
            r.id
            for r in running
            if lock_key is None
            or r.lock_key is None
            or r.lock_key == lock_key
            or not self.lock_held(r.lock_key)
        ]
        if not stale:
            return 0
        with self.engine.begin() as connection:
            done = connection.execute(
                runs.update()
                .where(runs.c.id.in_(stale), runs.c.status == "running")
                .values(status="interrupted", finished_at=now)
            )
            return done.rowcount or 0

    def begin_run(
        self,
        now: datetime,
        targets_total: int,
        profile: str,
        lock_key: str | None = None,
        shard: str | None = None,
    ) -> int:
        with self.engine.begin() as connection:
            inserted = connection.execute(
                runs.insert().values(
                    lock_key=lock_key,
                    shard=shard,
                    started_at=now,
                    status="running",
                    tool_version=__version__,
                    profile=profile,
                    targets_total=targets_total,
                    targets_done=0,
                    changes=0,
                )
            )
            return int(inserted.inserted_primary_key[0])

    def finish_run(self, run_id: int, now: datetime, exit_code: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(status="complete", finished_at=now, exit_code=exit_code)
            )

    def _stored(self, row: Row[Any] | None) -> StoredResult | None:
        if row is None:
            return None
        document = row.shared if row.shared is not None else row.document
        return StoredResult(row.id, row.run_id, Snapshot.from_document(document, row.evaluated_at))

    def previous(self, target: str, run_id: int) -> tuple[StoredResult | None, StoredResult | None]:
        """The target's latest result before this run, and its latest *scanned* one."""
        base = (
            select(
                results.c.id,
                results.c.run_id,
                results.c.document,
                documents.c.document.label("shared"),
                results.c.evaluated_at,
            )
            .outerjoin(documents, documents.c.id == results.c.document_id)
            .where(results.c.target == target, results.c.run_id != run_id)
            .order_by(results.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as connection:
            last = connection.execute(base).first()
            scanned = connection.execute(base.where(results.c.status == "scanned")).first()
        return self._stored(last), self._stored(scanned)

    def last_alert_at(self, target: str) -> datetime | None:
        with self.engine.connect() as connection:
            return connection.execute(
                select(func.max(alerts.c.created_at)).where(alerts.c.target == target)
            ).scalar()

    def record_target(
        self,
        run_id: int,
        target: str,
        result: TargetResult,
        now: datetime,
        found: list[Change],
        alert: tuple[Message, list[str]] | None,
    ) -> int:
        """Commit one target's result, its changes and its alert (with outbox rows) at once."""
        document = {"schema_version": jsondoc.SCHEMA_VERSION, **result.to_dict()}
        snapshot = Snapshot.from_document(document, now)
        leaf = snapshot.leaf or {}
        not_after = leaf.get("not_after")
        error = result.facts.error
        digest = content_hash(document)
        with self.engine.begin() as connection:
            last = connection.execute(
                select(documents.c.id, documents.c.content_sha256)
                .where(documents.c.target == target)
                .order_by(documents.c.id.desc())
                .limit(1)
            ).first()
            if last is not None and last.content_sha256 == digest:
                document_id = int(last.id)
            else:  # new content: stored once, later unchanged runs point at it
                document_id = int(
                    connection.execute(
                        documents.insert().values(
                            target=target,
                            content_sha256=digest,
                            created_at=now,
                            document=document,
                        )
                    ).inserted_primary_key[0]
                )
            result_id = int(
                connection.execute(
                    results.insert().values(
                        run_id=run_id,
                        target=target,
                        evaluated_at=now,
                        status="scanned" if result.facts.ok else "error",
                        overall=result.overall,
                        error_kind=error.kind if error else None,
                        days_left=snapshot.days_left,
                        not_after=(
                            parse_instant(str(not_after))
                            if not_after
                            else None
                        ),
                        leaf_sha256=leaf.get("sha256"),
                        issuer=leaf.get("issuer"),
                        verdicts=dict(result.verdicts),
                        document=None,  # JSON null: the document is document_id's
                        document_id=document_id,
                    )
                ).inserted_primary_key[0]
            )
            for change in found:
                connection.execute(
                    changes.insert().values(
                        run_id=run_id,
                        result_id=result_id,
                        target=target,
                        created_at=now,
                        kind=change.kind,
                        severity=change.severity,
                        good=change.good,
                        notify=change.notify,
                        summary=change.summary,
                        detail={
                            **change.detail,
                            "platforms": change.platforms,
                            "rule_id": change.rule_id,
                            "fix": change.fix,
                        },
                    )
                )
            if alert is not None:
                message, channel_names = alert
                alert_id = connection.execute(
                    alerts.insert().values(
                        run_id=run_id,
                        target=target,
                        created_at=now,
                        kind=message.kind,
                        message=message.to_dict(),
                    )
                ).inserted_primary_key[0]
                for name in channel_names:
                    connection.execute(
                        deliveries.insert().values(
                            alert_id=alert_id,
                            channel=name,
                            status="pending",
                            attempts=0,
                            uid=str(uuid.uuid4()),
                        )
                    )
            counted = sum(1 for c in found if c.kind != "first_seen")
            connection.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(targets_done=runs.c.targets_done + 1, changes=runs.c.changes + counted)
            )
        return result_id

    # -- the outbox -----------------------------------------------------------------------------

    def pending_deliveries(self) -> list[PendingDelivery]:
        """Rows still to send: pending, or 'sending' (a run was killed while sending them)."""
        query = (
            select(
                deliveries.c.id,
                deliveries.c.channel,
                deliveries.c.attempts,
                deliveries.c.uid,
                deliveries.c.status,
                deliveries.c.last_error,
                alerts.c.message,
                alerts.c.target,
                alerts.c.created_at,
            )
            .join(alerts, alerts.c.id == deliveries.c.alert_id)
            .where(deliveries.c.status.in_(WAITING))
            .order_by(deliveries.c.id)
        )
        with self.engine.connect() as connection:
            return [
                PendingDelivery(
                    r.id,
                    r.channel,
                    r.attempts,
                    Message.from_dict(r.message),
                    target=r.target,
                    uid=r.uid,
                    created_at=r.created_at,
                    status=r.status,
                    last_error=r.last_error,
                )
                for r in connection.execute(query)
            ]

    def mark_sending(self, delivery_ids: list[int], now: datetime) -> None:
        """In flight: committed before the POST, so a killed run leaves a trace."""
        with self.engine.begin() as connection:
            connection.execute(
                deliveries.update()
                .where(deliveries.c.id.in_(delivery_ids))
                .values(status="sending", last_attempt_at=now)
            )

    def fail_delivery(self, delivery_id: int, reason: str, now: datetime) -> None:
        """Given up (max_attempts / max_age_hours): kept as 'failed' with the reason."""
        with self.engine.begin() as connection:
            connection.execute(
                deliveries.update()
                .where(deliveries.c.id == delivery_id)
                .values(
                    status="failed", last_error=self.redactor.scrub(reason), last_attempt_at=now
                )
            )

    def record_delivery(
        self, delivery_id: int, attempts: int, error: str | None, now: datetime
    ) -> None:
        values: dict[str, Any] = {
            "attempts": deliveries.c.attempts + attempts,
            "last_attempt_at": now,
        }
        if error is None:
            values.update(status="sent", sent_at=now)
        else:
            values.update(status="pending", last_error=self.redactor.scrub(error))
        with self.engine.begin() as connection:
            connection.execute(
                deliveries.update().where(deliveries.c.id == delivery_id).values(**values)
            )

    def abandon_delivery(self, delivery_id: int, reason: str, now: datetime) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                deliveries.update()
                .where(deliveries.c.id == delivery_id)
                .values(status="abandoned", last_error=reason, last_attempt_at=now)
            )

    def outbox_summary(self) -> dict[str, dict[str, Any]]:
        """Per channel: deliveries still pending and the last error seen."""
        query = (
            select(
                deliveries.c.channel,
                func.count().label("pending"),
                func.max(deliveries.c.last_attempt_at).label("last_attempt"),
            )
            .where(deliveries.c.status.in_(WAITING))
            .group_by(deliveries.c.channel)
        )
        with self.engine.connect() as connection:
            summary = {
                r.channel: {"pending": r.pending, "last_attempt": r.last_attempt}
                for r in connection.execute(query)
            }
            for channel, info in summary.items():
                info["last_error"] = connection.execute(
                    select(deliveries.c.last_error)
                    .where(
                        deliveries.c.channel == channel,
                        deliveries.c.status.in_(WAITING),
                        deliveries.c.last_error.is_not(None),
                    )
                    .order_by(deliveries.c.id.desc())
                    .limit(1)
                ).scalar()
        return summary

    # -- reading history ------------------------------------------------------------------------

    def list_runs(self, since: datetime | None = None, limit: int = 50) -> list[Row[Any]]:
        query = select(runs).order_by(runs.c.id.desc()).limit(limit)
        if since is not None:
            query = query.where(runs.c.started_at >= since)
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    def list_changes(
        self, since: datetime | None = None, target: str | None = None, limit: int = 500
    ) -> list[Row[Any]]:
        query = select(changes).where(changes.c.kind != "first_seen")
        if since is not None:
            query = query.where(changes.c.created_at >= since)
        if target:
            query = query.where(target_filter(changes.c.target, target))
        query = query.order_by(changes.c.id.desc()).limit(limit)
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    def timeline(
        self, since: datetime | None = None, target: str | None = None, limit: int = 5000
    ) -> list[Row[Any]]:
        """Per-target results over time (no documents): for the HTML history."""
        query = select(
            results.c.id,
            results.c.run_id,
            results.c.target,
            results.c.evaluated_at,
            results.c.status,
            results.c.overall,
            results.c.error_kind,
            results.c.days_left,
            results.c.not_after,
            results.c.leaf_sha256,
            results.c.issuer,
            results.c.verdicts,
        )
        conditions = []
        if since is not None:
            conditions.append(results.c.evaluated_at >= since)
        if target:
            conditions.append(target_filter(results.c.target, target))
        if conditions:
            query = query.where(and_(*conditions))
        query = query.order_by(results.c.target, results.c.id).limit(limit)
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    def alert_rows(self, target: str | None = None) -> list[Row[Any]]:
        query = select(
            alerts.c.id, alerts.c.run_id, alerts.c.target, alerts.c.kind, alerts.c.created_at
        ).order_by(alerts.c.id)
        if target:
            query = query.where(target_filter(alerts.c.target, target))
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    def delivery_rows(self) -> list[Row[Any]]:
        with self.engine.connect() as connection:
            return list(connection.execute(select(deliveries).order_by(deliveries.c.id)))

    # -- pacing and retention -------------------------------------------------------------------

    def recent_sends(self, channel: str, since: datetime) -> list[datetime]:
        """When deliveries to ``channel`` were last attempted since ``since`` (one per POST:
        a digest's rows share one time), for pacing across runs."""
        query = (
            select(deliveries.c.last_attempt_at)
            .where(deliveries.c.channel == channel, deliveries.c.last_attempt_at >= since)
            .distinct()
        )
        with self.engine.connect() as connection:
            return sorted(t for t in connection.execute(query).scalars() if t is not None)

    def prune(self, before: datetime) -> dict[str, int]:
        """Delete what runs started before ``before`` recorded, except what is still needed:
        each target's latest result (the next run compares with it) and alerts still
        waiting for delivery.  Documents no result points at any more go too."""
        waiting = ("pending", "sending")
        with self.engine.begin() as connection:
            old_runs = select(runs.c.id).where(
                runs.c.started_at < before, runs.c.status != "running"
            )
            latest = select(func.max(results.c.id)).group_by(results.c.target)
            held = select(deliveries.c.alert_id).where(deliveries.c.status.in_(waiting))
            old_alerts = select(alerts.c.id).where(
                alerts.c.run_id.in_(old_runs), alerts.c.id.not_in(held)
            )
            counts = {
                "deliveries": connection.execute(
                    deliveries.delete().where(deliveries.c.alert_id.in_(old_alerts))
                ).rowcount,
            }
            counts["alerts"] = connection.execute(
                alerts.delete().where(alerts.c.run_id.in_(old_runs), alerts.c.id.not_in(held))
            ).rowcount
            counts["changes"] = connection.execute(
                changes.delete().where(
                    changes.c.run_id.in_(old_runs), changes.c.result_id.not_in(latest)
                )
            ).rowcount
            counts["results"] = connection.execute(
                results.delete().where(results.c.run_id.in_(old_runs), results.c.id.not_in(latest))
            ).rowcount
            still_used = union(
                select(results.c.run_id), select(alerts.c.run_id), select(changes.c.run_id)
            )
            counts["runs"] = connection.execute(
                runs.delete().where(runs.c.id.in_(old_runs), runs.c.id.not_in(still_used))
            ).rowcount
            pointed = select(results.c.document_id).where(results.c.document_id.is_not(None))
            counts["documents"] = connection.execute(
                documents.delete().where(documents.c.id.not_in(pointed))
            ).rowcount
        return {k: int(v or 0) for k, v in counts.items()}
