"""The one-line answer at the top of every report: do current phones connect, and is it
only old Android that fails?

Pure counting over plain records, shared by the console totals
(:func:`certcheck.report.console.phones_line`) and the HTML report's headline, so the
two never disagree.  Wording is the caller's: the console prints English, the HTML page
goes through its string catalogue.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: overall verdicts, best to worst (a target not scanned is worse than a warning)
OVERALL_ORDER = ("pass", "warn", "error", "fail")
#: the platforms a reader means by "current phones"
CURRENT_PHONES = ("ios", "android")
OLD_ANDROID = "android_legacy"


@dataclass(frozen=True)
class Outcome:
    """What the headline needs to know about one target."""

    scanned: bool
    overall: str
    verdicts: Mapping[str, str]
    #: rule ids of the findings that break old Android, in the target's order
    legacy_rules: tuple[str, ...] = ()
    #: names of the simulated clients that cannot connect, in simulation order
    failing_clients: tuple[str, ...] = ()


@dataclass(frozen=True)
class Phones:
    """The counts behind the headline."""

    scanned: int
    #: scanned targets that no current iOS or Android verdict fails
    current: int
    #: of those, the ones old Android (4.x) fails
    old_only: int
    #: every scanned target passes on every platform
    all_pass: bool
    #: the rule that most often breaks old Android on those targets (None: no such finding)
    old_rule: str | None = None
    #: simulated clients that fail on every one of those targets (in simulation order)
    old_clients: tuple[str, ...] = field(default_factory=tuple)


def worst_overall(overalls: Iterable[str]) -> str:
    """The worst of some overall verdicts (fail > error > warn > pass); "error" for none."""
    rank = {state: position for position, state in enumerate(OVERALL_ORDER)}
    seen = [state if state in rank else "error" for state in overalls]
    return max(seen, key=rank.__getitem__) if seen else "error"


def phones(outcomes: Iterable[Outcome]) -> Phones | None:
    """Counts for the headline, or None when no target was scanned."""
    scanned = [o for o in outcomes if o.scanned]
    if not scanned:
        return None
    current = [o for o in scanned if all(o.verdicts.get(p) != "fail" for p in CURRENT_PHONES)]
    old_only = [o for o in current if o.verdicts.get(OLD_ANDROID) == "fail"]
    rules = Counter(rule for o in old_only for rule in dict.fromkeys(o.legacy_rules))
    # most common first; ties keep the order of the first target that has them
    old_rule = max(rules, key=rules.__getitem__) if rules else None
    common: tuple[str, ...] = ()
    if old_only:
        everywhere = set(old_only[0].failing_clients)
        for outcome in old_only[1:]:
            everywhere &= set(outcome.failing_clients)
        common = tuple(c for c in dict.fromkeys(old_only[0].failing_clients) if c in everywhere)
    return Phones(
        scanned=len(scanned),
        current=len(current),
        old_only=len(old_only),
        all_pass=all(o.overall == "pass" for o in scanned),
        old_rule=old_rule,
        old_clients=common,
    )
