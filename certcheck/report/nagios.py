"""``--nagios``: certcheck as a Nagios / Icinga plugin (what check_ssl_cert users run).

One status line, ``CERTCHECK OK|WARNING|CRITICAL|UNKNOWN - summary | perfdata``, and the
plugin exit codes 0/1/2/3 (Nagios plugin guidelines: the first line is the status, the
text after ``|`` is performance data ``'label'=value;warn;crit;min;max``).  CRITICAL when
a finding of severity error is active, WARNING for a warning, UNKNOWN when a target
could not be scanned (or only in part) and nothing is worse, else OK.  The perfdata
gives the days left of each target's certificate against the profile's thresholds.
"""

from __future__ import annotations

from certcheck.catalog import Profile
from certcheck.model import TargetResult
from certcheck.report.safetext import visible

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
WORDS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
#: at most this many problems named in the status line (the rest are counted)
NAMED = 3


def _state(result: TargetResult) -> int:
    severities = {f.severity for f in result.active_findings}
    if "error" in severities:
        return CRITICAL
    if "warning" in severities:
        return WARNING
    if not result.facts.ok or result.facts.incomplete:
        return UNKNOWN
    return OK


def _worst(states: list[int]) -> int:
    """CRITICAL > WARNING > UNKNOWN > OK: a known problem outranks an unknown."""
    order = (CRITICAL, WARNING, UNKNOWN, OK)
    return next((s for s in order if s in states), OK)


def _problem(result: TargetResult) -> str:
    label = result.facts.target.label
    if not result.facts.ok:
        kind = result.facts.error.kind if result.facts.error else "error"
        return f"{label} not scanned ({kind})"
    worst = sorted(
        (f for f in result.active_findings if f.severity in ("error", "warning")),
        # the summary rule of the simulation last: the specific cause reads better
        key=lambda f: (f.severity != "error", f.rule_id == "client_handshake_fails", f.rule_id),
    )
    if worst:
        more = f" +{len(worst) - 1}" if len(worst) > 1 else ""
        return f"{label} {worst[0].rule_id}{more}"
    return f"{label} incomplete probe"


def nagios_line(results: list[TargetResult], profile: Profile) -> tuple[str, int]:
    """The plugin's status line and exit code for ``results``."""
    states = [_state(r) for r in results]
    code = _worst(states) if results else UNKNOWN
    bad = [r for r, s in zip(results, states, strict=True) if s != OK]
    if not results:
        summary = "no targets"
    elif not bad:
        summary = f"{len(results)} target(s) compliant"
    else:
        named = ", ".join(_problem(r) for r in bad[:NAMED])
        more = f", +{len(bad) - NAMED} more" if len(bad) > NAMED else ""
        summary = f"{len(bad)} of {len(results)} target(s) with problems: {named}{more}"
    perf = []
    for result in results:
        leaf = (result.certificate or {}).get("leaf") if result.facts.ok else None
        if leaf and isinstance(leaf.get("days_left"), int):
            label = result.facts.target.label.replace("'", "")
            perf.append(
                f"'{label} days'={leaf['days_left']};{profile.warn_days};{profile.crit_days};;"
            )
    line = f"CERTCHECK {WORDS[code]} - {visible(summary)}"
    if perf:
        line += " | " + " ".join(visible(p) for p in perf)
    return line, code
