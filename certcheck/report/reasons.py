"""Simulation reasons in the report's language, from the English reason and its code.

A simulated client that fails carries ``reason`` (an English sentence) and
``reason_code`` (no_common_protocol, incomplete_chain, untrusted_root, ...).  The
catalog's ``[sim_reason]`` section holds one template per wording, keyed
``<reason_code>`` or ``<reason_code>.<form>``::

    "incomplete_chain.no_fetch" = "incomplete chain: the server does not send {issuer} and …"

The English template is both the wording and its parser: the stored reason is
matched against the English templates of its code (in file order, the more
specific forms first), the ``{placeholders}`` it fills are the values, and the
same key's template of the wanted language is filled with them.  A document
saved by an older certcheck therefore translates too, and a reason no template
matches is shown in English as it was stored (never a half-translated guess).
An entry's ``reason_args`` (a dict of the same placeholders, with ``form``) is
used instead of parsing when present.

Some values are themselves English phrases from a small closed set (store labels,
Chrome constraint conditions): :data:`NESTED` names the catalog section each such
placeholder is translated through, with the same matching.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from certcheck.report.i18n import DEFAULT_LANG, Catalog

#: placeholder -> (catalog section, separator of a list in English); the translated
#: list is joined with ``[sim_join]`` of the placeholder's name
NESTED: dict[str, tuple[str, str | None]] = {
    "store": ("sim_store", None),
    "conditions": ("sim_condition", "; and "),
}

_FIELD = re.compile(r"\{(\w+)\}")


@cache
def _pattern(template: str) -> re.Pattern[str]:
    """The regular expression that an English template's output matches."""
    parts: list[str] = []
    last = 0
    seen: set[str] = set()
    for match in _FIELD.finditer(template):
        parts.append(re.escape(template[last : match.start()]))
        name = match.group(1)
        # a placeholder used twice must be the same text both times
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
        last = match.end()
    parts.append(re.escape(template[last:]))
    return re.compile("".join(parts), re.DOTALL)


def fields(template: str) -> list[str]:
    """The placeholder names of a template, in order (each once)."""
    return list(dict.fromkeys(_FIELD.findall(template)))


def _keys_for(section: Mapping[str, str], code: str | None) -> list[str]:
    if code is None:
        return list(section)
    return [k for k in section if k == code or k.startswith(code + ".")]


def parse(
    text: str, section: Mapping[str, str], code: str | None = None
) -> tuple[str, dict[str, str]] | None:
    """(template key, placeholder values) of the first English template ``text`` matches."""
    for key in _keys_for(section, code):
        match = _pattern(section[key]).fullmatch(text)
        if match is not None:
            return key, match.groupdict()
    return None


def _english(cat: Catalog, section: str) -> Mapping[str, str]:
    return cat.fallback.get(section, {})


def _fill(template: str, values: Mapping[str, str]) -> str | None:
    try:
        return template.format_map(dict(values))
    except (KeyError, IndexError, ValueError):
        return None


def phrase(text: str, cat: Catalog, section: str, code: str | None = None) -> str:
    """``text`` (English, from the templates of ``section``) in ``cat``'s language."""
    if cat.lang == DEFAULT_LANG or not text:
        return text
    found = parse(text, _english(cat, section), code)
    if found is None:
        return text
    key, values = found
    return _render(cat, section, key, values) or text


def _render(cat: Catalog, section: str, key: str, values: Mapping[str, Any]) -> str | None:
    template = cat.sections.get(section, {}).get(key)
    if template is None:
        return None
    shown: dict[str, str] = {}
    for name, value in values.items():
        value = "" if value is None else str(value)
        nested = NESTED.get(name)
        if nested is not None:
            nested_section, separator = nested
            if separator:
                items = [phrase(v, cat, nested_section) for v in value.split(separator)]
                value = cat.get("sim_join", name, separator).join(items)
            else:
                value = phrase(value, cat, nested_section)
        shown[name] = value
    return _fill(template, shown)


def reason_text(reason: str, cat: Catalog, code: str | None = None) -> str:
    """A simulation reason (English, as stored) in ``cat``'s language.

    Findings may quote a reason without its lead-in (``[sim_prefix]``, e.g. "untrusted
    root on this client: "): it is matched with the lead-in and shown without it.
    """
    shown = phrase(reason, cat, "sim_reason", code)
    if shown != reason or cat.lang == DEFAULT_LANG:
        return shown
    for name, lead_in in _english(cat, "sim_prefix").items():
        local = cat.sections.get("sim_prefix", {}).get(name)
        if local is None:
            continue
        whole = phrase(lead_in + reason, cat, "sim_reason", code)
        if whole != lead_in + reason and whole.startswith(local):
            return whole[len(local) :]
    return shown


def sim_reason(entry: Mapping[str, Any], cat: Catalog) -> str:
    """The reason of one simulation entry in ``cat``'s language ('' when it has none)."""
    reason = entry.get("reason")
    if not isinstance(reason, str) or not reason:
        return ""
    if cat.lang == DEFAULT_LANG:
        return reason
    code = entry.get("reason_code")
    code = code if isinstance(code, str) and code else None
    args = entry.get("reason_args")
    if isinstance(args, dict) and code is not None:
        form = args.get("form")
        key = f"{code}.{form}" if form else code
        values = {k: v for k, v in args.items() if k != "form"}
        shown = _render(cat, "sim_reason", key, values)
        if shown is not None:
            return shown
    return reason_text(reason, cat, code)


def render_english(cat: Catalog, key: str, values: Mapping[str, str]) -> str | None:
    """The English template ``key`` of ``[sim_reason]`` filled with ``values`` (for tests)."""
    template = _english(cat, "sim_reason").get(key)
    return None if template is None else _fill(template, values)
