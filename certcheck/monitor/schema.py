"""The history database's tables (SQLAlchemy Core), as of the newest schema version.

Every table name starts with ``certcheck_`` so a shared PostgreSQL database can
hold other things too.  Times are stored in UTC (:class:`UTCDateTime`).
:mod:`certcheck.monitor.migrations` creates and upgrades these tables; change
them only together with a new migration there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the history store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

schema_version = Table(
    "certcheck_schema",
    metadata,
    Column("version", Integer, nullable=False),
)

#: One row per ``certcheck monitor`` run.
runs = Table(
    "certcheck_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("status", String(16), nullable=False),  # running | complete | interrupted
    Column("tool_version", String(32), nullable=False),
    Column("profile", String(200), nullable=False),
    Column("targets_total", Integer, nullable=False),
    Column("targets_done", Integer, nullable=False, default=0),
    Column("changes", Integer, nullable=False, default=0),
    Column("exit_code", Integer),
    #: the locked target set (lock.shard_key) and ``--shard K/N``; schema version 3
    Column("lock_key", String(40)),
    Column("shard", String(16)),
)

#: One row per target per run, committed as soon as that target is done.
results = Table(
    "certcheck_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("certcheck_runs.id"), nullable=False),
    Column("target", String(300), nullable=False),
    Column("evaluated_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # scanned | error
    Column("overall", String(16), nullable=False),
    Column("error_kind", String(32)),
    Column("days_left", Float),
    Column("not_after", UTCDateTime),
    Column("leaf_sha256", String(64)),
    Column("issuer", Text),
    Column("verdicts", JSON, nullable=False),
    #: the target's entry of the JSON results document (certcheck.report.jsondoc); since
    #: schema version 2 JSON null, the document being in certcheck_documents (document_id)
    Column("document", JSON, nullable=False),
    UniqueConstraint("run_id", "target", name="certcheck_results_run_target"),
    Index("certcheck_results_target_id", "target", "id"),
    #: schema version 2: the stored document this result had (shared by unchanged runs)
    Column("document_id", Integer, ForeignKey("certcheck_documents.id")),
    Index("certcheck_results_document", "document_id"),
)

#: A target's results document, stored once per distinct content (schema version 2).
#: ``content_sha256`` hashes the document without its per-run fields (see store.content_hash).
documents = Table(
    "certcheck_documents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target", String(300), nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("document", JSON, nullable=False),
    Index("certcheck_documents_target", "target", "id"),
)

#: What differed from the target's previous result.
changes = Table(
    "certcheck_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("certcheck_runs.id"), nullable=False),
    Column("result_id", Integer, ForeignKey("certcheck_results.id"), nullable=False),
    Column("target", String(300), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("good", Boolean, nullable=False),
    Column("notify", Boolean, nullable=False),
    Column("summary", Text, nullable=False),
    Column("detail", JSON, nullable=False),
    Index("certcheck_changes_target", "target", "id"),
)

#: One alert message (changes or a reminder for one target).
alerts = Table(
    "certcheck_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("certcheck_runs.id"), nullable=False),
    Column("target", String(300), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("kind", String(16), nullable=False),  # change | reminder
    Column("message", JSON, nullable=False),
    Index("certcheck_alerts_target", "target", "created_at"),
)

#: The outbox: one row per alert per channel until it is delivered.
deliveries = Table(
    "certcheck_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, ForeignKey("certcheck_alerts.id"), nullable=False),
    Column("channel", String(100), nullable=False),
    Column("status", String(16), nullable=False),  # pending | sent | abandoned
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("last_attempt_at", UTCDateTime),
    Column("sent_at", UTCDateTime),
    #: the stable alert id sent with every attempt (webhook ``id``, Idempotency-Key,
    #: Message-ID); schema version 3.  status also: sending (in flight) | failed (gave up)
    Column("uid", String(36)),
    Index("certcheck_deliveries_status", "status", "id"),
)
