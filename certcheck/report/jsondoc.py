"""The versioned JSON documents: scan results and saved facts.

Schema ``1.0`` (see README "JSON output").  Additive changes bump the minor
version; anything that renames or removes a field bumps the major version.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

from certcheck import __version__
from certcheck.freshness import stale_tables
from certcheck.model import ServerFacts, TargetResult

SCHEMA_VERSION = "1.0"
FACTS_KIND = "certcheck-facts"
RESULTS_KIND = "certcheck-results"


class DocumentError(ValueError):
    """A facts or results file that cannot be read."""


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def summary_counts(results: list[TargetResult]) -> dict[str, int]:
    counts = Counter(r.overall for r in results)
    return {
        "targets": len(results),
        **{k: counts.get(k, 0) for k in ("pass", "warn", "fail", "error")},
    }


def results_document(
    results: list[TargetResult],
    *,
    now: datetime,
    profile: str,
    fail_on: str,
    exit_code: int,
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": RESULTS_KIND,
        "tool": {"name": "certcheck", "version": __version__},
        "evaluated_at": _iso(now),
        "profile": profile,
        "fail_on": fail_on,
        "exit_code": exit_code,
        "summary": summary_counts(results),
        "data_notes": stale_tables(now.date()),
        "results": [r.to_dict() for r in results],
    }


def facts_document(facts: list[ServerFacts]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": FACTS_KIND,
        "tool": {"name": "certcheck", "version": __version__},
        "facts": [f.to_dict() for f in facts],
    }


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def load_facts(text: str, source: str) -> list[ServerFacts]:
    """Facts from a ``--save-facts`` file or from a ``--json`` results document."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict) or "schema_version" not in data:
        raise DocumentError(f"{source}: not a certcheck document (no schema_version)")
    major = str(data["schema_version"]).split(".")[0]
    if major != SCHEMA_VERSION.split(".")[0]:
        raise DocumentError(
            f"{source}: schema_version {data['schema_version']} is not supported "
            f"(this certcheck reads {SCHEMA_VERSION})"
        )
    if data.get("kind") == FACTS_KIND:
        items = data.get("facts")
    elif data.get("kind") == RESULTS_KIND:
        results = data.get("results")
        if not isinstance(results, list):
            raise DocumentError(f"{source}: no list of results found")
        items = [r.get("facts") if isinstance(r, dict) else r for r in results]
    else:
        raise DocumentError(f"{source}: unknown document kind {data.get('kind')!r}")
    if not isinstance(items, list):
        raise DocumentError(f"{source}: no list of facts found")
    facts: list[ServerFacts] = []
    for index, item in enumerate(items):
        try:
            facts.append(ServerFacts.from_dict(item))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DocumentError(f"{source}: entry {index} is not valid facts ({exc})") from exc
    return facts
