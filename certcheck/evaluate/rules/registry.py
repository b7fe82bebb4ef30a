"""``@rule``: the one registry of evaluation rules (see :mod:`certcheck.evaluate.rules`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from certcheck.catalog import load_catalog
from certcheck.model import Finding

if TYPE_CHECKING:
    from certcheck.evaluate.context import Context

RuleFunction = Callable[["Context"], list[Finding]]


class RuleDeclarationError(Exception):
    """A rule declared twice, not in the catalog, or raised by a function that did not declare
    it: a certcheck bug, found by the tests (and by the first evaluation that hits it)."""


@dataclass(frozen=True)
class Registered:
    """One ``@rule`` function: the ids it may raise, in the order it was declared."""

    ids: tuple[str, ...]
    function: RuleFunction
    module: str

    @property
    def name(self) -> str:
        return f"{self.module}.{self.function.__name__}"


_REGISTERED: list[Registered] = []
_OWNER: dict[str, str] = {}


def rule(*ids: str) -> Callable[[RuleFunction], RuleFunction]:
    """Declare that the decorated function of the context raises ``ids`` and nothing else."""
    if not ids:
        raise RuleDeclarationError("@rule needs at least one rule id")

    def register(function: RuleFunction) -> RuleFunction:
        module = function.__module__.rsplit(".", 1)[-1]
        catalog = load_catalog()
        for rule_id in ids:
            if rule_id not in catalog:
                raise RuleDeclarationError(f"@rule({rule_id!r}): no such rule in the catalog")
            owner = _OWNER.get(rule_id)
            if owner is not None:
                raise RuleDeclarationError(f"rule {rule_id} is declared twice ({owner})")
        entry = Registered(tuple(ids), function, module)
        for rule_id in ids:
            _OWNER[rule_id] = entry.name
        _REGISTERED.append(entry)
        return function

    return register


def registered(modules: Iterable[str] | None = None) -> tuple[Registered, ...]:
    """The rule functions of ``modules`` (default: every rule module), in evaluation order."""
    from certcheck.evaluate.rules import MODULES

    return _ordered(tuple(MODULES if modules is None else modules))


@cache
def _ordered(chosen: tuple[str, ...]) -> tuple[Registered, ...]:
    for name in chosen:
        importlib.import_module(f"certcheck.evaluate.rules.{name}")
    order = {name: index for index, name in enumerate(chosen)}
    entries = [e for e in _REGISTERED if e.module in order]
    # stable: within a module, the order of the definitions
    return tuple(sorted(entries, key=lambda e: order[e.module]))


def registered_ids() -> set[str]:
    return {rule_id for entry in registered() for rule_id in entry.ids}


def run(ctx: Context, modules: Iterable[str] | None = None) -> list[Finding]:
    """Every rule of ``modules`` over ``ctx``, in order; each one's findings join
    ``ctx.findings`` before the next runs.  Returns the findings of this call."""
    start = len(ctx.findings)
    for entry in registered(modules):
        found = entry.function(ctx)
        undeclared = sorted({f.rule_id for f in found} - set(entry.ids))
        if undeclared:
            raise RuleDeclarationError(f"{entry.name} raised undeclared rules {undeclared}")
        ctx.findings.extend(found)
    return ctx.findings[start:]
