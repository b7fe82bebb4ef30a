"""One policy builder for every command and the monitor config."""

from __future__ import annotations

from pathlib import Path

import pytest

from certcheck.settings import (
    COMMAND_LINE,
    CONFIG_FILE,
    PolicyInputError,
    PolicyInputs,
    build_policy,
)

PACKAGE = Path(__file__).resolve().parent.parent / "certcheck"


def test_only_the_settings_module_builds_a_policy():
    callers = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if "Policy.build(" in p.read_text(encoding="utf-8")
        and p.name != "settings.py"
        and p != PACKAGE / "evaluate" / "__init__.py"
    )
    assert callers == []


def test_inputs_become_the_policy(tmp_path, sample_set):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(sample_set.root_pem)
    policy = build_policy(
        PolicyInputs(profile="ats", warn_days=20, crit_days=3, ca_file=ca,
                     distrust=("AB" * 32,), ignore=("hostname_mismatch:old.test",))
    )
    assert (policy.profile.name, policy.profile.warn_days, policy.profile.crit_days) == (
        "ats", 20, 3
    )
    assert policy.distrust == frozenset({"ab" * 32})
    assert [(i.rule, i.host) for i in policy.ignores] == [("hostname_mismatch", "old.test")]
    assert len(policy.trust.extra_fps) == 1


@pytest.mark.parametrize(
    ("inputs", "cli", "config"),
    [
        (PolicyInputs(profile="nope"), "--profile 'nope': choose one of", "profile 'nope'"),
        (PolicyInputs(distrust=("xyz",)), "--distrust 'xyz': expected", "distrust 'xyz'"),
        (PolicyInputs(ca_file=Path("/no/such.pem")), "--ca-file '/no/such.pem': ",
         "ca_file '/no/such.pem': "),
    ],
)
def test_a_bad_input_is_named_as_its_source_spells_it(inputs, cli, config):
    with pytest.raises(PolicyInputError, match="^" + cli.replace("(", r"\(")):
        build_policy(inputs, COMMAND_LINE)
    with pytest.raises(PolicyInputError, match="^" + config):
        build_policy(inputs, CONFIG_FILE)


def test_an_unreadable_ca_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(PolicyInputError, match=r"^--ca-file '.*bad.pem': no PEM certificate"):
        build_policy(PolicyInputs(ca_file=bad))
