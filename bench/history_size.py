"""How many bytes the monitor history costs per target per run when nothing changes.

A benchmark, not a test (issue 19, item 10).  Run as::

    .venv/bin/python bench/history_size.py [--targets 1000] [--runs 30] [--results bench/RESULTS.md]

It scans a few real TLS servers on 127.0.0.1 (certcheck.samples, served by
certcheck.localserver) once, then records ``--targets`` targets for ``--runs``
daily runs through the history store's real write path (``Store.record_target``):
each run re-evaluates the scanned facts at that day's time (so the per-run
fields -- scan time, days left -- differ, as in a real cron job) and gives every
target its own name, so nothing but the per-run fields changes.  It measures
the database after the first run and after the last: the growth divided by
``targets x (runs - 1)`` is the cost of one unchanged target-run.  Also shown:
the average JSON document size, which is what every target-run cost before
documents were stored once per content.

SQLite always; PostgreSQL too when ``CERTCHECK_TEST_PG_URL`` names a server (a
fresh database is created there and dropped afterwards).  ``certcheck
history`` is timed on the result.  ``--results FILE`` writes the numbers into the
section between ``history-size:begin`` / ``history-size:end`` markers of FILE.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from certcheck import samples
from certcheck.evaluate import Policy, evaluate
from certcheck.localserver import LoopbackServer, ServerSpec
from certcheck.model import ServerFacts, Target
from certcheck.monitor.store import Store
from certcheck.pipeline import scan_targets
from certcheck.report import jsondoc

TEMPLATES = ("good_rsa", "good_ecdsa", "missing_intermediate", "wrong_host")
#: the first run's day; the sample certificates are issued then (valid 45 days from a day before)
START = (datetime.now(UTC) - timedelta(days=30)).replace(microsecond=0)
BEGIN, END = "<!-- history-size:begin -->", "<!-- history-size:end -->"


def scanned_templates(start: datetime) -> tuple[list[ServerFacts], bytes]:
    """Facts of a few real loopback servers (and the root to trust them), their
    certificates issued at ``start`` (the first run) so that every run sees them valid."""
    sample_set = samples.generate(now=start)
    names = {s.name for s in sample_set.samples}
    chosen = [sample_set.get(n) for n in TEMPLATES if n in names] or sample_set.samples[:4]
    servers = []
    for sample in chosen:
        spec = ServerSpec(
            name=sample.name,
            chain_pem=sample.chain_pem,
            key_pem=sample.key_pem,
            min_version=sample.server.get("min_version", "TLSv1.2"),
            max_version=sample.server.get("max_version", "TLSv1.3"),
        )
        servers.append((sample, LoopbackServer(spec).start()))
    try:
        targets = [
            Target(host=s.host, port=server.port, connect_addr="127.0.0.1") for s, server in servers
        ]
        facts = scan_targets(targets, timeout=5, concurrency=4)
    finally:
        for _sample, server in servers:
            server.stop()
    return facts, sample_set.root_pem


def policy_for(root: bytes) -> Policy:
    """Expiry thresholds below the sample leaves' remaining days on every run (45-day
    leaves, 30 daily runs): no expiry threshold is crossed, so nothing changes."""
    return Policy.build(ca_pem=root, warn_days=5, crit_days=1)


def fill(url: str, targets: int, runs: int, facts: list[ServerFacts], root: bytes) -> list[int]:
    """Record ``runs`` daily runs of ``targets`` unchanged targets; database size after each."""
    policy = policy_for(root)
    start = START
    store = Store.open(url)
    sizes = []
    try:
        store.migrate()
        for day in range(runs):
            now = start + timedelta(days=day)
            stamp = now.isoformat(timespec="seconds").replace("+00:00", "Z")
            results = [
                evaluate(dataclasses.replace(f, scanned_at=stamp), policy, now) for f in facts
            ]
            run_id = store.begin_run(now, targets, "wechat")
            for n in range(targets):
                template = results[n % len(results)]
                target = dataclasses.replace(template.facts.target, host=f"t{n:05}.bench.test")
                result = dataclasses.replace(
                    template, facts=dataclasses.replace(template.facts, target=target)
                )
                store.record_target(run_id, target.label, result, now, [], None)
            store.finish_run(run_id, now, 0)
            sizes.append(database_bytes(store))
    finally:
        store.close()
    return sizes


def database_bytes(store: Store) -> int:
    with store.engine.connect() as connection:
        if store.backend == "sqlite":
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            pages = connection.exec_driver_sql("PRAGMA page_count").scalar() or 0
            free = connection.exec_driver_sql("PRAGMA freelist_count").scalar() or 0
            size = connection.exec_driver_sql("PRAGMA page_size").scalar() or 0
            return int((pages - free) * size)
        return int(
            connection.execute(
                text(
                    "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relkind = 'r' AND c.relname LIKE 'certcheck_%' "
                    "AND n.nspname = current_schema()"
                )
            ).scalar()
            or 0
        )


def time_history(url: str) -> float:
    """Wall seconds of ``certcheck history --db URL --limit 50`` (a fresh process)."""
    exe = Path(sys.executable).with_name("certcheck")
    started = time.monotonic()
    subprocess.run(
        [str(exe), "history", "--db", url, "--limit", "50"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.monotonic() - started


def measure(label: str, url: str, args: argparse.Namespace, facts: Any, root: bytes) -> dict:
    started = time.monotonic()
    sizes = fill(url, args.targets, args.runs, facts, root)
    took = time.monotonic() - started
    growth = sizes[-1] - sizes[0]
    per = growth / (args.targets * (args.runs - 1))
    return {
        "backend": label,
        "after_first_run": sizes[0],
        "after_last_run": sizes[-1],
        "bytes_per_unchanged_target_run": round(per),
        "first_run_bytes_per_target": round(sizes[0] / args.targets),
        "fill_seconds": round(took, 1),
        "history_seconds": round(time_history(url), 2),
    }


def postgres(args: argparse.Namespace, facts: Any, root: bytes) -> dict | None:
    base = os.environ.get("CERTCHECK_TEST_PG_URL")
    if not base:
        return None
    name = f"certcheck_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
        return measure("PostgreSQL", url, args, facts, root)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def table(rows: list[dict], args: argparse.Namespace, document_bytes: int) -> str:
    lines = [
        BEGIN,
        f"{args.targets:,} targets x {args.runs} daily runs, nothing changing "
        f"(`bench/history_size.py`, {datetime.now(UTC):%Y-%m-%d}). Average JSON document: "
        f"{document_bytes:,} bytes (what each target-run stored before).",
        "",
        "| backend | bytes per unchanged target-run | first run, per target | database after "
        f"{args.runs} runs | `certcheck history` |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['backend']} | **{row['bytes_per_unchanged_target_run']:,}** | "
            f"{row['first_run_bytes_per_target']:,} | {row['after_last_run'] / 1e6:.1f} MB | "
            f"{row['history_seconds']} s |"
        )
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--results", type=Path)
    args = parser.parse_args()
    if args.runs < 2 or args.targets < 1:
        parser.error("need at least 2 runs and 1 target")
    facts, root = scanned_templates(START)
    policy = policy_for(root)
    now = START
    document_bytes = round(
        sum(
            len(
                json.dumps(
                    {"schema_version": jsondoc.SCHEMA_VERSION, **evaluate(f, policy, now).to_dict()}
                )
            )
            for f in facts
        )
        / len(facts)
    )
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        rows.append(measure("SQLite", f"sqlite:///{folder}/h.db", args, facts, root))
    pg = postgres(args, facts, root)
    if pg:
        rows.append(pg)
    print(json.dumps({"document_bytes": document_bytes, "rows": rows}, indent=2))
    block = table(rows, args, document_bytes)
    print(block)
    if args.results:
        current = args.results.read_text(encoding="utf-8") if args.results.exists() else ""
        if BEGIN in current and END in current:
            head, rest = current.split(BEGIN, 1)
            current = head + block + rest.split(END, 1)[1]
        else:
            current = current.rstrip("\n") + "\n\n## History size (issue 19)\n\n" + block + "\n"
        args.results.write_text(current, encoding="utf-8")


if __name__ == "__main__":
    main()
