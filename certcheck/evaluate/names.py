"""Host name matching against subjectAltName, as iOS and modern clients do it.

RFC 6125 §6.4 with the CA/Browser Forum's definition of a Wildcard Domain Name:
``*`` must be the whole left-most label and stands for exactly one label.  The
subject CN is never consulted for matching (iOS 13+, Chrome 58+); it is only
looked at to explain a ``san_missing_or_cn_only`` finding.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from certcheck.core.names import is_ip


@dataclass
class NameCheck:
    matched: bool
    matched_by: str | None = None
    malformed_wildcards: list[str] = field(default_factory=list)
    partial_wildcards: list[str] = field(default_factory=list)
    #: wildcards that would cover the host only by spanning more or fewer labels
    too_deep_wildcards: list[str] = field(default_factory=list)


def _norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


def wildcard_problem(pattern: str) -> str | None:
    """Why a SAN wildcard pattern is malformed, or None if it is well-formed."""
    labels = pattern.split(".")
    if pattern.count("*") > 1:
        return "more than one '*'"
    if "*" in "".join(labels[1:]):
        return "'*' is not in the left-most label"
    if labels[0] != "*":
        return None  # partial label: reported separately
    if len(labels) < 3:
        return "wildcard directly under a top-level domain"
    return None


def _wildcard_matches(pattern: str, host: str) -> bool:
    p_labels, h_labels = pattern.split("."), host.split(".")
    if len(p_labels) != len(h_labels) or p_labels[1:] != h_labels[1:]:
        return False
    first = p_labels[0]
    if first == "*":
        return True
    prefix, _, suffix = first.partition("*")
    label = h_labels[0]
    # Partial-label wildcards never match an IDN A-label (RFC 6125 §6.4.3).
    return (
        not label.startswith("xn--")
        and len(label) >= len(prefix) + len(suffix)
        and label.startswith(prefix)
        and label.endswith(suffix)
    )


def check_host(host: str, dns_names: list[str], ip_names: list[str]) -> NameCheck:
    """Does any SAN entry cover ``host``?"""
    host = _norm(host)
    ip = ipaddress.ip_address(host) if is_ip(host) else None  # is_ip: a name is not parsed
    if ip is not None:
        for entry in ip_names:
            if ipaddress.ip_address(entry) == ip:
                return NameCheck(True, entry)
        return NameCheck(False)
    result = NameCheck(False)
    for raw in dns_names:
        name = _norm(raw)
        if "*" not in name:
            if name == host:
                result.matched, result.matched_by = True, raw
            continue
        problem = wildcard_problem(name)
        if problem:
            result.malformed_wildcards.append(f"{raw} ({problem})")
            continue
        is_partial = name.split(".")[0] != "*"
        if is_partial:
            result.partial_wildcards.append(raw)
        if _wildcard_matches(name, host):
            if not result.matched:
                result.matched, result.matched_by = True, raw
        elif not is_partial and (host.endswith("." + name[2:]) or host == name[2:]):
            result.too_deep_wildcards.append(raw)
    return result
