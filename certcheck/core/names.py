"""Host names and addresses, as both a target and a certificate name see them."""

from __future__ import annotations

import ipaddress


def is_ip(host: str) -> bool:
    """``host`` is an IPv4 or IPv6 literal (no brackets)."""
    if host[:1].isalpha() and ":" not in host:
        # A name: an IPv4 literal starts with a digit, an IPv6 one has a colon.  (A failed
        # parse raises, which is slow, and the probe asks for every target's name several
        # times; a cache of names would keep every target's name for the whole scan.)
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
