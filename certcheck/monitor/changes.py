"""Change detection: what differs between a target's previous result and this one.

Pure functions of stored results (no database, no network, no clock).  A
result is read into a :class:`Snapshot`; :func:`detect_changes` compares the
new snapshot with the previous one (for reachability) and with the previous
*scanned* one (for findings, certificate and protocols, so that a target that
was unreachable for a night does not re-announce every standing finding).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from certcheck.catalog import load_catalog
from certcheck.core.times import DAY, parse_instant, whole_days
from certcheck.model import SEVERITY_ORDER, VERDICT_PLATFORMS
from certcheck.report.i18n import Catalog, catalog

PLATFORM_NAMES = {
    "ios": "iOS",
    "android": "Android",
    "android_legacy": "old Android",
    "wechat": "WeChat",
    "wechat_devtools": "WeChat DevTools",
    "chrome": "Chrome",
    "firefox": "Firefox",
    "all": "all platforms",
}
_VERDICT_RANK = {"pass": 0, "unknown": 0, "warn": 1, "fail": 2}


def platform_names(platforms: list[str], lang: str | None = None) -> str:
    """The platforms as a person names them; ``lang`` (not English): from its catalog."""
    if lang is not None:
        cat = catalog(lang)
        names = ["all"] if "all" in platforms else platforms
        return cat.get("console", "list_sep").join(cat.get("platform", p) for p in names)
    if "all" in platforms:
        return PLATFORM_NAMES["all"]
    return ", ".join(PLATFORM_NAMES.get(p, p) for p in platforms)


@dataclass(frozen=True)
class Snapshot:
    """The parts of one stored result that change detection compares."""

    target: str
    evaluated_at: datetime
    ok: bool
    error: dict[str, Any] | None
    overall: str
    verdicts: dict[str, str]
    findings: dict[str, dict[str, Any]]
    leaf: dict[str, Any] | None
    protocols: dict[str, bool | None]
    cipher_suites: dict[str, list[str]]

    @property
    def days_left(self) -> float | None:
        """Days from this result's evaluation until the leaf's notAfter (negative: expired)."""
        if not self.leaf or not self.leaf.get("not_after"):
            return None
        not_after = parse_instant(str(self.leaf["not_after"]))
        return (not_after - self.evaluated_at).total_seconds() / DAY

    @classmethod
    def from_document(cls, document: dict[str, Any], evaluated_at: datetime) -> Snapshot:
        """Read one entry of a results document (``TargetResult.to_dict()``)."""
        facts = document.get("facts") or {}
        target = document.get("target") or facts.get("target") or {}
        host, port = target.get("host", "?"), target.get("port", 0)
        label = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
        certificate = document.get("certificate") or {}
        return cls(
            target=label,
            evaluated_at=evaluated_at,
            ok=document.get("status") in ("scanned", "partial"),
            error=facts.get("error"),
            overall=document.get("overall", "error"),
            verdicts=dict(document.get("verdicts") or {}),
            findings={
                f["rule_id"]: f
                for f in document.get("findings") or []
                if not f.get("suppressed")  # an accepted risk is not news
            },
            leaf=certificate.get("leaf"),
            protocols=dict(facts.get("protocols") or {}),
            cipher_suites={k: list(v) for k, v in (facts.get("cipher_suites") or {}).items()},
        )


@dataclass
class Change:
    """One difference worth recording; ``notify`` says whether it is alerted."""

    kind: str
    severity: str
    summary: str
    platforms: list[str] = field(default_factory=list)
    fix: str = ""
    rule_id: str | None = None
    good: bool = False
    notify: bool = True
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class DetectSettings:
    """Thresholds for change detection (from the configuration)."""

    expiry_alert_days: tuple[int, ...] = (30, 7, 1)
    min_severity: str = "warning"
    crit_days: int = 7


def _at_least(severity: str, minimum: str) -> bool:
    return SEVERITY_ORDER[severity] >= SEVERITY_ORDER[minimum]


def _affected(finding: dict[str, Any]) -> list[str]:
    return list(finding.get("breaks") or finding.get("platforms") or [])


def expiry_band(days_left: float | None, thresholds: tuple[int, ...]) -> int | None:
    """The smallest threshold that ``days_left`` is within, or None when above them all."""
    if days_left is None:
        return None
    inside = [t for t in thresholds if days_left <= t]
    return min(inside) if inside else None


def _finding_changes(
    before: Snapshot | None, now: Snapshot, settings: DetectSettings
) -> list[Change]:
    found: list[Change] = []
    old = before.findings if before else {}
    for rule_id, finding in now.findings.items():
        severity = finding["severity"]
        previous = old.get(rule_id)
        if previous is None:
            found.append(
                Change(
                    "new_finding",
                    severity,
                    f"{rule_id}: {finding['title']}",
                    _affected(finding),
                    finding.get("fix", ""),
                    rule_id,
                    notify=_at_least(severity, settings.min_severity),
                    detail={"evidence": finding.get("evidence", {})},
                )
            )
        elif SEVERITY_ORDER[severity] > SEVERITY_ORDER[previous["severity"]]:
            found.append(
                Change(
                    "finding_escalated",
                    severity,
                    f"{rule_id} is now {severity} (was {previous['severity']}): {finding['title']}",
                    _affected(finding),
                    finding.get("fix", ""),
                    rule_id,
                    notify=_at_least(severity, settings.min_severity),
                    detail={"evidence": finding.get("evidence", {}), "was": previous["severity"]},
                )
            )
    for rule_id, finding in old.items():
        if rule_id not in now.findings:
            found.append(
                Change(
                    "resolved_finding",
                    finding["severity"],
                    f"resolved {rule_id}: {finding['title']}",
                    _affected(finding),
                    rule_id=rule_id,
                    good=True,
                    notify=_at_least(finding["severity"], settings.min_severity),
                )
            )
    return found


def _date(leaf: dict[str, Any]) -> str:
    return str(leaf.get("not_after", "?"))[:10]


#: the leaf fields a replacement is described by (certinfo.describe's keys)
_COMPARED = ("sha256", "subject", "san", "issuer", "key", "signature_hash", "not_before",
             "not_after")


def _leaf_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What a person wants to know of a new certificate: what is different from the old."""
    parts = []
    if old.get("subject") != new.get("subject"):
        parts.append(f"subject {old.get('subject', '?')} -> {new.get('subject', '?')}")
    old_san, new_san = set(old.get("san") or []), set(new.get("san") or [])
    if old_san != new_san:
        added, removed = sorted(new_san - old_san), sorted(old_san - new_san)
        parts.append(
            "names"
            + (f" added {', '.join(added[:5])}" if added else "")
            + (f" removed {', '.join(removed[:5])}" if removed else "")
        )
    if old.get("key") != new.get("key"):
        parts.append(f"key {old.get('key', '?')} -> {new.get('key', '?')}")
    if old.get("issuer") != new.get("issuer"):
        parts.append(f"issuer {old.get('issuer', '?')} -> {new.get('issuer', '?')}")
    else:
        parts.append(f"same issuer ({new.get('issuer', '?')})")
    since = str(new.get("not_before", "?"))[:10]
    parts.append(f"valid {since} to {_date(new)} (was to {_date(old)})")
    return parts


def _certificate_changes(
    before: Snapshot | None, now: Snapshot, settings: DetectSettings
) -> list[Change]:
    found: list[Change] = []
    old_leaf, leaf = (before.leaf if before else None), now.leaf
    if old_leaf and leaf and old_leaf.get("sha256") != leaf.get("sha256"):
        found.append(
            Change(
                "cert_replaced",
                "info",
                "certificate replaced: " + "; ".join(_leaf_differences(old_leaf, leaf)),
                ["all"],
                detail={
                    "old": {k: old_leaf.get(k) for k in _COMPARED},
                    "new": {k: leaf.get(k) for k in _COMPARED},
                },
            )
        )
    days = now.days_left
    band = expiry_band(days, settings.expiry_alert_days)
    old_band = expiry_band(before.days_left if before else None, settings.expiry_alert_days)
    if days is not None and band is not None and (old_band is None or band < old_band):
        assert leaf is not None
        if days < 0:
            text = f"certificate expired on {_date(leaf)}"
        else:
            text = (
                f"certificate expires in {whole_days(days)} day(s), on {_date(leaf)} "
                f"(within {band} days)"
            )
        found.append(
            Change(
                "expiry_threshold",
                "error" if days < 0 or band <= settings.crit_days else "warning",
                text,
                ["all"],
                load_catalog()["cert_expiring_soon"].fix,
                "cert_expiring_soon",
                detail={
                    "days_left": whole_days(days),
                    "threshold": band,
                    "not_after": leaf.get("not_after"),
                },
            )
        )
    return found


def _protocol_changes(before: Snapshot | None, now: Snapshot) -> list[Change]:
    if before is None:
        return []
    found: list[Change] = []
    added = [p for p, v in now.protocols.items() if v is True and before.protocols.get(p) is False]
    removed = [
        p for p, v in now.protocols.items() if v is False and before.protocols.get(p) is True
    ]
    if added or removed:
        parts = ([f"now accepts {', '.join(added)}"] if added else []) + (
            [f"no longer accepts {', '.join(removed)}"] if removed else []
        )
        found.append(
            Change(
                "protocols_changed",
                "warning",
                "protocols: " + "; ".join(parts),
                ["all"],
                detail={"added": added, "removed": removed},
            )
        )
    per_version: dict[str, dict[str, list[str]]] = {}
    for version, suites in now.cipher_suites.items():
        old = before.cipher_suites.get(version)
        if old is None or not suites or not old:
            continue
        plus = [s for s in suites if s not in old]
        minus = [s for s in old if s not in suites]
        if plus or minus:
            per_version[version] = {"added": plus, "removed": minus}
    if per_version:
        text = "; ".join(
            f"{v}: " + ", ".join([f"+{s}" for s in d["added"]] + [f"-{s}" for s in d["removed"]])
            for v, d in per_version.items()
        )
        found.append(
            Change(
                "ciphers_changed", "warning", f"cipher suites: {text}", ["all"], detail=per_version
            )
        )
    return found


def _verdict_changes(before: Snapshot | None, now: Snapshot) -> list[Change]:
    if before is None:
        return []
    moved = {
        p: (before.verdicts.get(p, "unknown"), now.verdicts.get(p, "unknown"))
        for p in VERDICT_PLATFORMS
        if before.verdicts.get(p) != now.verdicts.get(p)
    }
    if not moved:
        return []
    worse = [p for p, (a, b) in moved.items() if _VERDICT_RANK[b] > _VERDICT_RANK[a]]
    severity = "info"
    if any(moved[p][1] == "fail" for p in worse):
        severity = "error"
    elif worse:
        severity = "warning"
    text = ", ".join(f"{PLATFORM_NAMES[p]} {a} → {b}" for p, (a, b) in moved.items())
    return [
        Change(
            "verdict_changed",
            severity,
            f"verdict: {text}",
            worse or list(moved),
            good=not worse,
            detail={p: {"was": a, "now": b} for p, (a, b) in moved.items()},
        )
    ]


def detect_changes(
    previous: Snapshot | None,
    previous_scanned: Snapshot | None,
    current: Snapshot,
    settings: DetectSettings,
) -> list[Change]:
    """Every change from the target's last result(s) to ``current``, most serious first."""
    found: list[Change] = []
    if previous is None:
        found.append(
            Change(
                "first_seen",
                "info",
                f"first result: {current.overall}",
                notify=False,
            )
        )
    if not current.ok:
        if previous is None or previous.ok:
            error = current.error or {}
            found.append(
                Change(
                    "unreachable",
                    "error",
                    f"cannot be scanned ({error.get('kind', 'error')}): "
                    f"{error.get('message', '')}".rstrip(": "),
                    ["all"],
                    "Check that the server is up and reachable on this port from where "
                    "certcheck runs (DNS, firewall, listening service).",
                    detail={"error": error},
                )
            )
        return found
    if previous is not None and not previous.ok:
        found.append(Change("recovered", "error", "reachable again", ["all"], good=True))
    found += _certificate_changes(previous_scanned, current, settings)
    found += _finding_changes(previous_scanned, current, settings)
    if any(c.kind == "expiry_threshold" for c in found):
        # The threshold change already says it, with the renewal advice.
        found = [
            c
            for c in found
            if not (c.rule_id == "cert_expiring_soon" and c.kind != "expiry_threshold") or c.good
        ]
    found += _protocol_changes(previous_scanned, current)
    found += _verdict_changes(previous_scanned, current)
    found.sort(key=lambda c: (c.good, -SEVERITY_ORDER[c.severity]))
    return found


# -- the summaries in another language (alerts of a channel with ``lang``) ---------------------


def _say(cat: Catalog, key: str, **values: Any) -> str:
    return cat.get("alerts", key).format(**values)


def _title_of(item: dict[str, Any], cat: Catalog, english: str) -> str:
    rule_id = str(item.get("rule_id") or "")
    return cat.rule_title(rule_id, english) or english


def _leaf_differences_in(old: dict[str, Any], new: dict[str, Any], cat: Catalog) -> list[str]:
    """:func:`_leaf_differences` in ``cat``'s language."""
    sep = cat.get("console", "list_sep")
    parts = []
    if old.get("subject") != new.get("subject"):
        parts.append(_say(cat, "cert_subject", old=old.get("subject", "?"),
                          new=new.get("subject", "?")))
    old_san, new_san = set(old.get("san") or []), set(new.get("san") or [])
    if old_san != new_san:
        added, removed = sorted(new_san - old_san), sorted(old_san - new_san)
        words = [_say(cat, "cert_names_added", names=sep.join(added[:5]))] if added else []
        words += [_say(cat, "cert_names_removed", names=sep.join(removed[:5]))] if removed else []
        parts.append(_say(cat, "cert_names", changes=_say(cat, "part_sep").join(words)))
    if old.get("key") != new.get("key"):
        parts.append(_say(cat, "cert_key", old=old.get("key", "?"), new=new.get("key", "?")))
    if old.get("issuer") != new.get("issuer"):
        parts.append(_say(cat, "cert_issuer", old=old.get("issuer", "?"),
                          new=new.get("issuer", "?")))
    else:
        parts.append(_say(cat, "cert_same_issuer", issuer=new.get("issuer", "?")))
    parts.append(_say(cat, "cert_valid", since=str(new.get("not_before", "?"))[:10],
                      until=_date(new), was=_date(old)))
    return parts


_EXPIRED = re.compile(r"^certificate expired on (\S+)$")
_EXPIRES = re.compile(
    r"^certificate expires in (-?\d+) day\(s\), on (\S+)(?: \(within (\d+) days\))?$"
)
_TEST = re.compile(r"^If you can read this, the notification channel (.+) works\.$")
_UNREACHABLE = re.compile(r"^(still )?cannot be scanned \(([^)]*)\)(?:: (.*))?$", re.DOTALL)


def localized_summary(item: dict[str, Any], cat: Catalog, reminder: bool = False) -> str:
    """The headline of one alert item (a :class:`Change`'s, or a reminder's) in ``cat``'s
    language, from its kind, rule id and detail; the English summary when the item does
    not carry what a translation needs."""
    summary = str(item.get("summary", ""))
    kind = item.get("kind")
    detail = item.get("detail") or {}
    rule_id = str(item.get("rule_id") or "")
    severity_word = cat.get("severity", str(item.get("severity", "info")))
    if kind in ("new_finding", "finding") and rule_id and summary.startswith(f"{rule_id}: "):
        title = _title_of(item, cat, summary.removeprefix(f"{rule_id}: "))
        return _say(cat, "finding", rule_id=rule_id, title=title)
    if kind == "resolved_finding" and rule_id and summary.startswith(f"resolved {rule_id}: "):
        title = _title_of(item, cat, summary.removeprefix(f"resolved {rule_id}: "))
        return _say(cat, "resolved", rule_id=rule_id, title=title)
    if kind == "finding_escalated" and rule_id and "was" in detail and "): " in summary:
        title = _title_of(item, cat, summary.split("): ", 1)[1])
        was = cat.get("severity", str(detail["was"]))
        return _say(cat, "escalated", rule_id=rule_id, severity=severity_word, was=was,
                    title=title)
    if kind in ("expiry_threshold", "expiry"):
        # a reminder's item carries its numbers in the (stored, English) summary only
        expired, expires = _EXPIRED.match(summary), _EXPIRES.match(summary)
        if expired:
            return _say(cat, "expired", date=expired[1])
        if expires:
            text = _say(cat, "expires", n=int(expires[1]), date=expires[2])
            return text + (_say(cat, "within", band=expires[3]) if expires[3] else "")
    if kind == "unreachable":
        down = _UNREACHABLE.match(summary)
        if down:
            key = "still_unreachable" if down[1] else "unreachable"
            text = _say(cat, key, kind=down[2])
            return text + (_say(cat, "error_message", message=down[3]) if down[3] else "")
    if kind == "test":
        channel = _TEST.match(summary)
        if channel:
            return _say(cat, "test", channel=channel[1])
    if kind == "recovered":
        return _say(cat, "recovered")
    if kind == "first_seen":
        return _say(cat, "first_seen", overall=cat.get("verdict", summary.rsplit(" ", 1)[-1]))
    if kind == "cert_replaced" and {"old", "new"} <= set(detail):
        parts = _leaf_differences_in(detail["old"], detail["new"], cat)
        return _say(cat, "cert_replaced", changes=_say(cat, "part_sep").join(parts))
    if kind == "protocols_changed" and {"added", "removed"} <= set(detail):
        sep = cat.get("console", "list_sep")
        words = [_say(cat, "now_accepts", versions=sep.join(detail["added"]))] \
            if detail["added"] else []
        words += [_say(cat, "no_longer_accepts", versions=sep.join(detail["removed"]))] \
            if detail["removed"] else []
        return _say(cat, "protocols", changes=_say(cat, "part_sep").join(words))
    if kind == "ciphers_changed" and detail:
        text = "; ".join(
            f"{v}: " + ", ".join([f"+{s}" for s in d["added"]] + [f"-{s}" for s in d["removed"]])
            for v, d in detail.items()
        )
        return _say(cat, "ciphers", changes=text)
    if kind == "verdict_changed" and detail:
        moves = _say(cat, "part_sep").join(
            _say(cat, "verdict_move", platform=cat.get("platform", p),
                 was=cat.get("verdict", d["was"]), now=cat.get("verdict", d["now"]))
            for p, d in detail.items()
        )
        return _say(cat, "verdict", changes=moves)
    return summary
