"""Findings from the handshake simulation: client_handshake_fails, letsencrypt_old_android."""

from __future__ import annotations

from typing import TYPE_CHECKING

from certcheck.catalog import Profile, make_finding
from certcheck.evaluate.rules.registry import rule
from certcheck.evaluate.simulation import ClientResult
from certcheck.model import Finding

if TYPE_CHECKING:
    from certcheck.evaluate.context import Context

#: ISRG Root X1 and X2 (RULES.md §3.3): Android before 7.1 (API 25) has neither (S21, S22).
ISRG_ROOTS: frozenset[str] = frozenset(
    {
        "96bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c6",
        "69729b8e15a86efc177a57afb7171dfc64add28c2fca8cf1507e34453ccb1470",
    }
)
#: letsencrypt_old_android concerns Android API <= 24 (7.0 and older).
OLD_ANDROID_MAX_API = 24


def broken_platforms(results: list[ClientResult]) -> list[str]:
    """Verdict platforms that fail: a current client of it fails, or every client of it does."""
    groups: dict[str, list[ClientResult]] = {}
    for result in results:
        groups.setdefault(result.verdict_platform, []).append(result)
    broken = []
    for platform, members in groups.items():
        current_fails = any(r.ok is False and r.profile.current for r in members)
        if current_fails or all(r.ok is False for r in members):
            broken.append(platform)
    return sorted(broken)


def _old_client_variant(profile: Profile) -> str:
    """How much only old clients failing matters: as much as the profile says old Android does.

    Profiles that treat old clients as context (``legacy_tls_missing = "info"``, as
    ``ats`` and ``strict`` do) get such failures as info; otherwise they are a warning.
    """
    context = profile.severity.get("legacy_tls_missing") in ("info", "off")
    return "old_clients_context" if context else "old_clients"


#: Failure reason codes that a rule already reports when it fired: such clients stay in
#: the simulation table but are not repeated in the finding.
EXPLAINED_BY: dict[str, frozenset[str]] = {
    "no_common_protocol": frozenset(
        {"legacy_tls_missing", "tls13_only", "tls12_missing", "sslv3_enabled"}
    ),
    "untrusted_root": frozenset({"untrusted_root", "self_signed_leaf", "ca_fully_distrusted"}),
    "incomplete_chain": frozenset({"chain_incomplete"}),
}


def _explained(code: str | None, fired: set[str]) -> bool:
    return bool(EXPLAINED_BY.get(code or "", frozenset()) & fired)


def _handshake_fails(
    results: list[ClientResult], profile: Profile, fired: set[str]
) -> list[Finding]:
    """One finding for the clients that fail for a reason no other finding already gives.

    E.g. a client with no protocol in common is explained by legacy_tls_missing or
    tls13_only, a self-signed chain by self_signed_leaf (see EXPLAINED_BY).
    """
    failing = [r for r in results if r.ok is False and not _explained(r.reason_code, fired)]
    if not failing:
        return []
    current = [r for r in failing if r.profile.current]
    variant = None if current else _old_client_variant(profile)
    by_reason: dict[str, list[str]] = {}
    for result in failing:
        by_reason.setdefault(result.reason or "unknown", []).append(result.profile.name)
    finding = make_finding(
        "client_handshake_fails",
        {
            "failing": len(failing),
            "simulated": len(results),
            "current_clients_failing": [r.profile.name for r in current],
            "reasons": [
                {"reason": reason, "clients": names} for reason, names in by_reason.items()
            ],
        },
        profile,
        variant,
        # what the simulation found: the platforms whose clients fail, and those it breaks
        breaks=[p for p in broken_platforms(results) if p in {r.verdict_platform for r in failing}],
        platforms=sorted({r.verdict_platform for r in failing}),
    )
    return [finding]


def _letsencrypt(results: list[ClientResult], profile: Profile) -> list[Finding]:
    hit = [
        r
        for r in results
        if r.profile.platform == "android"
        and (r.profile.api_level or 0) <= OLD_ANDROID_MAX_API
        and r.trust.trust == "untrusted"
        and r.trust.missing_root_sha256 in ISRG_ROOTS
    ]
    if not hit:
        return []
    first = hit[0].trust
    return [
        make_finding(
            "letsencrypt_old_android",
            {
                "root": first.root,
                "sha256": first.missing_root_sha256,
                "first_trusted_in": first.first_trusted_in,
                "reason": (first.reason or "").removeprefix("untrusted root on this client: "),
                "clients": [r.profile.name for r in hit],
            },
            profile,
        )
    ]


def client_findings(
    results: list[ClientResult], profile: Profile, fired: set[str] | None = None
) -> list[Finding]:
    """``fired``: rule ids already found for this target (they explain some failures)."""
    return _handshake_fails(results, profile, fired or set()) + _letsencrypt(results, profile)


def _explaining_rules(code: str | None) -> frozenset[str]:
    return EXPLAINED_BY.get(code or "", frozenset())


def reconcile_with_simulation(
    findings: list[Finding], results: list[ClientResult], profile: Profile
) -> list[Finding]:
    """Make the verdicts agree with the simulation, by construction.

    A platform whose current clients fail in the simulation (or all of whose
    clients fail) must read "fail": if no finding breaks it yet, the finding that
    explains its clients' failure (e.g. ``chain_incomplete`` when iOS has no AIA
    URL to fetch the missing intermediate from) gets the platform added to its
    ``breaks``; when none does, ``client_handshake_fails`` carries it.  Findings
    turned off by the profile do not count, and a profile that switches off
    ``client_handshake_fails`` (and every rule that explains the failure) wins: the
    platform is then judged by the findings that remain.
    """
    active = [f for f in findings if f.severity != "off"]
    for platform in broken_platforms(results):
        if any(platform in f.breaks or "all" in f.breaks for f in active):
            continue
        failing = [r for r in results if r.verdict_platform == platform and r.ok is False]
        wanted: set[str] = set()
        for result in failing:
            wanted |= _explaining_rules(result.reason_code)
        explaining = [f for f in active if f.rule_id in wanted]
        if explaining:
            target = explaining[0]
        else:
            target = next((f for f in active if f.rule_id == "client_handshake_fails"), None)
            if target is None:
                target = _handshake_fails(failing, profile, set())[0]
                if target.severity == "off":
                    continue  # the profile switched the carrying rule off: its word wins
                target.breaks = []
                findings.append(target)
                active.append(target)
        target.breaks = sorted({*target.breaks, platform})
        if platform not in target.platforms and "all" not in target.platforms:
            target.platforms = sorted({*target.platforms, platform})
    _concern_unconfirmed(active, results)
    return findings


def _concern_unconfirmed(active: list[Finding], results: list[ClientResult]) -> None:
    """A platform none of whose current clients is known to connect never reads "pass".

    E.g. iOS and a chain without its intermediate: iOS would fetch it from the
    AIA URL, which the simulation cannot confirm; ``chain_incomplete`` then
    concerns iOS too (a warning on that platform, not a failure).
    """
    groups: dict[str, list[ClientResult]] = {}
    for result in results:
        if result.profile.current:
            groups.setdefault(result.verdict_platform, []).append(result)
    for platform, members in groups.items():
        if any(r.ok is True for r in members) or not any(r.ok is None for r in members):
            continue
        wanted: set[str] = set()
        for result in members:
            if result.ok is None and result.trust.trust == "unknown":
                wanted |= _explaining_rules(result.reason_code or result.trust.code)
        for finding in active:
            if finding.rule_id in wanted and finding.severity != "info":
                if platform not in finding.platforms and "all" not in finding.platforms:
                    finding.platforms = sorted({*finding.platforms, platform})


@rule("client_handshake_fails", "letsencrypt_old_android")
def client_rules(ctx: Context) -> list[Finding]:
    """Client failures that no finding so far explains (EXPLAINED_BY), and old Android's
    missing ISRG root.  A ``--distrust`` hit explains an untrusted root too: it is known
    from the chain, though its finding is raised with the distrust data."""
    fired = ctx.fired()
    if ctx.chain is not None and ctx.chain.user_distrusted:
        fired.add("ca_fully_distrusted")
    return client_findings(ctx.simulation, ctx.profile, fired)
