"""The rule registry (certcheck/evaluate/rules): each rule declared once, by one function.

Registry ids, catalog ids and translation ids are one list; every registered rule has a
test that shows it firing and one that shows it silent; a profile can switch any of them
off; a rule function can raise only what it declares.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
from chaingen import NOW, Chain, intermediate, leaf, root

from certcheck.catalog import Profile, load_catalog
from certcheck.evaluate import Policy, evaluate_strict
from certcheck.evaluate.context import Context
from certcheck.evaluate.rules import MODULES, registry
from certcheck.evaluate.rules.registry import RuleDeclarationError, registered, registered_ids
from certcheck.evaluate.trust import TrustStore

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent


def _catalog_file_ids(name: str) -> set[str]:
    return set(tomllib.loads((ROOT / "rules" / "catalog" / name).read_text("utf-8")))


def test_registry_ids_are_the_catalog_ids_and_have_chinese_titles() -> None:
    # the mini-program checks (rules/catalog/miniprogram.toml) are judged by
    # certcheck/miniprogram/lint.py over a project config, not by the server rules
    server_rules = set(load_catalog()) - _catalog_file_ids("miniprogram.toml")
    assert registered_ids() == server_rules
    zh = tomllib.loads((ROOT / "templates" / "i18n" / "zh.toml").read_text("utf-8"))["rules"]
    assert sorted(registered_ids() - set(zh)) == []


def test_each_id_is_declared_by_exactly_one_function_of_a_rule_module() -> None:
    owners: dict[str, list[str]] = {}
    for entry in registered():
        assert entry.module in MODULES
        for rule_id in entry.ids:
            owners.setdefault(rule_id, []).append(entry.name)
    assert {r: o for r, o in owners.items() if len(o) != 1} == {}


def test_no_rule_module_names_a_rule_it_does_not_declare() -> None:
    """Outside its ``@rule`` declarations a module may mention other ids (which failures a
    finding explains), but only through ``ctx.finding``/``make_finding`` calls of its own."""
    declared = {e.module: set() for e in registered()}
    for entry in registered():
        declared[entry.module] |= set(entry.ids)
    for module in MODULES:
        tree = ast.parse((ROOT / "certcheck" / "evaluate" / "rules" / f"{module}.py").read_text())
        raised = set()
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", getattr(node.func, "id", "")) in
                ("finding", "make_finding")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                raised.add(node.args[0].value)
        assert raised <= declared.get(module, set()), (module, raised - declared[module])


def test_a_duplicate_or_unknown_declaration_is_refused() -> None:
    with pytest.raises(RuleDeclarationError, match="declared twice"):
        registry.rule("cert_expired")(lambda ctx: [])
    with pytest.raises(RuleDeclarationError, match="no such rule"):
        registry.rule("no_such_rule")(lambda ctx: [])


def test_a_function_raising_an_undeclared_rule_is_a_bug_that_surfaces(monkeypatch) -> None:
    """The registry checks what each function returns against what it declared."""
    entries = registered()
    first = entries[0]

    def wrong(ctx: Context) -> list:
        return [ctx.finding("tls13_only", {})]

    monkeypatch.setattr(registry, "_ordered", lambda chosen: (replace(first, function=wrong),))
    anchor = root()
    end = leaf("www.example.test", intermediate("I", anchor))
    chain = Chain("www.example.test", [end.cert], [anchor.cert])
    trust = TrustStore([], [anchor.cert])
    with pytest.raises(RuleDeclarationError, match="undeclared"):
        evaluate_strict(chain.facts(), Policy.build(trust=trust), NOW)


#: registered rules whose fire and silent tests live outside the near-miss table
#: (rule -> (test file, test functions that show it firing and silent))
PAIRED_ELSEWHERE = {
    "ca_distrust_after_apple": ("evaluate/test_rules_near_miss.py",
                                ["test_distrust_cutoff_instant"]),
    "ca_distrust_after_chrome": ("evaluate/test_rules_near_miss.py",
                                 ["test_distrust_cutoff_instant"]),
    "ca_distrust_after_mozilla": ("evaluate/test_rules_near_miss.py",
                                  ["test_distrust_cutoff_instant"]),
    "ca_distrust_scheduled": ("evaluate/test_rules_near_miss.py",
                              ["test_distrust_scheduled_until_the_full_removal"]),
    "ca_key_compromised": ("evaluate/test_cert_rules.py",
                           ["test_chain_to_a_compromised_root_names_it"]),
    "ct_noncompliant_apple": ("evaluate/test_ct_stapling.py",
                              ["test_evaluate_applies_ct_only_to_chains_to_apples_roots"]),
    "key_unsupported": ("evaluate/test_hostile_certs.py",
                        ["test_hostile_certificate_ends_as_findings"]),
    "letsencrypt_old_android": ("evaluate/test_simulation.py",
                                ["test_letsencrypt_old_android_finding_and_verdict",
                                 "test_private_chain_never_fires_letsencrypt_old_android"]),
}


def _near_miss_rules() -> set[str]:
    tree = ast.parse((TESTS / "evaluate" / "test_rules_near_miss.py").read_text("utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "CASES":
            assert isinstance(node.value, ast.List)
            return {
                elt.elts[0].value  # type: ignore[attr-defined]
                for elt in node.value.elts
                if isinstance(elt, ast.Tuple)
            }
    raise AssertionError("no CASES table in test_rules_near_miss.py")


def test_every_registered_rule_has_a_fire_and_a_silent_test() -> None:
    paired = _near_miss_rules()
    for rule_id, (path, functions) in PAIRED_ELSEWHERE.items():
        assert rule_id not in paired, f"{rule_id}: in the near-miss table, drop it here"
        text = (TESTS / path).read_text("utf-8")
        for function in functions:
            assert f"def {function}(" in text, (rule_id, path, function)
        paired.add(rule_id)
    assert sorted(registered_ids() - paired) == []


@pytest.mark.parametrize("module", MODULES)
def test_a_profile_switches_off_every_rule_of_a_module(module: str) -> None:
    """With every rule of one module "off", none of them appears, whatever the chain."""
    ids = {i for e in registered((module,)) for i in e.ids}
    off = Profile("off", "", 30, 7, dict.fromkeys(ids, "off"))
    anchor = root("Registry Root", slot=8)
    # an expired leaf for another host, sent without its intermediate, TLS 1.0 only
    end = leaf("other.example.test", intermediate("Registry I", anchor, slot=8),
               not_after=NOW)
    facts = replace(
        Chain("www.example.test", [end.cert], [anchor.cert]).facts(),
        protocols={"TLSv1.0": True, "TLSv1.2": False, "TLSv1.3": False},
    )
    trust = TrustStore([], [anchor.cert])
    loud = evaluate_strict(facts, Policy.build(trust=trust), NOW + NOW.resolution)
    quiet = evaluate_strict(facts, Policy.build(trust=trust, profile_obj=off),
                            NOW + NOW.resolution)
    assert {f.rule_id for f in quiet.findings} & ids == set()
    if module in ("chain", "protocols"):
        assert {f.rule_id for f in loud.findings} & ids, "the case must fire something"
