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
from certcheck.core.times import iso
from certcheck.freshness import stale_tables
from certcheck.model import ServerFacts, TargetResult
from certcheck.safeload import LoadError, load_json, quote
from certcheck.typecheck import FieldError

SCHEMA_VERSION = "1.0"
FACTS_KIND = "certcheck-facts"
RESULTS_KIND = "certcheck-results"


class DocumentError(ValueError):
    """A facts or results file that cannot be read."""


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
    interrupted: bool = False,
) -> dict[str, Any]:
    """``interrupted``: the run was stopped (Ctrl-C) and ``results`` holds only the targets
    finished by then (``exit_code`` 130)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": RESULTS_KIND,
        "tool": {"name": "certcheck", "version": __version__},
        "evaluated_at": iso(now),
        "profile": profile,
        "fail_on": fail_on,
        "exit_code": exit_code,
        "interrupted": interrupted,
        "summary": summary_counts(results),
        "data_notes": stale_tables(now.date()),
        "results": [r.to_dict() for r in results],
    }


def facts_document(
    facts: list[ServerFacts], policy: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``policy``: the inputs the scan was judged with (:func:`policy_record`), so that
    ``certcheck evaluate`` judges the facts the same way unless told otherwise."""
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": FACTS_KIND,
        "tool": {"name": "certcheck", "version": __version__},
        "facts": [f.to_dict() for f in facts],
    }
    if policy is not None:
        document["policy"] = policy
    return document


def policy_record(policy: Any) -> dict[str, Any]:
    """A :class:`~certcheck.evaluate.Policy` as a facts document records it: profile,
    thresholds, distrusted fingerprints and the --ca-file anchors (PEM)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    anchors = b"".join(c.public_bytes(Encoding.PEM) for c in policy.trust.extra).decode("ascii")
    return {
        "profile": policy.profile.name,
        "warn_days": policy.profile.warn_days,
        "crit_days": policy.profile.crit_days,
        "distrust": sorted(policy.distrust),
        "ca_pem": anchors or None,
    }


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def load_facts(text: str, source: str) -> list[ServerFacts]:
    """Facts from a ``--save-facts`` file, a ``--json`` results document or ``--jsonl`` lines
    (see :func:`load_facts_document`)."""
    return load_facts_document(text, source)[0]


def load_facts_document(text: str, source: str) -> tuple[list[ServerFacts], dict[str, Any]]:
    """The facts of a document, and the ``policy`` a facts file recorded ({} when none).

    The document is checked against the published schema first, then each entry by
    :meth:`ServerFacts.from_dict`; either way a :class:`DocumentError` names the file
    and the field (``facts.json: facts[0].groups: expected an object …, got 7``).
    """
    first_line = text.lstrip().split("\n", 1)[0]
    if '"kind":"certcheck-result"' in first_line.replace(" ", ""):
        from certcheck.report.jsonl import read_lines

        data = read_lines(text, source)
    else:
        try:
            data = load_json(text, source)
        except LoadError as exc:
            raise DocumentError(str(exc)) from None
    if not isinstance(data, dict) or "schema_version" not in data:
        raise DocumentError(f"{source}: not a certcheck document (no schema_version)")
    major = str(data["schema_version"]).split(".")[0]
    if major != SCHEMA_VERSION.split(".")[0]:
        raise DocumentError(
            f"{source}: schema_version {quote(data['schema_version'])} is not supported "
            f"(this certcheck reads {SCHEMA_VERSION})"
        )
    if data.get("kind") == FACTS_KIND:
        field = "facts"
    elif data.get("kind") == RESULTS_KIND:
        field = "results"
    else:
        raise DocumentError(f"{source}: unknown document kind {quote(data.get('kind'))}")
    if not isinstance(data.get(field), list):
        raise DocumentError(f"{source}: no list of {field} found")
    from certcheck.report.schema_errors import first_problem

    facts: list[ServerFacts] = []
    for index, item in enumerate(data[field]):
        where: tuple[str | int, ...] = ("facts", index)
        if field == "facts":
            # each entry against the schema; the envelope's metadata (``tool``) is what
            # certcheck writes, not what a hand-made facts file must carry
            problem = first_problem(item, "facts", where)
            if problem:
                raise DocumentError(f"{source}: {problem}")
        else:
            # only the facts are used: check those (and that each entry has them)
            where = ("results", index, "facts")
            if not isinstance(item, dict) or "facts" not in item:
                raise DocumentError(f"{source}: results[{index}]: expected a result with facts")
            item = item["facts"]
            problem = first_problem(item, "facts", where)
            if problem:
                raise DocumentError(f"{source}: {problem}")
        try:
            facts.append(ServerFacts.from_dict(item))
        except FieldError as exc:
            raise DocumentError(f"{source}: {exc.within(*where)}") from None
    policy = data.get("policy") if field == "facts" else None
    return facts, policy if isinstance(policy, dict) else {}
