"""Turn what a person typed into :class:`Target` objects, or say exactly why not.

Accepted forms: ``host``, ``host:port``, ``https://host[:port][/path]``,
``wss://host[:port][/path]``, IPv6 literals ``[::1]`` / ``[::1]:443``, and a
bare IPv6 address.  Nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from certcheck.core.names import is_ip
from certcheck.model import Target
from certcheck.safeload import clip, quote

DEFAULT_PORTS = {"https": 443, "wss": 443, "tls": 443}
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$", re.IGNORECASE)
_SPACE = re.compile(r"\s")  # the characters str.isspace() accepts


class TargetError(ValueError):
    """A target (or --resolve value, or targets file) that cannot be used."""


def _check_host(host: str, raw: str) -> str:
    if not host:
        raise TargetError(f"{quote(raw)}: empty host name")
    if is_ip(host):
        return host
    if host.endswith("."):
        host = host[:-1]
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError as exc:
        raise TargetError(
            f"{quote(raw)}: host {quote(host)} is not a valid internationalised name"
        ) from exc
    if len(ascii_host) > 253:
        raise TargetError(f"{quote(raw)}: host name is longer than 253 characters")
    for label in ascii_host.split("."):
        if len(label) > 63:
            raise TargetError(
                f"{quote(raw)}: label {quote(label, 20)} is longer than 63 characters"
            )
        if not _LABEL.match(label):
            raise TargetError(f"{quote(raw)}: {quote(label)} is not a valid host name label")
    return ascii_host.lower()


def _check_port(port: str | int | None, raw: str, default: int) -> int:
    if port is None or port == "":
        return default
    text = str(port)
    if not (text.isascii() and text.isdigit()):
        raise TargetError(f"{quote(raw)}: port {quote(text)} is not a number")
    value = int(text) if len(text) <= 6 else 0
    if not 1 <= value <= 65535:
        raise TargetError(f"{quote(raw)}: port {clip(text, 20)} is outside 1-65535")
    return value


def _split_host_port(hostport: str, raw: str) -> tuple[str, str | None]:
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise TargetError(f"{quote(raw)}: unclosed '[' in IPv6 address")
        host, rest = hostport[1:end], hostport[end + 1 :]
        if not is_ip(host) or ":" not in host:
            raise TargetError(f"{quote(raw)}: {quote(host)} is not an IPv6 address")
        if rest and not rest.startswith(":"):
            raise TargetError(f"{quote(raw)}: unexpected {quote(rest)} after the IPv6 address")
        return host, rest[1:] if rest else None
    if hostport.count(":") > 1:
        if is_ip(hostport):
            return hostport, None
        raise TargetError(f"{quote(raw)}: write IPv6 addresses in brackets, e.g. [::1]:443")
    host, sep, port = hostport.partition(":")
    return host, (port if sep else None)


_ADDRESS_SUFFIX = re.compile(r"^(?P<target>[^{}]+)\{(?P<address>[^{}]*)\}$")


def parse_target(raw: str) -> Target:
    """Parse one target string; raise :class:`TargetError` naming the bad value.

    ``HOST[:PORT]{IP}`` (sslyze's syntax) connects to IP while keeping HOST for SNI and
    the name checks, as ``--resolve`` does.
    """
    text = raw.strip()
    if not text:
        raise TargetError("empty target")
    suffix = _ADDRESS_SUFFIX.match(text)
    if suffix is not None:
        address = suffix["address"].strip()
        if not is_ip(address):
            raise TargetError(f"{quote(raw)}: {quote(address)} in {{}} is not an IP address")
        target = parse_target(suffix["target"])
        return replace(target, connect_addr=address, original=raw.strip())
    if _SPACE.search(text):
        raise TargetError(f"{quote(raw)}: contains white space")
    scheme = "https"
    path = ""
    if "://" in text:
        scheme, _, _ = text.partition("://")
        scheme = scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise TargetError(
                f"{quote(raw)}: unsupported scheme {quote(scheme)} "
                "(use https://, wss:// or a bare host)"
            )
        try:
            parts = urlsplit(text)
        except ValueError as exc:
            raise TargetError(f"{quote(raw)}: {clip(str(exc))}") from exc
        if parts.username or parts.password:
            raise TargetError(f"{quote(raw)}: user names and passwords are not allowed in targets")
        hostport = parts.netloc
        path = parts.path + (f"?{parts.query}" if parts.query else "")
    else:
        hostport, _, rest = text.partition("/")
        path = f"/{rest}" if rest else ""
    host, port = _split_host_port(hostport, raw)
    host = _check_host(host, raw)
    return Target(
        host=host,
        port=_check_port(port, raw, DEFAULT_PORTS[scheme]),
        scheme=scheme,
        path=path,
        original=raw.strip(),
    )


def parse_resolve(raw: str) -> tuple[str, int, str]:
    """Parse a curl-style ``HOST:PORT:ADDR`` override.

    ``HOST`` may be ``*.SUFFIX``: every name below SUFFIX (at any depth, not SUFFIX
    itself) on that port, e.g. a fleet of sub-domains behind one load balancer.
    """
    host, sep1, rest = raw.partition(":")
    port, sep2, addr = rest.partition(":")
    if not (sep1 and sep2) or not host or not addr:
        raise TargetError(f"--resolve {quote(raw)}: expected HOST:PORT:ADDRESS")
    addr = addr[1:-1] if addr.startswith("[") and addr.endswith("]") else addr
    if not is_ip(addr):
        raise TargetError(f"--resolve {quote(raw)}: {quote(addr)} is not an IP address")
    wildcard = host.startswith("*.")
    try:
        checked = _check_host(host[2:] if wildcard else host, raw)
        if wildcard and is_ip(checked):
            raise TargetError(f"{quote(raw)}: a wildcard needs a domain name, not an address")
        return ("*." if wildcard else "") + checked, _check_port(port, raw, 443), addr
    except TargetError as exc:
        raise TargetError(f"--resolve {exc}") from exc


class Overrides(dict[tuple[str, int], str]):
    """``--resolve`` entries by (host, port); a missing name is also looked up in the
    ``*.suffix`` entries of its port (``[]`` and ``get`` alike; ``in`` is exact).

    An exact entry wins over a wildcard, and the longest matching suffix over a shorter
    one.  One wildcard stands for any number of names: a scan of 10,000 sub-domains
    needs one entry, not 10,000 held for the whole scan.
    """

    def __missing__(self, key: tuple[str, int]) -> str:
        host, port = key
        dot = host.find(".")
        while dot >= 0:
            addr = dict.get(self, ("*" + host[dot:], port))
            if addr is not None:
                return addr
            dot = host.find(".", dot + 1)
        raise KeyError(key)

    def get(self, key: tuple[str, int], default: str | None = None) -> str | None:  # type: ignore[override]
        try:
            return self[key]
        except KeyError:
            return default


def apply_resolve(target: Target, overrides: dict[tuple[str, int], str]) -> Target:
    addr = overrides.get((target.host, target.port))
    if addr is None:
        return target
    return Target(
        host=target.host,
        port=target.port,
        scheme=target.scheme,
        connect_addr=addr,
        path=target.path,
        original=target.original,
    )


def read_targets_file(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) for every target line; ``#`` starts a comment."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise TargetError(f"--targets-file {quote(str(path))}: {exc.strerror or exc}") from exc
    with handle:
        try:
            for number, line in enumerate(handle, 1):
                text = line.split("#", 1)[0].strip()
                if text:
                    yield number, text
        except UnicodeDecodeError as exc:
            raise TargetError(
                f"--targets-file {quote(str(path))}: not UTF-8 text ({exc.reason})"
            ) from exc


def parse_overrides(resolve: Iterable[str]) -> Overrides:
    """``--resolve`` values as {(host, port): address} (later values win, as in curl)."""
    overrides = Overrides()
    for item in resolve:
        host, port, addr = parse_resolve(item)
        overrides[(host, port)] = addr
    return overrides


def _each_target(args: Iterable[str], targets_file: Path | None) -> Iterator[Target]:
    for arg in args:
        yield parse_target(arg)
    if targets_file is not None:
        for number, text in read_targets_file(targets_file):
            try:
                yield parse_target(text)
            except TargetError as exc:
                raise TargetError(f"{targets_file}:{number}: {exc}") from exc


def _unique(
    found: Iterable[Target], overrides: dict[tuple[str, int], str], shard: tuple[int, int] | None
) -> Iterator[Target]:
    seen: set[tuple[str, int, str]] = set()
    for target in found:
        key = (target.host, target.port, target.scheme)
        if key in seen or not in_shard(target, shard):
            continue
        seen.add(key)
        yield apply_resolve(target, overrides)


@dataclass
class TargetPlan:
    """Validated targets, streamed: ``count`` is known up front, ``iterate()`` re-reads."""

    args: tuple[str, ...]
    targets_file: Path | None
    overrides: dict[tuple[str, int], str]
    shard: tuple[int, int] | None
    count: int

    def iterate(self) -> Iterator[Target]:
        return _unique(_each_target(self.args, self.targets_file), self.overrides, self.shard)


def plan_targets(
    args: Iterable[str],
    targets_file: Path | None,
    resolve: Iterable[str],
    shard: tuple[int, int] | None = None,
) -> TargetPlan:
    """Validate every target first (a bad line is a usage error before anything is sent),
    keeping only a count: a file of 100,000 targets is then streamed, not held."""
    overrides = parse_overrides(resolve)
    plan = TargetPlan(tuple(args), targets_file, overrides, shard, 0)
    plan.count = sum(1 for _ in plan.iterate())
    return plan


def collect_targets(
    args: Iterable[str], targets_file: Path | None, resolve: Iterable[str]
) -> list[Target]:
    """All targets of one command line, validated, duplicates removed, order kept."""
    return list(plan_targets(args, targets_file, resolve).iterate())


def parse_shard(value: str) -> tuple[int, int]:
    """``K/N`` (1-based): this machine scans part K of N."""
    k, sep, n = value.partition("/")
    if not sep or not k.isdigit() or not n.isdigit() or not 1 <= int(k) <= int(n):
        raise TargetError(f"--shard {quote(value)}: expected K/N with 1 <= K <= N, e.g. 2/4")
    return int(k), int(n)


def in_shard(target: Target, shard: tuple[int, int] | None) -> bool:
    """A stable partition: the same target lands in the same shard on every machine and run."""
    if shard is None or shard[1] == 1:
        return True
    digest = hashlib.sha256(f"{target.host}:{target.port}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % shard[1] == shard[0] - 1
