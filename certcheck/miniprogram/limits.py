"""Each host app's network limits and domain rules, read from ``rules/miniprogram.toml``.

A mini program runs inside a host app: WeChat itself (``wechat``) or a super app built on
Tencent Cloud Super App as a Service (``tcsas``).  Their server-domain rules differ (ports,
ICP filing, list sizes, timeout maximum); the API lists and timeout keys are shared.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from certcheck.catalog import read_data

#: "bound": a configured port binds requests to exactly it (none: no port in the URL);
#: "any": the request URL may name any port of the configured domain
PortRule = Literal["bound", "any"]


@dataclass(frozen=True)
class Limits:
    """The numbers and names the mini-program checks compare against, for one host app."""

    host_app: str
    name: str
    profile: str
    sources: tuple[str, ...]
    #: API list name -> the scheme its entries must use, in WeChat's field order
    schemes: dict[str, str]
    #: at most this many domains per API list (None: the host app states no limit)
    per_api: int | None
    #: DNS pre-resolution domains allowed (None: the host app has no such list)
    prefetch: int | None
    forbidden_hosts: frozenset[str]
    #: scheme (https, wss) -> how a configured port binds request URLs
    ports: dict[str, PortRule]
    #: False: an entry that names a port is rejected
    entry_ports: bool
    icp_required: bool
    lan_ips: bool
    timeout_default_ms: int
    #: None: the host app documents no maximum
    timeout_max_ms: int | None
    background_ms: int
    near_fraction: float
    max_requests: int
    max_sockets: int
    referer: str
    #: networkTimeout key (request, connectSocket, ...) -> API list name
    timeout_keys: dict[str, str]

    @property
    def apis(self) -> tuple[str, ...]:
        return tuple(self.schemes)

    def timeout_key_for(self, api: str) -> str | None:
        for key, name in self.timeout_keys.items():
            if name == api:
                return key
        return None

    def port_rule(self, scheme: str | None) -> PortRule:
        return self.ports.get(scheme or "", "bound")

    def to_dict(self) -> dict[str, Any]:
        """The host app as the JSON document shows it."""
        return {
            "id": self.host_app,
            "name": self.name,
            "profile": self.profile,
            "ports": dict(self.ports),
            "entry_ports": self.entry_ports,
            "icp_required": self.icp_required,
            "referer": self.referer,
            "timeout_keys": dict(self.timeout_keys),
            "sources": list(self.sources),
        }


def _data() -> dict[str, Any]:
    return tomllib.loads(read_data("miniprogram.toml").decode("utf-8"))


@cache
def host_apps() -> tuple[str, ...]:
    """The host app ids, the default first."""
    data = _data()
    default = data["default_host_app"]
    return (default, *(h for h in data["host_apps"] if h != default))


def default_host_app() -> str:
    return host_apps()[0]


def _optional_int(table: dict[str, Any], key: str) -> int | None:
    return int(table[key]) if key in table else None


@cache
def load_limits(host_app: str | None = None) -> Limits:
    """The limits of ``host_app`` (KeyError for an unknown id; None: the default)."""
    data = _data()
    host_app = host_app or data["default_host_app"]
    app = data["host_apps"][host_app]
    domains, network = app["domains"], app["network"]
    return Limits(
        host_app=host_app,
        name=str(app["name"]),
        profile=str(app["profile"]),
        sources=tuple(app["sources"]),
        schemes=dict(data["schemes"]),
        per_api=_optional_int(domains, "per_api"),
        prefetch=_optional_int(domains, "prefetch"),
        forbidden_hosts=frozenset(h.lower() for h in domains["forbidden_hosts"]),
        ports=dict(domains["ports"]),
        entry_ports=bool(domains["entry_ports"]),
        icp_required=bool(domains["icp_required"]),
        lan_ips=bool(domains["lan_ips"]),
        timeout_default_ms=int(network["timeout_default_ms"]),
        timeout_max_ms=_optional_int(network, "timeout_max_ms"),
        background_ms=int(network["background_ms"]),
        near_fraction=float(network["near_fraction"]),
        max_requests=int(network["max_requests"]),
        max_sockets=int(network["max_sockets"]),
        referer=str(network["referer"]),
        timeout_keys=dict(data["timeout_keys"]),
    )
