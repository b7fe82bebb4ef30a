"""What every HTML page shares: readers of untrusted JSON, display helpers, the template
environment and the page frame.

Each page module (:mod:`~certcheck.report.html` for scan results,
:mod:`~certcheck.report.miniprogram_page`, :mod:`~certcheck.report.forecast_page`,
:mod:`~certcheck.report.history_page`) turns one JSON document into a view model and
renders it through :func:`environment`; none imports another page's private names.
Every value read here may come from a hostile certificate or server: the readers never
raise, and the environment autoescapes and strips what no page may carry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup, escape

from certcheck.core.times import parse_instant
from certcheck.report.evidence import xml_safe
from certcheck.report.i18n import Catalog
from certcheck.report.safetext import html_visible, visible

#: verdict marks beside platform names (the colour is not the only cue)
MARKS = {"pass": "✓", "warn": "!", "fail": "✗", "unknown": "?"}

#: subject alternative names shown before "show all" (the shared certificate macro)
SAN_SHOWN = 8

#: the script-free pages (miniprogram, forecast, history): inline styles only
NO_SCRIPT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)


# -- small readers of untrusted JSON -------------------------------------------------------------


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any, default: str = "") -> str:
    return default if value is None else str(value)


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_when(value: Any) -> datetime | None:
    """An ISO 8601 instant (naive means UTC), or None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        moment = parse_instant(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def show_time(value: Any, with_time: bool = True) -> str:
    moment = parse_when(value)
    if moment is None:
        return as_str(value, "—")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC" if with_time else "%Y-%m-%d")


def verdict_state(value: Any) -> str:
    """A platform verdict as the page knows it: pass, warn, fail, or unknown for anything else."""
    return value if isinstance(value, str) and value in MARKS else "unknown"


# -- display helpers -----------------------------------------------------------------------------


def rdn_values(subject: str) -> list[tuple[str, str]]:
    """(type, value) pairs of an RFC 4514 string, escapes undone (for display only)."""
    pairs: list[tuple[str, str]] = []
    current: list[str] = []
    escaped = False
    for char in subject + ",":
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",+":
            key, _, value = "".join(current).partition("=")
            pairs.append((key.strip().upper(), value))
            current = []
        else:
            current.append(char)
    return pairs


def common_name(subject: str) -> str:
    """The CN of an RFC 4514 subject for display (the whole subject when there is none)."""
    for key, value in rdn_values(subject):
        if key == "CN" and value:
            return value
    return subject or "—"


def breakable(text: str) -> Markup:
    """Escaped text with line-break opportunities after dots and before colons (host names)."""
    escaped = str(escape(visible(text)))
    return Markup(escaped.replace(".", ".<wbr>").replace(":", "<wbr>:"))


def colon_hex(digest: str) -> str:
    digest = digest.lower()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def data_age_note(document: dict[str, Any]) -> dict[str, Any] | None:
    """The document's ``data_notes`` (shipped data tables gone stale), oldest first, or None."""
    tables = [
        {
            "file": as_str(note.get("file"), "?"),
            "snapshot": as_str(note.get("snapshot"), "?"),
            "age": as_int(note.get("age_days")),
        }
        for note in map(as_dict, as_list(document.get("data_notes")))
    ]
    tables = [t for t in tables if t["age"] is not None]
    if not tables:
        return None
    tables.sort(key=lambda t: -t["age"])
    return {"age": tables[0]["age"], "tables": tables}


# -- templates -----------------------------------------------------------------------------------


def template_source(name: str) -> str:
    text = resources.files("certcheck.templates").joinpath(name).read_text(encoding="utf-8")
    if name.endswith(".j2"):
        # indentation is for people reading the template; 1,000 targets need no copies of it
        text = "\n".join(line.lstrip() for line in text.splitlines()) + "\n"
        text = text.replace(">\n<", "><")
    return text


@cache
def environment() -> jinja2.Environment:
    """The one jinja2 environment of every page: autoescaped, strict, invisible text shown."""
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(template_source),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=html_visible,
    )
    env.filters["cn"] = common_name
    env.filters["wbr"] = breakable
    return env


#: the stylesheets of the pages that reuse the scan report's look (miniprogram, forecast)
EXTRA_STYLES = ("report.css", "extra.css")


def page_common(document: dict[str, Any], cat: Catalog) -> dict[str, Any]:
    """The view keys the page frame (``_page.html.j2``) and the scan report's finding and
    certificate macros read, from any document."""
    tool = as_dict(document.get("tool"))
    return {
        "t": cat,
        "lang": cat.html_lang,
        "tool_name": as_str(tool.get("name"), "certcheck"),
        "tool_version": as_str(tool.get("version"), "?"),
        "profile": as_str(document.get("profile"), "—"),
        "data_note": data_age_note(document),
        "marks": MARKS,
        "san_shown": SAN_SHOWN,
        "compact": False,
        "open_details": False,
    }


def render_page(template: str, view: dict[str, Any], styles: tuple[str, ...]) -> str:
    """A script-free page: ``view`` through ``template`` with ``styles`` inlined."""
    view["style"] = Markup("".join(template_source(s) for s in styles))
    view["csp"] = NO_SCRIPT_CSP
    page = environment().get_template(template).render(**view)
    # control characters and lone surrogates from hostile fields: not even HTML may carry them
    return xml_safe(page)


def overall_state(value: Any) -> str:
    """An overall verdict: pass, warn, fail, or error (not checked) for anything else."""
    return value if value in ("pass", "warn", "fail") else "error"
