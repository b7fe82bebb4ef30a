"""One list of rule ids: the catalog's. Translations, README and sources agree with it.

A rule id that exists in one place only (a translation of a rule that was never
written, a catalog entry with no Chinese title, a README list that forgot a rule) is how
the catalog and the reports drift apart.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from certcheck.catalog import load_catalog

ROOT = Path(__file__).resolve().parent.parent


def _translations(lang: str) -> dict[str, str]:
    data = tomllib.loads((ROOT / "templates" / "i18n" / f"{lang}.toml").read_text("utf-8"))
    return data.get("rules", {})


def test_every_rule_has_a_chinese_title_and_no_translation_is_orphaned():
    catalog = set(load_catalog())
    zh = set(_translations("zh"))
    assert sorted(catalog - zh) == [], "rules without a zh title"
    assert sorted(zh - catalog) == [], "zh titles of rules that do not exist"


def test_every_rule_cites_known_sources():
    references = tomllib.loads((ROOT / "rules" / "references.toml").read_text("utf-8"))
    for rule in load_catalog().values():
        assert rule.sources, rule.id
        # a reference id of rules/references.toml, or the URL of the page itself
        unknown = [
            s for s in rule.sources if s not in references and not s.startswith("https://")
        ]
        assert unknown == [], (rule.id, unknown)


def test_readme_lists_every_rule():
    readme = (ROOT / "README.md").read_text("utf-8")
    listed = set(re.findall(r"`([a-z0-9_]+)`", readme))
    missing = [r for r in load_catalog() if r not in listed and not r.startswith("mp_")]
    assert missing == []


def test_every_rule_can_be_raised_by_the_code():
    """A catalog entry that no code names is a rule that can never fire."""
    source = "\n".join(
        p.read_text("utf-8") for p in (ROOT / "certcheck").rglob("*.py")
    )
    unused = [r for r in load_catalog() if f'"{r}"' not in source and f"'{r}'" not in source]
    assert unused == []


def test_variants_come_from_the_catalog_and_the_profile_still_wins():
    from certcheck.catalog import Profile, make_finding

    plain = make_finding("chain_invalid", {})
    signature = make_finding("chain_invalid", {}, variant="signature")
    assert signature.title != plain.title
    assert signature.title == load_catalog()["chain_invalid"].variants["signature"].title
    expired_root = make_finding("chain_invalid", {}, variant="expired_root")
    assert "android" not in expired_root.breaks and "all" not in expired_root.breaks
    both = make_finding("no_forward_secrecy", {}, variant=("tls13_available", "dhe_only"))
    assert (both.severity, both.breaks, both.platforms) == ("warning", [], ["ios", "android"])
    quiet = Profile("p", "", 30, 7, {"cert_expiring_soon": "off"})
    assert make_finding("cert_expiring_soon", {}, quiet, "critical").severity == "off"
    import pytest

    with pytest.raises(KeyError):
        make_finding("chain_invalid", {}, variant="no_such_case")


def test_catalog_variants_name_only_known_fields():
    entries = {}
    for path in (ROOT / "rules" / "catalog").glob("*.toml"):
        entries.update(tomllib.loads(path.read_text("utf-8")))
    for rule_id, entry in entries.items():
        for name, variant in entry.get("variants", {}).items():
            assert set(variant) <= {"title", "severity", "platforms", "breaks"}, (rule_id, name)
            assert set(variant) != set(), (rule_id, name)


def test_every_english_ui_string_has_its_chinese_text():
    en = tomllib.loads((ROOT / "templates" / "i18n" / "en.toml").read_text("utf-8"))
    zh = tomllib.loads((ROOT / "templates" / "i18n" / "zh.toml").read_text("utf-8"))
    for section, table in en.items():
        if not isinstance(table, dict):
            continue
        missing = sorted(set(table) - set(zh.get(section, {})))
        assert missing == [], (section, missing)
        empty = sorted(k for k, v in zh.get(section, {}).items() if not str(v).strip())
        assert empty == [], (section, empty)
