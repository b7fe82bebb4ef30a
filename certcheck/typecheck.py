"""Check a parsed JSON value against a dataclass field's type hint, naming the field.

:meth:`certcheck.model.ServerFacts.from_dict` reads facts that came from a file or
from the monitor's history; the hints of the dataclass are the contract, so a field
added there is checked here without further code.  The hints used by the model are
covered: ``str``, ``int``, ``float``, ``bool``, ``None``, ``Any``, ``Literal``,
``list[X]``, ``dict[str, X]`` and unions of those; any other hint passes unchecked.
"""

from __future__ import annotations

import math
import types
from typing import Any, Literal, Union, get_args, get_origin

from certcheck.safeload import field_path, quote

Path = tuple[str | int, ...]


class FieldError(ValueError):
    """A value of the wrong type or form; ``path`` says where (``cipher_suites["TLSv1.2"]``)."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{field_path(path) or '(document)'}: {problem}")

    def within(self, *prefix: str | int) -> FieldError:
        """The same problem, one level further out (``facts[0].`` + this path)."""
        return FieldError((*prefix, *self.path), self.problem)


_SINGULAR = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
_PLURAL = {str: "strings", int: "integers", float: "numbers", bool: "true/false values"}


def describe(hint: Any, plural: bool = False) -> str:
    """What a hint accepts, in words: ``a list of strings``, ``true, false or null``."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return "values" if plural else "any value"
    if hint is type(None) or hint is None:
        return "nulls" if plural else "null"
    if hint in _SINGULAR:
        return _PLURAL[hint] if plural else _SINGULAR[hint]
    if origin is Literal:
        return "one of " + ", ".join(quote(a) for a in args)
    if origin is list:
        return ("lists of " if plural else "a list of ") + describe(args[0], plural=True)
    if origin is dict:
        head = "objects" if plural else "an object"
        if args[1] is Any:
            return head
        return f"{head} whose values are {describe(args[1], plural=True)}"
    if origin in (Union, types.UnionType):
        if set(args) == {bool, type(None)}:
            return "true, false or null"
        words = [describe(a, plural) for a in args]
        return ", ".join(words[:-1]) + " or " + words[-1]
    return getattr(hint, "__name__", str(hint))


def _wrong(path: Path, hint: Any, value: Any) -> FieldError:
    return FieldError(path, f"expected {describe(hint)}, got {quote(value)}")


def check_value(value: Any, hint: Any, path: Path) -> None:
    """Raise :class:`FieldError` unless ``value`` (parsed JSON) fits ``hint``."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return
    if hint is type(None) or hint is None:
        if value is not None:
            raise _wrong(path, hint, value)
        return
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            try:
                check_value(value, options[0], path)
            except FieldError as exc:
                raise (_wrong(path, hint, value) if exc.path == path else exc) from None
            return
        for option in options:
            try:
                check_value(value, option, path)
            except FieldError:
                continue
            return
        raise _wrong(path, hint, value)
    if origin is Literal:
        if value not in args or isinstance(value, bool) != any(isinstance(a, bool) for a in args):
            raise _wrong(path, hint, value)
        return
    if origin is list:
        if not isinstance(value, list):
            raise _wrong(path, hint, value)
        for index, item in enumerate(value):
            check_value(item, args[0], (*path, index))
        return
    if origin is dict:
        if not isinstance(value, dict):
            raise _wrong(path, hint, value)
        for key, item in value.items():
            if not isinstance(key, str):
                raise FieldError(path, f"keys must be strings, got {quote(key)}")
            check_value(item, args[1], (*path, key))
        return
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value):
            raise _wrong(path, hint, value)
        return
    if hint is int or hint is str:
        if not isinstance(value, hint) or isinstance(value, bool):
            raise _wrong(path, hint, value)
        return
    if hint is bool:
        if not isinstance(value, bool):
            raise _wrong(path, hint, value)
        return
    # A hint this module does not know (a nested dataclass, a tuple) is not checked
    # here rather than failing every read: the schema and its own from_dict cover it.
    return
