"""The one place where policy inputs become a :class:`~certcheck.evaluate.Policy`.

Command-line options (``scan``, ``evaluate``, ``check-cert``, ``forecast``,
``miniprogram``, ``demo``) and a ``certcheck.toml`` (``monitor``) name the same inputs:
profile, thresholds, extra trust anchors, distrusted fingerprints, a policy file and
suppressions.  :func:`build_policy` checks them and builds the policy; a bad input is a
:class:`PolicyInputError` whose message names the input the way its source spells it
(``--ca-file`` on the command line, ``ca_file`` in a config).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from certcheck.catalog import load_profiles
from certcheck.evaluate import Policy
from certcheck.evaluate.trust import TrustStore, TrustStoreError
from certcheck.policyfile import Ignore, PolicyFileError, load_policy_file, parse_ignore


class PolicyInputError(ValueError):
    """A policy input that cannot be used; the message names it."""


@dataclass(frozen=True)
class InputNames:
    """How a source spells each input in its messages."""

    profile: str = "--profile"
    ca_file: str = "--ca-file"
    distrust: str = "--distrust"
    #: a policy-file error is prefixed with this (the file's own errors name file:line)
    profile_file_prefix: str = ""


COMMAND_LINE = InputNames()
CONFIG_FILE = InputNames("profile", "ca_file", "distrust", "profile_file: ")


@dataclass(frozen=True)
class PolicyInputs:
    profile: str = "wechat"
    warn_days: int | None = None
    crit_days: int | None = None
    ca_file: Path | None = None
    #: anchors already read (``demo``'s sample CA); used when ``ca_file`` is None
    ca_pem: bytes | None = None
    distrust: tuple[str, ...] = ()
    profile_file: Path | None = None
    #: ``RULE[:HOST]`` suppressions as the command line gives them
    ignore: tuple[str, ...] = ()


def build_policy(inputs: PolicyInputs, names: InputNames = COMMAND_LINE) -> Policy:
    """The policy for ``inputs``; :class:`PolicyInputError` names what is wrong."""
    profiles = load_profiles()
    if inputs.profile not in profiles:
        raise PolicyInputError(
            f"{names.profile} {inputs.profile!r}: choose one of {', '.join(sorted(profiles))}"
        )
    profile_obj = None
    ignores: list[Ignore] = []
    try:
        if inputs.profile_file is not None:
            profile_obj, ignores = load_policy_file(inputs.profile_file)
    except PolicyFileError as exc:
        raise PolicyInputError(f"{names.profile_file_prefix}{exc}") from None
    try:
        ignores += [parse_ignore(item) for item in inputs.ignore]
    except PolicyFileError as exc:
        raise PolicyInputError(str(exc)) from None
    for fp in inputs.distrust:
        clean = fp.lower().replace(":", "")
        if len(clean) != 64 or any(c not in "0123456789abcdef" for c in clean):
            raise PolicyInputError(
                f"{names.distrust} {fp!r}: expected a SHA-256 fingerprint (64 hex digits)"
            )
    ca_pem, source = inputs.ca_pem, names.ca_file
    if inputs.ca_file is not None:
        source = f"{names.ca_file} {str(inputs.ca_file)!r}"
        try:
            ca_pem = inputs.ca_file.read_bytes()
        except OSError as exc:
            raise PolicyInputError(f"{source}: {exc.strerror or exc}") from None
    try:
        trust = TrustStore.load(ca_pem, source=source)
    except TrustStoreError as exc:
        raise PolicyInputError(str(exc)) from None
    return Policy.build(
        inputs.profile,
        inputs.warn_days,
        inputs.crit_days,
        distrust=list(inputs.distrust),
        trust=trust,
        profile_obj=profile_obj,
        ignores=ignores,
    )
