"""One-line messages for documents that break the published schema.

``facts[0].cipher_suites["TLSv1.2"]: expected a list of strings, got 5``: where, what
the schema wants in words, and the offending value quoted through
:func:`certcheck.safeload.quote` (so a 50 MB string costs a 200-character message).
jsonschema's own messages repeat the whole instance, hence this module.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from certcheck.report.schema import schema
from certcheck.safeload import clip, field_path, quote

_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
    "array": "a list",
    "object": "an object",
}


@cache
def _validator(definition: str | None = None) -> Draft202012Validator:
    """The whole schema, or one of its ``$defs`` (``facts``) on its own."""
    if definition is None:
        return Draft202012Validator(schema())
    return Draft202012Validator({"$ref": f"#/$defs/{definition}", "$defs": schema()["$defs"]})


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _resolve(schema()["$defs"][ref.removeprefix("#/$defs/")])
    return node


def _article(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def _plural(words: str) -> str:
    """``a list of strings`` → ``lists of strings``; ``true or false`` → ``true/false values``."""
    for article in ("a ", "an "):
        if words.startswith(article):
            first, _, rest = words[len(article) :].partition(" ")
            return f"{first}s {rest}".rstrip()
    return f"{words} values"


def describe(node: dict[str, Any]) -> str:
    """What a schema node accepts, in words."""
    node = _resolve(node)
    if isinstance(node.get("title"), str) and len(node["title"]) <= 60:
        return _article(node["title"])
    if "const" in node:
        return quote(node["const"])
    if isinstance(node.get("enum"), list):
        return "one of " + ", ".join(quote(v) for v in node["enum"])
    for key in ("oneOf", "anyOf"):
        if isinstance(node.get(key), list):
            return " or ".join(describe(option) for option in node[key])
    kind = node.get("type")
    if isinstance(kind, list):
        if set(kind) == {"boolean", "null"}:
            return "true, false or null"
        return " or ".join(describe({**node, "type": k}) for k in kind)
    if kind == "integer" and "minimum" in node and "maximum" in node:
        return f"an integer from {node['minimum']} to {node['maximum']}"
    if kind == "integer" and "minimum" in node:
        return f"an integer ≥ {node['minimum']}"
    if kind == "string" and node.get("minLength") == 1:
        return "a non-empty string"
    if kind == "array" and isinstance(node.get("items"), dict):
        return f"a list of {_plural(describe(node['items']))}"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"an object whose values are {_plural(describe(node['additionalProperties']))}"
    return _TYPE_WORDS.get(str(kind), "a valid value")


def _deepest(error: ValidationError) -> ValidationError:
    """Inside a oneOf/anyOf, the alternative that got furthest into the value."""
    while error.validator in ("oneOf", "anyOf") and error.context:
        deeper = [c for c in error.context if len(c.absolute_path) > len(error.absolute_path)]
        if not deeper:
            break
        error = deeper[0]
    return error


def message(error: ValidationError, at: tuple[str | int, ...] = ()) -> str:
    """``where: expected …, got …`` for one validation error (``at``: where the value sits)."""
    error = _deepest(error)
    path = (*at, *error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [n for n in error.validator_value if n not in error.instance]
        if missing:
            return f"{field_path((*path, missing[0]))}: this required field is missing"
    where = field_path(path) or "(document)"
    if error.validator in ("type", "pattern", "minimum", "maximum", "minLength", "enum", "const"):
        return f"{where}: expected {describe(error.schema)}, got {quote(error.instance)}"
    if error.validator in ("oneOf", "anyOf"):
        return f"{where}: expected {describe(error.schema)}, got {quote(error.instance)}"
    return f"{where}: {clip(error.message)}"


def first_problem(
    document: Any, definition: str | None = None, at: tuple[str | int, ...] = ()
) -> str | None:
    """The first place ``document`` breaks the schema, as one line, or None when valid.

    ``definition`` checks against one of the schema's ``$defs`` only (evaluate checks
    the facts of a results document, not its findings: a tenth of the time).
    """
    error = next(iter(_validator(definition).iter_errors(document)), None)
    return None if error is None else message(error, at)
