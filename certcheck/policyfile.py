"""User policy files (``--profile-file``) and suppressions (``--ignore``).

A policy file is TOML::

    base = "wechat"          # profile it starts from (default: wechat)
    warn_days = 21
    crit_days = 5

    [severity]               # per-rule override; "off" disables the rule
    legacy_tls_enabled = "warning"
    chain_includes_root = "off"

    [[ignore]]               # suppressions: still in JSON, marked suppressed
    rule = "cert_expiring_soon"
    host = "legacy.example.com"      # optional: all hosts when absent
    until = 2027-01-31               # optional: stops applying after this day
    reason = "replacement scheduled"

Every mistake is a :class:`PolicyFileError` naming the file, line and key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from certcheck.catalog import Profile, load_catalog, load_profiles
from certcheck.model import SEVERITY_ORDER, Finding
from certcheck.safeload import LoadError, load_toml, quote

OFF = "off"
_TOP_KEYS = {"base", "description", "warn_days", "crit_days", "severity", "ignore"}
_IGNORE_KEYS = {"rule", "host", "until", "reason"}


class PolicyFileError(ValueError):
    """A policy file or --ignore value that cannot be used."""


@dataclass(frozen=True)
class Ignore:
    rule: str
    host: str | None = None
    until: date | None = None
    reason: str = ""
    source: str = "--ignore"

    def matches(self, finding: Finding, host: str) -> bool:
        return finding.rule_id == self.rule and (self.host is None or self.host == host)

    def active(self, now: datetime) -> bool:
        """Active through the whole ``until`` day (UTC)."""
        if self.until is None:
            return True
        return now <= datetime.combine(self.until, time.max, tzinfo=UTC)


def _line_of(text: str, key: str) -> int | None:
    if len(key) > 200:
        return None
    pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=", re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _where(path: str, text: str, key: str) -> str:
    line = _line_of(text, key)
    return f"{path}:{line}" if line else path


def parse_ignore(value: str) -> Ignore:
    """``RULE_ID`` or ``RULE_ID:HOST`` from the command line."""
    rule, _, host = value.partition(":")
    if rule not in load_catalog():
        raise PolicyFileError(
            f"--ignore {quote(value)}: unknown rule id {quote(rule)} (see certcheck rules)"
        )
    if ":" in value and not host:
        raise PolicyFileError(f"--ignore {quote(value)}: empty host after ':'")
    return Ignore(rule=rule, host=host.lower() or None)


def _parse_ignores(items: Any, path: str, text: str) -> list[Ignore]:
    if not isinstance(items, list):
        raise PolicyFileError(f"{_where(path, text, 'ignore')}: 'ignore' must be [[ignore]] tables")
    ignores = []
    catalog = load_catalog()
    for item in items:
        if not isinstance(item, dict):
            raise PolicyFileError(
                f"{_where(path, text, 'ignore')}: 'ignore' must be [[ignore]] tables, "
                f"got {quote(item)}"
            )
        unknown = set(item) - _IGNORE_KEYS
        if unknown:
            key = sorted(unknown)[0]
            raise PolicyFileError(
                f"{_where(path, text, key)}: unknown key {quote(key)} in [[ignore]]"
            )
        rule = item.get("rule")
        if not isinstance(rule, str) or rule not in catalog:
            raise PolicyFileError(
                f"{_where(path, text, 'rule')}: [[ignore]] rule {quote(rule)} is not a rule id"
            )
        until = item.get("until")
        if isinstance(until, datetime):
            until = until.date()
        if until is not None and not isinstance(until, date):
            raise PolicyFileError(
                f"{_where(path, text, 'until')}: until must be a date like 2027-01-31"
            )
        host = item.get("host")
        if host is not None and not isinstance(host, str):
            raise PolicyFileError(f"{_where(path, text, 'host')}: host must be a string")
        reason = item.get("reason", "")
        if not isinstance(reason, str):
            raise PolicyFileError(f"{_where(path, text, 'reason')}: reason must be a string")
        ignores.append(Ignore(rule, host.lower() if host else None, until, reason, path))
    return ignores


def load_policy_file(path: Path) -> tuple[Profile, list[Ignore]]:
    """The profile and suppressions a user's TOML file describes."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyFileError(f"--profile-file {name!r}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise PolicyFileError(f"--profile-file {name!r}: not UTF-8 text") from exc
    try:
        data = load_toml(text, name)
    except LoadError as exc:
        raise PolicyFileError(str(exc)) from None
    unknown = set(data) - _TOP_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise PolicyFileError(f"{_where(name, text, key)}: unknown key {quote(key)}")
    profiles = load_profiles()
    base_name = data.get("base", "wechat")
    if not isinstance(base_name, str) or base_name not in profiles:
        raise PolicyFileError(
            f"{_where(name, text, 'base')}: base {quote(base_name)} is not one of "
            f"{', '.join(sorted(profiles))}"
        )
    description = data.get("description", f"user profile from {name}")
    if not isinstance(description, str):
        raise PolicyFileError(f"{_where(name, text, 'description')}: description must be a string")
    base = profiles[base_name]
    days = {}
    for key in ("warn_days", "crit_days"):
        value = data.get(key, getattr(base, key))
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise PolicyFileError(f"{_where(name, text, key)}: {key} must be a whole number ≥ 0")
        days[key] = value
    overrides = data.get("severity", {})
    if not isinstance(overrides, dict):
        raise PolicyFileError(f"{_where(name, text, 'severity')}: [severity] must be a table")
    severity = dict(base.severity)
    catalog = load_catalog()
    for rule_id, value in overrides.items():
        if rule_id not in catalog:
            raise PolicyFileError(
                f"{_where(name, text, rule_id)}: unknown rule id {quote(rule_id)}"
            )
        if not isinstance(value, str) or (value not in SEVERITY_ORDER and value != OFF):
            raise PolicyFileError(
                f"{_where(name, text, rule_id)}: severity of {rule_id} must be error, "
                f"warning, info or off (got {quote(value)})"
            )
        severity[rule_id] = value
    profile = Profile(
        name=f"{path.stem} (based on {base_name})",
        description=description,
        warn_days=days["warn_days"],
        crit_days=days["crit_days"],
        severity=severity,  # type: ignore[arg-type]  # may contain "off"
    )
    return profile, _parse_ignores(data.get("ignore", []), name, text)


def apply_suppressions(
    findings: list[Finding], host: str, ignores: tuple[Ignore, ...], now: datetime
) -> None:
    """Mark findings matched by an active ignore; say so when one has expired."""
    for finding in findings:
        for ignore in ignores:
            if not ignore.matches(finding, host):
                continue
            if ignore.active(now):
                finding.suppressed = True
                until = f" until {ignore.until.isoformat()}" if ignore.until else ""
                why = f": {ignore.reason}" if ignore.reason else ""
                finding.suppressed_reason = f"ignored by {ignore.source}{until}{why}"
                break
            assert ignore.until is not None
            finding.suppressed_reason = (
                f"an ignore from {ignore.source} expired on {ignore.until.isoformat()}; "
                "the finding counts again"
            )
