"""``certcheck rules``: the rule catalog, one rule explained, and the data tables' ages."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from functools import cache
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from certcheck.catalog import load_catalog, load_profiles, read_data
from certcheck.cli.common import fail_usage, out
from certcheck.datadir import user_state
from certcheck.freshness import STALE_AFTER_DAYS, table_ages


@cache
def references() -> dict[str, dict]:
    return tomllib.loads(read_data("references.toml").decode("utf-8"))


def severity_by_profile(rule_id: str) -> dict[str, str]:
    rule = load_catalog()[rule_id]
    return {name: p.severity.get(rule_id, rule.severity) for name, p in load_profiles().items()}


def _explain(rule_id: str) -> None:
    catalog = load_catalog()
    if rule_id not in catalog:
        fail_usage(f"unknown rule id {rule_id!r} (certcheck rules lists them)")
    rule = catalog[rule_id]
    out.print(Text(rule.id, "bold") + Text(f": {rule.title}"))
    sev = ", ".join(f"{name} {value}" for name, value in severity_by_profile(rule_id).items())
    out.print(f"severity:  {sev}", highlight=False, soft_wrap=True)
    out.print(f"concerns:  {', '.join(rule.platforms)}", highlight=False)
    out.print(f"breaks:    {', '.join(rule.breaks) or 'no platform (advice)'}", highlight=False)
    out.print(f"\nfix: {rule.fix}", highlight=False)
    if rule.sources:
        out.print("\nsources:", highlight=False)
        for source in rule.sources:
            ref = references().get(source)
            if ref is None:
                out.print(f"  {source}", highlight=False, soft_wrap=True)
                continue
            out.print(f"  {source} {ref['title']}", highlight=False, soft_wrap=True)
            for url in ref.get("urls", []):
                out.print(f"     {url}", highlight=False, soft_wrap=True)


def _data_tables() -> None:
    from certcheck.platforms import data_sources

    today = datetime.now(UTC).date()
    ages = {age.file: age for age in table_ages(today)}
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("file", "copy", "snapshot", "age", "holds"):
        table.add_column(column, overflow="fold")
    for source in data_sources():
        # the refreshed copy's snapshot when `certcheck data update` replaced the table
        age = ages[source.file]
        days = age.age_days
        stale = age.changes_verdicts and days is not None and days > STALE_AFTER_DAYS
        mark = ("?" if days is None else f"{days} d") + (" (stale)" if stale else "")
        snapshot = age.snapshot.isoformat() if age.snapshot else "unknown"
        table.add_row(source.file, age.copy, snapshot, mark, source.description)
    out.print(table)
    out.print(
        "copy: packaged, or user (refreshed by `certcheck data update`; `certcheck data status`)",
        highlight=False,
    )
    for source in data_sources():
        listed = source.sources
        if ages[source.file].copy == "user":
            entry = user_state(source.file)[0]
            listed = tuple(f"refreshed from {url}" for url in (entry.sources if entry else ()))
        out.print(f"{source.file}: " + "; ".join(listed), highlight=False, soft_wrap=True)


def rules(
    rule_id: Annotated[
        str | None, typer.Argument(help="Explain one rule: fix, platforms and sources.")
    ] = None,
    data: Annotated[
        bool,
        typer.Option(
            "--data", help="List the data tables: copy in use (packaged / refreshed), sources, age."
        ),
    ] = False,
) -> None:
    """List the rule catalog (severity per profile, platforms, title), or explain one rule."""
    if data:
        _data_tables()
        return
    if rule_id is not None:
        _explain(rule_id)
        return
    profiles = list(load_profiles())
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("rule", no_wrap=True)
    for name in profiles:
        table.add_column(name, no_wrap=True)
    table.add_column("platforms / title", overflow="fold")
    for rule in load_catalog().values():
        sev = severity_by_profile(rule.id)
        table.add_row(
            rule.id, *(sev[p] for p in profiles), f"{','.join(rule.platforms)}: {rule.title}"
        )
    out.print(table)
