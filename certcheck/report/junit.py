"""``--junit FILE``: JUnit XML for CI test dashboards (Jenkins, GitLab, Azure DevOps).

One ``<testsuite>`` per target and one ``<testcase>`` per target × rule (every
rule of the catalog plus any rule id the results name).  A rule fails with one
``<failure>`` per finding at or above ``fail_on``; findings below it pass with
their text in ``<system-out>``; suppressed findings are ``<skipped>``.  A target
that could not be scanned has a single ``scan`` test case with an ``<error>``.

The dialect is the one of the Jenkins xUnit plugin's ``junit-10.xsd``, which the
CI systems above read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from certcheck.catalog import load_catalog
from certcheck.report.evidence import (
    counts_against,
    evidence_text,
    target_label,
    xml_safe,
)
from certcheck.report.safetext import visible


def _timestamp(value: Any) -> str | None:
    """junit-10.xsd wants ``YYYY-MM-DDTHH:MM:SS`` with no zone (we write UTC)."""
    text = str(value or "")
    if len(text) >= 19 and text[10] == "T":
        return text[:19]
    return None


def _seconds(facts: dict[str, Any]) -> str:
    timings = facts.get("timings_ms") or {}
    total = sum(v for v in timings.values() if isinstance(v, int | float))
    return f"{total / 1000:.3f}"


def _finding_text(finding: dict[str, Any]) -> str:
    lines = [str(finding.get("title", ""))]
    evidence = evidence_text(finding.get("evidence"))
    if evidence:
        lines.append(f"evidence: {evidence}")
    if finding.get("platforms"):
        lines.append("concerns: " + ", ".join(map(str, finding["platforms"])))
    if finding.get("breaks"):
        lines.append("refused by: " + ", ".join(map(str, finding["breaks"])))
    if finding.get("fix"):
        lines.append(f"fix: {finding['fix']}")
    return "\n".join(lines)


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    # controls from certificate names are shown as escapes (XML 1.0 cannot carry them)
    element = ET.SubElement(parent, tag, {k: xml_safe(visible(v)) for k, v in attrs.items()})
    if text is not None:
        element.text = xml_safe(visible(text, keep_newlines=True))
    return element


def _rule_ids(document: dict[str, Any]) -> list[str]:
    named = {
        str(f.get("rule_id"))
        for r in document.get("results") or []
        for f in r.get("findings") or []
        if isinstance(f, dict) and f.get("rule_id")
    }
    catalog = list(load_catalog())
    return catalog + sorted(named - set(catalog))


def _suite(result: dict[str, Any], rule_ids: list[str], fail_on: str, index: int) -> ET.Element:
    facts = result.get("facts") or {}
    label = target_label(result.get("target") or facts.get("target") or {})
    suite = ET.Element("testsuite", {"name": xml_safe(label), "id": str(index)})
    stamp = _timestamp(facts.get("scanned_at"))
    if stamp:
        suite.set("timestamp", stamp)
    suite.set("time", _seconds(facts))
    properties = _add(suite, "properties")
    _add(properties, "property", name="overall", value=str(result.get("overall", "")))
    for platform, verdict in sorted((result.get("verdicts") or {}).items()):
        _add(properties, "property", name=f"verdict.{platform}", value=str(verdict))
    tests = failures = errors = skipped = 0
    if result.get("status") == "error":
        error = facts.get("error") or {}
        case = _add(suite, "testcase", name="scan", classname=label, time="0")
        message = str(error.get("message", "not scanned"))
        _add(case, "error", message, message=message, type=str(error.get("kind", "error")))
        tests, errors = 1, 1
    else:
        by_rule: dict[str, list[dict[str, Any]]] = {}
        for finding in result.get("findings") or []:
            if isinstance(finding, dict):
                by_rule.setdefault(str(finding.get("rule_id")), []).append(finding)
        for rule_id in rule_ids:
            tests += 1
            case = _add(suite, "testcase", name=rule_id, classname=label, time="0")
            found = by_rule.get(rule_id, [])
            failing = [f for f in found if counts_against(f, fail_on)]
            quiet = [f for f in found if f not in failing and not f.get("suppressed")]
            suppressed = [f for f in found if f.get("suppressed")]
            if failing:
                failures += 1
                for finding in failing:
                    _add(
                        case,
                        "failure",
                        _finding_text(finding),
                        message=str(finding.get("title", rule_id)),
                        type=str(finding.get("severity", "")),
                    )
            elif suppressed and not quiet:
                skipped += 1
                reasons = "; ".join(str(f.get("suppressed_reason") or "") for f in suppressed)
                _add(case, "skipped", message=f"suppressed: {reasons}".rstrip(": "))
            if quiet or (failing and suppressed):
                text = "\n\n".join(
                    f"[{f.get('severity')}] {_finding_text(f)}" for f in quiet + suppressed
                )
                _add(case, "system-out", text)
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    return suite


def junit_xml(document: dict[str, Any], fail_on: str | None = None) -> str:
    """The JUnit XML text for a results document (``fail_on`` defaults to the document's)."""
    level = fail_on or str(document.get("fail_on") or "error")
    rule_ids = _rule_ids(document)
    root = ET.Element("testsuites", {"name": "certcheck"})
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for index, result in enumerate(document.get("results") or []):
        suite = _suite(result, rule_ids, level, index)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
