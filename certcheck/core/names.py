"""Host names and addresses, as both a target and a certificate name see them."""

from __future__ import annotations

import ipaddress
from functools import lru_cache


@lru_cache(maxsize=4096)
def is_ip(host: str) -> bool:
    """``host`` is an IPv4 or IPv6 literal (no brackets).  (Cached: a probe asks for each
    target's name several times, and a failed parse raises, which is slow.)"""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
