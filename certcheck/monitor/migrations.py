"""Schema versions of the history database, and the upgrades between them.

Why not alembic: the schema is a handful of tables that certcheck itself
creates and upgrades automatically when a run opens the database (there is no
separate "migrate" step for users, and no downgrades).  A one-row
``certcheck_schema`` table plus ordered upgrade functions written with
SQLAlchemy does that for SQLite and PostgreSQL alike, without shipping an
alembic script folder and ``env.py`` inside the wheel.

How it works: a new database gets the newest tables (:data:`schema.metadata`)
and the newest version number at once.  An existing one runs every upgrade in
:data:`UPGRADES` from its version up, each in its own transaction together
with the version bump, so an interrupted upgrade leaves a consistent version.

To change the schema: edit :mod:`certcheck.monitor.schema`, bump
:data:`LATEST`, and add ``UPGRADES[LATEST] = function(connection)`` that turns
a database of version ``LATEST - 1`` into the new shape (e.g. with
``ALTER TABLE ... ADD COLUMN``), plus a test that opens an old database.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, inspect, select

from certcheck.monitor import schema

#: The schema version this certcheck writes.
LATEST = 3

#: version -> upgrade from ``version - 1`` (run inside a transaction)
UPGRADES: dict[int, Callable[[Connection], None]] = {}


class SchemaError(RuntimeError):
    """The database's schema cannot be used by this certcheck."""


def current_version(connection: Connection) -> int | None:
    """The stored schema version, or None for a database without certcheck tables."""
    if not inspect(connection).has_table(schema.schema_version.name):
        return None
    version = connection.execute(select(schema.schema_version.c.version)).scalar()
    return None if version is None else int(version)


def migrate(engine: Engine, latest: int | None = None) -> int:
    """Create or upgrade the schema to ``latest`` (default :data:`LATEST`); return the version."""
    target = LATEST if latest is None else latest
    with engine.begin() as connection:
        version = current_version(connection)
        if version is None:
            schema.metadata.create_all(connection)
            connection.execute(schema.schema_version.delete())
            connection.execute(schema.schema_version.insert().values(version=target))
            return target
    if version > target:
        raise SchemaError(
            f"the history database has schema version {version}, newer than this "
            f"certcheck understands ({target}): upgrade certcheck"
        )
    for step in range(version + 1, target + 1):
        upgrade = UPGRADES.get(step)
        if upgrade is None:
            raise SchemaError(f"no upgrade to history schema version {step}")
        with engine.begin() as connection:
            upgrade(connection)
            connection.execute(schema.schema_version.update().values(version=step))
    return target


def _fleet_columns(connection: Connection) -> None:
    """Version 3: runs name their locked target set; outbox rows get a stable alert id.

    Only rows still pending get an id: sent, abandoned and failed ones are never sent again.
    """
    from uuid import uuid4

    from sqlalchemy import text

    for table, column, kind in (
        ("certcheck_runs", "lock_key", "VARCHAR(40)"),
        ("certcheck_runs", "shard", "VARCHAR(16)"),
        ("certcheck_deliveries", "uid", "VARCHAR(36)"),
    ):
        connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))
    rows = schema.deliveries
    waiting = connection.execute(select(rows.c.id).where(rows.c.status == "pending")).scalars()
    for delivery_id in list(waiting):
        connection.execute(rows.update().where(rows.c.id == delivery_id).values(uid=str(uuid4())))


def _documents_once(connection: Connection) -> None:
    """Version 2: a result points at a shared document stored once per distinct content.

    Existing rows keep their inline document (``document_id`` stays NULL); only new
    results use certcheck_documents.
    """
    from sqlalchemy import text

    schema.documents.create(connection)
    connection.execute(
        text(
            "ALTER TABLE certcheck_results ADD COLUMN document_id INTEGER "
            "REFERENCES certcheck_documents (id)"
        )
    )
    connection.execute(
        text("CREATE INDEX certcheck_results_document ON certcheck_results (document_id)")
    )


UPGRADES[2] = _documents_once
UPGRADES[3] = _fleet_columns
