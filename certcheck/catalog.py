"""The rule catalog and policy profiles, read from the ``rules/`` data folder.

``rules/`` ships inside the wheel as ``certcheck.rules``; these loaders are the
only place that knows where the files are.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from certcheck.datadir import user_copy
from certcheck.model import SEVERITY_ORDER, Finding, Severity


@dataclass(frozen=True)
class Variant:
    """A named case of a rule with its own wording or weight (``[rule.variants.NAME]``):
    e.g. ``chain_invalid.signature`` has its own title, ``cert_expiring_soon.critical`` is
    an error.  Unset fields are the rule's."""

    name: str
    title: str | None = None
    severity: Severity | None = None
    platforms: tuple[str, ...] | None = None
    breaks: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    platforms: tuple[str, ...]
    breaks: tuple[str, ...]
    title: str
    fix: str
    sources: tuple[str, ...]
    variants: dict[str, Variant] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    """A policy profile: thresholds and severity overrides."""

    name: str
    description: str
    warn_days: int
    crit_days: int
    severity: dict[str, Severity] = field(default_factory=dict)


def read_data(name: str) -> bytes:
    """A table under rules/: the refreshed copy of ``certcheck data update`` if there is one."""
    refreshed = user_copy(name)
    if refreshed is not None:
        return refreshed
    return resources.files("certcheck.rules").joinpath(name).read_bytes()


def _catalog_entries() -> dict[str, Any]:
    """Every ``rules/catalog/*.toml`` file, merged; a rule id may appear only once."""
    folder = resources.files("certcheck.rules").joinpath("catalog")
    merged: dict[str, Any] = {}
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".toml"):
            continue
        for rule_id, entry in tomllib.loads(item.read_text(encoding="utf-8")).items():
            if rule_id in merged:
                raise ValueError(f"rule {rule_id} is defined twice (rules/catalog/{item.name})")
            merged[rule_id] = entry
    return merged


@cache
def load_catalog() -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for rule_id, entry in _catalog_entries().items():
        if entry["severity"] not in SEVERITY_ORDER:
            raise ValueError(f"catalog: {rule_id}: bad severity {entry['severity']!r}")
        rules[rule_id] = Rule(
            id=rule_id,
            severity=entry["severity"],
            platforms=tuple(entry["platforms"]),
            breaks=tuple(entry.get("breaks", ())),
            title=entry["title"],
            fix=entry.get("fix", ""),
            sources=tuple(entry.get("sources", ())),
            variants=_variants(rule_id, entry.get("variants", {})),
        )
    return rules


_VARIANT_KEYS = {"title", "severity", "platforms", "breaks"}


def _variants(rule_id: str, table: dict[str, Any]) -> dict[str, Variant]:
    variants: dict[str, Variant] = {}
    for name, entry in table.items():
        unknown = set(entry) - _VARIANT_KEYS
        if unknown:
            raise ValueError(f"catalog: {rule_id}.variants.{name}: unknown keys {sorted(unknown)}")
        severity = entry.get("severity")
        if severity is not None and severity not in SEVERITY_ORDER:
            raise ValueError(f"catalog: {rule_id}.variants.{name}: bad severity {severity!r}")
        variants[name] = Variant(
            name=name,
            title=entry.get("title"),
            severity=severity,
            platforms=tuple(entry["platforms"]) if "platforms" in entry else None,
            breaks=tuple(entry["breaks"]) if "breaks" in entry else None,
        )
    return variants


@cache
def load_profiles() -> dict[str, Profile]:
    data = tomllib.loads(read_data("profiles.toml").decode("utf-8"))
    catalog = load_catalog()
    profiles: dict[str, Profile] = {}
    for name, entry in data.items():
        overrides = dict(entry.get("severity", {}))
        for rule_id, sev in overrides.items():
            if rule_id not in catalog or sev not in SEVERITY_ORDER:
                raise ValueError(f"profiles.toml: [{name}.severity] {rule_id} = {sev!r}")
        profiles[name] = Profile(
            name=name,
            description=entry.get("description", ""),
            warn_days=int(entry.get("warn_days", 30)),
            crit_days=int(entry.get("crit_days", 7)),
            severity=overrides,
        )
    return profiles


def make_finding(
    rule_id: str,
    evidence: dict[str, Any],
    profile: Profile | None = None,
    variant: str | tuple[str, ...] | None = None,
    breaks: list[str] | None = None,
    platforms: list[str] | None = None,
) -> Finding:
    """A finding for ``rule_id``: wording, severity, platforms and breaks from the catalog.

    ``variant`` names catalog variants of the rule (applied in order, a later one winning);
    the profile's severity for the rule wins over all of them.  ``breaks`` and ``platforms``
    are for what only the facts or the data can say (the platforms whose stores distrust a
    CA, the platforms whose simulated clients fail), never for a fixed choice: that is a
    variant.
    """
    rule = load_catalog()[rule_id]
    title, severity = rule.title, rule.severity
    chosen_platforms, chosen_breaks = rule.platforms, rule.breaks
    for name in (variant,) if isinstance(variant, str) else variant or ():
        case = rule.variants[name]  # KeyError: a variant the catalog does not declare
        title = case.title or title
        severity = case.severity or severity
        chosen_platforms = case.platforms if case.platforms is not None else chosen_platforms
        chosen_breaks = case.breaks if case.breaks is not None else chosen_breaks
    if profile is not None and rule_id in profile.severity:
        severity = profile.severity[rule_id]  # the profile's word wins (including "off")
    return Finding(
        rule_id=rule_id,
        severity=severity,
        platforms=list(chosen_platforms) if platforms is None else platforms,
        title=title,
        evidence=evidence,
        fix=rule.fix,
        breaks=list(chosen_breaks) if breaks is None else breaks,
    )
