"""Every rule of certcheck's evaluation, each declared once.

A rule is a function of one :class:`~certcheck.evaluate.context.Context` decorated with
``@rule("rule_id")`` (:mod:`.registry`); its title, severity per profile, platforms and
fix come from the catalog (``rules/catalog/*.toml``) only.  A family of rules that share
one computation (the cipher suites per version, the distrust table) may declare several
ids on one function; no id is declared twice and a function can raise only what it
declares.  The modules run in :data:`MODULES` order: a later rule may read what earlier
ones found (``ctx.fired()``), e.g. the simulation rule leaves out client failures that a
chain finding already explains.

Adding a rule: one ``@rule`` function in the module of its family, one catalog entry
with its Chinese title in ``templates/i18n/zh.toml``, and a test that it fires and one
that it stays silent (tests/evaluate/test_rules_near_miss.py).
"""

from __future__ import annotations

#: rule modules in evaluation order (chain first: the others read its path and findings)
MODULES = (
    "chain",
    "protocols",
    "ciphers",
    "kex",
    "clients",
    "transparency",
    "stapling",
    "distrust",
)
