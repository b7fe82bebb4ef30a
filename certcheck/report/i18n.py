"""The HTML report's string catalog: one TOML file per language in ``templates/i18n/``.

Adding a language is a data change: drop ``templates/i18n/<lang>.toml`` beside
``en.toml``.  Keys missing from a language fall back to English, and a missing
key in English shows the key itself, so a half-translated catalog still renders.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

DEFAULT_LANG = "en"

#: The value of ``<html lang>`` per catalog language (BCP 47).
HTML_LANG = {"en": "en", "zh": "zh-CN"}


def _folder() -> Any:
    return resources.files("certcheck.templates").joinpath("i18n")


@cache
def languages() -> tuple[str, ...]:
    """The languages that have a catalog, English first."""
    names = sorted(
        item.name.removesuffix(".toml")
        for item in _folder().iterdir()
        if item.name.endswith(".toml")
    )
    return tuple(sorted(names, key=lambda n: (n != DEFAULT_LANG, n)))


@cache
def _raw(lang: str) -> dict[str, dict[str, str]]:
    data = tomllib.loads(_folder().joinpath(f"{lang}.toml").read_text(encoding="utf-8"))
    return {section: dict(values) for section, values in data.items() if isinstance(values, dict)}


@dataclass(frozen=True)
class Catalog:
    """The strings of one language, with English underneath."""

    lang: str
    sections: Mapping[str, Mapping[str, str]]
    fallback: Mapping[str, Mapping[str, str]]

    @property
    def html_lang(self) -> str:
        return HTML_LANG.get(self.lang, self.lang)

    def get(self, section: str, key: str, default: str | None = None) -> str:
        for source in (self.sections, self.fallback):
            value = source.get(section, {}).get(key)
            if value is not None:
                return value
        return key if default is None else default

    def ui(self, key: str, **values: Any) -> str:
        """A UI string with its ``{placeholders}`` filled in."""
        text = self.get("ui", key)
        return text.format(**values) if values else text

    def rule_title(self, rule_id: str, english: str | None = None) -> str | None:
        """The translated title of a rule, or None (then the English one is shown).

        ``english`` (the title the finding carries) picks a variant's own title
        (``[rule_variants]``, keyed ``rule_id.variant``) when it is a variant's.
        """
        if self.lang == DEFAULT_LANG:
            return None
        variant = _variant_of(rule_id, english) if english else None
        if variant is not None:
            title = self.sections.get("rule_variants", {}).get(f"{rule_id}.{variant}")
            if title is not None:
                return title
        return self.sections.get("rules", {}).get(rule_id)

    def fix(self, rule_id: str, english: str) -> str:
        """A rule's fix advice: ``[fix]`` of this language, else the English text it carries."""
        if self.lang == DEFAULT_LANG:
            return english
        return self.sections.get("fix", {}).get(rule_id) or english

    def evidence_label(self, key: str) -> str:
        """The label shown beside an evidence value (English: the key itself)."""
        if self.lang == DEFAULT_LANG:
            return key
        return self.sections.get("evidence", {}).get(key) or key

    def yes_no(self, value: bool) -> str:
        return self.ui("yes" if value else "no")


@cache
def _variant_titles() -> dict[tuple[str, str], str]:
    """(rule id, English title) -> variant name, for variants with a title of their own."""
    from certcheck.catalog import load_catalog

    return {
        (rule.id, variant.title): name
        for rule in load_catalog().values()
        for name, variant in rule.variants.items()
        if variant.title
    }


def _variant_of(rule_id: str, english: str) -> str | None:
    return _variant_titles().get((rule_id, english))


def catalog(lang: str = DEFAULT_LANG) -> Catalog:
    """The catalog for ``lang``; ValueError names the languages there are."""
    if lang not in languages():
        raise ValueError(f"no report language {lang!r}: choose one of {', '.join(languages())}")
    return Catalog(lang=lang, sections=_raw(lang), fallback=_raw(DEFAULT_LANG))
