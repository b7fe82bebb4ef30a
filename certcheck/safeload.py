"""Reading JSON and TOML a user or a server handed us, and quoting it back in messages.

Every document certcheck did not ship itself (facts, results, ``--jsonl`` lines, policy
files, the monitor and mini-program configurations) is read through :func:`load_json` or
:func:`load_toml`.  Whatever the bytes, the outcome is the parsed value or a
:class:`LoadError` whose one-line message names the source: nesting deep enough to
exhaust the interpreter's stack, integers past Python's digit limit, ``NaN`` and memory
exhaustion all become errors, never tracebacks.  Nesting deeper than :data:`MAX_DEPTH`
is refused even when the parser coped, so that no later step (schema validation,
copying, rendering) has to recurse through it.

:func:`quote` is the one way an error message shows a piece of input: capped at
:data:`QUOTE_LIMIT` characters, control and bidi characters escaped.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Iterable
from typing import Any

#: deepest nesting of arrays/objects/tables accepted; certcheck's own documents use < 10
MAX_DEPTH = 64
#: characters of input an error message quotes before cutting it short
QUOTE_LIMIT = 200

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class LoadError(ValueError):
    """A JSON or TOML document that cannot be used; the message names the source.

    ``syntax`` holds the parser's own words when the text is not JSON/TOML at all
    (callers with an established wording for that case reuse it).
    """

    def __init__(self, source: str, problem: str, syntax: str | None = None) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem
        self.syntax = syntax


def _visible(text: str) -> str:
    """``text`` with every non-printable character (controls, bidi overrides) escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _cut(text: str, limit: int) -> tuple[str, str]:
    if len(text) <= limit:
        return text, ""
    return text[:limit], f" … ({len(text) - limit} more characters)"


def clip(text: str, limit: int = QUOTE_LIMIT) -> str:
    """Free text (an exception's message, say) cut to ``limit`` characters, escaped."""
    head, tail = _cut(text, limit)
    return _visible(head) + tail


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """Input as an error message shows it: a string like ``repr``, any other JSON value as
    compact JSON; beyond ``limit`` characters cut, with ``… (N more characters)``."""
    if isinstance(value, str):
        head, tail = _cut(value, limit)
        return repr(head) + tail
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=repr)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    head, tail = _cut(text, limit)
    return _visible(head) + tail


def field_path(parts: Iterable[str | int]) -> str:
    """``facts[0].cipher_suites["TLSv1.2"]`` from ``("facts", 0, "cipher_suites", "TLSv1.2")``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif len(part) <= 60 and _NAME.match(part):
            out += f".{part}" if out else part
        else:
            head, tail = _cut(part, 60)
            out += f"[{_visible(json.dumps(head, ensure_ascii=False))}{tail}]"
    return out


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when lists/dicts nest more than ``limit`` levels (checked without recursion)."""
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _not_finite(text: str) -> float:
    raise ValueError(f"{text} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{quote(text, 40)} is too large for a number")
    return number


def _too_deep_error(source: str) -> LoadError:
    return LoadError(source, f"nested more than {MAX_DEPTH} levels deep")


def _value_error(source: str, kind: str, exc: ValueError) -> LoadError:
    message = str(exc)
    if "integer string conversion" in message:
        return LoadError(source, f"not usable {kind} (an integer has too many digits)")
    return LoadError(source, f"not usable {kind} ({clip(message)})")


def load_json(text: str, source: str) -> Any:
    """The value of the JSON ``text`` read from ``source``, or :class:`LoadError`."""
    try:
        value = json.loads(text, parse_constant=_not_finite, parse_float=_finite)
    except json.JSONDecodeError as exc:
        detail = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
        raise LoadError(source, f"not JSON ({detail})", detail) from None
    except RecursionError:
        raise _too_deep_error(source) from None
    except MemoryError:
        raise LoadError(source, "too large to read") from None
    except ValueError as exc:
        raise _value_error(source, "JSON", exc) from None
    if isinstance(value, dict | list) and too_deep(value):
        raise _too_deep_error(source)
    return value


def load_toml(text: str, source: str) -> dict[str, Any]:
    """The tables of the TOML ``text`` read from ``source``, or :class:`LoadError`.

    A syntax error keeps tomllib's wording ("not valid TOML (Invalid value (at line 3,
    column 5))"), which names the line.
    """
    try:
        value = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        detail = clip(str(exc))
        raise LoadError(source, f"not valid TOML ({detail})", detail) from None
    except RecursionError:
        raise _too_deep_error(source) from None
    except MemoryError:
        raise LoadError(source, "too large to read") from None
    except ValueError as exc:
        raise _value_error(source, "TOML", exc) from None
    if too_deep(value):
        raise _too_deep_error(source)
    return value
