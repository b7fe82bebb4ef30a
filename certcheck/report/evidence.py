"""Shared helpers for the file reports: a target's label and a finding's evidence as text.

They read the JSON results document (plain dicts), never model objects, so
every report can be made again from a saved file.
"""

from __future__ import annotations

import re
from typing import Any

from certcheck.model import SEVERITY_ORDER
from certcheck.report.i18n import DEFAULT_LANG, Catalog

#: list entries shown before "… (+N more)"
LIST_LIMIT = 12

# Characters XML 1.0 cannot carry at all (attacker-controlled fields may hold them): the
# complement of its Char production (#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] |
# [#x10000-#x10FFFF]), written as the few small ranges it is.  (The negated class of the
# big ranges took 8.5 ms to compile at every start.)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def target_label(target: dict[str, Any]) -> str:
    """``host:port``, IPv6 in brackets (as :attr:`certcheck.model.Target.label`)."""
    host = str(target.get("host", "?"))
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{target.get('port', '?')}"


def target_url(target: dict[str, Any]) -> str:
    scheme = str(target.get("scheme") or "https")
    path = str(target.get("path") or "")
    return f"{scheme}://{target_label(target)}{path if path.startswith('/') else '/' + path}"


#: what stands for the entries of a list beyond ``limit`` (the catalog's ``ui.list_more``)
MORE = "… (+{n} more)"


def value_text(value: Any, limit: int = LIST_LIMIT, more: str = MORE) -> str:
    """One evidence value as short text: lists joined (``limit`` items), dicts as ``k=v``."""
    if isinstance(value, dict):
        if set(value) == {"reason", "clients"} and isinstance(value["clients"], list):
            names = value["clients"]
            shown = ", ".join(str(n) for n in names[:limit])
            more = f", … (+{len(names) - limit})" if len(names) > limit else ""
            return f"{value['reason']} ({shown}{more})"
        if set(value) >= {"subject"} and len(value) <= 3:
            extra = ", ".join(f"{k}={v}" for k, v in value.items() if k != "subject")
            return f"{value['subject']}" + (f" ({extra})" if extra else "")
        return ", ".join(f"{k}={value_text(v, limit, more)}" for k, v in value.items())
    if isinstance(value, list):
        shown = [value_text(v, limit, more) for v in value[:limit]]
        if len(value) > limit:
            shown.append(more.format(n=len(value) - limit))
        return "; ".join(shown)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def evidence_pairs(
    evidence: Any, limit: int = LIST_LIMIT, max_chars: int | None = None, more: str = MORE
) -> list[tuple[str, str]]:
    """(key, text) for every evidence entry that has a value, each text cut at ``max_chars``."""
    if not isinstance(evidence, dict):
        evidence = {} if evidence in (None, "") else {"value": evidence}
    pairs = []
    for key, value in evidence.items():
        if value in (None, [], "", {}):
            continue
        text = value_text(value, limit, more)
        if max_chars is not None and len(text) > max_chars:
            text = text[: max_chars - 1].rstrip() + "…"
        pairs.append((str(key), text))
    return pairs


def evidence_text(evidence: Any) -> str:
    return "; ".join(f"{key}: {text}" for key, text in evidence_pairs(evidence))


def severity_rank(severity: Any) -> int:
    return SEVERITY_ORDER.get(str(severity), -1)


def counts_against(finding: dict[str, Any], fail_on: str) -> bool:
    """True when the finding makes the exit code 1 at ``fail_on`` (suppressed never does)."""
    if finding.get("suppressed"):
        return False
    return severity_rank(finding.get("severity")) >= SEVERITY_ORDER.get(fail_on, 2)


#: evidence keys whose string values are wording (translated); every other value is data
WORDED_KEYS = frozenset(
    {
        "reason", "reasons", "note", "note_android", "problems", "applies_because",
        "limitation", "verify",
    }
)


def localized_evidence(evidence: Any, cat: Catalog) -> Any:
    """``evidence`` with what is language rather than data shown in ``cat``'s language.

    Booleans become the catalog's yes / no.  Strings under :data:`WORDED_KEYS` are
    translated: the simulation's reasons (:func:`certcheck.report.reasons.reason_text`),
    the fixed English phrases of ``[evidence_value]`` and the worded values of
    ``[evidence_template]`` (:func:`certcheck.report.reasons.phrase`).  Keys stay (labels
    are :meth:`Catalog.evidence_label`), and so do host names, suite names and certificate
    fields, whatever they contain.  English: returned unchanged.
    """
    if cat.lang == DEFAULT_LANG:
        return evidence
    if isinstance(evidence, dict):
        return {k: _localized(v, cat, k in WORDED_KEYS) for k, v in evidence.items()}
    return _localized(evidence, cat, False)


def _localized(value: Any, cat: Catalog, worded: bool) -> Any:
    from certcheck.report.reasons import phrase, reason_text

    if isinstance(value, bool):
        return cat.yes_no(value)
    if isinstance(value, dict):
        return {k: _localized(v, cat, worded or k in WORDED_KEYS) for k, v in value.items()}
    if isinstance(value, list):
        return [_localized(v, cat, worded) for v in value]
    if isinstance(value, str) and worded:
        exact = cat.sections.get("evidence_value", {}).get(value)
        if exact is not None:
            return exact
        shown = reason_text(value, cat)
        return shown if shown != value else phrase(value, cat, "evidence_template")
    return value
