"""Key-exchange rules: finite-field DHE parameters, anonymous and NULL suites.

``dh_params_weak`` judges the DHE parameters the probe read per protocol
version (``ServerFacts.dh_params``); ``anon_or_null_suites`` the enumerated
suites.  Sizes and sources are in ``rules/catalog/dh.toml``.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from certcheck.catalog import Profile, make_finding
from certcheck.core.tls import SUITES_BY_NAME, named_dh_prime
from certcheck.evaluate.rules.registry import rule
from certcheck.model import PROTOCOLS, Finding, ServerFacts, Severity

if TYPE_CHECKING:
    from certcheck.evaluate.context import Context

#: Below this a prime is an error (Logjam / export range); below RECOMMENDED a warning.
MIN_DH_BITS = 1024
RECOMMENDED_DH_BITS = 2048
#: Largest prime whose primality is tested (a few modular exponentiations, milliseconds).
MAX_PRIMALITY_BITS = 4096
_MR_ROUNDS = 8
_SMALL_PRIMES = (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47)


def probably_prime(n: int, rounds: int = _MR_ROUNDS) -> bool:
    """Miller-Rabin with bases derived from ``n`` itself.

    Deterministic for a given ``n`` (evaluation is a pure function), yet a
    server cannot pick a composite that fools fixed, published bases: the
    bases change with every bit of the number.
    """
    if n < 2 or n % 2 == 0:
        return n == 2
    if any(n % q == 0 for q in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    seed = n.to_bytes((n.bit_length() + 7) // 8, "big")
    for round_ in range(rounds):
        digest = hashlib.sha256(seed + round_.to_bytes(2, "big")).digest()
        base = 2 + int.from_bytes(digest, "big") % (n - 3)
        x = pow(base, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _hex_integer(value: Any) -> int | None:
    if not isinstance(value, str) or not value or len(value) > 8192:
        return None
    try:
        return int(value, 16)
    except ValueError:
        return None


def dh_problems(params: dict[str, Any]) -> tuple[list[str], Severity | None]:
    """What is wrong with one version's DH parameters, and how bad (None: nothing)."""
    bits = _integer(params.get("bits"))
    g = _integer(params.get("g"))
    p = _hex_integer(params.get("p"))
    if bits is None:  # facts from a file may hold anything: measure p, or say nothing
        bits = p.bit_length() if p is not None else None
    problems: list[str] = []
    unsound = False
    if p is not None and named_dh_prime(p) is None:
        if p % 2 == 0:
            problems.append("the prime p is even")
            unsound = True
        elif p.bit_length() <= MAX_PRIMALITY_BITS and not probably_prime(p):
            problems.append("p is not prime (Miller-Rabin)")
            unsound = True
    if g is not None and p is not None and not 2 <= g <= p - 2:
        problems.append(f"generator g = {g} is outside [2, p-2] (a subgroup of order 1 or 2)")
        unsound = True
    too_small = bits is not None and bits < MIN_DH_BITS
    if too_small:
        problems.insert(0, f"{bits}-bit prime (below {MIN_DH_BITS}: export / Logjam range)")
    elif bits is not None and bits < RECOMMENDED_DH_BITS:
        problems.insert(0, f"{bits}-bit prime (below {RECOMMENDED_DH_BITS}, Logjam range)")
    if unsound or too_small:
        return problems, "error"
    return problems, "warning" if problems else None


def _dh_params_weak(facts: ServerFacts, profile: Profile) -> list[Finding]:
    versions: dict[str, dict[str, Any]] = {}
    worst: Severity | None = None
    for version in PROTOCOLS:  # fixed order: the probe fills versions concurrently
        params = facts.dh_params.get(version)
        if not isinstance(params, dict) or facts.protocols.get(version) is not True:
            continue
        problems, severity = dh_problems(params)
        if severity is None:
            continue
        versions[version] = {
            "bits": params.get("bits"),
            "named": params.get("named"),
            "g": params.get("g"),
            "suite": params.get("suite"),
            "problems": problems,
        }
        if worst != "error":
            worst = severity
    if not versions or worst is None:
        return []
    evidence = {"versions": versions, "recommended_bits": RECOMMENDED_DH_BITS}
    variant = "critical" if worst == "error" else None
    return [make_finding("dh_params_weak", evidence, profile, variant)]


def _anon_or_null(facts: ServerFacts, profile: Profile) -> list[Finding]:
    found: dict[str, list[str]] = {}
    for version in PROTOCOLS:
        if facts.protocols.get(version) is not True:
            continue
        for name in facts.cipher_suites.get(version, []):
            info = SUITES_BY_NAME.get(name)
            if info is not None and (info.auth == "anon" or info.cipher == "NULL"):
                found.setdefault(version, []).append(name)
    if not found:
        return []
    return [make_finding("anon_or_null_suites", {"suites": found}, profile)]


def kex_findings(facts: ServerFacts, profile: Profile) -> list[Finding]:
    """``dh_params_weak`` and ``anon_or_null_suites`` for one target's facts."""
    return _dh_params_weak(facts, profile) + _anon_or_null(facts, profile)


@rule("dh_params_weak", "anon_or_null_suites")
def kex_rules(ctx: Context) -> list[Finding]:
    return kex_findings(ctx.readable, ctx.profile)
