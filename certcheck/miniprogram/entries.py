"""Split configured domain entries and request URLs into scheme, host, port and path.

Pure string work.  Unlike :mod:`certcheck.targets`, a missing port stays
``None``: for WeChat ``https://a.com`` and ``https://a.com:443`` are different
entries (a configured port binds requests to exactly that port).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from certcheck.targets import is_ip

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
DEFAULT_PORTS = {"https": 443, "wss": 443}
#: shown in place of the path in "works / fails" examples
ANY_PATH = "/…"


@dataclass(frozen=True)
class Entry:
    """One configured entry or request URL, taken apart.

    ``problem`` says why the text is not a usable ``scheme://host[:port]`` (then
    the other fields hold what could be read); ``wildcard`` marks ``*.`` names.
    """

    raw: str
    scheme: str | None
    host: str
    port: int | None
    path: str = ""
    problem: str | None = None
    wildcard: bool = False

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` normalised (lower case, IDNA)."""
        return f"{self.scheme}://{self.netloc}" if self.scheme else self.netloc

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS.get(self.scheme or "", 443)

    def url_with(self, port: int | None, path: str = ANY_PATH) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        netloc = host if port is None else f"{host}:{port}"
        return f"{self.scheme}://{netloc}{path}"


def is_localhost(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


def is_subdomain(child: str, parent: str) -> bool:
    """True when ``child`` is strictly below ``parent`` (``a.b.com`` under ``b.com``)."""
    return child.endswith("." + parent) and not is_ip(child) and not is_ip(parent)


def _split_host_port(hostport: str) -> tuple[str, str | None, str | None]:
    """(host, port text, problem)."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            return hostport, None, "unclosed '[' in an IPv6 address"
        rest = hostport[end + 1 :]
        if rest and not rest.startswith(":"):
            return hostport[1:end], None, f"unexpected {rest!r} after the IPv6 address"
        return hostport[1:end], (rest[1:] if rest else None), None
    if hostport.count(":") > 1:
        if is_ip(hostport):
            return hostport, None, None
        return hostport, None, "write IPv6 addresses in brackets"
    host, sep, port = hostport.partition(":")
    return host, (port if sep else None), None


def _clean_host(host: str) -> tuple[str, str | None, bool]:
    """(normalised host, problem, wildcard)."""
    if not host:
        return host, "no host name", False
    if is_ip(host):
        return host, None, False
    host = host.rstrip(".").lower()
    wildcard = "*" in host
    if wildcard:
        return host, "wildcards are not accepted: list each subdomain", True
    try:
        ascii_host = host if host.isascii() else host.encode("idna").decode("ascii")
    except UnicodeError:
        return host, f"{host!r} is not a valid internationalised name", False
    if len(ascii_host) > 253:
        return ascii_host, "host name longer than 253 characters", False
    for label in ascii_host.split("."):
        if not _LABEL.match(label):
            return ascii_host, f"{label!r} is not a valid host name label", False
    return ascii_host, None, False


def parse_entry(raw: str, *, allow_path: bool = False) -> Entry:
    """Take ``raw`` apart; ``allow_path`` for request URLs (entries have no path)."""
    text = raw.strip()
    if not text:
        return Entry(raw, None, "", None, problem="empty entry")
    if any(ch.isspace() for ch in text):
        return Entry(raw, None, text, None, problem="contains white space")
    scheme: str | None = None
    rest = text
    if "://" in text:
        scheme, _, rest = text.partition("://")
        scheme = scheme.lower()
        if not _SCHEME.match(scheme):
            return Entry(raw, None, rest, None, problem=f"{scheme!r} is not a URL scheme")
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    hostport, tail = rest[:cut], rest[cut:]
    if "@" in hostport:
        return Entry(raw, scheme, hostport, None, problem="user names are not allowed")
    host, port_text, problem = _split_host_port(hostport)
    host, host_problem, wildcard = _clean_host(host) if problem is None else (host, None, False)
    problem = problem or host_problem
    port: int | None = None
    if port_text is not None and problem is None:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            problem = f"port {port_text!r} is not a number in 1-65535"
        else:
            port = int(port_text)
    path = tail
    if not allow_path and tail not in ("", "/") and problem is None:
        problem = f"has a path or query ({tail!r}): configure only scheme://host[:port]"
    if allow_path:
        path = tail if tail.startswith("/") else "/" + tail
    else:
        path = ""
    return Entry(raw, scheme, host, port, path=path, problem=problem, wildcard=wildcard)
