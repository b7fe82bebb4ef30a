"""Host names and addresses, as both a target and a certificate name see them."""

from __future__ import annotations

import ipaddress


def is_ip(host: str) -> bool:
    """``host`` is an IPv4 or IPv6 literal (no brackets)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
