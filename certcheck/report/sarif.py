"""``--sarif FILE``: SARIF 2.1.0 for code-scanning dashboards (e.g. GitHub code scanning).

One SARIF result per finding.  A finding is about a server, not a line of
code, so its location is the target's URL (``physicalLocation.artifactLocation``)
plus a logical location named after ``host:port``.  ``partialFingerprints`` are
stable per target × rule, so a dashboard tracks the same problem across runs.
Severity maps to SARIF ``level`` (error, warning, note) and to GitHub's
``security-severity`` score on the rule.  Suppressed findings carry a SARIF
``suppressions`` entry; targets that could not be scanned become tool execution
notifications.
"""

from __future__ import annotations

import hashlib
from typing import Any

from certcheck.catalog import load_catalog
from certcheck.report.evidence import evidence_pairs, target_label, target_url

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SARIF_VERSION = "2.1.0"

_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
#: GitHub code scanning reads rule ``properties.security-severity`` (0.0-10.0).
_SECURITY_SEVERITY = {"error": "8.0", "warning": "5.0", "info": "2.0"}


def _rule_descriptor(rule_id: str, finding: dict[str, Any]) -> dict[str, Any]:
    rule = load_catalog().get(rule_id)
    severity = rule.severity if rule else str(finding.get("severity", "warning"))
    title = rule.title if rule else str(finding.get("title", rule_id))
    fix = rule.fix if rule else str(finding.get("fix", ""))
    platforms = list(rule.platforms) if rule else list(finding.get("platforms") or [])
    descriptor: dict[str, Any] = {
        "id": rule_id,
        "name": "".join(part.capitalize() for part in rule_id.split("_")),
        "shortDescription": {"text": title},
        "fullDescription": {"text": title},
        "defaultConfiguration": {"level": _LEVEL.get(severity, "warning")},
        "properties": {
            "tags": ["tls", "certificate", *platforms],
            "security-severity": _SECURITY_SEVERITY.get(severity, "5.0"),
            "platforms": platforms,
        },
    }
    if fix:
        descriptor["help"] = {"text": fix, "markdown": fix}
    if rule and rule.sources:
        descriptor["properties"]["sources"] = list(rule.sources)
    return descriptor


def _message(finding: dict[str, Any], label: str) -> str:
    text = f"{label}: {finding.get('title', finding.get('rule_id'))}"
    pairs = evidence_pairs(finding.get("evidence"))
    if pairs:
        text += " (" + "; ".join(f"{k}: {v}" for k, v in pairs) + ")"
    if finding.get("breaks"):
        text += ". Refused by: " + ", ".join(map(str, finding["breaks"]))
    return text


def _fingerprint(label: str, rule_id: str) -> str:
    return hashlib.sha256(f"{label}\0{rule_id}".encode()).hexdigest()


def sarif_document(document: dict[str, Any]) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run for a certcheck results document."""
    rules: list[dict[str, Any]] = []
    index_of: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    for entry in document.get("results") or []:
        target = entry.get("target") or {}
        label = target_label(target)
        location = {
            "physicalLocation": {"artifactLocation": {"uri": target_url(target)}},
            "logicalLocations": [
                {"name": label, "fullyQualifiedName": target_url(target), "kind": "resource"}
            ],
        }
        if entry.get("status") == "error":
            error = (entry.get("facts") or {}).get("error") or {}
            notifications.append(
                {
                    "level": "error",
                    "message": {
                        "text": f"{label} could not be scanned "
                        f"({error.get('kind', 'error')}): {error.get('message', '')}"
                    },
                    "locations": [location],
                }
            )
            continue
        for finding in entry.get("findings") or []:
            rule_id = str(finding.get("rule_id"))
            if rule_id not in index_of:
                index_of[rule_id] = len(rules)
                rules.append(_rule_descriptor(rule_id, finding))
            result: dict[str, Any] = {
                "ruleId": rule_id,
                "ruleIndex": index_of[rule_id],
                "level": _LEVEL.get(str(finding.get("severity")), "warning"),
                "message": {"text": _message(finding, label)},
                "locations": [location],
                "partialFingerprints": {"certcheckTargetRule/v1": _fingerprint(label, rule_id)},
                "properties": {
                    "target": label,
                    "platforms": list(finding.get("platforms") or []),
                    "breaks": list(finding.get("breaks") or []),
                    "evidence": finding.get("evidence") or {},
                },
            }
            if finding.get("suppressed"):
                result["suppressions"] = [
                    {
                        "kind": "external",
                        "justification": str(finding.get("suppressed_reason") or ""),
                    }
                ]
            results.append(result)
    tool = document.get("tool") or {}
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if document.get("evaluated_at"):
        invocation["endTimeUtc"] = document["evaluated_at"]
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "certcheck",
                        "version": str(tool.get("version", "")),
                        "rules": rules,
                    }
                },
                "invocations": [invocation],
                "results": results,
                "properties": {
                    "profile": document.get("profile"),
                    "fail_on": document.get("fail_on"),
                    "summary": document.get("summary"),
                },
            }
        ],
    }
