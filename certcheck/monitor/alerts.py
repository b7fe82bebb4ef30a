"""Alert messages: what changed on one target (or what still stands), for people.

A :class:`Message` is channel-neutral and JSON-ready; it is stored in the
history database's outbox and rendered per channel by
:mod:`certcheck.monitor.channels`.  Each item names the change, the platforms
it affects and the fix; the message names the target, its owner and links the
HTML report when the configuration gives a report URL.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from certcheck import __version__
from certcheck.core.times import iso, whole_days
from certcheck.model import SEVERITY_ORDER, TargetResult
from certcheck.monitor.changes import Change, Snapshot, localized_summary, platform_names
from certcheck.report.i18n import DEFAULT_LANG, Catalog, catalog
from certcheck.report.safetext import visible


@dataclass
class Message:
    """One alert about one target, before it is shaped for a channel."""

    kind: str  # change | reminder | test
    target: str | None
    title: str
    severity: str
    items: list[dict[str, Any]]
    created_at: str
    owner: str | None = None
    tags: list[str] = field(default_factory=list)
    report_url: str | None = None
    overall: str | None = None
    verdicts: dict[str, str] = field(default_factory=dict)
    run_id: int | None = None
    #: items left out to fit the channel's size limit (said in the text, before the footer)
    omitted: int = 0
    #: the language of the words around the items (``[alerts]`` of templates/i18n); stored
    #: alerts are English, :func:`localized` words one for a channel
    lang: str = DEFAULT_LANG

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def say(self, key: str, **values: Any) -> str:
        """A string of the ``[alerts]`` catalog section in this message's language."""
        text = catalog(self.lang).get("alerts", key)
        return text.format(**values) if values else text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def label(self, item: dict[str, Any]) -> str:
        severity = "ok" if item.get("good") else str(item.get("severity", "info"))
        if self.lang == DEFAULT_LANG:
            return severity
        return catalog(self.lang).get("alerts", f"label_{severity}", severity)

    def item_lines(self, item: dict[str, Any]) -> tuple[str, str | None]:
        """(headline of one item, its fix advice or None)."""
        platforms = item.get("platforms") or []
        names = platform_names(platforms, None if self.lang == DEFAULT_LANG else self.lang)
        where = self.say("where", names=names) if platforms and not item.get("good") else ""
        fix = item.get("fix") if not item.get("good") else None
        # what a person reads (mail, chat): controls from certificate names escaped
        return visible(f"{item['summary']}{where}"), visible(fix) if fix else None

    def plain_text(self) -> str:
        """The message as plain text (e-mail, Feishu, the webhook body's ``text``)."""
        lines = [self.title, ""]
        for item in self.items:
            head, fix = self.item_lines(item)
            lines.append(f"[{self.label(item)}] {head}")
            if fix:
                lines.append("    " + self.say("fix", fix=fix))
        if self.omitted:
            lines.append(self.omitted_line())
        lines += ["", *self.footer()]
        return "\n".join(lines).rstrip() + "\n"

    def omitted_line(self) -> str:
        return self.say("omitted", n=self.omitted)

    def footer(self) -> list[str]:
        parts = []
        if self.owner:
            parts.append(self.say("owner", owner=self.owner))
        if self.tags:
            parts.append(self.say("tags", tags=", ".join(self.tags)))
        if self.report_url:
            parts.append(self.report_line())
        return parts

    def report_line(self) -> str:
        """The footer's link to the HTML report (plain text)."""
        return self.say("report", url=self.report_url)

    def webhook_body(self) -> dict[str, Any]:
        """The generic webhook's JSON body (documented in the README)."""
        return {
            "schema_version": "1.0",
            "kind": "certcheck-alert",
            "alert": self.kind,
            "tool": {"name": "certcheck", "version": __version__},
            "created_at": self.created_at,
            "run_id": self.run_id,
            "target": self.target,
            "owner": self.owner,
            "tags": list(self.tags),
            "severity": self.severity,
            "title": self.title,
            "text": self.plain_text(),
            "overall": self.overall,
            "verdicts": dict(self.verdicts),
            "changes": [dict(item) for item in self.items],
            "report_url": self.report_url,
        }


def _worst(items: list[dict[str, Any]]) -> str:
    return max((i["severity"] for i in items), key=SEVERITY_ORDER.__getitem__, default="info")


def _title(prefix: str, target: str, items: list[dict[str, Any]]) -> str:
    bad = [i for i in items if not i.get("good")] or items
    head = bad[0]["summary"]
    more = f" (+{len(items) - 1} more)" if len(items) > 1 else ""
    return visible(f"certcheck {prefix}{target}: {head}{more}")


#: the alert kinds :func:`localized` words
LOCALIZED_KINDS = ("change", "reminder", "test", "digest")


def localized(message: Message, lang: str) -> Message:
    """``message`` worded in ``lang`` for a channel: title, every item's headline and fix,
    the labels and the footer.  Items keep their data (rule ids, dates, host names,
    protocol and suite names); English and a digest come back as they are.
    """
    if lang == DEFAULT_LANG or message.kind not in LOCALIZED_KINDS:
        return message
    cat = catalog(lang)
    if message.kind == "digest":
        return _localized_digest(message, cat, lang)
    reminder = message.kind == "reminder"
    items = []
    for item in message.items:
        shown = dict(item)
        shown["summary"] = localized_summary(item, cat, reminder=reminder)
        if item.get("fix"):
            rule_id = item.get("rule_id")
            if rule_id:
                shown["fix"] = cat.fix(str(rule_id), str(item["fix"]))
            elif item.get("kind") == "unreachable":
                shown["fix"] = cat.get("alerts", "fix_unreachable")
        items.append(shown)
    title = message.title
    if message.kind == "test":
        title = cat.get("alerts", "test_title")
    elif message.target is not None and items:
        bad = [i for i in items if not i.get("good")] or items
        prefix = cat.get("alerts", "reminder_prefix") if reminder else ""
        more = cat.get("alerts", "more").format(n=len(items) - 1) if len(items) > 1 else ""
        title = visible(
            cat.get("alerts", "title").format(
                prefix=prefix, target=message.target, head=bad[0]["summary"], more=more
            )
        )
    return replace(message, items=items, title=title, lang=lang)


def _localized_digest(message: Message, cat: Catalog, lang: str) -> Message:
    """A digest (certcheck/monitor/pacing.py) in ``cat``'s language: the counts in the
    title, and each target's first headline worded again from the entry it was made of."""
    counts: dict[str, int] = {}
    kinds: set[str] = set()
    items = []
    for item in message.items:
        detail = item.get("detail") or {}
        counts[item["severity"]] = counts.get(item["severity"], 0) + 1
        kinds.add(str(detail.get("kind", "change")))
        first = detail.get("first")
        if not isinstance(first, dict):
            items.append(item)  # made before entries kept their parts: as it is
            continue
        head = localized_summary(first, cat, reminder=detail.get("kind") == "reminder")
        more = int(detail.get("more") or 0)
        shown = dict(item)
        shown["summary"] = visible(
            cat.get("alerts", "digest_entry").format(
                target=detail.get("target"),
                head=head,
                more=cat.get("alerts", "more").format(n=more) if more > 0 else "",
                owner=cat.get("alerts", "digest_owner").format(owner=detail["owner"])
                if detail.get("owner")
                else "",
            )
        )
        if shown.get("fix") and shown.get("rule_id"):
            shown["fix"] = cat.fix(str(shown["rule_id"]), str(shown["fix"]))
        items.append(shown)
    what = "alerts" if len(kinds) > 1 else ("reminders" if kinds == {"reminder"} else "changes")
    told = cat.get("alerts", "part_sep").join(
        cat.get("alerts", "digest_count").format(
            n=counts[s], severity=cat.get("severity", s)
        )
        for s in sorted(counts, key=lambda s: -SEVERITY_ORDER[s])
    )
    title = cat.get("alerts", "digest_title").format(
        what=cat.get("alerts", f"digest_{what}"), n=len(message.items), told=told
    )
    return replace(message, items=items, title=visible(title), lang=lang)


def _message(
    kind: str,
    prefix: str,
    target: str,
    items: list[dict[str, Any]],
    result: TargetResult,
    now: datetime,
    run_id: int,
    owner: str | None,
    tags: tuple[str, ...],
    report_url: str | None,
) -> Message:
    return Message(
        kind=kind,
        target=target,
        title=_title(prefix, target, items),
        severity=_worst(items),
        items=items,
        created_at=iso(now),
        owner=owner,
        tags=list(tags),
        report_url=report_url,
        overall=result.overall,
        verdicts=dict(result.verdicts),
        run_id=run_id,
    )


def change_message(
    target: str,
    changes: list[Change],
    result: TargetResult,
    *,
    now: datetime,
    run_id: int,
    owner: str | None,
    tags: tuple[str, ...],
    report_url: str | None,
) -> Message | None:
    """The alert for the notifying changes of one target, or None when there are none."""
    items = [c.to_dict() for c in changes if c.notify]
    if not items:
        return None
    for item in items:
        item.pop("notify", None)
    return _message("change", "", target, items, result, now, run_id, owner, tags, report_url)


def standing_items(
    snapshot: Snapshot, remind_severity: str, remind_within_days: float
) -> list[dict[str, Any]]:
    """The conditions worth repeating while they last: unreachable, serious findings, expiry."""
    if not snapshot.ok:
        error = snapshot.error or {}
        return [
            {
                "kind": "unreachable",
                "severity": "error",
                "summary": f"still cannot be scanned ({error.get('kind', 'error')}): "
                f"{error.get('message', '')}".rstrip(": "),
                "platforms": ["all"],
                "good": False,
            }
        ]
    items: list[dict[str, Any]] = []
    days = snapshot.days_left
    if days is not None and days <= remind_within_days:
        leaf = snapshot.leaf or {}
        when = str(leaf.get("not_after", "?"))[:10]
        summary = (
            f"certificate expired on {when}"
            if days < 0
            else f"certificate expires in {whole_days(days)} day(s), on {when}"
        )
        items.append(
            {
                "kind": "expiry",
                "severity": "error" if days < 1 else "warning",
                "summary": summary,
                "platforms": ["all"],
                "fix": snapshot.findings.get("cert_expiring_soon", {}).get("fix", ""),
                "rule_id": "cert_expiring_soon",
                "good": False,
            }
        )
    for rule_id, finding in snapshot.findings.items():
        if rule_id == "cert_expiring_soon" and items:
            continue
        if SEVERITY_ORDER[finding["severity"]] >= SEVERITY_ORDER[remind_severity]:
            items.append(
                {
                    "kind": "finding",
                    "severity": finding["severity"],
                    "summary": f"{rule_id}: {finding['title']}",
                    "platforms": list(finding.get("breaks") or finding.get("platforms") or []),
                    "fix": finding.get("fix", ""),
                    "rule_id": rule_id,
                    "good": False,
                }
            )
    items.sort(key=lambda i: -SEVERITY_ORDER[i["severity"]])
    for item in items:  # the same keys as a change's item
        for key, empty in (("fix", ""), ("rule_id", None), ("detail", {})):
            item.setdefault(key, empty)
    return items


def reminder_due(last_alert: datetime | None, now: datetime, every_hours: float) -> bool:
    """True when the last alert about the target is at least ``every_hours`` old.

    5 % slack (at most an hour) keeps a daily cron job reminding daily even
    though each run starts a few seconds later than the one before.
    """
    if every_hours <= 0:
        return False
    if last_alert is None:
        return True
    interval = timedelta(hours=every_hours)
    slack = min(interval * 0.05, timedelta(hours=1))
    return now - last_alert >= interval - slack


def reminder_message(
    target: str,
    items: list[dict[str, Any]],
    result: TargetResult,
    *,
    now: datetime,
    run_id: int,
    owner: str | None,
    tags: tuple[str, ...],
    report_url: str | None,
) -> Message:
    return _message(
        "reminder", "reminder: ", target, items, result, now, run_id, owner, tags, report_url
    )


def notify_test_message(channel: str, now: datetime, report_url: str | None) -> Message:
    return Message(
        kind="test",
        target=None,
        title="certcheck test message",
        severity="info",
        items=[
            {
                "kind": "test",
                "severity": "info",
                "summary": f"If you can read this, the notification channel {channel!r} works.",
                "platforms": [],
                "good": True,
            }
        ],
        created_at=iso(now),
        report_url=report_url,
    )
